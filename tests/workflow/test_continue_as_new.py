"""Continue-as-new: a case lives for years (a guardianship case is monitored until the child is 18), so its
workflow history is cut into runs. Cases started here with a small history limit (CaseInput.history_limit)
continue as new every few actions; nothing a user sees may change: the same steps, counters and timeline
(seqs 1..N, none twice, none missing), deadlines that still escalate, actions that are never lost or
applied twice."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory, WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, Worker

from activities.calendar import CalendarActivities
from activities.cases import CaseActivities
from activities.outbound import OutboundActivities
from api.cases import service
from domain.messages import ActionResult, CaseInput, CaseResult, CaseState
from tests import support as s
from tests.codec_keys import CODEC, CONVERTER
from tests.conftest import Db
from tests.support import CaseDriver, DropoutDriver, form
from tests.workflow.conftest import Wf
from worker.client import build_worker
from worker.registry import ALL_WORKFLOWS
from workflows import base
from workflows.guardianship import GuardianshipWorkflow
from workflows.outbound import OutboundDeliveryWorkflow

LIMIT = 40  # events per run: a run continues as new every two or three actions
MINUTE = timedelta(minutes=1)
CLOSE = "@close"


@pytest.fixture
async def dev_wf(dev_env: WorkflowEnvironment, db: Db) -> AsyncIterator[Wf]:
    """A worker on the Temporal dev server (the real server): it routes an Update sent to a case's workflow
    ID to the run that is current when it arrives, as in production."""
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with build_worker(dev_env.client, tq, db.sf):
        yield Wf(dev_env, dev_env.client, tq, db)


async def runs(c: CaseDriver) -> list[WorkflowHistory]:
    """The histories of the case's runs, first to current (each run's start names the run it continues)."""
    run_id = (await c.handle().describe()).run_id
    chain: list[WorkflowHistory] = []
    while run_id:
        history = await c.w.client.get_workflow_handle(f"case-{c.no}", run_id=run_id).fetch_history()
        chain.insert(0, history)
        run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
    return chain


def run_input(history: WorkflowHistory) -> CaseInput:
    payloads = history.events[0].workflow_execution_started_event_attributes.input.payloads
    # A history holds the payloads as the codec left them: encrypted.
    [inp] = CONVERTER.payload_converter.from_payloads([CODEC.decrypt(p) for p in payloads], [CaseInput])
    return inp


def assert_chained(chain: list[WorkflowHistory]) -> None:
    """Every run but the last ended by continuing as new into the next one, which got the case's state
    and the same history limit."""
    for run, nxt in itertools.pairwise(chain):
        last = run.events[-1]
        assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        assert last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id == nxt.run_id
        inp = run_input(nxt)
        assert inp.start is None and inp.resume is not None and inp.history_limit == LIMIT
    assert run_input(chain[0]).resume is None


def save_run(history: WorkflowHistory, stem: str) -> None:
    """With REFERRALS_SAVE_HISTORIES=1, writes one run's history to tests/histories/<stem>.json for
    tests/replay (support.save_history_as saves the last run only)."""
    if s.SAVE_HISTORIES:
        text = json.dumps(history.to_json_dict(), separators=(",", ":"))
        (s.HISTORIES / f"{stem}.json").write_text(text + "\n", encoding="utf-8")


async def live(c: CaseDriver) -> CaseState:
    state = await c.handle().query("view", result_type=CaseState)
    assert state is not None
    return state


async def assert_timeline_whole(c: CaseDriver) -> list:
    """The timeline holds events 1..N, each once, and the case row's last seq is N."""
    events = await c.events()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert (await c.row()).last_seq == len(events)
    notes = await c.notes()
    assert not [n for n, k in Counter(notes).items() if k > 1], "a notification was written twice"
    return events


async def assert_live_matches_projection(c: CaseDriver) -> CaseState:
    """The workflow's own view (the current run's state) says what the projection says."""
    state = await live(c)
    rows = await c.steps()
    assert state.seq == (await c.row()).last_seq
    assert sorted(state.steps) == sorted(rows)
    for track, st in state.steps.items():
        row = rows[track]
        assert (st.step, st.seq, st.holder.id, st.level, st.counters) == (
            row.step,
            row.step_seq,
            row.holder_agency_id,
            row.escalation_level,
            row.counters,
        )
        assert (st.deadlines.due_at if st.deadlines else None) == row.due_at
    return state


async def start_again(c: CaseDriver, username: str, key: str) -> service.Started:
    """The start request retried with its idempotency key: the service finds the running case and waits
    for its `opened` Update."""
    p = await s.who(c.db, username)
    data = service.StartCaseIn(
        process="guardianship",
        start_step="admonition",
        child_id=await s.child_id(c.db, "王小明"),
        facts={"facts": "监护人长期外出，儿童独自在家", "occurred_on": s.today_iso()},
    )
    async with c.db.sf() as sess:
        # Bounded here: the client polls the Update again each time the server answers "not yet".
        return await asyncio.wait_for(
            service.start_case(
                session=sess,
                client=c.w.client,
                task_queue=c.w.tq,
                principal=p,
                data=data,
                idempotency_key=key,
                wait_seconds=5,
            ),
            10,
        )


async def test_a_long_guardianship_case_continues_as_new_and_loses_nothing(fresh_wf):
    key = "vc1-form-can"
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1", key=key, history_limit=LIMIT)
    seen = [(await c.handle().describe()).run_id]

    async def act(username: str, action: str, payload: dict) -> ActionResult:
        """Acts; when the action was the last of its run, checks the new run at once, before it records
        anything of its own."""
        r = await c.act(username, action, payload)
        run = (await c.handle().describe()).run_id
        if run != seen[-1]:
            seen.append(run)
            # The new run knows the case as the projection does (steps, holders, levels, counters, seq) ...
            state = await assert_live_matches_projection(c)
            assert state.seq == r.seq
            # ... and knows that every event is written: the start request, retried, is answered at once.
            again = await start_again(c, "luzhou-vc1", key)
            assert (again.case_no, again.created) == (c.no, False)
            assert again.result is not None and again.result.seq == r.seq
            assert again.result.steps == r.steps
        return r

    await act("luzhou-vc1", "record_admonition", form("record_admonition"))
    await c.sleep(timedelta(days=28))
    await act("luzhou-vc1", "not_improved", form("not_improved"))
    await act("luzhou-police", "accept", form("accept"))
    await act("luzhou-police", "decide_reprimand", form("decide_reprimand"))
    await act("luzhou-police", "issue_reprimand", form("issue_reprimand"))
    for n in (1, 2):
        r = await act("luzhou-wf", "record_session", form("record_session"))
        step = await c.step()
        assert (step.step, step.counters, step.step_seq) == ("family_education_guidance", {"sessions": n}, r.seq)
    await act("luzhou-wf", "record_session", form("record_session"))
    await c.sleep_to_window()
    await act("luzhou-vc1-director", "record_visit", form("record_visit", finding="concern"))
    await c.sleep_to_window()
    r = await act("luzhou-vc1-director", "record_visit", form("record_visit"))
    monitoring = await c.step()
    assert (monitoring.step, monitoring.counters, monitoring.step_seq, monitoring.allowance) == (
        "monitoring",
        {"visits": 1},
        r.seq,
        "90d",
    )
    # The facts the process keeps between steps came through every run.
    state = await assert_live_matches_projection(c)
    assert state.vars["sessions_done"] == 3 and state.vars["deciding_authority"]["name"] == "潞州区公安局"

    # By now the case has continued as new more than once, and each run's history stayed short.
    chain = await runs(c)
    assert [h.run_id for h in chain] == seen
    assert len(chain) >= 3, [len(h.events) for h in chain]
    assert_chained(chain)
    assert all(len(h.events) < 2 * LIMIT for h in chain), [len(h.events) for h in chain]

    await c.sleep_to_window()
    r = await c.act("luzhou-vc1-director", "record_visit", form("record_visit", note="一切正常"))
    assert r.closed and r.outcome == "resolved"
    result = await c.handle().result()  # follows the runs to the last
    events = await assert_timeline_whole(c)
    assert (result.outcome, result.seq) == ("resolved", len(events))
    row = await c.row()
    assert (row.status, row.outcome, row.main_step) == ("closed", "resolved", None)
    assert await c.steps() == {}
    assert s.path(events) == [
        ("opened", None, None, "admonition"),
        ("action", "record_admonition", "admonition", "admonition_followup"),
        ("action", "not_improved", "admonition_followup", "police_report"),
        ("action", "accept", "police_report", "police_decision"),
        ("action", "decide_reprimand", "police_decision", "reprimand"),
        ("action", "issue_reprimand", "reprimand", "family_education_guidance"),
        ("action", "record_session", "family_education_guidance", "family_education_guidance"),
        ("action", "record_session", "family_education_guidance", "family_education_guidance"),
        ("action", "record_session", "family_education_guidance", "monitoring"),
        ("action", "record_visit", "monitoring", "monitoring"),
        ("action", "record_visit", "monitoring", "monitoring"),
        ("action", "record_visit", "monitoring", CLOSE),
    ]
    assert [e.payload.get("session_number") for e in events[6:9]] == [1, 2, 3]
    assert [(d.kind, d.seq) for d in await c.documents()] == [("reprimand", 6)]
    # The last run ended the case; none after it.
    chain = await runs(c)
    assert chain[-1].events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    save_run(chain[0], "guardianship-continued-as-new")
    save_run(chain[-1], "guardianship-resumed-closed")


async def test_a_dropout_case_keeps_its_counters_and_summary_across_runs(fresh_wf):
    """The dropout process keeps facts of its own in the case state: the team's attempt counters (a
    written order needs a home visit first), the school, the relapses in the case summary."""
    c = await DropoutDriver.open(fresh_wf, history_limit=LIMIT)
    school = (await c.summary())["school"]
    await c.act("luzhou-school1", "not_returned", form("not_returned"))
    jp = await c.step()
    attempts = [
        ("luzhou-vc1", "phone"),
        ("luzhou-town1", "home_visit"),
        ("luzhou-edu", "meeting"),
        ("luzhou-vc1", "phone"),
        ("luzhou-town1", "phone"),
        ("luzhou-edu", "meeting"),
    ]
    for n, (user, kind) in enumerate(attempts, 1):
        await c.act(user, "record_attempt", form("record_attempt", kind=kind))
        now = await c.step()  # a note on the step: its seq and deadline stay, through every run
        assert (now.step, now.step_seq, now.due_at) == ("joint_persuasion", jp.step_seq, jp.due_at)
        assert now.counters == {"attempts": n, "home_visits": 0 if n < 2 else 1}
    assert len(await runs(c)) >= 2
    await c.act("luzhou-edu", "refuses", form("refuses"))  # allowed only with a home visit on record
    await c.act("luzhou-edu", "issue_order", form("issue_order"))
    await c.act("luzhou-edu", "returned", form("returned"))
    await c.act("luzhou-school1", "dropped_again", form("dropped_again"))
    assert await c.summary() == {"school": school, "relapses": 1}
    await c.act("luzhou-school1", "returned", form("returned"))
    await c.sleep_to_window()
    await c.act("luzhou-school1", "record_attendance", form("record_attendance"))
    state = await assert_live_matches_projection(c)
    assert state.summary == {"school": school, "relapses": 1}
    assert state.vars["school"]["name"] == school
    await c.sleep_to_window()
    r = await c.act("luzhou-school1", "record_attendance", form("record_attendance"))
    assert r.closed and r.outcome == "returned"

    events = await assert_timeline_whole(c)
    assert (await c.handle().result()).seq == len(events)
    assert [e.action for e in events] == [
        None,
        "not_returned",
        *["record_attempt"] * len(attempts),
        "refuses",
        "issue_order",
        "returned",
        "dropped_again",
        "returned",
        "record_attendance",
        "record_attendance",
    ]
    assert [d.kind for d in await c.documents()] == ["written_order"]
    assert await c.summary() == {"school": school, "relapses": 1}
    chain = await runs(c)
    assert len(chain) >= 3, [len(h.events) for h in chain]
    assert_chained(chain)


async def test_a_deadline_pending_across_continue_as_new_still_escalates(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1", history_limit=LIMIT)
    await c.act("luzhou-vc1", "report_serious", form("report_serious"))
    step = await c.step()
    assert (step.step, step.allowance) == ("police_report", "24h")
    first = (await c.handle().describe()).run_id

    # The county's supervisors urge the police until the history passes the limit: the run continues as
    # new while the 24-hour deadline is still ahead.
    for n in range(1, 10):
        await c.supervise("luzhou-police-sup", "urge", "police_report", reason=f"第{n}次督办")
        if (await c.handle().describe()).run_id != first:
            break
    else:
        pytest.fail("the case never continued as new")
    assert await c.now() < step.due_at
    assert (await c.step()).escalation_level == 0
    seq = (await c.row()).last_seq

    await c.sleep_until(step.due_at - MINUTE)
    await s.settle(c.db, c.no)
    assert (await c.row()).last_seq == seq  # nothing before the deadline

    # Level 1 at the deadline, in the new run: the holder is told.
    await c.sleep_until(step.due_at + MINUTE)
    ev = (await c.wait_seq(seq + 1))[-1]
    assert (ev.kind, ev.from_step, ev.to_step) == ("escalated", "police_report", "police_report")
    assert ev.payload == {"level": 1}
    assert step.due_at <= ev.at <= step.due_at + MINUTE
    assert await c.notes(seq + 1) == [(seq + 1, "luzhou-police", "", "overdue")]
    assert (await c.step()).escalation_level == 1

    # Level 2 at its own time, once; the ladder goes on from the state the new run was given.
    await c.sleep_until(step.level2_at + MINUTE)
    ev = (await c.wait_seq(seq + 2))[-1]
    assert (ev.kind, ev.payload) == ("escalated", {"level": 2})
    assert step.level2_at <= ev.at <= step.level2_at + MINUTE
    await s.settle(c.db, c.no)
    events = await assert_timeline_whole(c)
    assert [(e.seq, e.payload["level"]) for e in events if e.kind == "escalated"] == [(seq + 1, 1), (seq + 2, 2)]
    assert (await assert_live_matches_projection(c)).steps["main"].level == 2
    chain = await runs(c)
    assert len(chain) >= 2
    assert_chained(chain)


async def urge(c: CaseDriver, user: str, step: str, n: int, request_id: str | None = None) -> ActionResult:
    kw = {"request_id": request_id} if request_id else {}
    return await c.supervise(user, "urge", step, reason=f"督办{n}", **kw)


async def test_actions_sent_as_the_case_continues_as_new_are_neither_lost_nor_doubled(dev_wf):
    """On the real server. An Update sent while a run is ending is handled by it or by the next run; one
    that reaches the next run in its very first workflow task is checked against the resumed case; a
    request retried after the run it was answered in ended gets its first answer, not a second event."""
    c = await CaseDriver.open(dev_wf, "luzhou-vc1", history_limit=LIMIT)
    await c.act("luzhou-vc1", "report_serious", form("report_serious"))
    await c.act("luzhou-police", "place_temporary_guardianship", form("place_temporary_guardianship"), step=None)
    assert sorted((t, r.step) for t, r in (await c.steps()).items()) == [
        ("main", "police_report"),
        ("safety", "temporary_guardianship_intake"),
    ]
    sent = 0

    # Back to back: each urge goes out the moment the one before is answered, so whenever an answer is the
    # last of a run, the next urge meets the new run as it starts.
    for _ in range(8):
        sent += 1
        await urge(c, "luzhou-police-sup", "police_report", sent)

    # Two at once, on the two open steps: when one ends a run the other is queued in it or goes to the next.
    for _ in range(6):
        results = await asyncio.gather(
            urge(c, "luzhou-police-sup", "police_report", sent + 1),
            urge(c, "luzhou-civil-sup", "temporary_guardianship_intake", sent + 2),
        )
        sent += 2
        assert all(isinstance(r, ActionResult) for r in results)

    # A request answered just before its run ended, sent again with the same request id (the user's
    # "retry" after a lost reply), is answered as the first time and recorded once.
    for _ in range(10):
        before = (await c.handle().describe()).run_id
        rid = uuid.uuid4().hex
        sent += 1
        first = await urge(c, "luzhou-police-sup", "police_report", sent, request_id=rid)
        if (await c.handle().describe()).run_id != before:
            break
    else:
        pytest.fail("no urge ended a run")
    again = await urge(c, "luzhou-police-sup", "police_report", sent, request_id=rid)
    assert again == first

    # And a step action right after: it moves the step once.
    r = await c.act("luzhou-police", "accept", form("accept"), step="police_report")
    assert (await c.step()).step == "police_decision" and r.seq == first.seq + 1

    events = await assert_timeline_whole(c)
    urged = [e for e in events if e.kind == "urged"]
    assert len(urged) == sent
    assert sorted(e.note for e in urged) == sorted(f"督办{n}" for n in range(1, sent + 1))
    assert [e.action for e in events].count("accept") == 1
    chain = await runs(c)
    assert len(chain) >= 4, [len(h.events) for h in chain]
    assert_chained(chain)
    await assert_live_matches_projection(c)


@workflow.defn(name="guardianship")
class _HeldGuardianship(GuardianshipWorkflow):
    """The guardianship workflow with one more Update, `hold`, that stays in progress until the `release`
    signal: a handler still running when the run is due to continue as new."""

    _released = False

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        return await self._run(inp)

    @workflow.update(name="hold")
    async def hold(self) -> int:
        await workflow.wait_condition(lambda: self._released)
        return self._st.seq

    @workflow.signal(name="release")
    def release(self) -> None:
        self._released = True


async def test_a_run_waiting_for_a_handler_to_continue_as_new_still_acts_and_escalates(fresh_wf):
    """A run past its limit waits for running handlers before it continues as new. Meanwhile it still
    handles requests (whose handlers wait for it: waiting only for the handlers would never end) and fires
    deadlines; once the handler is done it continues as new."""
    db = fresh_wf.db
    w = Wf(fresh_wf.env, fresh_wf.client, f"tq-held-{uuid.uuid4().hex[:8]}", db)
    worker = Worker(
        w.client,
        task_queue=w.tq,
        # The police report is counted in hours: its notices are handed to a delivery workflow.
        workflows=[_HeldGuardianship, OutboundDeliveryWorkflow],
        activities=[*CaseActivities(db.sf).all(), *CalendarActivities(db.sf).all(), *OutboundActivities(db.sf).all()],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with worker:
        c = await CaseDriver.open(w, "luzhou-vc1", history_limit=LIMIT)
        await c.act("luzhou-vc1", "report_serious", form("report_serious"))
        step = await c.step()
        held = await c.handle().start_update("hold", wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=int)
        first = (await c.handle().describe()).run_id

        # Urged past the limit: the run is due to continue as new, but `hold` is still running.
        n = 0
        while (await c.handle().describe()).history_length <= LIMIT + 20:
            n += 1
            await asyncio.wait_for(urge(c, "luzhou-police-sup", "police_report", n), 10)
        for _ in range(3):  # and it still answers
            n += 1
            r = await asyncio.wait_for(urge(c, "luzhou-police-sup", "police_report", n), 10)
        assert (await c.handle().describe()).run_id == first

        # The police report's deadline passes meanwhile: level 1, at the deadline.
        await c.sleep_until(step.due_at + MINUTE)
        ev = (await c.wait_seq(r.seq + 1))[-1]
        assert (ev.kind, ev.payload) == ("escalated", {"level": 1})
        assert step.due_at <= ev.at <= step.due_at + MINUTE
        assert (await c.handle().describe()).run_id == first

        # The handler finishes: the run continues as new, and the next run goes on with the case.
        await c.handle().signal("release")
        assert await held.result() == r.seq + 1
        await s.wait_for(lambda: _run_changed(c, first), what="continue-as-new")
        accepted = await c.act("luzhou-police", "accept", form("accept"))
        assert accepted.seq == r.seq + 2 and (await c.step()).step == "police_decision"
        events = await assert_timeline_whole(c)
        assert [e.note for e in events if e.kind == "urged"] == [f"督办{i}" for i in range(1, n + 1)]
        assert_chained(await runs(c))


async def _run_changed(c: CaseDriver, first: str) -> bool:
    return (await c.handle().describe()).run_id != first


@pytest.mark.workflow  # a replay: no server
async def test_a_run_longer_than_the_limit_before_the_limit_existed_replays(monkeypatch):
    """A case whose run grew past the limit on the code before the limit (no patch marker in its history)
    keeps its old path on replay rather than failing as nondeterministic: here a saved 177-event history
    replayed with a default limit of 40."""
    monkeypatch.setattr(base, "DEFAULT_HISTORY_LIMIT", LIMIT)  # the unsandboxed runner sees the module
    path = s.HISTORIES / "guardianship-police-reprimand-guidance.json"
    history = WorkflowHistory.from_json("replay-long", path.read_text(encoding="utf-8"))
    assert len(history.events) > 4 * LIMIT
    replayer = Replayer(workflows=ALL_WORKFLOWS, workflow_runner=UnsandboxedWorkflowRunner(), data_converter=CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
