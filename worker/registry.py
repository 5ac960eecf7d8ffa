"""Every workflow class, by process name, found from the registry of processes (domain/processes): the
worker registers them, the API starts them by name."""

from __future__ import annotations

import importlib
import inspect

from domain.ids import workflow_id
from domain.process import Process
from domain.processes import PROCESSES
from workflows.base import CaseWorkflow
from workflows.calendar_update import CalendarUpdateWorkflow
from workflows.outbound import OutboundDeliveryWorkflow
from workflows.refresh import RegistryRefreshWorkflow


def _workflow_of(process: Process) -> type[CaseWorkflow]:
    module = importlib.import_module(f"workflows.{process.orchestration}")
    found = [
        c
        for _, c in inspect.getmembers(module, inspect.isclass)
        if issubclass(c, CaseWorkflow) and c.__module__ == module.__name__ and getattr(c, "process", None) is process
    ]
    if len(found) != 1:
        raise LookupError(f"workflows.{process.orchestration} must define one workflow for {process.name}")
    return found[0]


# Case workflows by process name (the API starts them by this name).
WORKFLOWS: dict[str, type[CaseWorkflow]] = {name: _workflow_of(p) for name, p in PROCESSES.items()}
# Everything the worker runs.
ALL_WORKFLOWS: list[type] = [
    *WORKFLOWS.values(),
    CalendarUpdateWorkflow,
    RegistryRefreshWorkflow,
    OutboundDeliveryWorkflow,
]

__all__ = ["ALL_WORKFLOWS", "WORKFLOWS", "workflow_id"]
