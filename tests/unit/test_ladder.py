"""The escalation ladder has one owner (domain/deadlines.py): a step's opening and a supervisor's extension
read the same offsets."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.deadlines import compute_deadlines, escalation_ladder, ladder_request
from domain.policy import Allowance
from domain.workdays import WorkCalendar


def test_half_the_allowance_at_least_one_unit_then_the_whole() -> None:
    assert escalation_ladder(Allowance.parse("15WD")) == (Allowance.parse("8WD"), Allowance.parse("15WD"))
    assert escalation_ladder(Allowance.parse("1h")) == (Allowance.parse("1h"), Allowance.parse("1h"))
    own = (Allowance.parse("1h"), Allowance.parse("3h"))
    assert escalation_ladder(Allowance.parse("1h"), own) == own


def test_an_extension_names_the_steps_own_ladder() -> None:
    # A 15WD step extended by 2WD escalates 8WD and 15WD after the new deadline, not 1WD and 2WD.
    assert ladder_request(None, "15WD") == ("8WD", "15WD")
    assert ladder_request((Allowance.parse("1h"), Allowance.parse("3h")), "1h") == ("1h", "3h")
    assert ladder_request((Allowance.parse("1h"), Allowance.parse("3h")), None) == ("1h", "3h")
    assert ladder_request(None, None) is None


def test_a_steps_opening_uses_the_same_ladder() -> None:
    cal = WorkCalendar()
    base = datetime(2026, 3, 2, 1, tzinfo=UTC)
    allowance = Allowance.parse("15WD")
    own = compute_deadlines(base, allowance, cal, ladder=escalation_ladder(allowance))
    assert compute_deadlines(base, allowance, cal) == own
