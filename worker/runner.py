"""The workflow runner: the SDK's sandbox, without the serialization context it looks up for every payload.

Around each activation the worker asks the workflow instance which serialization context each payload
belongs to (the command it travels with), so that a context-aware codec could use it. In the sandbox
every such question compiles and runs a snippet inside it: with the payload codec on, that was about a
tenth of the worker's CPU per action (issue 13). Our codec (worker/codec.py) and the pydantic converter
take no context, so the answer changes nothing; this runner answers "no context" at once, and the same
for the external-storage context, which only external storage reads. A data converter with a codec that
implements `WithSerializationContext`, or with external storage, must not be used with it
(worker/client.py `build_worker` refuses one)."""

from __future__ import annotations

from collections.abc import Sequence

import temporalio.workflow
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import SerializationContext, StorageDriverStoreContext, StorageDriverWorkflowInfo
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions


class ContextFreeSandbox(WorkflowRunner):
    def __init__(self, sandbox: SandboxedWorkflowRunner) -> None:
        self.sandbox = sandbox

    @property
    def restrictions(self) -> SandboxRestrictions:
        return self.sandbox.restrictions

    def prepare_workflow(self, defn: temporalio.workflow._Definition) -> None:
        self.sandbox.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _ContextFree(self.sandbox.create_instance(det))

    def set_worker_level_failure_exception_types(self, types: Sequence[type[BaseException]]) -> None:
        self.sandbox.set_worker_level_failure_exception_types(types)


class _ContextFree(WorkflowInstance):
    def __init__(self, inner: WorkflowInstance) -> None:
        self.inner = inner

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        return self.inner.activate(act)

    def get_serialization_context(self, command_info: object) -> SerializationContext | None:
        return None  # the payload codec then runs as it does outside any workflow: ours takes no context

    def get_external_store_context(self, command_info: object) -> StorageDriverStoreContext:
        # Asked as often, and as dear in the sandbox; read only by external storage, which we do not use.
        info = self.inner.get_info()
        return StorageDriverStoreContext(
            target=StorageDriverWorkflowInfo(
                id=info.workflow_id, run_id=info.run_id, type=info.workflow_type, namespace=info.namespace
            )
        )

    def get_info(self) -> temporalio.workflow.Info:
        return self.inner.get_info()

    def get_thread_id(self) -> int | None:
        return self.inner.get_thread_id()
