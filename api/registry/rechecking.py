"""Before a change set is applied, in whole or in part: is it still what a check would say now? It was
computed against the registry as it was when the file was checked; since then a child it names may have
been changed (moved, merged, another list applied to the record), a child it would register may have been
registered, and another import of the same list may have been applied. Then nothing is applied: the clerk
imports the file again and reviews the change set a new check makes (the same file is checked again, not
answered with the stale import: service.start_import)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.registry.checking import candidates_of, fingerprints_of
from db.models import Child, RegistryChange, RegistryImport
from domain.deadlines import local_date
from domain.registry import RowFacts, Source, facts_of_cells

NAMED = 5  # the reasons named in the refusal; the rest counted


async def changed_since_check(
    session: AsyncSession, imp: RegistryImport, new: list[RegistryChange], facts: dict[int, RowFacts]
) -> list[str]:
    """What changed since the check that the change set depends on, each a reason a clerk can read (empty:
    nothing did). `new` are the items that would register children, `facts` their rows by item id."""
    if imp.checked_child_ids is None or imp.checked_fingerprints is None:
        return ["该导入在系统升级前检查，需重新检查"]
    reasons = await _other_import_applied(session, imp)
    reasons += await _children_changed(session, imp)
    reasons += await _registered_since(session, [facts[c.id] for c in new])
    return reasons


def refusal_text(reasons: list[str]) -> str:
    named = "；".join(reasons[:NAMED]) + (f"；另有{len(reasons) - NAMED}处" if len(reasons) > NAMED else "")
    return f"检查之后台账已有变化，未应用任何变更：{named}。请重新导入本文件，重新检查后再应用"


async def _other_import_applied(session: AsyncSession, imp: RegistryImport) -> list[str]:
    """An import of the same source for the county applied after this one was checked (or a newer one at
    all): the left and moved items were computed against the list before it."""
    other = (
        await session.execute(
            select(RegistryImport.id)
            .where(
                RegistryImport.source == imp.source,
                RegistryImport.county == imp.county,
                RegistryImport.id != imp.id,
                RegistryImport.status.in_(("partial", "applied")),
                or_(RegistryImport.id > imp.id, RegistryImport.applied_at > imp.checked_at),
            )
            .order_by(RegistryImport.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return [f"同一来源的导入#{other}已在本次检查后应用"] if other is not None else []


async def _children_changed(session: AsyncSession, imp: RegistryImport) -> list[str]:
    ids, then = imp.checked_child_ids or [], imp.checked_fingerprints or []
    now = await fingerprints_of(session, Source(imp.source), ids)
    changed = [cid for cid, fp in zip(ids, then, strict=True) if now.get(cid) != fp]
    if not changed:
        return []
    rows = (
        await session.execute(
            select(Child.id, Child.name, Child.merged_into_id).where(Child.id.in_(changed)).order_by(Child.id)
        )
    ).all()
    named = [
        f"儿童{name}的档案已合并到另一档案" if merged else f"儿童{name}的台账记录已修改" for _, name, merged in rows
    ]
    return named or ["本名单比对的儿童档案已修改"]


async def _registered_since(session: AsyncSession, facts: list[RowFacts]) -> list[str]:
    """Rows that would register a child: one with the same ID number, or (without one) of the same name,
    birth date and guardian, registered since the check."""
    numbers = [f.id_number for f in facts if f.id_number]
    taken: set[str] = set()
    for start in range(0, len(numbers), 5000):
        taken |= set(
            (
                await session.execute(select(Child.id_number).where(Child.id_number.in_(numbers[start : start + 5000])))
            ).scalars()
        )
    offered = await candidates_of(session, facts)
    out = [f"第{f.row}行的儿童已在检查后登记" for f in facts if f.id_number in taken]
    out += [f"第{f.row}行的儿童检查后有了同名、同出生日期、同监护人的档案" for f in facts if offered.get(f.row)]
    return sorted(out, key=lambda r: int(r[1 : r.index("行")]))


async def is_stale(session: AsyncSession, imp: RegistryImport) -> bool:
    """Whether applying the rest of this import would be refused as changed since its check."""
    pending_new = list(
        (
            await session.execute(
                select(RegistryChange).where(
                    RegistryChange.import_id == imp.id,
                    RegistryChange.kind == "new",
                    RegistryChange.status == "pending",
                )
            )
        ).scalars()
    )
    source, today = Source(imp.source), local_date(datetime.now(UTC))
    facts = {c.id: facts_of_cells(source, c.row_no or 0, c.cells or [], today=today) for c in pending_new}
    if any(f is None for f in facts.values()):
        return True
    return bool(await changed_since_check(session, imp, pending_new, facts))  # type: ignore[arg-type]
