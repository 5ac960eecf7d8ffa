"""Replays every saved workflow history (tests/histories/*.json) with the worker's own workflows, sandbox
and data converter. A change to workflow code that would break cases already running fails here; such a
change must branch on `workflow.patched(...)` (architecture.md, decision 7).

The histories come from the workflow tests. To add one, call `await c.save_history("<name>")` at the end
of a test in tests/workflow; to regenerate them all (after a deliberate, patched change):

    REFERRALS_SAVE_HISTORIES=1 .venv/bin/pytest tests/workflow -q

which writes tests/histories/guardianship-<name>.json (compact JSON; keep the set small).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from domain.enums import AgencyType
from domain.messages import CaseInput, CaseResult, CaseStart
from worker.client import SANDBOX
from worker.registry import ALL_WORKFLOWS
from workflows.guardianship import GuardianshipWorkflow

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*.json"))

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
}


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text(encoding="utf-8"))


def test_the_saved_histories_are_all_there():
    assert {p.stem for p in HISTORIES} >= EXPECTED
    assert sum(p.stat().st_size for p in HISTORIES) < 500_000  # keep the repository small


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_replay(path: Path):
    replayer = Replayer(
        workflows=ALL_WORKFLOWS,
        workflow_runner=SANDBOX,
        data_converter=pydantic_data_converter,
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


async def test_the_replay_would_catch_an_unpatched_change():
    """The check above can fail: the same history refuses a workflow that changed without a patch."""
    replayer = Replayer(
        workflows=[_ChangedGuardianship],
        workflow_runner=UnsandboxedWorkflowRunner(),
        data_converter=pydantic_data_converter,
    )
    result = await replayer.replay_workflow(load(HISTORIES[0]), raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, NondeterminismError), result.replay_failure
