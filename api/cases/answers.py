"""What /api/v1/cases and the work lists answer, as the OpenAPI declares it. The models follow the JSON
the API has always answered (api/cases/views.py builds it)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.answer import Answer, Day, Timestamp


class Choice(Answer):
    value: str
    label: str


class FieldOut(Answer):
    name: str
    label: str
    kind: str
    required: bool
    choices: list[Choice]
    agency_type: str | None
    help: str | None


class Holder(Answer):
    id: int
    name: str
    agency_type: str
    agency_type_label: str
    region_code: str


class AgencyName(Answer):
    id: int
    name: str


class ExternalHolder(Answer):
    name: str
    region_code: str | None
    agency_type: str | None


class StepOut(Answer):
    track: str
    step: str
    step_label: str
    step_seq: int
    holder: Holder
    co_holders: list[AgencyName]
    external: ExternalHolder | None
    opened_at: Timestamp
    due_at: Timestamp | None
    level2_at: Timestamp | None
    level3_at: Timestamp | None
    due_provisional: bool
    allowance: str | None
    escalation_level: int
    counters: dict[str, int]
    window_opens_at: Timestamp | None


class ChildRef(Answer):
    id: int
    name: str
    identity_status: str


class SummaryField(Answer):
    key: str
    label: str
    value: Any


class CaseSummary(Answer):
    case_no: str
    process: str
    process_label: str
    status: str
    outcome: str | None
    outcome_label: str | None
    child: ChildRef
    county: str
    county_name: str
    main_step: str | None
    main_step_label: str | None
    steps: list[StepOut]
    opened_at: Timestamp
    closed_at: Timestamp | None
    last_activity_at: Timestamp
    automation_error: str | None
    summary: list[SummaryField]


class Actor(Answer):
    name: str
    agency: str | None


class EventOut(Answer):
    seq: int
    at: Timestamp
    kind: str
    track: str | None
    action: str | None
    action_label: str | None
    from_step: str | None
    from_step_label: str | None
    to_step: str | None
    to_step_label: str | None
    actor: Actor | None
    note: str | None
    payload: dict[str, Any] | None
    due_at: Timestamp | None


class DocumentRef(Answer):
    id: int
    seq: int
    kind: str
    title: str


class AllowedAction(Answer):
    step: str | None
    step_seq: int | None
    action: str
    label: str
    fields: list[FieldOut]
    available_from: Timestamp | None
    not_yet: str | None


class SupervisableStep(Answer):
    step: str
    step_seq: int
    kinds: list[str]


class CaseDetailOut(CaseSummary):
    live: bool = Field(description="false: Temporal could not be asked; steps are from the projection")
    timeline: list[EventOut]
    documents: list[DocumentRef]
    allowed_actions: list[AllowedAction]
    supervision: list[SupervisableStep]


class CasePage(Answer):
    items: list[CaseSummary]
    total: int
    page: int
    per_page: int


class ResultStep(Answer):
    track: str
    step: str
    step_seq: int
    holder: str
    due_at: Timestamp | None
    due_provisional: bool


class ActionAnswer(Answer):
    """An action's or a supervisor's result; only `case_no` when the case took it without answering yet."""

    case_no: str
    seq: int | None = None
    closed: bool | None = None
    outcome: str | None = None
    steps: list[ResultStep] | None = None


class StartAnswer(ActionAnswer):
    created: bool = Field(description="false: the same Idempotency-Key was sent before (answered 200)")


class InboxItem(Answer):
    """One open step of 我的待办, with what the list shows of its case (not the case's other steps)."""

    case_no: str
    process: str
    process_label: str
    child: ChildRef
    county: str
    county_name: str
    summary: list[SummaryField]
    step: StepOut


class InboxPage(Answer):
    items: list[InboxItem] = Field(description="one page, the soonest due (the most overdue) first")
    total: int = Field(description="open steps the caller's agency holds or helps on, over all pages")
    per_page: int
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
    prev_cursor: str | None = Field(description="pass as `cursor` for the previous page; null on the first")


class StalledItem(CaseSummary):
    step: StepOut
    reasons: list[str]


class StalledHolder(Answer):
    agency_id: int
    name: str
    region: str
    steps: int
    level2: int
    level3: int
    quiet: int = Field(description="steps listed for no activity or failing automation, without a level")


class StalledRefresh(Answer):
    county: str
    period: str
    period_label: str
    due_at: Timestamp
    escalation_level: int


class Stalled(Answer):
    items: list[StalledItem] = Field(description="one page of the steps, the highest level first")
    total: int = Field(description="steps listed over all pages")
    page: int
    per_page: int
    holders: list[StalledHolder] = Field(description="each holding agency's count of listed steps")
    refreshes: list[StalledRefresh] = Field(
        default_factory=list,
        description="county registry refreshes (台账更新) escalated to the caller's level: civil-affairs "
        "supervisors only (their county, or every county for the city's)",
    )


class PeriodOut(Answer):
    kind: str
    key: str
    label: str
    start: Day
    end: Day = Field(description="the first day after the period")


class ReportGroupOut(Answer):
    group: str
    step: str | None
    step_label: str
    cases: int
    overdue: int


class ReportItem(CaseSummary):
    group: str
    overdue: bool
    handed_to: str | None


class ReportOut(Answer):
    process: str
    period: PeriodOut
    month: str | None
    opened: int
    closed: int
    still_open: int
    groups: list[ReportGroupOut]
    items: list[ReportItem] = Field(description="one page of the cases, overdue first")
    total: int = Field(description="cases listed over all pages")
    page: int
    per_page: int


class StartOffer(Answer):
    step: str
    label: str
    agency_types: list[str]


class ActionDefinition(Answer):
    name: str
    label: str
    to: list[str]
    fields: list[FieldOut]


class StepDefinition(Answer):
    name: str
    label: str
    track: str
    responsible: list[str]
    policy_key: str | None
    description: str | None
    actions: list[ActionDefinition]


class Outcome(Answer):
    name: str
    label: str


class ProcessOut(Answer):
    name: str
    label: str
    tracks: dict[str, str] = Field(description="track name: its label")
    starts: list[StartOffer]
    start_fields: list[FieldOut]
    steps: list[StepDefinition]
    case_actions: list[ActionDefinition]
    outcomes: list[Outcome]


class Processes(Answer):
    items: list[ProcessOut]
