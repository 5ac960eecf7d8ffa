"""Every periodic report a definition declares names steps, actions, fields and choices the process has,
and periods the shared code knows (a typo would count nothing, silently)."""

from __future__ import annotations

from datetime import date

from domain.periods import NAMES, parse_period, quarter_period, year_period
from domain.process import FieldKind
from domain.processes import PROCESSES
from domain.tallies import TallyKind


def test_each_counted_event_is_one_the_process_records() -> None:
    reports = [(p, p.periodic_report) for p in PROCESSES.values() if p.periodic_report]
    assert reports, "no process declares statistics"
    for process, report in reports:
        assert set(report.periods) <= set(NAMES) and report.readers
        for tally in report.tallies:
            assert bool(tally.columns) == (tally.kind == TallyKind.events), tally.key
            for col in tally.columns:
                step = process.step(col.step)
                for name in col.actions:
                    action = step.action(name)
                    assert action is not None, (col.step, name)
                    if col.to_step:
                        assert col.to_step in action.to, (name, col.to_step)
                    if col.choice_field:
                        field = next(f for f in action.fields if f.name == col.choice_field)
                        assert field.kind == FieldKind.choice
                        assert col.choice in dict(field.choices), col.choice


def test_quarters_and_years() -> None:
    q4 = quarter_period(date(2026, 11, 28))
    assert (q4.start, q4.end, q4.key, q4.label, q4.noun) == (
        date(2026, 10, 1), date(2027, 1, 1), "2026-Q4", "2026年第四季度", "本季度",
    )  # fmt: skip
    assert q4.shift(1).key == "2027-Q1" and q4.shift(-4).key == "2025-Q4"
    assert year_period(2026).shift(-1).label == "2025年"
    today = date(2026, 5, 2)
    assert parse_period(month=None, term=None, quarter="2026-q2", today=today).start == date(2026, 4, 1)
    assert parse_period(month=None, term=None, year="2025", today=today).end == date(2026, 1, 1)
    assert parse_period(month=None, term=None, today=today, default="quarter").key == "2026-Q2"
    assert parse_period(month=None, term=None, today=today, default="year").key == "2026"
