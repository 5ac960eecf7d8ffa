"""登记儿童 and a child's record."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit import audit
from api.cases.visibility import case_visible
from api.children.service import ChildIn, ChildUpdate, GuardianIn, get_child, register_child, update_child
from api.deps import PageUser, SessionDep
from api.errors import status_for
from api.principal import Principal
from db.models import Agency, Case, Child
from domain.enums import AgencyType
from domain.errors import DomainError
from domain.idnumber import mask_id_number
from domain.processes import get_process
from domain.regions import CHANGZHI_COUNTIES, full_region_name
from ui.forms import agencies_of, county_choices, group_by_county, read_form, to_int
from ui.render import flash, render
from ui.start_pages import startable

router = APIRouter(include_in_schema=False)

GUARDIAN_ROWS = 2
RELATIONS = ("父亲", "母亲", "祖父", "祖母", "外祖父", "外祖母", "其他亲属", "其他监护人")


def child_in(form: dict[str, str]) -> tuple[ChildIn, list[int]]:
    """The registration form as the service's input; also, for each guardian passed on, its row on the
    form (the service numbers only the guardians that have a name)."""
    guardians, rows = [], []
    for i in range(min(_guardian_rows(form), 10)):
        name = form.get(f"guardians.{i}.name", "").strip()
        relation = form.get(f"guardians.{i}.relation", "").strip()
        phone = form.get(f"guardians.{i}.phone", "").strip()
        if not name and (relation or phone):
            raise DomainError("field_required", "请填写监护人姓名", field=f"guardians.{i}.name")
        if name:
            is_guardian = form.get(f"guardians.{i}.kind", "guardian") != "contact"
            guardians.append(GuardianIn(name=name, relation=relation, phone=phone, is_guardian=is_guardian))
            rows.append(i)
    id_number = form.get("id_number", "").strip()
    committee = form.get("residence_committee_id", "").strip()
    data = ChildIn(
        name=form.get("name", ""),
        sex=form.get("sex") or None,
        id_number=id_number,
        origin_region=form.get("origin_region", "").strip() or id_number[:6],
        residence_region=form.get("residence_region", ""),
        residence_committee_id=to_int(committee),
        address=form.get("address", ""),
        school=form.get("school") or None,
        guardians=guardians,
    )
    return data, rows


def form_field(field: str | None, rows: list[int]) -> str | None:
    """The service's 'guardians.0.relation' as the row of the form it came from."""
    if field and field.startswith("guardians.") and field.count(".") == 2:
        _, index, name = field.split(".")
        if index.isdigit() and int(index) < len(rows):
            return f"guardians.{rows[int(index)]}.{name}"
    return field


async def _form_page(
    request: Request,
    user: Principal,
    session: AsyncSession,
    *,
    values: dict[str, str],
    error: DomainError | None = None,
    field: str | None = None,
    status: int = 200,
    editing: Child | None = None,
) -> HTMLResponse:
    committees = group_by_county(await agencies_of(session, AgencyType.village_committee, list(CHANGZHI_COUNTIES)))
    return render(
        request,
        "child_new.html",
        user,
        status=status,
        values=values,
        error=error,
        error_field=field,
        counties=county_choices(),
        committees=committees,
        guardian_rows=range(max(GUARDIAN_ROWS, len(editing.guardians) + 1 if editing else 0)),
        relations=RELATIONS,
        editing=editing,
        id_shown=_id_shown(editing, user) if editing else "",
    )


def _id_shown(child: Child, user: Principal) -> str:
    """The whole ID number for the registering agency; masked for everyone else."""
    if not child.id_number:
        return "（未登记）"
    return child.id_number if child.created_by_agency_id == user.agency.id else mask_id_number(child.id_number)


def _values_of(child: Child) -> dict[str, str]:
    values = {
        "name": child.name,
        "residence_region": child.residence_region,
        "residence_committee_id": str(child.residence_committee_id or ""),
        "address": child.address or "",
        "school": child.school or "",
    }
    for i, g in enumerate(child.guardians):
        values.update({f"guardians.{i}.name": g.name, f"guardians.{i}.relation": g.relation})
        values[f"guardians.{i}.phone"] = g.phone
        values[f"guardians.{i}.kind"] = "guardian" if g.is_guardian else "contact"
    return values


def _guardian_rows(form: dict[str, str]) -> int:
    """How many guardian rows the posted form had (the edit form may show more than registration)."""
    return 1 + max(
        (int(k.split(".")[1]) for k in form if k.startswith("guardians.") and k.split(".")[1].isdigit()), default=0
    )


@router.get("/children/new", response_class=HTMLResponse)
async def new_child(request: Request, user: PageUser, session: SessionDep) -> HTMLResponse:
    if user.is_admin:
        raise DomainError("not_permitted", "管理员账号不能登记儿童")
    values = {"residence_region": user.agency.region_code if user.agency.region_code in CHANGZHI_COUNTIES else ""}
    if user.agency.agency_type == AgencyType.village_committee:
        values["residence_committee_id"] = str(user.agency.id)
    return await _form_page(request, user, session, values=values)


@router.post("/children/new", response_class=HTMLResponse)
async def register(request: Request, user: PageUser, session: SessionDep) -> Response:
    form = await read_form(request)
    values = {k: v for k, v in form.items() if k != "csrf"}
    rows: list[int] = []
    try:
        data, rows = child_in(form)
        child = await register_child(session=session, principal=user, data=data)
    except DomainError as e:
        return await _form_page(
            request, user, session, values=values, error=e, field=form_field(e.field, rows), status=status_for(e)
        )
    flash(request, "儿童已登记，可以为其立案")
    return RedirectResponse(f"/cases/new?child_id={child.id}", status_code=303)


async def _editable(session: AsyncSession, user: Principal, child_id: str) -> Child:
    number = to_int(child_id)
    if number is None or user.is_admin:
        raise DomainError("child_not_found", "儿童不存在或无权查看")
    child = await get_child(session=session, principal=user, child_id=number)
    await session.refresh(child, ["guardians"])
    return child


@router.get("/children/{child_id}/edit", response_class=HTMLResponse)
async def edit_child(request: Request, child_id: str, user: PageUser, session: SessionDep) -> HTMLResponse:
    child = await _editable(session, user, child_id)
    return await _form_page(request, user, session, values=_values_of(child), editing=child)


@router.post("/children/{child_id}/edit", response_class=HTMLResponse)
async def save_child(request: Request, child_id: str, user: PageUser, session: SessionDep) -> Response:
    form = await read_form(request)
    child = await _editable(session, user, child_id)
    values = {k: v for k, v in form.items() if k != "csrf"}
    rows: list[int] = []
    try:
        data, rows = child_in({**form, "id_number": child.id_number or ""})
        update = ChildUpdate(
            name=data.name,
            residence_region=data.residence_region,
            residence_committee_id=data.residence_committee_id,
            address=data.address,
            school=data.school,
            guardians=data.guardians,
        )
        await update_child(session=session, principal=user, child_id=child.id, data=update)
    except DomainError as e:
        await session.rollback()
        child = await _editable(session, user, child_id)
        return await _form_page(
            request,
            user,
            session,
            values=values,
            error=e,
            field=form_field(e.field, rows),
            status=status_for(e),
            editing=child,
        )
    flash(request, "儿童信息已保存")
    try:
        await get_child(session=session, principal=user, child_id=child.id)
    except DomainError:
        # Moved to a county outside this agency's area: the record is out of its sight now.
        flash(request, "该儿童已迁往本单位辖区以外，记录不再在本单位显示；其案件请在案件中办理迁出移交")
        return RedirectResponse("/cases/new", status_code=303)
    return RedirectResponse(f"/children/{child.id}", status_code=303)


@router.get("/children/{child_id}", response_class=HTMLResponse)
async def child_record(request: Request, child_id: str, user: PageUser, session: SessionDep) -> HTMLResponse:
    number = to_int(child_id)
    if number is None:
        raise DomainError("child_not_found", "儿童不存在或无权查看")
    child = await get_child(session=session, principal=user, child_id=number)
    cases = list(
        (
            await session.execute(
                select(Case).where(Case.child_id == child.id, case_visible(user)).order_by(Case.opened_at.desc())
            )
        ).scalars()
    )
    committee = await session.get(Agency, child.residence_committee_id) if child.residence_committee_id else None
    audit(session, user, "read_child", child_id=child.id)
    await session.commit()
    full = child.created_by_agency_id == user.agency.id
    id_shown = _id_shown(child, user)
    return render(
        request,
        "child.html",
        user,
        child=child,
        id_shown=id_shown,
        id_full=full,
        committee=committee,
        origin_name=full_region_name(child.origin_region) or child.origin_region,
        residence_name=full_region_name(child.residence_region) or child.residence_region,
        cases=[(c, get_process(c.process)) for c in cases],
        processes=startable(user),
    )
