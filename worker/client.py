"""The Temporal client (pydantic payloads, encrypted: worker/codec.py) and the worker."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.converter import WithSerializationContext
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.calendar import CalendarActivities
from activities.care_periods import CarePeriodActivities
from activities.cases import CaseActivities
from activities.outbound import OutboundActivities
from activities.refresh import RefreshActivities
from config.settings import Settings
from worker.codec import data_converter
from worker.interceptors import AutomationHealthInterceptor, DatabaseErrorsWithoutData
from worker.registry import ALL_WORKFLOWS
from worker.runner import ContextFreeSandbox

# Passed through the sandbox, imported once per worker instead of once per workflow run: domain/ (pure and
# deterministic), pydantic, and workflows/ itself. The sandbox would otherwise run each process's workflow
# module again for every new run, and `@workflow.defn` inspects the whole class each time: about a quarter
# of the worker's CPU per case start (issue 13). The shared machinery (base, steps, oversight...) was already
# passed through; the process modules hold no state of their own (constants and classes only), each run's
# state is its instance's, and replaying the saved histories (tests/replay) checks determinism as before.
# No serialization context is looked up per payload (worker/runner.py).
SANDBOX = ContextFreeSandbox(
    SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            "domain", "workflows", "pydantic", "pydantic_core", "annotated_types", "chinese_calendar"
        )
    )
)


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    """`lazy`: connect on first use, so that a web app starts (and answers 503 where it needs Temporal)
    while Temporal is down."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.keys()),
        lazy=lazy,
    )


def build_worker(client: Client, task_queue: str, session_factory: async_sessionmaker[AsyncSession]) -> Worker:
    converter = client.data_converter
    if converter.external_storage is not None or isinstance(converter.payload_codec, WithSerializationContext):
        raise ValueError("the workflow runner answers no serialization context (worker/runner.py)")
    return Worker(
        client,
        task_queue=task_queue,
        workflows=ALL_WORKFLOWS,
        activities=[
            *CaseActivities(session_factory).all(),
            *CalendarActivities(session_factory).all(),
            *OutboundActivities(session_factory).all(),
            *CarePeriodActivities(session_factory).all(),
            *RefreshActivities(session_factory).all(),
        ],
        workflow_runner=SANDBOX,
        # No external storage (refused above): its pass over every activation's and completion's payloads then
        # finds nothing to fetch or store, and with a limit above 1 it starts a task per payload to find it.
        max_workflow_task_external_storage_concurrency=1,
        # Outermost first: the automation mark still names the error that happened.
        interceptors=[DatabaseErrorsWithoutData(), AutomationHealthInterceptor(session_factory)],
    )
