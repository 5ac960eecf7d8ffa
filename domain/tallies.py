"""A process's periodic statistics, declared in its definition and computed by shared code
(api/cases/tallies.py): tables of counts for a month, a quarter or a year, each a count of one kind of
fact, grouped down by county or agency and across by category:

- opened by source: cases opened in the period, by county and the type of agency that started them;
- events: what the timeline records in the period (a step's actions, split by a field's choice where
  one is named), by the agency that acted;
- overdue now: open cases' steps past their deadline, by holder agency and escalation level.

The definition names its steps, actions and fields; tests/unit check that each exists."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.enums import AgencyType
from domain.periods import PeriodKind


class TallyKind(StrEnum):
    opened_by_source = "opened_by_source"
    events = "events"
    overdue_now = "overdue_now"


@dataclass(frozen=True)
class EventCount:
    """One column of an events table: events of `actions` at `step` in the period; only those whose
    payload's `choice_field` has `choice`, or that moved to `to_step`, where given."""

    label: str
    step: str
    actions: tuple[str, ...]
    choice_field: str | None = None
    choice: str | None = None
    to_step: str | None = None


@dataclass(frozen=True)
class Tally:
    key: str
    title: str
    kind: TallyKind
    columns: tuple[EventCount, ...] = ()  # events only
    note: str = ""


@dataclass(frozen=True)
class PeriodicReport:
    title: str
    periods: tuple[PeriodKind, ...]
    # The supervisors (county or city) of these agency types read it, within the cases they may read.
    readers: tuple[AgencyType, ...]
    tallies: tuple[Tally, ...]
