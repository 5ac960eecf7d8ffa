"""/api/v1/children: register (ID number checked), find, read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from api.audit import audit
from api.children import service
from api.deps import ApiUser, SessionDep
from db.models import Child
from domain.idnumber import mask_id_number
from domain.regions import region_name

router = APIRouter(prefix="/children", tags=["children"])


def child_json(c: Child, *, full: bool = False, id_full: bool = False) -> dict[str, Any]:
    """The record; `full` adds the address, school and guardians; `id_full` the whole ID number, which
    only the registering agency sees (as on the pages)."""
    body: dict[str, Any] = {
        "id": c.id,
        "name": c.name,
        "sex": c.sex,
        "birth_date": c.birth_date.isoformat(),
        "id_number_masked": mask_id_number(c.id_number) if c.id_number else None,
        "origin_region": c.origin_region,
        "origin_region_name": region_name(c.origin_region),
        "residence_region": c.residence_region,
        "residence_region_name": region_name(c.residence_region),
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


@router.post("", status_code=201, summary="Register a child")
async def register(data: service.ChildIn, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    child = await service.register_child(session=session, principal=principal, data=data)
    return child_json(child, full=True, id_full=True)


@router.get("", summary="Find children: by exact ID number, or by name in the caller's area")
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
)
async def search(body: ChildSearch, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    rows = await service.find_children(session=session, principal=principal, q=body.q, id_number=body.id_number)
    return {"items": [child_json(c) for c in rows]}


@router.get("/{child_id}", summary="One child's record")
async def get(child_id: int, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    child = await service.get_child(session=session, principal=principal, child_id=child_id)
    await session.refresh(child, ["guardians"])
    audit(session, principal, "read_child", child_id=child.id)
    await session.commit()
    return child_json(child, full=True, id_full=child.created_by_agency_id == principal.agency.id)


@router.patch("/{child_id}", summary="Correct or update a child's record (name, residence, address, school, guardians)")
async def update(child_id: int, data: service.ChildUpdate, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    child = await service.update_child(session=session, principal=principal, child_id=child_id, data=data)
    await session.refresh(child, ["guardians"])
    return child_json(child, full=True, id_full=child.created_by_agency_id == principal.agency.id)
