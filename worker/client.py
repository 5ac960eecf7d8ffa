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
from worker.bytecode import precompile_workflows
from worker.codec import data_converter
from worker.interceptors import AutomationHealthInterceptor, DatabaseErrorsWithoutData
from worker.registry import ALL_WORKFLOWS
from worker.runner import ContextFreeSandbox

# domain/ is pure and deterministic; passing it (and pydantic) through the sandbox avoids re-importing
# it for every workflow run. No serialization context is looked up per payload (worker/runner.py).
SANDBOX = ContextFreeSandbox(
    SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            "domain", "pydantic", "pydantic_core", "annotated_types", "chinese_calendar"
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
    precompile_workflows()
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
        # Outermost first: the automation mark still names the error that happened.
        interceptors=[DatabaseErrorsWithoutData(), AutomationHealthInterceptor(session_factory)],
    )
