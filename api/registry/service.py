"""An import started, checked in the background, found and shown: what the API and the pages share."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.principal import Principal
from api.registry import checking
from api.registry.rechecking import is_stale
from api.spreadsheet import Column, Export, Table
from db.models import RegistryImport
from domain.errors import DomainError
from domain.regions import region_name
from domain.registry import SOURCE_LABELS, TEMPLATES, Source

log = logging.getLogger(__name__)
# A check writes its progress every 1,000 rows (a 10,000-row list takes seconds): one silent this long died
# with its web process (a restart, a crash) and is shown failed; the clerk imports the file again.
CHECK_STALLED_AFTER = timedelta(minutes=2)
STALLED_REASON = "检查未能完成（系统中断或重启），未导入任何数据，请重新导入本文件"
CRASHED_REASON = "检查时系统出错，未导入任何数据，请重新导入本文件"


async def start_import(
    session: AsyncSession, principal: Principal, *, source: str, county: str | None, data: bytes, filename: str
) -> tuple[RegistryImport, list[list[str]], bool]:
    """The import stored as `checking` with the file's rows (check it with check_in_background), or the
    earlier import of the very same file (True): one applied, or one still to apply that nothing has made
    stale since its check (a stale one is checked again as a new import). Refuses, before anything is
    stored: another county, a file that is no spreadsheet or lacks a required column."""
    kind = checking.parse_source(source)
    target = checking.require_clerk(principal, county or None)
    lines = checking.read_file(kind, data)
    earlier = await checking.same_file(session, kind, target, checking.file_hash(data))
    if earlier is not None and (earlier.status == "applied" or not await is_stale(session, earlier)):
        return earlier, lines, True
    imp = await checking.new_import(session, principal, kind, target, data, filename)
    await session.commit()
    return imp, lines, False


async def load_import(session: AsyncSession, principal: Principal, import_id: int) -> RegistryImport:
    imp = await session.get(RegistryImport, import_id, populate_existing=True)
    if imp is None:
        raise DomainError("not_found", "没有该导入记录")
    try:
        checking.require_clerk(principal, imp.county)
    except DomainError:
        raise DomainError("not_found", "没有该导入记录") from None
    await expire_stalled(session, [imp])
    return imp


async def check_in_background(sf: async_sessionmaker[AsyncSession], import_id: int, lines: list[list[str]]) -> None:
    """The check of a stored import, after the answer (the API's 202, the page's redirect): its progress
    written every 1,000 rows, for the progress bar and for expire_stalled."""

    async def progress(done: int, total: int) -> None:
        async with sf() as s:
            await s.execute(
                update(RegistryImport)
                .where(RegistryImport.id == import_id, RegistryImport.status == "checking")
                .values(rows_checked=done, rows_total=total, progress_at=datetime.now(UTC))
            )
            await s.commit()

    async with sf() as session:
        imp = await session.get(RegistryImport, import_id)
        assert imp is not None
        try:
            await checking.run_check(session, imp, lines, progress=progress)
        except Exception:
            # Logged by its type only (a value in the message could be a child's); the import says so.
            log.exception("registry import check failed", extra={"import_id": import_id})
            await session.rollback()
            await _fail(session, import_id, CRASHED_REASON, None)


async def expire_stalled(session: AsyncSession, imports: list[RegistryImport], *, now: datetime | None = None) -> None:
    """Imports whose check fell silent (its web process died): shown failed, with what to do, from then on."""
    cutoff = (now or datetime.now(UTC)) - CHECK_STALLED_AFTER
    for imp in imports:
        if imp.status == "checking" and (imp.progress_at or imp.created_at) < cutoff:
            await _fail(session, imp.id, STALLED_REASON, imp.progress_at)
            await session.refresh(imp)


async def expire_all_stalled(sf: async_sessionmaker[AsyncSession], *, now: datetime | None = None) -> int:
    """Every county's imports whose check fell silent, failed by the worker's reconciler whether or not
    anyone looks at them (a clerk who left is told when they come back; the list of imports never shows a
    dead check as still running); returns how many."""
    cutoff = (now or datetime.now(UTC)) - CHECK_STALLED_AFTER
    async with sf() as session:
        found = list(
            (
                await session.execute(
                    select(RegistryImport)
                    .where(
                        RegistryImport.status == "checking",
                        func.coalesce(RegistryImport.progress_at, RegistryImport.created_at) < cutoff,
                    )
                    .order_by(RegistryImport.id)
                    .limit(500)
                )
            ).scalars()
        )
        await expire_stalled(session, found, now=now)
        return sum(imp.status == "invalid" for imp in found)


async def _fail(session: AsyncSession, import_id: int, reason: str, progress_at: datetime | None) -> None:
    """Only a check still `checking` (and, for a stalled one, silent since it was looked at) is failed."""
    q = update(RegistryImport).where(RegistryImport.id == import_id, RegistryImport.status == "checking")
    if progress_at is not None:
        q = q.where(RegistryImport.progress_at == progress_at)
    await session.execute(
        q.values(status="invalid", checked_at=datetime.now(UTC), problems=[{"row": 0, "column": "", "reason": reason}])
    )
    await session.commit()


async def list_imports(session: AsyncSession, principal: Principal) -> list[RegistryImport]:
    county = checking.require_clerk(principal, None)
    found = list(
        (
            await session.execute(
                select(RegistryImport)
                .where(RegistryImport.county == county)
                .order_by(RegistryImport.id.desc())
                .limit(100)
            )
        ).scalars()
    )
    await expire_stalled(session, found)
    return found


async def import_json(session: AsyncSession, imp: RegistryImport, *, same_file: bool = False) -> dict[str, Any]:
    return {
        "id": imp.id,
        "source": imp.source,
        "source_label": SOURCE_LABELS[Source(imp.source)],
        "county": imp.county,
        "county_name": region_name(imp.county) or imp.county,
        "filename": imp.filename,
        "status": imp.status,
        "rows_total": imp.rows_total,
        "rows_checked": imp.rows_checked,
        "problems": imp.problems,
        "counts": await checking.change_counts(session, imp.id),
        "created_at": imp.created_at.isoformat(),
        "checked_at": imp.checked_at.isoformat() if imp.checked_at else None,
        "applied_at": imp.applied_at.isoformat() if imp.applied_at else None,
        "check_ms": imp.check_ms,
        "same_file": same_file,
        "progress_url": f"/api/v1/registry/imports/{imp.id}",
    }


def template_export(source: Source) -> Export:
    """The source's template: the Chinese headers in order (the page shows what each column takes)."""
    columns = TEMPLATES[source]
    table = Table(
        columns=tuple(Column(c.header, 16 if c.required else 14) for c in columns),
        rows=[],
        sheet=SOURCE_LABELS[source][:31],
    )
    return Export(table=table, name=f"导入模板-{SOURCE_LABELS[source]}")
