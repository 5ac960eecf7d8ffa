"""A change set applied, in whole or in part: new children registered, moves and changed fields written with
their source and date (provenance per field), key-child flags raised, children gone from a list marked as
left, candidates confirmed or rejected by the person applying. An item is applied once; the import stays
viewable with what was applied, by whom and when."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.audit import audit
from api.children.cases_told import tell_open_cases
from api.principal import Principal
from api.registry import key_child_starts, proposals
from api.registry.checking import changes_for_match, fingerprint, guardians_of, require_clerk
from api.registry.rechecking import changed_since_check, refusal_text
from db.models import Case, Child, ChildSource, Guardian, RegistryChange, RegistryImport
from domain.deadlines import local_date
from domain.errors import DomainError
from domain.identity import NoIdReason
from domain.registry import CHILD_COLUMNS, RowFacts, Source, facts_of_cells

MATCHED = ("moved", "changed", "flagged")  # the items of a row matched to a registered child

MAX_IDS = 20_000


class ApplyIn(BaseModel):
    """Which items to apply (empty: every pending item but the candidates), and the candidates a person
    confirmed (the row is that child) or rejected (the row is another child: registered as new)."""

    change_ids: list[int] = Field(default_factory=list, max_length=MAX_IDS)
    confirm: list[int] = Field(default_factory=list, max_length=MAX_IDS)
    reject: list[int] = Field(default_factory=list, max_length=MAX_IDS)


@dataclass
class Applied:
    import_id: int
    status: str
    applied: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    children_created: int = 0
    proposals: int = 0
    # Children whose residence or origin the change set rewrote: their open cases are told (tell_cases).
    moved_child_ids: list[int] = field(default_factory=list)
    # Children the change set flagged as key children, with the categories raised (follow_through.py).
    flagged: dict[int, list[str]] = field(default_factory=dict)
    # The follow-ups owed them, recorded in this transaction (key_child_starts.py): started after commit.
    start_ids: list[int] = field(default_factory=list)
    county: str = ""


def _stamp(imp: RegistryImport, on: date) -> dict[str, Any]:
    return {"source": imp.source, "import_id": imp.id, "on": on.isoformat()}


def _write_fields(child: Child, diff: dict[str, list[str]], guardian: str, stamp: dict[str, Any]) -> None:
    """The row's new values (the diff's after) onto the record, each with where it came from."""
    provenance = dict(child.provenance)
    extra = dict(child.registry_facts)
    for key, (_, value) in diff.items():
        if key == "guardian_phone":
            _guardian_phone(child, guardian, value)
        elif key in CHILD_COLUMNS:
            setattr(child, key, date.fromisoformat(value) if key == "migrant_since" else value)
        else:
            extra[key] = value
        provenance[key] = stamp
    child.provenance, child.registry_facts = provenance, extra


def _guardian_phone(child: Child, guardian: str, phone: str) -> None:
    named = next((g for g in child.guardians if g.name == guardian), None)
    if named is None and guardian:
        child.guardians.append(Guardian(name=guardian, relation="监护人", phone=phone))
    elif named is not None:
        named.phone = phone
    elif child.guardians:
        child.guardians[0].phone = phone


def _raise_flags(child: Child, flags: list[str], stamp: dict[str, Any]) -> None:
    child.key_flags = {**child.key_flags, **{f: stamp for f in flags if f not in child.key_flags}}


async def _locked_import(session: AsyncSession, principal: Principal, import_id: int) -> RegistryImport:
    imp = (
        await session.execute(select(RegistryImport).where(RegistryImport.id == import_id).with_for_update())
    ).scalar_one_or_none()
    if imp is None:
        raise DomainError("not_found", "没有该导入记录")
    require_clerk(principal, imp.county)
    if imp.status == "applied":
        raise DomainError("already_applied", "该变更集已全部应用，不能重复应用")
    if imp.status not in ("ready", "partial"):
        raise DomainError("not_now", "该导入未通过检查，不能应用")
    newer = (
        await session.execute(
            select(RegistryImport.id)
            .where(
                RegistryImport.source == imp.source,
                RegistryImport.county == imp.county,
                RegistryImport.id > imp.id,
                RegistryImport.status.in_(("partial", "applied")),
            )
            .limit(1)
        )
    ).scalar_one_or_none()
    if newer is not None:
        raise DomainError("import_superseded", f"已应用了更新的导入（#{newer}），请重新导入本文件")
    return imp


async def _chosen(session: AsyncSession, imp: RegistryImport, data: ApplyIn) -> list[RegistryChange]:
    decided = set(data.confirm) | set(data.reject)
    if set(data.confirm) & set(data.reject):
        raise DomainError("field_invalid", "同一候选不能既确认又否定", field="confirm")
    wanted = set(data.change_ids) | decided
    q = select(RegistryChange).where(RegistryChange.import_id == imp.id).order_by(RegistryChange.id)
    if wanted:
        q = q.where(RegistryChange.id.in_(wanted))
    rows = list((await session.execute(q.with_for_update())).scalars())
    if wanted:
        missing = wanted - {c.id for c in rows}
        if missing:
            raise DomainError("not_found", f"变更项 {min(missing)} 不属于该导入", field="change_ids")
        done = [c.id for c in rows if c.status != "pending"]
        if done:
            raise DomainError("already_applied", f"变更项 {done[0]} 已处理，不能重复应用", field="change_ids")
        undecided = [c.id for c in rows if c.kind == "candidate" and c.id not in decided]
        if undecided:
            raise DomainError("field_invalid", f"候选项 {undecided[0]} 需确认或否定", field="confirm")
        wrong = [c.id for c in rows if c.id in decided and c.kind != "candidate"]
        if wrong:
            raise DomainError("field_invalid", f"变更项 {wrong[0]} 不是候选项", field="confirm")
        return rows
    pending = [c for c in rows if c.status == "pending" and c.kind != "candidate"]
    if not pending:
        raise DomainError("already_applied", "没有待应用的变更（候选项需逐项确认或否定）")
    return pending


def _facts(imp: RegistryImport, change: RegistryChange, today: date) -> RowFacts:
    fact = facts_of_cells(Source(imp.source), change.row_no or 0, change.cells or [], today=today)
    if fact is None:  # the row checked well when the file was checked; it reads the same now
        raise DomainError("changed_since_check", refusal_text([f"第{change.row_no}行需重新检查"]))
    return fact


async def apply_changes(*, session: AsyncSession, principal: Principal, import_id: int, data: ApplyIn) -> Applied:
    imp = await _locked_import(session, principal, import_id)
    chosen = await _chosen(session, imp, data)
    now = datetime.now(UTC)
    today = local_date(now)
    stamp = _stamp(imp, today)
    result = Applied(import_id=imp.id, status=imp.status, county=imp.county)
    rejected_ids = [c.id for c in chosen if c.kind == "candidate" and c.id in data.reject]
    new_rows = [c for c in chosen if c.kind == "new"]
    new_rows += await _rows_all_rejected(session, imp.id, chosen, set(data.confirm), set(data.reject))
    new_facts = {c.id: _facts(imp, c, today) for c in new_rows}
    # Re-checked before anything is written: a change set computed against a registry that has changed since
    # is refused whole, nothing applied (the clerk imports the file again).
    stale = await changed_since_check(session, imp, [c for c in chosen if c.kind == "new"], new_facts)
    if stale:
        raise DomainError("changed_since_check", refusal_text(stale))
    if imp.status == "ready":
        await _mark_seen(session, imp, await _rows_without_items(session, imp), now)
    child_ids = {c.child_id for c in chosen if c.child_id is not None}
    children = (
        {c.id: c for c in (await session.execute(select(Child).where(Child.id.in_(child_ids)))).scalars()}
        if child_ids
        else {}
    )
    left: list[RegistryChange] = []
    applied_ids: list[int] = []
    result.rejected = len(rejected_ids)
    for change in chosen:
        if change.id in data.reject:
            continue
        if change.kind == "candidate":
            await _confirm(session, imp, children[change.child_id], change, stamp, now, today)  # type: ignore[index]
        elif change.kind == "left":
            left.append(change)
        elif change.kind in MATCHED:
            if change.kind == "flagged" and change.diff.get("flags"):
                result.flagged[change.child_id] = list(change.diff["flags"])  # type: ignore[index]
            guardian = _facts(imp, change, today).guardian_name if change.cells else ""
            _apply_to(children[change.child_id], change, imp.county, stamp, guardian)  # type: ignore[index]
        if change.kind == "moved" or "origin_region" in change.diff or "moved" in change.diff:
            result.moved_child_ids.append(change.child_id)  # type: ignore[arg-type]
        if change.kind != "new":
            applied_ids.append(change.id)
        result.applied[change.kind] = result.applied.get(change.kind, 0) + 1
    created = await _create_children(session, principal, imp, [(c, new_facts[c.id]) for c in new_rows], stamp, now)
    result.children_created = len(created)
    for row in new_rows:
        if new_facts[row.id].flags and row.id in created:
            result.flagged[created[row.id]] = [f.value for f in new_facts[row.id].flags]
    await _decide(session, principal, now, applied_ids, rejected_ids, created, new_rows)
    for change in left:
        result.proposals += await _leave(session, imp, change, now)
    await session.flush()
    await _mark_rows_done(session, imp, [c for c in chosen if c.kind in MATCHED], now)
    _refingerprint(imp, children)
    remaining = (
        await session.execute(
            select(RegistryChange.id)
            .where(RegistryChange.import_id == imp.id, RegistryChange.status == "pending")
            .limit(1)
        )
    ).scalar_one_or_none()
    imp.status = "partial" if remaining is not None else "applied"
    imp.applied_at = now
    result.start_ids = await key_child_starts.owe(session, imp.id, result.flagged)
    audit(session, principal, "registry_apply", detail=f"import {imp.id}: {sum(result.applied.values())} items")
    await session.commit()
    result.status = imp.status
    return result


async def _decide(
    session: AsyncSession,
    principal: Principal,
    now: datetime,
    applied_ids: list[int],
    rejected_ids: list[int],
    created: dict[int, int],
    new_rows: list[RegistryChange],
) -> None:
    """The items' decisions in a statement or two, not one UPDATE per item (a list of 10,000 rows); each row
    is rewritten once, its cells dropped (the child's record now holds the values, with their provenance)."""
    registered = {c.id for c in new_rows}
    for ids, status in ((applied_ids, "applied"), ([i for i in rejected_ids if i not in registered], "rejected")):
        if ids:
            await session.execute(
                update(RegistryChange)
                .where(RegistryChange.id.in_(ids))
                .values(status=status, decided_by=principal.user_id, decided_at=now, cells=None)
                .execution_options(synchronize_session=False)
            )
    if created:
        # A new row: applied, with the child it registered; a row whose every candidate was rejected:
        # rejected, with the child registered for it instead.
        rejected = set(rejected_ids)
        await session.execute(
            text(
                "UPDATE registry_changes SET child_id = v.child_id, status = v.status, decided_by = :by, "
                "decided_at = :at, cells = NULL FROM unnest(CAST(:ids AS bigint[]), CAST(:cids AS int[]), "
                "CAST(:statuses AS text[])) AS v(id, child_id, status) WHERE registry_changes.id = v.id"
            ),
            {
                "ids": list(created),
                "cids": list(created.values()),
                "statuses": ["rejected" if i in rejected else "applied" for i in created],
                "by": principal.user_id,
                "at": now,
            },
        )


async def _rows_without_items(session: AsyncSession, imp: RegistryImport) -> list[int]:
    """The children the file names whose record already says what their row says: nothing to review, so
    the list names them from the set's first apply on."""
    with_items = set(
        (
            await session.execute(
                select(RegistryChange.child_id).where(
                    RegistryChange.import_id == imp.id, RegistryChange.kind.in_(MATCHED)
                )
            )
        ).scalars()
    )
    return [cid for cid in imp.seen_child_ids if cid not in with_items]


async def _mark_rows_done(
    session: AsyncSession, imp: RegistryImport, applied: list[RegistryChange], now: datetime
) -> None:
    """A matched row whose every item is now applied: the list names the child (refreshed now). A row with
    an item still pending does not, yet. Why: a partial apply marks only what it applied, as a clerk
    expects of "apply the selected": the record is not refreshed by a list it still disagrees with, and the
    next import's left items count a child as on this list only once the clerk accepted its row (a child
    on an earlier list of the source stays on it meanwhile)."""
    ids = sorted({c.child_id for c in applied if c.child_id is not None})
    if not ids:
        return
    waiting = set(
        (
            await session.execute(
                select(RegistryChange.child_id).where(
                    RegistryChange.import_id == imp.id,
                    RegistryChange.kind.in_(MATCHED),
                    RegistryChange.status == "pending",
                    RegistryChange.child_id.in_(ids),
                )
            )
        ).scalars()
    )
    await _mark_seen(session, imp, [i for i in ids if i not in waiting], now)


def _refingerprint(imp: RegistryImport, children: dict[int, Child]) -> None:
    """This apply's own writes are no change since the check for the set's next part: the children it
    wrote are fingerprinted again, as they now are (flushed, in memory)."""
    if not children or imp.checked_child_ids is None or imp.checked_fingerprints is None:
        return
    source = Source(imp.source)
    known = dict(zip(imp.checked_child_ids, imp.checked_fingerprints, strict=True))
    for cid, child in children.items():
        if cid in known:
            known[cid] = fingerprint(child, source, {cid: list(child.guardians)})
    imp.checked_child_ids, imp.checked_fingerprints = list(known), list(known.values())


async def tell_cases(session: AsyncSession, client: Client, child_ids: list[int]) -> int:
    """The open cases of the children a change set moved learn the record's new residence (after commit)."""
    if not child_ids:
        return 0
    with_cases = (
        await session.execute(
            select(Child).where(
                Child.id.in_(child_ids),
                Child.id.in_(select(Case.child_id).where(Case.status == "open")),
            )
        )
    ).scalars()
    return sum([await tell_open_cases(session, client, child) for child in with_cases])


async def _rows_all_rejected(
    session: AsyncSession, import_id: int, chosen: list[RegistryChange], confirm: set[int], reject: set[int]
) -> list[RegistryChange]:
    """The rows whose every candidate is now rejected: another child than any offered, registered as new."""
    rows = {c.row_no for c in chosen if c.id in reject}
    if not rows:
        return []
    others = (
        await session.execute(
            select(RegistryChange.row_no, RegistryChange.id, RegistryChange.status).where(
                RegistryChange.import_id == import_id,
                RegistryChange.kind == "candidate",
                RegistryChange.row_no.in_(rows),
            )
        )
    ).all()
    open_rows = {
        row for row, cid, status in others if (status == "pending" and cid not in reject) or cid in confirm
    } | {row for row, _, status in others if status == "applied"}
    return [next(c for c in chosen if c.row_no == row and c.id in reject) for row in sorted(rows - open_rows)]


def _apply_to(child: Child, change: RegistryChange, county: str, stamp: dict[str, Any], guardian: str = "") -> None:
    if change.kind == "moved":
        child.residence_region = county
        child.residence_committee_id = None  # the committee was the old county's
        child.provenance = {**child.provenance, "residence_region": stamp}
    elif change.kind == "changed":
        _write_fields(child, change.diff, guardian, stamp)
    elif change.kind == "flagged":
        _raise_flags(child, list(change.diff.get("flags", [])), stamp)


async def _confirm(
    session: AsyncSession,
    imp: RegistryImport,
    child: Child,
    change: RegistryChange,
    stamp: dict[str, Any],
    now: datetime,
    today: date,
) -> None:
    """A candidate a person confirmed: the row is this child; what it says is applied as for a match."""
    fact = _facts(imp, change, today)
    guardians = await guardians_of(session, [child.id])
    for item in changes_for_match(imp.id, child, fact, imp.county, guardians):
        shadow = RegistryChange(kind=item["kind"], diff=item["diff"])
        _apply_to(child, shadow, imp.county, stamp, guardian=fact.guardian_name)
        change.diff = {**change.diff, item["kind"]: item["diff"]}
    await _mark_seen(session, imp, [child.id], now)


async def _mark_seen(session: AsyncSession, imp: RegistryImport, child_ids: list[int], now: datetime) -> None:
    """The source's list for the county names these children (again): present, refreshed now."""
    if not child_ids:
        return
    await _upsert_sources(session, imp, child_ids, now)
    await session.execute(update(Child).where(Child.id.in_(child_ids)).values(last_refreshed_at=now))


async def _upsert_sources(session: AsyncSession, imp: RegistryImport, child_ids: list[int], now: datetime) -> None:
    for start in range(0, len(child_ids), 5000):
        values = [
            {
                "child_id": cid,
                "source": imp.source,
                "county": imp.county,
                "first_import_id": imp.id,
                "last_import_id": imp.id,
                "last_seen_at": now,
                "left_at": None,
            }
            for cid in child_ids[start : start + 5000]
        ]
        stmt = pg_insert(ChildSource).values(values)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[ChildSource.child_id, ChildSource.source, ChildSource.county],
                set_={"last_import_id": imp.id, "last_seen_at": now, "left_at": None},
            )
        )


async def _create_children(
    session: AsyncSession,
    principal: Principal,
    imp: RegistryImport,
    rows: list[tuple[RegistryChange, RowFacts]],
    stamp: dict[str, Any],
    now: datetime,
) -> dict[int, int]:
    """New children in bulk (one statement for the children, one for their guardians): the registering
    agency is the clerk's, which therefore sees their whole ID numbers. {item id: child id}."""
    if not rows:
        return {}
    values = [_child_values(principal, imp, fact, stamp, now) for _, fact in rows]
    ids: list[int] = []
    for start in range(0, len(values), 2000):
        ids.extend(
            (
                await session.execute(
                    insert(Child).returning(Child.id, sort_by_parameter_order=True), values[start : start + 2000]
                )
            ).scalars()
        )
    guardians = [
        {
            "child_id": cid,
            "name": fact.guardian_name,
            "relation": "监护人",
            "phone": fact.fields.get("guardian_phone", ""),
            "is_guardian": True,
        }
        for cid, (_, fact) in zip(ids, rows, strict=True)
        if fact.guardian_name
    ]
    if guardians:
        await session.execute(insert(Guardian), guardians)
    await _upsert_sources(session, imp, ids, now)
    return {change.id: cid for cid, (change, _) in zip(ids, rows, strict=True)}


def _child_values(
    principal: Principal, imp: RegistryImport, fact: RowFacts, stamp: dict[str, Any], now: datetime
) -> dict[str, Any]:
    fields = fact.fields
    extra = {k: v for k, v in fields.items() if k not in CHILD_COLUMNS and k != "guardian_phone"}
    verified = bool(fact.id_number)
    return {
        "name": fact.name,
        "sex": fact.sex,
        "id_number": fact.id_number,
        "identity_status": "verified" if verified else "provisional",
        "no_id_reason": None if verified else NoIdReason.other.value,
        "birth_date": fact.birth_date,
        "birth_date_estimated": False,
        "origin_region": fields.get("origin_region"),
        "residence_region": imp.county,
        "address": fields.get("address", ""),
        "school": fields.get("school"),
        "township": fields.get("township"),
        "school_roll_no": fields.get("school_roll_no"),
        "migrant_since": date.fromisoformat(fields["migrant_since"]) if fields.get("migrant_since") else None,
        "last_refreshed_at": now,
        "created_by_agency_id": principal.agency.id,
        "key_flags": {f.value: stamp for f in fact.flags},
        "provenance": {k: stamp for k in fields},
        "registry_facts": extra,
    }


async def _leave(session: AsyncSession, imp: RegistryImport, change: RegistryChange, now: datetime) -> int:
    """The child is no longer on this source's list for the county; the registry's proposals follow."""
    await session.execute(
        update(ChildSource)
        .where(
            ChildSource.child_id == change.child_id,
            ChildSource.source == imp.source,
            ChildSource.county == imp.county,
        )
        .values(left_at=now)
    )
    return await proposals.propose_for_left(session, imp, change)
