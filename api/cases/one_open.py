"""At most one open case of a process per child (Process.one_open_per_child): a start takes a lock on the
pair (process, child) for its transaction and looks for a case already open or being opened."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AuditEntry, Case, CaseRequest
from domain.errors import DomainError
from domain.process import Process


async def lock_and_find_open(session: AsyncSession, process: Process, child_id: int) -> str | None:
    """The number of the child's open case of `process`, or of one whose start was taken and whose
    first event is not written yet (a reserved number the audit log ties to the child); None if there is
    none. The lock (held until the transaction ends) makes two concurrent starts take turns, so the second
    finds the first's reservation."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"one-open:{process.name}:{child_id}"}
    )
    open_case = (
        await session.execute(
            select(Case.case_no)
            .where(Case.process == process.name, Case.child_id == child_id, Case.status == "open")
            .order_by(Case.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    if open_case:
        return open_case
    pending = (
        select(CaseRequest.case_no)
        .join(AuditEntry, AuditEntry.case_no == CaseRequest.case_no)
        .where(
            AuditEntry.action == "start",
            AuditEntry.child_id == child_id,
            func.starts_with(AuditEntry.detail, f"{process.name}:"),
            CaseRequest.released_at.is_(None),
            ~select(Case.id).where(Case.case_no == CaseRequest.case_no).exists(),
        )
        .limit(1)
    )
    return (await session.execute(pending)).scalar_one_or_none()


def already_open(process: Process, case_no: str) -> DomainError:
    return DomainError(
        "case_already_open",
        f"该儿童已有进行中的“{process.label}”案件（{case_no}），请在该案件中继续办理",
        field="child_id",
    )
