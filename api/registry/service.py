"""An import started, found and shown: what the API and the pages share."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.principal import Principal
from api.registry import checking
from api.spreadsheet import Column, Export, Table
from db.models import RegistryImport
from domain.errors import DomainError
from domain.regions import region_name
from domain.registry import SOURCE_LABELS, TEMPLATES, Source


async def start_import(
    session: AsyncSession, principal: Principal, *, source: str, county: str | None, data: bytes, filename: str
) -> tuple[RegistryImport, list[list[str]], bool]:
    """The import stored as `checking` with the file's rows, or the earlier import of the very same file
    (True). Refuses, before anything is stored: another county, a file that is no spreadsheet or lacks a
    required column."""
    kind = checking.parse_source(source)
    target = checking.require_clerk(principal, county or None)
    lines = checking.read_file(kind, data)
    earlier = await checking.same_file(session, kind, target, checking.file_hash(data))
    if earlier is not None:
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
    return imp


async def list_imports(session: AsyncSession, principal: Principal) -> list[RegistryImport]:
    county = checking.require_clerk(principal, None)
    return list(
        (
            await session.execute(
                select(RegistryImport)
                .where(RegistryImport.county == county)
                .order_by(RegistryImport.id.desc())
                .limit(100)
            )
        ).scalars()
    )


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
