"""Every workflow class, by process name: the worker registers them, the API starts them by name."""

from __future__ import annotations

from domain.ids import workflow_id
from workflows.base import CaseWorkflow
from workflows.calendar_update import CalendarUpdateWorkflow
from workflows.dropout import DropoutWorkflow
from workflows.guardianship import GuardianshipWorkflow

# Case workflows by process name (the API starts them by this name).
WORKFLOWS: dict[str, type[CaseWorkflow]] = {w.process.name: w for w in (GuardianshipWorkflow, DropoutWorkflow)}
# Everything the worker runs.
ALL_WORKFLOWS: list[type] = [*WORKFLOWS.values(), CalendarUpdateWorkflow]

__all__ = ["ALL_WORKFLOWS", "WORKFLOWS", "workflow_id"]
