"""The registry: the one list of processes. The worker, the API, the pages and the replay tests all read it;
a new process is its definition, its workflow module, and a line here."""

from __future__ import annotations

from domain.errors import DomainError
from domain.policy import SHARED_POLICIES, PolicyDefault
from domain.process import Process
from domain.processes.certification import CERTIFICATION
from domain.processes.disability_subsidy import DISABILITY_SUBSIDY
from domain.processes.dropout import DROPOUT
from domain.processes.followup import FOLLOWUP
from domain.processes.guardianship import GUARDIANSHIP
from domain.processes.mental_health import MENTAL_HEALTH
from domain.refresh import POLICIES as REFRESH_POLICIES

PROCESSES: dict[str, Process] = {
    p.name: p for p in (GUARDIANSHIP, DROPOUT, CERTIFICATION, DISABILITY_SUBSIDY, MENTAL_HEALTH, FOLLOWUP)
}

# Every policy of the deployment: the machinery's own and each process's, by key.
POLICY_DEFAULTS: dict[str, PolicyDefault] = {
    p.key: p for p in (*SHARED_POLICIES, *REFRESH_POLICIES, *(d for proc in PROCESSES.values() for d in proc.policies))
}


def get_process(name: str) -> Process:
    try:
        return PROCESSES[name]
    except KeyError:
        raise DomainError("process_unknown", f"未知的流程“{name}”", field="process") from None


def policy_default(key: str) -> PolicyDefault:
    """The default of a policy key (KeyError for a key no definition declares)."""
    return POLICY_DEFAULTS[key]
