"""The registry of process definitions, by name."""

from __future__ import annotations

from domain.process import Process
from domain.processes.dropout import DROPOUT
from domain.processes.guardianship import GUARDIANSHIP

PROCESSES: dict[str, Process] = {p.name: p for p in (GUARDIANSHIP, DROPOUT)}


def get_process(name: str) -> Process:
    try:
        return PROCESSES[name]
    except KeyError:
        from domain.errors import DomainError

        raise DomainError("process_unknown", f"未知的流程“{name}”", field="process") from None
