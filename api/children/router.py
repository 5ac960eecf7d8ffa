"""/api/v1/children: register (ID number checked, or provisionally without one), find, read, correct (the
ID number added later), merge a provisional record into the registered child."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from api.audit import audit
from api.cases.visibility import scope_regions
from api.children import answers, service
from api.children import merge as merging
from api.children.cases_told import tell_open_cases
from api.children.schemas import ChildIn, ChildUpdate
from api.deps import ApiUser, ClientDep, SessionDep
from api.principal import Principal
from db.models import Child
from domain.deadlines import local_date
from domain.idnumber import age_on, mask_id_number
from domain.regions import region_name

router = APIRouter(prefix="/children", tags=["children"])


def record_json(c: Child, principal: Principal) -> dict[str, Any]:
    """One child's record as the principal's agency may see it (domain/record_access.py): the basic view
    is who the child is (name, sex, age, county of residence) and nothing that leads to the family."""
    access = service.access_to(principal, c)
    if access.full:
        body = child_json(c, full=True, id_full=c.created_by_agency_id == principal.agency.id)
    else:
        keep = ("id", "name", "sex", "identity_status", "residence_region", "residence_region_name", "merged_into_id")
        summary = child_json(c)
        body = {k: summary[k] for k in keep}
        body["age"] = age_on(c.birth_date, local_date(datetime.now(UTC)))
    return {**body, "record_view": access.view.value, "may_edit": access.may_edit}


def child_json(c: Child, *, full: bool = False, id_full: bool = False) -> dict[str, Any]:
    """The record; `full` adds the address, school and guardians; `id_full` the whole ID number, which
    only the registering agency sees (as on the pages)."""
    body: dict[str, Any] = {
        "id": c.id,
        "name": c.name,
        "sex": c.sex,
        "birth_date": c.birth_date.isoformat(),
        "id_number_masked": mask_id_number(c.id_number) if c.id_number else None,
        "identity_status": c.identity_status,
        "no_id_reason": c.no_id_reason,
        "birth_date_estimated": c.birth_date_estimated,
        "origin_region": c.origin_region,
        "origin_region_name": region_name(c.origin_region) if c.origin_region else None,
        "residence_region": c.residence_region,
        "residence_region_name": region_name(c.residence_region),
        "merged_into_id": c.merged_into_id,
    }
    if full:
        body.update(
            id_number=c.id_number if id_full else None,
            address=c.address,
            school=c.school,
            residence_committee_id=c.residence_committee_id,
            guardians=[
                {"name": g.name, "relation": g.relation, "phone": g.phone, "is_guardian": g.is_guardian}
                for g in c.guardians
            ],
        )
    return body


@router.post(
    "",
    status_code=201,
    summary="Register a child; without an ID number (`no_id_number`) as a provisional record, with the "
    "records in the caller's area that may be the same child as `possible_duplicates` (a person merges)",
    response_model=answers.Registered,
    response_model_exclude_unset=True,
)
async def register(data: ChildIn, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    child = await service.register_child(session=session, principal=principal, data=data)
    body = child_json(child, full=True, id_full=True)
    if child.provisional:
        candidates = await service.duplicate_candidates(
            session=session, principal=principal, name=child.name, birth_date=child.birth_date, exclude_id=child.id
        )
        body["possible_duplicates"] = [child_json(c) for c in candidates]
    return body


@router.get(
    "", summary="Find children: by exact ID number, or by name in the caller's area", response_model=answers.Children
)
async def find(
    principal: ApiUser, session: SessionDep, q: str | None = None, id_number: str | None = None
) -> dict[str, Any]:
    rows = await service.find_children(session=session, principal=principal, q=q, id_number=id_number)
    return {"items": [child_json(c) for c in rows]}


class ChildSearch(BaseModel):
    id_number: str | None = None
    q: str | None = None


@router.post(
    "/search",
    summary="Find children, with the ID number in the body rather than the URL (kept out of proxies' logs)",
    response_model=answers.Children,
)
async def search(body: ChildSearch, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    rows = await service.find_children(session=session, principal=principal, q=body.q, id_number=body.id_number)
    return {"items": [child_json(c) for c in rows]}


@router.get(
    "/{child_id}",
    summary="One child's record; a provisional record merged into another child's redirects there (301)",
    response_model=answers.ChildRecord,
    responses={301: {"description": "A provisional record merged into another: `Location` is that child's record"}},
)
async def get(child_id: int, principal: ApiUser, session: SessionDep) -> dict[str, Any] | RedirectResponse:
    try:
        child = await service.get_child(session=session, principal=principal, child_id=child_id)
    except service.ChildMerged as merged:
        return RedirectResponse(f"/api/v1/children/{merged.into_id}", status_code=301)
    await session.refresh(child, ["guardians"])
    audit(session, principal, "read_child", child_id=child.id)
    await session.commit()
    return record_json(child, principal)


@router.patch(
    "/{child_id}",
    summary="Correct or update a child's record (name, residence, address, school, guardians); complete a "
    "provisional one (sex, birth date, origin, and the ID number, which makes it verified: a number another "
    "child has is refused with `merge_into_child_id`)",
    response_model=answers.ChildRecord,
)
async def update(
    child_id: int, data: ChildUpdate, principal: ApiUser, session: SessionDep, client: ClientDep
) -> dict[str, Any]:
    child = await service.update_child(session=session, principal=principal, child_id=child_id, data=data)
    await tell_open_cases(session, client, child)
    await session.refresh(child, ["guardians"])
    return record_json(child, principal)


@router.post(
    "/{child_id}/merge",
    summary="Merge a provisional record into the registered child (a civil-affairs supervisor of the child's "
    "county or the city): its cases move there, its guardians are appended, it is kept as merged",
    response_model=answers.MergeAnswer,
)
async def merge(
    child_id: int, data: merging.MergeIn, principal: ApiUser, session: SessionDep, client: ClientDep
) -> dict[str, Any]:
    merged = await merging.merge_child(session=session, principal=principal, child_id=child_id, data=data)
    target = merged.target
    await tell_open_cases(session, client, target)
    await session.refresh(target, ["guardians"])
    full = target.residence_region in scope_regions(principal) or target.created_by_agency_id == principal.agency.id
    return {
        "child": child_json(target, full=full, id_full=target.created_by_agency_id == principal.agency.id),
        "merged_child_id": child_id,
        "cases": merged.case_nos,
        "guardians_added": merged.guardians_added,
    }
