"""An import checked: every row (problems named, nothing kept while there is one), then matched to the
registered children and turned into its change set, stored for review (api/registry/applying.py applies it).

Matching is on the ID number only; a row without one is offered as a *candidate* for each child of the same
name, birth date and guardian, which a person confirms or rejects, never silently."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.principal import Principal
from api.registry.upload import rows_of
from api.served import served_regions
from db.models import Child, ChildSource, Guardian, RegistryChange, RegistryImport
from domain.deadlines import local_date
from domain.enums import AgencyType, Role
from domain.errors import DomainError
from domain.registry import (
    CHILD_COLUMNS,
    TEMPLATES,
    TRACKED_FIELDS,
    RowFacts,
    RowProblem,
    Source,
    check_header,
    check_row,
)

Progress = Callable[[int, int], Awaitable[None]]
PROGRESS_EVERY = 1000
MAX_PROBLEMS_KEPT = 500  # a file wrong in every row names the first ones; the count says how many


def parse_source(value: str) -> Source:
    try:
        return Source(value)
    except ValueError:
        raise DomainError("field_invalid", "请选择数据来源", field="source") from None


def require_clerk(principal: Principal, county: str | None) -> str:
    """The county a civil-affairs clerk imports into: their own. Another county's is refused."""
    if principal.role == Role.admin or principal.agency.agency_type != AgencyType.civil_affairs:
        raise DomainError("not_permitted", "只有县（区）民政部门可以导入台账数据")
    own = principal.agency.region_code
    if not served_regions().is_county(own):
        raise DomainError("not_permitted", "台账数据由各县（区）民政部门导入")
    if county and county != own:
        raise DomainError("not_permitted", "不能导入其他县（区）的台账数据", field="county")
    return own


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def same_file(session: AsyncSession, source: Source, county: str, digest: str) -> RegistryImport | None:
    """An import of the very same file for this source and county that checked well: it is answered again."""
    return (
        await session.execute(
            select(RegistryImport)
            .where(
                RegistryImport.source == source.value,
                RegistryImport.county == county,
                RegistryImport.file_hash == digest,
                RegistryImport.status.in_(("ready", "partial", "applied")),
            )
            .order_by(RegistryImport.id)
            .limit(1)
        )
    ).scalar_one_or_none()


def header_index(source: Source, lines: list[list[str]]) -> dict[str, int]:
    if not lines:
        raise DomainError("file_invalid", "文件是空的；第1行应为表头", field="file")
    return check_header(source, lines[0])


def check_slice(
    source: Source, index: dict[str, int], rows: list[tuple[int, list[str]]], *, today: date
) -> tuple[list[RowFacts], list[RowProblem]]:
    """Rows (numbered as the spreadsheet numbers them) checked one by one; blank rows are skipped."""
    facts: list[RowFacts] = []
    problems: list[RowProblem] = []
    for n, cells in rows:
        if not any(c.strip() for c in cells):
            continue
        row = {key: (cells[i] if i < len(cells) else "") for key, i in index.items()}
        fact, wrong = check_row(source, n, row, today=today)
        problems.extend(wrong)
        if fact is not None:
            facts.append(fact)
    return facts, problems


def check_rows(source: Source, lines: list[list[str]], *, today: date) -> tuple[list[RowFacts], list[RowProblem]]:
    """Every data row checked, and checked against the others (an ID number or school roll number twice)."""
    index = header_index(source, lines)
    facts, problems = check_slice(source, index, list(enumerate(lines[1:], start=2)), today=today)
    twice = _duplicates(facts)
    repeated = {p.row for p in twice}
    if not facts and not problems:
        raise DomainError("file_invalid", "文件中没有数据（第2行起每行一名儿童）", field="file")
    return [f for f in facts if f.row not in repeated], problems + twice


def facts_json(f: RowFacts) -> dict[str, Any]:
    """What the review shows of a row: who the child is and what the source says (not its raw cells)."""
    body = asdict(f)
    body.pop("cells", None)
    body["birth_date"] = f.birth_date.isoformat()
    body["flags"] = [c.value for c in f.flags]
    return body


def _current(child: Child, key: str, guardians: dict[int, list[Guardian]]) -> str:
    if key == "guardian_phone":
        return next((g.phone for g in guardians.get(child.id, []) if g.phone), "")
    if key in CHILD_COLUMNS:
        value = getattr(child, key)
        return value.isoformat() if isinstance(value, date) else (value or "")
    return str(child.registry_facts.get(key, ""))


def diff_of(child: Child, fact: RowFacts, guardians: dict[int, list[Guardian]]) -> dict[str, list[str]]:
    """The fields the row says otherwise than the record: {field: [before, after]}."""
    out: dict[str, list[str]] = {}
    for key, value in fact.fields.items():
        before = _current(child, key, guardians)
        if before != value:
            out[key] = [before, value]
    return out


def fingerprint(child: Child, source: Source, guardians: dict[int, list[Guardian]]) -> int:
    """What the check read of a child, as a stable 64-bit number: where the child lives, whether merged,
    the key-child categories and the fields this source's template can change. Applying compares it again:
    a child changed since (registered elsewhere, merged, moved, another list applied) is not written over."""
    keys = {c.key for c in TEMPLATES[source]}
    parts = [child.residence_region or "", str(child.merged_into_id or ""), ",".join(sorted(child.key_flags))]
    parts += [_current(child, k, guardians) for k in TRACKED_FIELDS if k in keys]
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def fingerprints_of(session: AsyncSession, source: Source, child_ids: list[int]) -> dict[int, int]:
    """The fingerprints of these children as they are now (a child gone: not in the answer)."""
    out: dict[int, int] = {}
    for start in range(0, len(child_ids), 5000):
        ids = child_ids[start : start + 5000]
        children = (
            await session.execute(select(Child).where(Child.id.in_(ids)).execution_options(populate_existing=True))
        ).scalars()
        out.update({c.id: fingerprint(c, source, {c.id: list(c.guardians)}) for c in children})
    return out


def _item(import_id: int, kind: str, row: int | None, child_id: int | None, **more: Any) -> dict[str, Any]:
    """One change-set item as inserted (every item with the same keys: one multi-row INSERT)."""
    return {"import_id": import_id, "kind": kind, "row_no": row, "child_id": child_id, "diff": {}, "cells": None} | more


def changes_for_match(
    import_id: int, child: Child, fact: RowFacts, county: str, guardians: dict[int, list[Guardian]]
) -> list[dict[str, Any]]:
    """What a row says of a registered child: moved here, fields changed, key-child flags raised. Only the
    differences are kept (before → after); the row's cells only where the guardian's phone changed (the
    guardian's name says whose phone it is)."""
    out: list[dict[str, Any]] = []
    if child.residence_region != county:
        out.append(
            _item(import_id, "moved", fact.row, child.id, diff={"residence_region": [child.residence_region, county]})
        )
    diff = diff_of(child, fact, guardians)
    if diff:
        cells = fact.cells if "guardian_phone" in diff else None
        out.append(_item(import_id, "changed", fact.row, child.id, diff=diff, cells=cells))
    raised = [c.value for c in fact.flags if c.value not in child.key_flags]
    if raised:
        out.append(_item(import_id, "flagged", fact.row, child.id, diff={"flags": raised}))
    return out


async def _children_by_id_number(session: AsyncSession, numbers: list[str]) -> dict[str, Child]:
    if not numbers:
        return {}
    rows = (
        await session.execute(
            select(Child).where(Child.id_number.in_(numbers)).execution_options(populate_existing=True)
        )
    ).scalars()
    return {c.id_number: c for c in rows if c.id_number}


async def guardians_of(session: AsyncSession, child_ids: list[int]) -> dict[int, list[Guardian]]:
    out: dict[int, list[Guardian]] = {}
    if child_ids:
        # In the record's order (the first guardian with a phone is the one compared): the same at every read.
        q = select(Guardian).where(Guardian.child_id.in_(child_ids)).order_by(Guardian.id)
        for g in (await session.execute(q)).scalars():
            out.setdefault(g.child_id, []).append(g)
    return out


async def candidates_of(session: AsyncSession, facts: list[RowFacts]) -> dict[int, list[int]]:
    """For each row without an ID number: the children of the same name and birth date with a guardian of
    the row's guardian's name (merged records left out)."""
    rows = [f for f in facts if not f.id_number]
    if not rows:
        return {}
    found = (
        await session.execute(
            select(Child.id, Child.name, Child.birth_date, Guardian.name)
            .join(Guardian, Guardian.child_id == Child.id)
            .where(Child.name.in_({f.name for f in rows}), Child.merged_into_id.is_(None))
        )
    ).all()
    by_key: dict[tuple[str, date, str], set[int]] = {}
    for child_id, name, birth, guardian in found:
        by_key.setdefault((name, birth, guardian), set()).add(child_id)
    return {f.row: sorted(by_key.get((f.name, f.birth_date, f.guardian_name), ())) for f in rows}


@dataclass
class ChangeSet:
    items: list[dict[str, Any]]
    seen: list[int]  # the children the file names by ID number
    checked: dict[int, int]  # child id → fingerprint, of every child an item or a mark depends on


async def build_changes(session: AsyncSession, imp: RegistryImport, facts: list[RowFacts]) -> ChangeSet:
    """The change set's items, the children the file names (by ID number), and what was read of them."""
    county, source = imp.county, Source(imp.source)
    known = await _children_by_id_number(session, [f.id_number for f in facts if f.id_number])
    # The guardians came with the children (selectin, in the record's order).
    guardians = {c.id: list(c.guardians) for c in known.values()}
    candidates = await candidates_of(session, facts)
    items: list[dict[str, Any]] = []
    seen: list[int] = []
    checked: dict[int, int] = {}
    for f in facts:
        child = known.get(f.id_number) if f.id_number else None
        if child is not None and child.merged_into_id is None:
            seen.append(child.id)
            checked[child.id] = fingerprint(child, source, guardians)
            items.extend(changes_for_match(imp.id, child, f, county, guardians))
            continue
        ids = candidates.get(f.row, [])
        items.extend(_item(imp.id, "candidate", f.row, child_id, cells=f.cells) for child_id in ids)
        if not ids:
            items.append(_item(imp.id, "new", f.row, None, cells=f.cells))
    offered = sorted({c["child_id"] for c in items if c["kind"] == "candidate"})
    checked |= await fingerprints_of(session, source, offered)
    present = (
        await session.execute(
            select(ChildSource.child_id).where(
                ChildSource.source == imp.source, ChildSource.county == county, ChildSource.left_at.is_(None)
            )
        )
    ).scalars()
    for child_id in sorted(set(present) - set(seen) - set(offered)):
        items.append(_item(imp.id, "left", None, child_id))
    return ChangeSet(items, seen, checked)


def read_file(source: Source, data: bytes) -> list[list[str]]:
    """The file's rows, refused early (before anything is stored) when it is no spreadsheet, too large, or
    lacks a column the source's template requires."""
    lines = rows_of(data)
    header_index(source, lines)
    return lines


async def run_check(
    session: AsyncSession, imp: RegistryImport, lines: list[list[str]], *, progress: Progress | None = None
) -> RegistryImport:
    """Checks the rows of a stored import (status `checking`; read_file read them) and leaves it `invalid`
    with its problems, or `ready` with its change set. Commits."""
    started = time.monotonic()
    source = Source(imp.source)
    today = local_date(datetime.now(UTC))
    try:
        index = header_index(source, lines)
        numbered = list(enumerate(lines[1:], start=2))
        imp.rows_total = len(numbered)
        facts, problems = [], []
        # Checked in slices so that the page's progress bar moves while a large file is read.
        for start in range(0, len(numbered), PROGRESS_EVERY):
            f, p = check_slice(source, index, numbered[start : start + PROGRESS_EVERY], today=today)
            facts.extend(f)
            problems.extend(p)
            if progress:
                await progress(min(start + PROGRESS_EVERY, imp.rows_total), imp.rows_total)
        problems.extend(_duplicates(facts))
        if not facts and not problems:
            raise DomainError("file_invalid", "文件中没有数据（第2行起每行一名儿童）", field="file")
    except DomainError as e:
        problems = [RowProblem(1, "", e.message)]
        facts = []
    imp.rows_checked = imp.rows_total
    imp.checked_at = datetime.now(UTC)
    if problems:
        problems.sort(key=lambda p: p.row)
        imp.status = "invalid"
        imp.problems = [asdict(p) for p in problems[:MAX_PROBLEMS_KEPT]] + (
            [{"row": 0, "column": "", "reason": f"另有{len(problems) - MAX_PROBLEMS_KEPT}处错误未列出"}]
            if len(problems) > MAX_PROBLEMS_KEPT
            else []
        )
    else:
        built = await build_changes(session, imp, facts)
        if built.items:
            await session.execute(insert(RegistryChange), built.items)
        imp.seen_child_ids = built.seen
        imp.checked_child_ids = list(built.checked)
        imp.checked_fingerprints = list(built.checked.values())
        imp.status = "ready"
    imp.check_ms = int((time.monotonic() - started) * 1000)
    # A check so slow that its import was taken for dead (expire_stalled) writes nothing over that answer.
    with session.no_autoflush:  # the row as stored, not as this check is about to write it
        status = (
            await session.execute(select(RegistryImport.status).where(RegistryImport.id == imp.id).with_for_update())
        ).scalar_one()
    if status != "checking":
        await session.rollback()
        return imp
    await session.commit()
    return imp


def _duplicates(facts: list[RowFacts]) -> list[RowProblem]:
    """An ID number or school roll number twice in the file (the slices check within themselves only)."""
    problems: list[RowProblem] = []
    for key, column in ((lambda f: f.id_number, "身份证号"), (lambda f: f.fields.get("school_roll_no"), "学籍号")):
        first: dict[str, int] = {}
        for f in facts:
            value = key(f)
            if not value:
                continue
            if value in first:
                problems.append(RowProblem(f.row, column, f"与第{first[value]}行重复"))
            else:
                first[value] = f.row
    return problems


async def new_import(
    session: AsyncSession, principal: Principal, source: Source, county: str, data: bytes, filename: str
) -> RegistryImport:
    imp = RegistryImport(
        source=source.value,
        county=county,
        agency_id=principal.agency.id,
        user_id=principal.user_id,
        filename=filename[:128],
        file_hash=file_hash(data),
        status="checking",
        problems=[],
        seen_child_ids=[],
        progress_at=datetime.now(UTC),
    )
    session.add(imp)
    await session.flush()
    return imp


async def change_counts(session: AsyncSession, import_id: int) -> dict[str, dict[str, int]]:
    """{kind: {status: count}} of an import's change set."""
    rows = (
        await session.execute(
            select(RegistryChange.kind, RegistryChange.status, func.count())
            .where(RegistryChange.import_id == import_id)
            .group_by(RegistryChange.kind, RegistryChange.status)
        )
    ).all()
    out: dict[str, dict[str, int]] = {}
    for kind, status, n in rows:
        out.setdefault(kind, {})[status] = n
    return out
