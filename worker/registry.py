"""Every workflow class, by process name: the worker registers them, the API starts them by name."""

from __future__ import annotations

from workflows.base import CaseWorkflow
from workflows.guardianship import GuardianshipWorkflow

WORKFLOWS: dict[str, type[CaseWorkflow]] = {"guardianship": GuardianshipWorkflow}


def workflow_id(case_no: str) -> str:
    """Built from the case number only: no names or ID numbers in workflow IDs."""
    return f"case-{case_no}"
