"""Replays every saved workflow history (tests/histories/*.json) with the worker's own workflows, sandbox
and data converter. A change to workflow code that would break cases already running fails here; such a
change must branch on `workflow.patched(...)` (architecture.md, decision 7).

The histories come from the workflow tests. To add one, call `await c.save_history("<name>")` at the end
of a test in tests/workflow; to regenerate them all (after a deliberate, patched change):

    REFERRALS_SAVE_HISTORIES=1 .venv/bin/pytest tests/workflow -q

which writes tests/histories/<process>-<name>.json: guardianship-<name> from CaseDriver, dropout-<name> from
DropoutDriver (compact JSON; keep each process's set small).

The histories in tests/histories/ were recorded before the patch baselines (workflows/patches.py): they ask
each patch on its own. Those in tests/histories/baseline-<n>/ were recorded with patch-baseline-<n>, one of
each process's paths or more: regenerated as above, then the chosen ones copied there and the older ones
restored (`git checkout tests/histories/*.json`).

Histories are recorded with the payload codec (worker/codec.py, the tests' fixed key tests/codec_keys.py):
the `*-encrypted` ones are kept so; the others were recorded before the codec and replay because a payload
that is not encrypted passes through.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from domain.enums import AgencyType
from domain.messages import ActionRequest, CaseInput, CaseResult, CaseStart, StepState
from domain.processes import PROCESSES
from tests.codec_keys import CONVERTER
from worker.client import SANDBOX
from worker.codec import ENCODING, PayloadKeyError, PayloadKeys, data_converter
from worker.registry import ALL_WORKFLOWS
from workflows import base, patches
from workflows.activity_names import ACTIVE_AGENCIES, RECORD_EVENT, RECORD_WITH_STEP, RESOLVE_AGENCY, STEP_INPUTS
from workflows.dropout import DropoutWorkflow
from workflows.guardianship import GuardianshipWorkflow
from workflows.patches import BASELINES

SAVED = Path(__file__).parent.parent / "histories"
HISTORIES = sorted(SAVED.glob("*.json"))
# Recorded with each patch baseline (workflows/patches.py), by its marker: patch-baseline-N in baseline-N/.
BASELINED = {b.marker: sorted((SAVED / b.marker.removeprefix("patch-")).glob("*.json")) for b in BASELINES}
WITH_A_BASELINE = [p for paths in BASELINED.values() for p in paths]
NEWEST = BASELINES[0].marker

# The paths the saved histories must cover, so that deleting one is noticed.
EXPECTED = {
    "guardianship-police-reprimand-guidance",  # admonition → police → reprimand (document) → guidance → closed
    "guardianship-court-guidance-order",  # start at reprimand; non-compliance back to the court; order
    "guardianship-school-report-criminal",  # mandatory report at police_report; feedback; criminal case
    "guardianship-safety-revocation",  # the safety track: revocation rejected, then granted; closes the case
    "guardianship-moved",  # hand-over to another county's committee
    "guardianship-backdated-escalation",  # a backdated start escalating through three levels at once
    "guardianship-provisional-2027",  # the recompute_deadlines signal
    "guardianship-adult",  # the child's 18th birthday timer
    "guardianship-continued-as-new",  # a run past its history limit: the patch marker, continue-as-new
    "guardianship-resumed-closed",  # a run resumed from the state continue-as-new carried, to the close
    "dropout-returned-at-school",  # school contact → returned → consolidation checks at 30 d and 90 d → closed
    "dropout-order-legal-unresolved",  # the 双线 team's attempts (notes on a step), written order (document,
    # explicit allowance), legal action re-armed, a supervisor's sign-off rejected then given
    "dropout-relapse",  # two relapses (the case summary), persuasion between
    "dropout-moved-follow-on",  # locate → hand-over (receiver) → acknowledged, a follow-on child workflow started
    "dropout-follow-on",  # the follow-on case itself: started at joint persuasion, returned to a named school
    "dropout-handover-escalation",  # police assist (added co-holder), hand-over escalating 3 levels, urged
    "dropout-aged-out",  # the 17th-birthday timer
    "dropout-school-switched-off",  # new steps checked for active agencies (patch marker): a substitute school
    "guardianship-monitoring-counts-from-policy",  # monitoring's clean visits read from policy (patch marker)
    "dropout-consolidation-counts-from-policy",  # consolidation checks read from policy (patch marker)
    # Dates of what happened checked against the step, the next step counted from the date done, scheduled
    # visits and checks recorded from their windows (patch markers)
    "guardianship-dates-done-and-visit-windows",
    "dropout-dates-done-and-check-windows",
    # the guidance order asked once (kept from the decision, standing on a reprimand again), given by a
    # guidance station; each session and visit of how many; the police decision extended once (patch markers)
    "guardianship-order-once-station",
    "guardianship-long-term-goes-on",  # long-term guardianship ends the safety track; monitoring goes on
    "guardianship-station-extension-bounded",  # the police station of the child's township holds the report;
    # an extension checked against extension_max.h (both patch markers)
    "guardianship-adult-encrypted",  # recorded with the payload codec
    "dropout-follow-on-encrypted",  # recorded with the payload codec
    # Mental-health referral (recorded with the payload codec, from the fast tests)
    "mental_health-crisis-ladder",  # the hour ladder to the political-legal committee; a danger override
    "mental_health-counselling-reassessed",  # first session, 28-day reassessment overdue, re-armed
    "mental_health-consent-decline-rehab",  # consent, a decline, a second hospital, community rehabilitation
    "mental_health-followup-halved",  # follow-up intervals halved in a care period
    "mental_health-linked-guardianship",  # a linked guardianship case as a child workflow
    "mental_health-outbound-handed-over",  # hour-level notices handed to delivery workflows (patch marker)
    "outbound-undelivered-marked",  # a delivery workflow: a gateway down past the hour marked, then delivered
    "followup-years-first-run",  # contacts and visits on two tracks for years, then continue-as-new at the limit
    "followup-years-aged-out",  # a resumed run to the 16th birthday
    "followup-escalation",  # a committee's contact: township child supervisor, county, city; then recorded
    "followup-moved-follow-on",  # the visit track ended, hand-over acknowledged with a follow-on case
    "followup-follow-on",  # the follow-on itself, started in the new county
    "followup-visit-opens-linked",  # a visit opens a linked guardianship case (a child workflow)
    "followup-visit-rearms-contact",  # a visit re-arms the contact (VISIT_IS_CONTACT_PATCH)
    "followup-visit-opens-mental-health",  # a visit carrying the referral's start form (FieldKind.facts)
    "followup-protected-past-16",  # past 16 while a protection case is open (the open-cases activity)
    "followup-left-key-list",  # the case action that closes it
    "refresh-escalated-then-imported",  # a county's half-year refresh: due, three levels, done by the import
    "certification-cross-county-approved",  # intake → 上党 township verifies → county approves → notified → support
    "certification-origin-supplement",  # the origin asks for a supplement through the residence, and gets it
    "certification-withdrawn",  # the applicant's supplement lapses (a deadline-fired action with a document)
    "certification-external-henan",  # external mode: the ladder to the residence's civil affairs; answers recorded
    "certification-support-review-ended",  # in support: a yearly review, a change of circumstances
    "certification-adult-in-education",  # at 18 in full-time education: goes on to the end of studies
    "certification-disability-subsidy",  # the disability subsidies: a definition-only kind on the same code
    "certification-imported-origin-side",  # another deployment's packet: the origin side, supplement, support
    "certification-withdrawn-by-applicant",  # the applicant's withdrawal before the decision (a case action)
    "certification-imported-withdrawn-before-decision",  # the residence's withdrawn packet at the origin's decision
    "certification-support-ended-at-origin",  # an external origin's end of support recorded at the residence
    "certification-support-ended-at-residence",  # the residence's end of support recorded at the origin
    # a new step's agencies, deadline and window asked in one local activity (STEP_INPUTS_PATCH)
    "guardianship-step-inputs-at-once",
    "dropout-step-inputs-at-once",
}
ENCRYPTED = sorted(p for p in HISTORIES if p.stem.endswith("-encrypted"))
# Histories are named after each registered process's workflow module (and the registry refresh's).
PREFIXES = tuple(f"{p.orchestration}-" for p in PROCESSES.values())
OTHER_PREFIXES = ("refresh-", "outbound-")


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text(encoding="utf-8"))


def test_the_saved_histories_are_all_there():
    assert {p.stem for p in HISTORIES} >= EXPECTED
    # Keep the repository small: each process's set under 1.2 MB.
    for prefix in PREFIXES:
        size = sum(p.stat().st_size for p in HISTORIES if p.stem.startswith(prefix))
        assert 0 < size < 1_200_000, (prefix, size)
    assert all(p.stem.startswith((*PREFIXES, *OTHER_PREFIXES)) for p in HISTORIES)


@pytest.mark.parametrize("path", HISTORIES + WITH_A_BASELINE, ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_replay(path: Path):
    replayer = Replayer(
        workflows=ALL_WORKFLOWS,
        workflow_runner=SANDBOX,
        data_converter=CONVERTER,
    )
    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


@workflow.defn(name="guardianship")
class _ChangedGuardianship(GuardianshipWorkflow):
    """The guardianship workflow with an unpatched change: one more activity before the first event."""

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        return await self._run(inp)

    async def on_start(self, start: CaseStart) -> None:
        await self.resolve(AgencyType.civil_affairs)
        await super().on_start(start)


@workflow.defn(name="dropout_return")
class _ChangedDropout(DropoutWorkflow):
    """The dropout workflow with an unpatched change: one more activity when a pupil returns."""

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        return await self._run(inp)

    async def _to_consolidation(self, step: StepState, req: ActionRequest) -> None:
        await self.resolve(AgencyType.school)
        await super()._to_consolidation(step, req)


def history(stem: str) -> Path:
    # Named: in name order the first history is no longer a guardianship one.
    return next(p for p in HISTORIES if p.stem == stem)


@pytest.mark.parametrize(
    ("changed", "stem"),
    [
        (_ChangedGuardianship, "guardianship-police-reprimand-guidance"),
        (_ChangedDropout, "dropout-returned-at-school"),
    ],
    ids=["guardianship", "dropout"],
)
async def test_the_replay_would_catch_an_unpatched_change(changed, stem):
    """The check above can fail: the same history refuses a workflow that changed without a patch."""
    replayer = Replayer(
        workflows=[changed],
        workflow_runner=UnsandboxedWorkflowRunner(),
        data_converter=CONVERTER,
    )
    result = await replayer.replay_workflow(load(history(stem)), raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, NondeterminismError), result.replay_failure


def marker_details(history: WorkflowHistory, name: str, detail: str, key: str) -> list[str]:
    """`key` of the JSON detail `detail` of each of the history's markers named `name`, in order."""
    out = []
    for e in history.events:
        marker = e.marker_recorded_event_attributes
        if marker.marker_name == name:
            out.append(json.loads(marker.details[detail].payloads[0].data)[key])
    return out


def local_activities(history: WorkflowHistory) -> list[str]:
    """The types of the local activities a history ran, in order (from their markers)."""
    return marker_details(history, "core_local_activity", "data", "activity_type")


@pytest.mark.parametrize("stem", ["guardianship-step-inputs-at-once", "dropout-step-inputs-at-once"])
def test_the_saved_new_step_path_asks_once_per_step(stem):
    """Each new step of these runs asked its agencies, deadline and window in one local activity."""
    ran = local_activities(load(history(stem)))
    assert ran.count(STEP_INPUTS) >= 3 and ACTIVE_AGENCIES not in ran
    # Every event but the last (the close) opened a step, each with its one local activity before it.
    assert ran.count(STEP_INPUTS) == ran.count(RECORD_EVENT) - 1


def payloads(history: WorkflowHistory) -> list:
    """Every payload the workflow's code and its callers wrote (the SDK's own marker details left out)."""
    out = []
    for e in history.events:
        a = e.workflow_execution_started_event_attributes
        out += a.input.payloads
        out += e.activity_task_scheduled_event_attributes.input.payloads
        out += e.activity_task_completed_event_attributes.result.payloads
        out += e.workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads
        out += e.workflow_execution_update_completed_event_attributes.outcome.success.payloads
        if "result" in e.marker_recorded_event_attributes.details:  # a local activity's
            out += e.marker_recorded_event_attributes.details["result"].payloads
    return out


@pytest.mark.parametrize("path", ENCRYPTED, ids=lambda p: p.stem)
async def test_an_encrypted_history_is_encrypted_and_needs_the_key(path: Path):
    """Recorded with the codec, every payload is encrypted; a replayer with another key cannot read it."""
    found = payloads(load(path))
    assert len(found) > 10 and all(p.metadata["encoding"] == ENCODING for p in found)
    other = data_converter(PayloadKeys.parse(PayloadKeys.generate("test1")))
    replayer = Replayer(workflows=ALL_WORKFLOWS, workflow_runner=SANDBOX, data_converter=other)
    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    # The workflow task fails decoding its input (the failure's text is encrypted; its type is not).
    assert PayloadKeyError.__name__ in str(result.replay_failure)


def patch_markers(history: WorkflowHistory) -> list[str]:
    """The patch ids a history's run recorded markers for, in order."""
    return marker_details(history, "core_patch", "patch-data", "id")


def test_every_process_has_histories_recorded_with_the_newest_baseline():
    assert {p.stem.split("-", 1)[0] + "-" for p in BASELINED[NEWEST]} >= set(PREFIXES)


@pytest.mark.parametrize("path", WITH_A_BASELINE, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_run_with_the_baseline_records_one_patch_marker_and_one_search_attribute_upsert(path: Path):
    """The baseline stands for every patch the run asks: one marker (and the one TemporalChangeVersion upsert
    the SDK adds to it) for the whole run, where the runs before it recorded one for each patch."""
    history = load(path)
    assert patch_markers(history) == [f"patch-{path.parent.name}"]
    upserts = [e for e in history.events if e.HasField("upsert_workflow_search_attributes_event_attributes")]
    assert len(upserts) == 1


def test_the_histories_before_the_baseline_ask_each_patch():
    asked = [patch_markers(load(p)) for p in HISTORIES if p.stem.startswith(PREFIXES)]
    assert all(b.marker not in ids for ids in asked for b in BASELINES)
    assert sum(len(ids) for ids in asked) > len(asked)  # several patches each, on average


def first_task_activities(path: Path) -> list[str]:
    """The local activities a run ran before its first event was written, and that write."""
    ran = local_activities(load(path))
    return ran[: ran.index(RECORD_EVENT) + 1]


@pytest.mark.parametrize("stem", ["guardianship-police-reprimand-guidance", "certification-cross-county-approved"])
def test_a_new_case_looks_up_the_agencies_it_opens_with_along_with_its_first_step(stem: str):
    """Civil affairs (a guardianship case), the origin's deciding agency (a certification): found in the one
    local activity of the first step's inputs, so a new case runs two before its first event is written."""
    assert first_task_activities(SAVED / "baseline-2" / f"{stem}.json") == [STEP_INPUTS, RECORD_EVENT]
    # Recorded before: the lookup after the step's inputs, an activity (and a workflow activation) more.
    before = [STEP_INPUTS, RESOLVE_AGENCY, RECORD_EVENT]
    assert first_task_activities(SAVED / "baseline-1" / f"{stem}.json") == before


@pytest.mark.parametrize("stem", ["guardianship-police-reprimand-guidance", "dropout-order-legal-unresolved"])
def test_a_move_writes_its_event_with_its_new_steps_inputs_in_one_local_activity(stem: str):
    """From baseline 3 each move is one local activity (the step's agencies, deadline and window read in the
    event's transaction); recorded before, each was two: the step's inputs, then the event."""
    before = local_activities(load(SAVED / "baseline-2" / f"{stem}.json"))
    now = local_activities(load(SAVED / "baseline-3" / f"{stem}.json"))
    moves = now.count(RECORD_WITH_STEP)
    assert moves >= 5 and RECORD_WITH_STEP not in before
    # The same run, the same timeline events: one local activity fewer per move.
    assert now.count(RECORD_EVENT) + moves == before.count(RECORD_EVENT)
    assert before.count(STEP_INPUTS) - now.count(STEP_INPUTS) == moves
    assert len(before) - len(now) == moves


async def test_the_replay_would_catch_a_baseline_taken_wrongly(monkeypatch: pytest.MonkeyPatch):
    """Both sides of the baseline are checked on replay (each of these histories replays as it is:
    test_replay): a run recorded with it does not replay without it, and a run recorded before it does not
    replay taking its patches as given."""
    replayer = Replayer(workflows=ALL_WORKFLOWS, workflow_runner=UnsandboxedWorkflowRunner(), data_converter=CONVERTER)
    monkeypatch.setattr(patches, "BASELINES", ())
    for paths in BASELINED.values():
        for path in paths[:3]:
            # Without it the run takes the older paths (a local activity's answer of another kind, or an
            # unmatched marker): the workflow task fails.
            result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
            assert result.replay_failure is not None, path.stem

    monkeypatch.undo()
    newest = BASELINES[0]
    monkeypatch.setattr(base, "given_patches", lambda own: newest.given | own.get(newest.marker, set()))
    for stem in ("guardianship-police-reprimand-guidance", "dropout-returned-at-school", "mental_health-crisis-ladder"):
        result = await replayer.replay_workflow(load(history(stem)), raise_on_replay_failure=False)
        assert result.replay_failure is not None, stem

    # A run recorded with the first baseline does not replay as if it had recorded the second: the second
    # takes in a patch (the lookups along with a new step's inputs) that changes what a start runs.
    monkeypatch.undo()
    monkeypatch.setattr(patches, "BASELINES", (patches.BASELINES[0],))
    for path in [p for p in BASELINED["patch-baseline-1"] if p.stem.startswith("guardianship-")][:2]:
        result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
        assert result.replay_failure is not None, path.stem
