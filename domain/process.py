"""The declarative process-definition model.

One definition per process is read by the workflow's validators (which action a step allows, who may
take it, what the form must hold), the API's permission checks, the pages' buttons and forms, and the
process diagram. The orchestration (which step follows, with what holder and deadline) is workflow code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from domain.enums import AgencyType, Role
from domain.errors import DomainError
from domain.field_kinds import FieldKind, rules
from domain.messages import DocumentSpec
from domain.oversight import DEFAULT_AUDIENCE, Rung
from domain.policy import Allowance, PolicyDefault, Unit
from domain.regions import CHANGZHI, ServedRegions
from domain.school_calendar import SchoolCalendar
from domain.tallies import PeriodicReport


class FieldRole(StrEnum):
    """What a field means to the shared machinery, whatever the process calls it."""

    residence_committee = "residence_committee"  # the village committee where the child lives
    occurred_on = "occurred_on"  # when the matter was found: a first step entered later counts from it
    destination_region = "destination_region"  # the county a child moves to
    destination_agency = "destination_agency"  # an agency there: offered city-wide, checked against the region
    material = "material"  # an item of a one-time materials list (一次性告知清单): ticked when received


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: FieldKind = FieldKind.text
    required: bool = True
    choices: tuple[tuple[str, str], ...] = ()  # (value, 中文 label)
    help: str = ""
    agency_type: AgencyType | None = None  # for kind=agency: which agencies to offer
    not_future: bool = False  # for kind=date
    # For kind=date: the form offers today + this policy's days (e.g. an order's compliance date).
    default_policy: str | None = None
    role: FieldRole | None = None
    # For kind=date: when something happened (done on, visited on, returned on). Not in the future, not
    # before the step opened (domain/timing.py), and what the next step's deadline counts from.
    happened: bool = False
    # Asked once: where the action that opened the step already answered it (a field of the same name in
    # that event), the form shows that answer instead of asking again (an order decided with the decision).
    once: bool = False
    # Clinical content (signs, diagnosis, session notes, consent forms): read only by the agencies of the
    # process's `clinical_readers` and those holding a step of the case; the others see that it exists.
    clinical: bool = False
    # For kind=facts: the choice field naming the process whose start form this carries (its `choices`
    # are that field's processes, whose start forms the page offers).
    facts_of: str | None = None
    # For kind=attachment: the kind of attachment it names (domain/attachments.py), e.g. a consent form.
    attachment: str | None = None
    # For kind=attachment: required when another field of the form has this value (a written consent needs
    # its scanned form); the web checks it with the attachment (api/attachments/fields.py).
    required_when: tuple[str, str] | None = None


class NotBefore(StrEnum):
    """When an action of a step becomes possible (Action.not_before)."""

    window = "window"  # once the step's window opens (Step.window_key before its deadline): a scheduled visit
    deadline = "deadline"  # once the step's deadline has passed: "not complied by the date the order set"


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    to: tuple[str, ...] = ()  # steps this action may lead to, for the diagram; "" = stays
    fields: tuple[Field, ...] = ()
    # Who may take it. None: operators of the agencies holding the step. A tuple: operators of agencies
    # of these types serving the case's county (used by case-level actions such as placing a child).
    actor_types: tuple[AgencyType, ...] | None = None
    # Only offered when the agency holding the step is of one of these types (e.g. a court's order).
    holder_types: tuple[AgencyType, ...] | None = None
    # Only these roles may take it (e.g. a supervisor's sign-off); None: operators and supervisors.
    roles: tuple[Role, ...] | None = None
    # Co-holders of the step (the township and committee in joint persuasion) may take it too; other
    # actions are the holder's alone.
    by_co_holders: bool = False
    # Taken by the system when the step's deadline passes (Step.on_deadline), never offered to a person.
    by_system: bool = False
    # Possible only from a time of the step (offered, with that time, only from then on).
    not_before: NotBefore | None = None
    style: str = "primary"  # primary | secondary | danger, for the page's button
    # True: offered only while the step is held for a party outside this deployment (a clerk records its
    # answer); False: only while it is not (the party acts itself); None: either way.
    held_outside: bool | None = None
    # A case action offered only while the main track's step is one of these (an application is withdrawn
    # before its decision); None: whatever the step.
    during: tuple[str, ...] | None = None
    # True: a case action only the agency that started the case may take (the township that accepted an
    # application withdraws it), so a page offers it to no other agency of the county.
    by_starter: bool = False
    # True: offered only on a case whose other side is another deployment's (opened here from its transfer
    # packet: REMOTE_SUMMARY in the case summary), to record that side's word.
    other_side_remote: bool = False


# Action.to is a contract: the machinery refuses to take an action where it does not declare. Tests set this,
# so an undeclared move fails them; a running deployment logs it and goes on rather than stall a case.
STRICT_TRANSITIONS = False


class UndeclaredTransition(RuntimeError):
    """A workflow moved a case where the action's definition does not say it may go."""


# Fields most actions share.
NOTE = Field("note", "情况说明", FieldKind.textarea, required=False)
NOTE_REQUIRED = Field("note", "情况说明", FieldKind.textarea)
DATE_DONE = Field("done_on", "日期", FieldKind.date, not_future=True, happened=True)
# What a local clerk records when the answer of a party outside this deployment arrives.
EXTERNAL_ANSWER: tuple[Field, ...] = (
    Field("doc_no", "来文文号", required=False),
    Field("received_on", "收到日期", FieldKind.date, not_future=True, happened=True),
    Field("answer_from", "答复单位"),
)

CLOSE = "@close"  # pseudo-step: the case closes
END_TRACK = "@end"  # pseudo-step: a side track ends, the main track continues

# The hand-over step every process uses the same way (workflows/steps.py `hand_over`): a receiver in this
# deployment acknowledges it; for a destination outside it, the sender records the receipt.
HANDOVER_STEP = "handover"
ACKNOWLEDGE = "acknowledge_handover"
RECORD_EXTERNAL_ACK = "record_external_ack"


@dataclass(frozen=True)
class ExtensionRule:
    """A bounded extension (治安管理处罚法 Art. 99: once, by 30 days): how many times, and at most how long
    each, in days or hours."""

    times: int
    at_most: str  # e.g. "30d"

    def refusal(self, done: int, by: str) -> str | None:
        """Why an extension by `by`, after `done` earlier ones, is not allowed; None if it is."""
        limit = Allowance.parse(self.at_most)
        if done >= self.times:
            return f"本环节依法只能延期{self.times}次，已延期{done}次"
        asked = Allowance.parse(by)
        if _hours(asked) is None or _hours(asked) > _hours(limit):  # type: ignore[operator]
            return f"本环节每次延期不得超过{limit.label()}"
        return None


def _hours(a: Allowance) -> int | None:
    """A duration in days or hours as hours; None for units a calendar decides (working days, months)."""
    return {Unit.days: 24, Unit.hours: 1}.get(a.unit, 0) * a.amount or None


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    responsible: tuple[AgencyType, ...]  # agency types that may hold it; the first is the usual one
    policy_key: str | None
    actions: tuple[Action, ...]
    track: str = "main"
    description: str = ""
    # Override of the ladder's level-2 and level-3 offsets from the deadline (default: half, full).
    ladder: tuple[Allowance, Allowance] | None = None
    # A step that recurs (the next guidance session, the second visit): the policy keys of its later
    # occurrences, the last one repeating; `policy_key` is the first's.
    then: tuple[str, ...] = ()
    # A count policy: how many occurrences complete the step (sessions, clean visits, attendance checks),
    # and the step's counter (StepState.counters) that counts them, shown as "已完成 2/3 次".
    count_key: str | None = None
    counter: str | None = None
    # Who is told at escalation levels 1, 2 and 3 (a crisis step's third goes to the political-legal
    # committee; a committee's first beyond itself to the township's child supervisor).
    audience: tuple[Rung, Rung, Rung] = DEFAULT_AUDIENCE
    # An action (by_system) the workflow takes when the deadline passes, instead of escalating: the
    # applicant's time to supplement lapses, so the application is withdrawn.
    on_deadline: str | None = None
    # A scheduled step (a visit, an attendance check): the policy of how long before its deadline it may
    # be recorded (Action.not_before=NotBefore.window). The deadline is the date it is due.
    window_key: str | None = None
    # What the step's deadline is called where the page says when an action becomes possible.
    due_label: str = "办理期限"
    # How far a supervisor may extend the deadline, where a law bounds it (None: at will).
    extension: ExtensionRule | None = None
    # Agency types that hold the step with its holder, in the holder's region (a county's disabled
    # persons' federation decides with civil affairs): the workflow makes them co-holders.
    co_responsible: tuple[AgencyType, ...] = ()

    def action(self, name: str) -> Action | None:
        return next((a for a in self.actions if a.name == name), None)

    def policy_for(self, occurrence: int) -> str | None:
        """The policy key of the step's occurrence number `occurrence` (0: the first)."""
        if occurrence <= 0 or not self.then:
            return self.policy_key
        return self.then[min(occurrence, len(self.then)) - 1]


@dataclass(frozen=True)
class DocumentKind:
    """A document a process issues: its title, its field labels, whether it has a layout of its own
    (ui/templates/docs/<kind>.html) or is listed field by field, and the word of its number (训字 in
    潞公训字〔2026〕第12号, domain/documents.py)."""

    kind: str
    title: str
    field_labels: dict[str, str]
    layout: bool = True
    word: str = "字"
    # Whom its service receipt (送达回证) names: the child's guardians, or the addressee of a letter.
    served_to_guardians: bool = True

    def spec(self, **fields: Any) -> DocumentSpec:
        return DocumentSpec(kind=self.kind, title=self.title, fields=fields)


# The transfer packet every hand-over sends (workflows/handover.py).
TRANSFER_PACKET = DocumentKind(
    "transfer_packet",
    "迁出移交函",
    {
        "destination_region": "迁入地",
        "destination_address": "迁入地地址",
        "destination_school": "迁入地学校",
        "from_agency": "移交单位",
        "school": "学校",
    },
    word="移字",
    served_to_guardians=False,
)


@dataclass(frozen=True)
class PayloadLabel:
    """A fact a process's workflow adds to an event (a session's number, a relapse), as a reader sees it."""

    key: str
    label: str
    template: str = "{}"  # how the value reads, e.g. "第{}次再次辍学"
    # A payload key holding the total it counts towards: "第2次（共3次）" where the template is "第{}次".
    of: str | None = None

    def show(self, value: Any) -> str:
        return "是" if value is True else self.template.format(value)

    def read(self, payload: dict[str, Any]) -> str | None:
        """How the event's payload reads under this label; None where it does not have the fact."""
        value = payload.get(self.key)
        if value in (None, "", False):
            return None
        total = payload.get(self.of) if self.of else None
        return f"{self.show(value)}（共{total}次）" if total else self.show(value)


def handover_step(
    label: str,
    receiver: AgencyType,
    policy_key: str,
    description: str,
    ack_fields: tuple[Field, ...] = (),
    audience: tuple[Rung, Rung, Rung] = DEFAULT_AUDIENCE,
) -> Step:
    """The hand-over step of a process whose cases follow a child who moves."""
    return Step(
        HANDOVER_STEP,
        label,
        (receiver,),
        policy_key,
        audience=audience,
        description=description,
        actions=(
            Action(ACKNOWLEDGE, "确认接收", to=(CLOSE,), fields=(*ack_fields, NOTE)),
            Action(
                RECORD_EXTERNAL_ACK,
                "记录迁入地回执",
                to=(CLOSE,),
                fields=(DATE_DONE, Field("receiver", "接收单位"), NOTE),
            ),
        ),
    )


@dataclass(frozen=True)
class DemoCase:
    """A demo case `referrals seed-demo` starts as found some days ago, far enough back that its first step
    has passed `level` escalation thresholds (the workflow escalates it on start), so that the stalled
    lists have content on first start."""

    level: int
    child: str  # a demo child's name
    starter: str  # a demo username
    start_step: str
    facts: dict[str, Any]


@dataclass(frozen=True)
class CrossRegion:
    """A residence-accepted, origin-reviewed process (居住地受理、户籍地审核): its cases are listed in the
    跨地区审批 view of the `viewers` of both sides, the residence (the case's county) and the origin (the
    county code its workflow keeps in the case summary under ORIGIN_SUMMARY, with the side that holds the
    case under SIDE_SUMMARY); the city's see every county."""

    viewers: tuple[AgencyType, ...]
    # The origin's two steps (verification, decision): a case waits for the origin in them; an imported
    # transfer packet opens the first (api/packets).
    origin_steps: tuple[str, str]
    # The residence clerk's actions recording the origin's opinion and decision (an imported answer takes them).
    answer_actions: tuple[str, str]
    # The applicant's supplement the origin asks for (step, the origin's request on its verification step, the
    # residence's "supplied" on that step): between deployments the request goes to the residence in a packet,
    # its clock runs there, and the supplied materials come back in one (api/packets). Empty: no such loop.
    supplement_step: str = ""
    supplement_actions: tuple[str, str] = ("", "")
    # The applicant's withdrawal (a case action): a `withdrawn` packet from the residence takes it on the origin's
    # case. The support step and the residence clerk's action recording that the origin ended it (an `ended`
    # packet from the origin takes it), with the outcomes that mean support ended. Empty: no such packets.
    withdrawal_action: str = ""
    support_step: str = ""
    support_ended_action: str = ""
    # The origin clerk's action recording that the residence (another deployment) ended support there (an
    # `ended` packet from the residence takes it on the imported case).
    residence_ended_action: str = ""
    ended_outcomes: tuple[str, ...] = ()
    # The support step's action recording full-time education (support goes on past the age limit to the end
    # of studies): an `education` packet from the other side's deployment takes it there. Empty: no such packet.
    education_action: str = ""


ORIGIN_SUMMARY = "origin_region"
SIDE_SUMMARY = "holder_side"
# The sender's case number, in the summary of a case opened from another deployment's transfer packet.
REMOTE_SUMMARY = "remote_case_no"


@dataclass(frozen=True)
class StartOption:
    step: str
    agency_types: tuple[AgencyType, ...]
    label: str
    # Steps of other tracks that open with the start step (a follow-up's visits beside its contacts).
    opens_too: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    name: str
    label: str


@dataclass(frozen=True)
class StartContext:
    """What a process's own start check sees: the cleaned start form and the child."""

    facts: dict[str, Any]
    birth_date: date
    today: date
    starter_type: AgencyType
    policy: Callable[[str], Allowance]  # the value in force in the case's county
    # The county's school terms and holidays, over the statutory calendar (domain/school_calendar.py).
    school_calendar: SchoolCalendar = field(default_factory=SchoolCalendar)
    # The county that will own the case (the child's residence) and the starting agency.
    county: str = ""
    starter_agency_id: int | None = None
    # The regions this deployment serves (Settings.served_city): "inside or outside this deployment".
    served: ServedRegions = CHANGZHI


@dataclass(frozen=True)
class Process:
    name: str  # also its workflow type
    label: str
    code: str  # case-number prefix, ASCII
    # The module of workflows/ that holds its orchestration (its saved histories are named after it too).
    orchestration: str
    steps: tuple[Step, ...]
    starts: tuple[StartOption, ...]
    start_fields: tuple[Field, ...] = ()
    case_actions: tuple[Action, ...] = ()  # available while the case is open, whatever the step
    outcomes: tuple[Outcome, ...] = ()
    tracks: dict[str, str] = field(default_factory=lambda: {"main": "主流程"})
    # Refusals a start form needs beyond its fields (raise DomainError), e.g. a pupil's age.
    check_start: Callable[[StartContext], None] | None = None
    # The case closes on its own when the child reaches this age, with this outcome.
    closes_at_age: int = 18
    aged_out_outcome: str = "adult"
    # Facts the workflow keeps up to date for lists and reports (key, 中文 label), e.g. the school.
    summary_fields: tuple[tuple[str, str], ...] = ()
    # The summary key the supervisors' report groups by (with the step).
    report_by: str | None = None
    # Statistics by month, quarter or year (domain/tallies.py), beside or instead of the report by group.
    periodic_report: PeriodicReport | None = None
    # The start check counts school days (StartContext.school_calendar): the start form says on which
    # calendar, the county's school calendar or, where none is set, the statutory working days.
    counts_school_days: bool = False
    # What the process is for, in a sentence, where a clerk chooses one; and the purpose a transfer
    # packet names (关爱保护, 劝返复学).
    description: str = ""
    purpose: str = ""
    # Step counters a reader sees (key → label, unit); a counter not listed is internal.
    counter_labels: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Every deadline and count the process uses, with its default and legal basis.
    policies: tuple[PolicyDefault, ...] = ()
    # The documents it issues (a hand-over's transfer packet is added where the process has the step).
    documents: tuple[DocumentKind, ...] = ()
    # Facts its workflow adds to events, for the timeline.
    payload_labels: tuple[PayloadLabel, ...] = ()
    # Demo cases already overdue (db/seed.py).
    demo_cases: tuple[DemoCase, ...] = ()
    # Agency types that may read its clinical fields (Field.clinical), besides a step's holder.
    clinical_readers: tuple[AgencyType, ...] = ()
    # A case of years continues as new past this many history events (None: the machinery's default,
    # workflows/base.py), so that one run's history stays small however long the case lives.
    history_limit: int | None = None
    # At most one open case of the process per child: a second start is refused naming the open case
    # (api/cases/service.py), and a start by the system answers it.
    one_open_per_child: bool = False
    # Proposals of the registry it accepts (domain/registry.py ProposalKind values, e.g. a pupil on last
    # term's roll and on no roll this term): the registry offers such a child to a person of an agency that
    # may start the process, who confirms (the case starts) or rejects. Never started without that person.
    registry_proposals: tuple[str, ...] = ()
    # The start field that takes a key child's categories (domain/registry.py KeyCategory): the registry's
    # apply starts the process, as the county's civil affairs, for every child it flags as a key child.
    key_child_field: str | None = None
    # Residence accepts, origin reviews: who sees its cases in the 跨地区审批 view.
    cross_region: CrossRegion | None = None

    def clinical_names(self) -> frozenset[str]:
        """The names of every clinical field of its start form, its steps' actions and its case actions."""
        fields = [*self.start_fields, *(f for a in self.case_actions for f in a.fields)]
        fields += [f for s in self.steps for a in s.actions for f in a.fields]
        return frozenset(f.name for f in fields if f.clinical)

    def attachment_fields(self) -> tuple[Field, ...]:
        """Every field of its steps' and case actions' forms that names an attachment."""
        fields = [f for a in self.case_actions for f in a.fields]
        fields += [f for s in self.steps for a in s.actions for f in a.fields]
        return tuple(f for f in fields if f.kind == FieldKind.attachment)

    def attachment_is_clinical(self, kind: str) -> bool:
        """An attachment is clinical content when a clinical field names its kind (a consent form)."""
        return any(f.clinical for f in self.attachment_fields() if f.attachment == kind)

    def all_documents(self) -> tuple[DocumentKind, ...]:
        return (*self.documents, TRANSFER_PACKET) if self.has_step(HANDOVER_STEP) else self.documents

    def document(self, kind: str) -> DocumentKind | None:
        return next((d for d in self.all_documents() if d.kind == kind), None)

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def has_step(self, name: str) -> bool:
        return any(s.name == name for s in self.steps)

    def start_field(self, name: str) -> Field | None:
        return next((f for f in self.start_fields if f.name == name), None)

    def start_field_with(self, role: FieldRole) -> Field | None:
        return field_with(self.start_fields, role)

    def case_action(self, name: str) -> Action | None:
        return next((a for a in self.case_actions if a.name == name), None)

    def start_option(self, step: str) -> StartOption | None:
        return next((o for o in self.starts if o.step == step), None)

    def starts_for(self, agency_type: AgencyType) -> list[StartOption]:
        return [o for o in self.starts if agency_type in o.agency_types]

    def outcome_label(self, name: str | None) -> str:
        return next((o.label for o in self.outcomes if o.name == name), name or "")

    def step_label(self, name: str | None) -> str:
        if not name:
            return ""
        if name == CLOSE:
            return "结案"
        if name == END_TRACK:
            return "分支结束"
        return self.step(name).label if self.has_step(name) else name

    def action_label(self, step: str | None, name: str) -> str:
        if step and self.has_step(step):
            a = self.step(step).action(name)
            if a:
                return a.label
        a = self.case_action(name)
        return a.label if a else name


def field_with(fields: tuple[Field, ...], role: FieldRole) -> Field | None:
    return next((f for f in fields if f.role == role), None)


def clean_payload(fields: tuple[Field, ...], raw: dict[str, Any], *, today: date) -> dict[str, Any]:
    """Checks and normalises a form against its fields: required, type, choices, dates not in the
    future where the field says so. Unknown keys are dropped. Raises DomainError naming the field."""
    out: dict[str, Any] = {}
    for f in fields:
        value = raw.get(f.name)
        if isinstance(value, str):
            value = value.strip()
        kind = rules(f.kind)
        if value in (None, "") and not kind.blank_is_an_answer:
            if f.required:
                raise DomainError("field_required", f"请填写“{f.label}”", field=f.name)
            continue
        out[f.name] = kind.clean(f, value, today)
    return out
