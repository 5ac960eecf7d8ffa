"""The messages that cross process boundaries: API → workflow (start, Updates), workflow → activities,
and the workflow's live view (Query). Pydantic models, carried by the pydantic data converter.

None of these go into workflow IDs, search attributes or logs; personal data stays in PostgreSQL and
the workflow refers to the child by registry id.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from domain.deadlines import StepDeadlines
from domain.enums import AgencyType, Role
from domain.regions import CITY_CODE


class AgencyRef(BaseModel):
    id: int
    name: str
    agency_type: AgencyType
    region_code: str  # county code, or the city code for a city-level agency
    township: str | None = None  # for agencies below the county: the township they are in


class Actor(BaseModel):
    user_id: int | None
    user_name: str
    agency: AgencyRef
    role: Role


class ChildRef(BaseModel):
    id: int
    birth_date: date  # estimated for some provisional records (the registry flags it)
    residence_region: str
    # None: not known (a provisional record, e.g. a child without household registration). No workflow
    # reads it; histories saved before it could be empty carry a code and parse as before.
    origin_region: str | None = None


class CaseStart(BaseModel):
    case_no: str
    process: str
    start_step: str
    child: ChildRef
    county: str  # the county that owns the case (the child's residence)
    starter: Actor
    facts: dict[str, Any] = Field(default_factory=dict)  # the cleaned start form
    village_committee: AgencyRef | None = None
    # When the first step's clock started, if earlier than data entry (补录); None = now.
    reported_at: datetime | None = None
    # The city this deployment serves (Settings.served_city), so that the workflow decides "inside or outside
    # this deployment" from its own history; histories from before the setting carry the default.
    served_city: str = CITY_CODE


class ExternalParty(BaseModel):
    """A party outside this deployment that holds a step (another province's civil-affairs office, a
    hospital without an account). The step's deadline and ladder run as for any step; its holder is the
    local agency that records the party's answer when it arrives."""

    name: str
    region_code: str | None = None
    agency_type: AgencyType | None = None


class StepState(BaseModel):
    track: str
    step: str
    seq: int  # the timeline seq that opened this step: forms carry it, so a moved step refuses them
    opened_at: datetime
    base: datetime  # what the deadline counts from
    holder: AgencyRef
    co_holders: list[AgencyRef] = Field(default_factory=list)
    policy_key: str | None = None
    allowance: str | None = None  # resolved value, e.g. "3WD"
    deadlines: StepDeadlines | None = None
    level: int = 0  # escalation level 0-3
    counters: dict[str, int] = Field(default_factory=dict)
    # Supervisors' extensions, in order (e.g. ["5WD"]), so that recomputing a provisional deadline
    # (workflows/oversight.py `_recompute_provisional`) keeps them instead of falling back to the original due.
    extensions: list[str] = Field(default_factory=list)
    # The person of the holding agency who last acted on the step: a supervisor's urge or extension
    # reaches them in person as well as their agency.
    worked_by: int | None = None
    external: ExternalParty | None = None  # held outside this deployment; `holder` records its answer
    # A scheduled step (Step.window_key): from when it may be recorded, before its deadline.
    window_opens_at: datetime | None = None


class Handover(BaseModel):
    """A hand-over under way (workflows/handover.py): who sent it, and whether the receiver is outside
    this deployment (then the sender records the receipt)."""

    sender: AgencyRef
    external: bool


class CaseState(BaseModel):
    """Everything the workflow knows; small, so continue-as-new can carry it."""

    case_no: str
    process: str
    county: str
    child: ChildRef
    starter: AgencyRef
    starter_user_id: int | None = None  # the person who opened the case (None: an integration)
    seq: int = 0
    steps: dict[str, StepState] = Field(default_factory=dict)  # by track
    closed: bool = False
    outcome: str | None = None
    # The process's own facts (the school, the ordering authority...), as its workflow's typed model (`Kept`)
    # serialises them: the workflow itself reads and writes the typed model only.
    vars: dict[str, Any] = Field(default_factory=dict)
    handover: Handover | None = None
    close_at: datetime | None = None  # the child reaches the process's age limit
    last_activity_at: datetime | None = None
    summary: dict[str, Any] = Field(default_factory=dict)  # facts for lists and reports (the school, ...)
    served_city: str = CITY_CODE  # from CaseStart: the deployment's own regions (domain/regions.py served_by)

    @model_validator(mode="before")
    @classmethod
    def _handover_from_vars(cls, data: Any) -> Any:
        """States carried by runs before `handover` existed kept the hand-over among the process's facts."""
        if isinstance(data, dict) and isinstance(data.get("vars"), dict) and "handover_from" in data["vars"]:
            facts = dict(data["vars"])
            sender = facts.pop("handover_from")
            external = bool(facts.pop("handover_external", False))
            data = {**data, "vars": facts, "handover": {"sender": sender, "external": external} if sender else None}
        return data


class CaseInput(BaseModel):
    start: CaseStart | None = None
    resume: CaseState | None = None  # continue-as-new
    # A run continues as new once its history is longer than this many events (None: the workflow's
    # default, workflows/base.py); carried to the next run. Tests set a small one.
    history_limit: int | None = None
    # The last requests' answers, by request id, carried to the next run: Temporal deduplicates an Update
    # by its id within one run only, so a request retried after continue-as-new would otherwise run again.
    answered: dict[str, ActionResult] = Field(default_factory=dict)


class CaseResult(BaseModel):
    case_no: str
    outcome: str | None
    seq: int


SupervisorKind = Literal["urge", "extend", "reassign"]


class ActionRequest(BaseModel):
    request_id: str
    actor: Actor
    action: str
    step: str | None = None  # None: a case-level action
    step_seq: int | None = None  # the seq of the step the form was shown for
    payload: dict[str, Any] = Field(default_factory=dict)
    # Supervisor actions
    supervisor: SupervisorKind | None = None
    reason: str = ""
    extend_by: str | None = None  # "5WD"; None = the step's own allowance
    new_holder: AgencyRef | None = None  # reassign: resolved and checked by the API


class ActionResult(BaseModel):
    seq: int
    steps: list[StepState]
    closed: bool
    outcome: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class NotificationSpec(BaseModel):
    """Who to tell: one agency (by id), or the agencies of a type in a region; a role narrows it to
    the supervisors (None: everyone of the agency); a user narrows it to one person of the agency (who
    must still work there, else everyone of the agency is told)."""

    agency_id: int | None = None
    user_id: int | None = None
    agency_type: AgencyType | None = None
    region_code: str | None = None
    township: str | None = None  # with agency_type: only agencies in this township
    role: Role | None = None
    kind: str
    title: str


class PartyGrant(BaseModel):
    agency: AgencyRef
    role: str  # starter | holder | reporter | receiver | participant


class DocumentSpec(BaseModel):
    kind: str  # template name, e.g. "reprimand"
    title: str
    fields: dict[str, Any] = Field(default_factory=dict)


class CaseOpening(BaseModel):
    process: str
    child_id: int
    county: str
    starter: AgencyRef
    facts: dict[str, Any]


class EventRecord(BaseModel):
    """One timeline event and the projection changes it implies, written in one transaction, once."""

    case_no: str
    seq: int
    at: datetime
    kind: str  # opened | action | escalated | urged | extended | reassigned | deadline_confirmed | closed
    actor: Actor | None = None
    track: str | None = None
    action: str | None = None
    from_step: str | None = None
    to_step: str | None = None
    note: str = ""
    payload: dict[str, Any] = Field(default_factory=dict)
    opening: CaseOpening | None = None
    set_steps: list[StepState] = Field(default_factory=list)
    end_tracks: list[str] = Field(default_factory=list)
    closed_outcome: str | None = None
    parties: list[PartyGrant] = Field(default_factory=list)
    notifications: list[NotificationSpec] = Field(default_factory=list)
    document: DocumentSpec | None = None
    main_step: str | None = None  # the main track's step after this event, for list filters
    summary: dict[str, Any] | None = None  # the case's summary facts, when this event changed them


class DeadlineRequest(BaseModel):
    base: datetime
    at: datetime  # the moment the step opens: overrides effective later are ignored
    county: str
    policy_key: str | None = None
    allowance: str | None = None  # given: use it as is (extensions, recomputation)
    ladder: tuple[str, str] | None = None


class DeadlineAnswer(BaseModel):
    allowance: str
    deadlines: StepDeadlines | None  # None for a count or a "from the first of a month" (1M@start) policy


class StepInputsRequest(BaseModel):
    """What a new step needs from the worker, asked in one local activity: its agencies, each still active
    or replaced (none given: no check), its deadline (None: it has none) and its window's lead (a policy key
    read as the deadline's policy is)."""

    agencies: list[AgencyRef] = Field(default_factory=list)
    deadline: DeadlineRequest | None = None
    window_key: str | None = None
    # Agencies the workflow looks up along with the step (as resolve_agency finds them): one activity less.
    find: list[AgencyQuery] = Field(default_factory=list)


class StepInputs(BaseModel):
    agencies: list[AgencyRef] = Field(default_factory=list)
    deadline: DeadlineAnswer | None = None
    window: str | None = None  # the window's lead (an allowance), when one was asked
    found: list[AgencyRef] = Field(default_factory=list)  # what `find` asked, in its order


class EventWithStep(BaseModel):
    """An event that opens a step, with what that step needs from the worker (`inputs`), written by one local
    activity that reads them in the event's transaction. The step of `track` that the event opens comes
    without its deadline and window: the activity fills them in from what it reads (timing.fill_step)."""

    event: EventRecord
    track: str
    inputs: StepInputsRequest


class RecordedWithStep(BaseModel):
    """written False: one of the step's agencies has been switched off, and nothing was written (the step
    goes to the agency that replaces it, whose notices and parties differ); else the inputs it was opened with."""

    written: bool
    inputs: StepInputs | None = None


class AgencyQuery(BaseModel):
    agency_type: AgencyType
    region_code: str
    prefer_id: int | None = None
    township: str | None = None  # among several, prefer one in this township


class OpenCasesQuery(BaseModel):
    """Which cases of these processes are open for a child (by registry id): a case that lasts while
    another is open (a follow-up past 16 while a protection case goes on) asks."""

    child_id: int
    processes: list[str]


class FollowOnRequest(BaseModel):
    """A linked case for the same child in another county: its number, reserved once per origin case."""

    origin_case_no: str
    process: str
    agency_id: int  # the agency that takes the case on
    county: str
    child_id: int
    # Reserves one number per key (a retry gets the same); None: one per origin case (a hand-over's).
    key: str | None = None


class OutboundRequest(BaseModel):
    """The notifications of one event to send out through the agencies' webhooks (activities/outbound.py)."""

    case_no: str
    seq: int


class DeliveryOrder(BaseModel):
    """What an event's delivery workflow (workflows/outbound.py) is started with: the event, and how long a
    failing delivery may stay undelivered before its case is marked on the stalled list (the policy
    `outbound_undelivered_after` in force in the case's county at the hand-over, in seconds)."""

    case_no: str
    seq: int
    undelivered_after_s: int = Field(gt=0)
