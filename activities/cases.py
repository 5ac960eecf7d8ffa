"""The activities behind every case workflow: write the timeline and projection, compute deadlines,
find the agency that serves a region. Methods of one class that owns the session factory."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import projection
from activities.outbound import UNDELIVERED_MARK
from db.case_numbers import next_case_no
from db.deadline_inputs import DeadlineInputs, DeadlineInputsCache
from db.documents import issue_document
from db.models import (
    Agency,
    Case,
    CaseRequest,
    Child,
    Document,
    User,
)
from db.session import autocommit, engine_of, transaction
from domain.deadlines import compute_deadlines
from domain.enums import Role
from domain.messages import (
    AgencyQuery,
    AgencyRef,
    DeadlineAnswer,
    DeadlineRequest,
    EventRecord,
    EventWithStep,
    FollowOnRequest,
    NotificationSpec,
    OpenCasesQuery,
    RecordedWithStep,
    StepInputs,
    StepInputsRequest,
)
from domain.policy import Allowance, resolve_policy
from domain.processes import get_process, policy_default
from domain.regions import prefecture_of
from domain.timing import fill_step
from workflows import activity_names as names

ACTIVITY_KINDS = {"opened", "action", "urged", "extended", "reassigned"}
# Notices that ask someone to work on a step: they are settled when the step is.
STEP_NOTICES = ("new_step", "overdue", "escalated", "urged")
# Of those, the ones addressed to the step's holders (the others reach supervisors): a step moved to
# another agency settles them for the agency it left.
HOLDER_NOTICES = ("new_step", "overdue", "urged")


def agency_ref(a: Agency) -> AgencyRef:
    return AgencyRef(id=a.id, name=a.name, agency_type=a.agency_type, region_code=a.region_code, township=a.township)


# The deadline inputs' version and which of a new step's agencies are still active, in one statement.
STEP_INPUTS_SQL = """
SELECT (SELECT version FROM deadline_inputs_version),
       ARRAY(SELECT id FROM agencies WHERE id = ANY(%(ids)s::int[]) AND is_active)
"""
# Whether an event is written already (a retry).
WRITTEN_SQL = """
SELECT EXISTS (SELECT 1 FROM timeline_events te JOIN cases c ON c.id = te.case_id
               WHERE c.case_no = %(case_no)s::text AND te.seq = %(seq)s::int)
"""


# The agency of a type serving a region (in its township, or the one asked for, first), else the city's.
RESOLVE_SQL = """
SELECT id, name, agency_type, region_code, township FROM agencies
WHERE agency_type = %(type)s::text AND region_code = ANY(%(regions)s::text[]) AND is_active
ORDER BY region_code = %(region)s::text DESC, id = %(prefer)s::int DESC,
         -- a county-level agency has no township (NULL), which would sort first
         COALESCE(township = %(township)s::text, false) DESC, is_default DESC, id
LIMIT 1
"""


async def resolve(conn: AsyncConnection, q: AgencyQuery) -> AgencyRef:
    """As the activity `resolve_agency`, on the caller's connection."""
    params = {
        "type": q.agency_type.value,
        "regions": list(dict.fromkeys((q.region_code, prefecture_of(q.region_code)))),
        "region": q.region_code,
        "prefer": q.prefer_id or -1,
        "township": q.township or "",
    }
    found = (await conn.exec_driver_sql(RESOLVE_SQL, params)).one_or_none()
    if found is None:
        raise ApplicationError(f"no active {q.agency_type.value} agency serves region {q.region_code}")
    return AgencyRef(
        id=found.id,
        name=found.name,
        agency_type=found.agency_type,
        region_code=found.region_code,
        township=found.township,
    )


def deadline_answer(req: DeadlineRequest, inputs: DeadlineInputs) -> DeadlineAnswer:
    """A step's deadline (or the allowance alone, for a count or a "from the first of a month" policy)."""
    if req.allowance:
        allowance = Allowance.parse(req.allowance)
    else:
        assert req.policy_key
        allowance = resolve_policy(policy_default(req.policy_key), req.county, inputs.overrides, req.at)
    if allowance.kind != "duration":  # a count, or "from the first of a month": no deadline
        return DeadlineAnswer(allowance=str(allowance), deadlines=None)
    ladder = (Allowance.parse(req.ladder[0]), Allowance.parse(req.ladder[1])) if req.ladder else None
    return DeadlineAnswer(
        allowance=str(allowance), deadlines=compute_deadlines(req.base, allowance, inputs.calendar, ladder=ladder)
    )


def step_answer(
    req: StepInputsRequest, inputs: DeadlineInputs, agencies: list[AgencyRef], found: list[AgencyRef]
) -> StepInputs:
    """A new step's inputs: its agencies and lookups as given, its deadline and its window's lead, the
    policy in force in the case's county when the step opens."""
    answer = deadline_answer(req.deadline, inputs) if req.deadline else None
    window = None
    if req.window_key and req.deadline and answer and answer.deadlines:
        lead = resolve_policy(policy_default(req.window_key), req.deadline.county, inputs.overrides, req.deadline.at)
        window = str(lead)
    return StepInputs(agencies=agencies, deadline=answer, window=window, found=found)


class CaseActivities:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.sf = session_factory
        self.inputs = DeadlineInputsCache()

    def all(self) -> list:
        return [
            self.record_event,
            self.record_with_step,
            self.compute_deadlines,
            self.resolve_agency,
            self.active_agencies,
            self.step_inputs,
            self.open_follow_on,
            self.open_cases_of_child,
        ]

    # ------------------------------------------------------------------ record_event

    @activity.defn(name=names.RECORD_EVENT)
    async def record_event(self, ev: EventRecord) -> bool:
        """Appends the event and applies its projection changes in one transaction (activities/projection.py:
        two statements). Returns False when the event was already recorded (a retry): nothing changes."""
        # A connection, not a session: this runs for every event, and only a document needs the ORM.
        async with engine_of(self.sf).begin() as conn:
            return await self._write(conn, ev)

    @activity.defn(name=names.RECORD_WITH_STEP)
    async def record_with_step(self, req: EventWithStep) -> RecordedWithStep:
        """`record_event` of an event that opens a step, with the step's inputs read as `step_inputs` reads them
        in the event's transaction: one local activity (and one workflow activation) where a move took two.
        Nothing is written when one of the step's agencies has been switched off: the workflow then opens the
        step with the agency that replaces it, as before. A retry of an event written already answers written,
        its inputs read again (as a replay after a worker's crash reads a step's inputs again)."""
        ev, asked = req.event, req.inputs
        async with engine_of(self.sf).begin() as conn:
            ids = [a.id for a in asked.agencies]
            version, active = (await conn.exec_driver_sql(STEP_INPUTS_SQL, {"ids": ids})).one()
            # Asked only in that rare case: otherwise a written event is found by the write itself.
            if set(ids) - set(active) and not await self._written(conn, ev):
                return RecordedWithStep(written=False)
            found = [await resolve(conn, q) for q in asked.find]
            got = step_answer(asked, await self.inputs.at_version(self.sf, version), asked.agencies, found)
            for step in ev.set_steps:
                if step.track == req.track and step.seq == ev.seq:
                    fill_step(step, got)
            await self._write(conn, ev)
        return RecordedWithStep(written=True, inputs=got)

    @staticmethod
    async def _written(conn: AsyncConnection, ev: EventRecord) -> bool:
        return (await conn.exec_driver_sql(WRITTEN_SQL, {"case_no": ev.case_no, "seq": ev.seq})).scalar_one()

    async def _write(self, conn: AsyncConnection, ev: EventRecord) -> bool:
        """The event and its projection changes, in the caller's transaction; False: written already."""
        rows = await note_rows(conn, ev)
        case_id, new = await projection.append(conn, ev, rows)
        if case_id is None:
            # The opening event always comes first; if it is missing something is badly wrong.
            raise ApplicationError(f"case {ev.case_no} has no projection row")
        if not new:
            return False
        await projection.update_case(
            conn, case_id, ev, activity=ev.kind in ACTIVITY_KINDS, holder_notices=HOLDER_NOTICES
        )
        if ev.document is not None:
            # In a savepoint of the event's transaction: filed with the event, or not at all.
            async with AsyncSession(bind=conn, join_transaction_mode="create_savepoint") as s:
                await self._file_document(s, case_id, ev)
                await s.commit()
        return True

    @staticmethod
    async def _file_document(s: AsyncSession, case_id: int, ev: EventRecord) -> None:
        """Files the document and issues it: numbered and frozen as the case and the child are now."""
        assert ev.document is not None
        doc_id = (
            await s.execute(
                insert(Document)
                .values(
                    case_id=case_id,
                    seq=ev.seq,
                    kind=ev.document.kind,
                    title=ev.document.title,
                    fields=ev.document.fields,
                    created_at=ev.at,
                )
                .on_conflict_do_nothing()
                .returning(Document.id)
            )
        ).scalar_one_or_none()
        if doc_id is not None:
            doc = await s.get(Document, doc_id)
            assert doc is not None
            await issue_document(s, doc, ev.actor.agency.id if ev.actor else None)

    # ------------------------------------------------------------------ compute_deadlines (local)

    @activity.defn(name=names.COMPUTE_DEADLINES)
    async def compute_deadlines(self, req: DeadlineRequest) -> DeadlineAnswer:
        return deadline_answer(req, await self.inputs.current(self.sf))

    @activity.defn(name=names.STEP_INPUTS)
    async def step_inputs(self, req: StepInputsRequest) -> StepInputs:
        """What a new step needs, in one local activity (one workflow activation instead of two or three) and
        one read: its agencies as `active_agencies` gives them, its deadline as `compute_deadlines` does, and
        its window's lead, the policy in force in the case's county when the step opens; and any agencies the
        workflow looks up along with it, as `resolve_agency` finds them."""
        async with autocommit(self.sf) as conn:
            version, active = (await conn.exec_driver_sql(STEP_INPUTS_SQL, {"ids": [a.id for a in req.agencies]})).one()
            found = [await resolve(conn, q) for q in req.find]
        inputs = await self.inputs.at_version(self.sf, version)
        return step_answer(req, inputs, await self._still_active(req.agencies, set(active)), found)

    # ------------------------------------------------------------------ resolve_agency

    @activity.defn(name=names.ACTIVE_AGENCIES)
    async def active_agencies(self, agencies: list[AgencyRef]) -> list[AgencyRef]:
        """The same agencies, each still active replaced by itself; one switched off since the case kept
        it (the school, the custodian, a committee) by the agency of its type now serving its region
        (same township first), so that no new step goes to an agency nobody can log in to."""
        ids = [a.id for a in agencies]
        async with autocommit(self.sf) as conn:
            rows = await conn.execute(select(Agency.id).where(Agency.id.in_(ids), Agency.is_active.is_(True)))
            active = set(rows.scalars())
        return await self._still_active(agencies, active)

    async def _still_active(self, agencies: list[AgencyRef], active: set[int]) -> list[AgencyRef]:
        out = []
        for a in agencies:
            if a.id in active:
                out.append(a)
            else:
                q = AgencyQuery(agency_type=a.agency_type, region_code=a.region_code, township=a.township)
                out.append(await self.resolve_agency(q))
        return out

    @activity.defn(name=names.RESOLVE_AGENCY)
    async def resolve_agency(self, q: AgencyQuery) -> AgencyRef:
        """The agency of a type serving a region: the preferred one if it fits, else the region's
        default, else the city's. None found is an error an admin must fix (the activity retries)."""
        async with autocommit(self.sf) as conn:
            return await resolve(conn, q)

    # ------------------------------------------------------------------ open_follow_on

    @activity.defn(name=names.OPEN_FOLLOW_ON)
    async def open_follow_on(self, req: FollowOnRequest) -> str:
        """Reserves the linked case's number, the next of the process's count in the new county (once per
        origin case: a retry gets the same number), and moves the child's residence in the registry to the
        new county."""
        key = req.key or f"follow-on:{req.origin_case_no}"
        async with transaction(self.sf) as s:
            existing = (
                await s.execute(
                    select(CaseRequest.case_no).where(
                        CaseRequest.agency_id == req.agency_id, CaseRequest.idempotency_key == key
                    )
                )
            ).scalar_one_or_none()
            if existing:
                return existing
            code = get_process(req.process).code
            case_no = await next_case_no(s, code=code, county=req.county, at=datetime.now(UTC))
            s.add(CaseRequest(agency_id=req.agency_id, idempotency_key=key, request_hash=key, case_no=case_no))
            await s.execute(
                update(Child)
                .where(Child.id == await registered_child_id(s, req.child_id), Child.residence_region != req.county)
                .values(residence_region=req.county, residence_committee_id=None)
            )
        return case_no

    # ------------------------------------------------------------------ open_cases_of_child

    @activity.defn(name=names.OPEN_CASES_OF_CHILD)
    async def open_cases_of_child(self, q: OpenCasesQuery) -> list[str]:
        """The numbers of the child's open cases of the given processes (the child merged into another
        record counts as that child, and a case of either record counts)."""
        async with transaction(self.sf) as s:
            child_id = await registered_child_id(s, q.child_id)
            merged = select(Child.id).where(Child.merged_into_id == child_id)
            rows = await s.execute(
                select(Case.case_no)
                .where(
                    or_(Case.child_id == child_id, Case.child_id.in_(merged)),
                    Case.process.in_(q.processes),
                    Case.status == "open",
                )
                .order_by(Case.case_no)
            )
            return list(rows.scalars())


async def registered_child_id(s: AsyncSession, child_id: int) -> int:
    """The child a workflow's child id stands for now: a provisional record merged into a registered child
    (api/children/service.py merge_child) stands for that child. Workflows keep the id they started with;
    the row lock waits for a merge under way, so a case opened meanwhile still lands on the right child."""
    merged_into = (
        await s.execute(select(Child.merged_into_id).where(Child.id == child_id).with_for_update(key_share=True))
    ).scalar_one_or_none()
    return merged_into or child_id


async def recipients(s: AsyncSession | AsyncConnection, spec: NotificationSpec) -> list[tuple[int, int | None]]:
    """(agency, user or None for everyone there): one person, one agency, or every active agency of a type
    in a region (escalations: domain/oversight.py chose the type)."""
    if spec.agency_id is not None:
        if spec.user_id is not None:
            user = (await s.execute(select(User.is_active, User.agency_id).where(User.id == spec.user_id))).first()
            if user is not None and user.is_active and user.agency_id == spec.agency_id:
                return [(spec.agency_id, spec.user_id)]
            # Left or moved on: what was meant for them goes to their former agency, so nobody misses it.
        return [(spec.agency_id, None)]
    stmt = select(Agency.id).where(Agency.is_active.is_(True))
    if spec.agency_type is not None:
        stmt = stmt.where(Agency.agency_type == spec.agency_type.value)
    if spec.region_code is not None:
        stmt = stmt.where(Agency.region_code == spec.region_code)
    if spec.township is not None:
        stmt = stmt.where(Agency.township == spec.township)
    elif spec.role == Role.supervisor:
        # County and city overseers: not the agencies below the county (a police station) of the same type.
        stmt = stmt.where(Agency.township.is_(None))
    if spec.role == Role.supervisor:
        # The supervisors of a type in a region are those of its agencies that have any: a unit that only
        # works cases (a guidance station of the bureau's type) is not told of another's delay.
        stmt = stmt.where(
            select(User.id)
            .where(User.agency_id == Agency.id, User.role == Role.supervisor.value, User.is_active.is_(True))
            .exists()
        )
    return [(a, None) for a in (await s.execute(stmt)).scalars()]


async def note_rows(s: AsyncSession | AsyncConnection, ev: EventRecord) -> list[projection.Recipient]:
    """The event's notifications, one row per recipient. Only a notice to the agencies of a type in a region
    reads the database here; one to a person is checked in the write itself (activities/projection.py)."""
    out = []
    for spec in ev.notifications:
        if spec.agency_id is not None:
            found = [(spec.agency_id, spec.user_id)]
        else:
            found = await recipients(s, spec)
        role = spec.role.value if spec.role else ""
        out += [
            projection.Recipient(agency_id, user_id, role, spec.kind, spec.title, spec.kind in STEP_NOTICES)
            for agency_id, user_id in found
        ]
    return out


async def mark_automation(
    session_factory: async_sessionmaker[AsyncSession], case_no: str, activity_type: str, error: str | None
) -> None:
    """Flags a case whose activity `activity_type` keeps failing (`error`), so supervisors see it as stalled,
    or clears that activity's flag when it succeeds again (None). One column holds one flag: another
    activity's success leaves this one's in place (a failing one flags again at its next attempt), and the
    delivery workflow's undelivered mark, set once, is neither replaced nor cleared here (the case is on the
    stalled list already; delivering clears it)."""
    mine = Case.automation_error.startswith(f"{activity_type}: ", autoescape=True)
    if error is None:
        whose = mine
    else:
        whose = or_(Case.automation_error.is_(None), Case.automation_error != UNDELIVERED_MARK)
    async with transaction(session_factory) as s:
        await s.execute(update(Case).where(Case.case_no == case_no, whose).values(automation_error=error))
