"""登记儿童 (with or without an ID number), a child's record, correcting it (the ID number added later),
and merging a provisional record into the registered child (合并档案)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit import audit
from api.cases.visibility import case_visible
from api.children.cases_told import tell_open_cases
from api.children.identity import MergeOffered
from api.children.schemas import ChildIn, ChildUpdate, GuardianIn
from api.children.service import (
    ChildMerged,
    PossibleDuplicates,
    access_to,
    get_child,
    register_child,
    update_child,
)
from api.deps import ClientDep, PageUser, SessionDep
from api.errors import status_for
from api.principal import Principal
from api.served import served_regions
from db.models import Agency, Case, Child
from domain.deadlines import local_date
from domain.enums import AgencyType
from domain.errors import DomainError
from domain.identity import NO_ID_REASON_LABELS, NoIdReason, may_merge
from domain.idnumber import age_on, mask_id_number
from domain.processes import get_process
from domain.record_access import check_may_edit
from domain.regions import full_region_name
from ui.forms import agencies_of, county_choices, group_by_county, read_form, to_int
from ui.registry_pages import child_registry
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
    no_id = form.get("no_id_number") == "on"
    data = ChildIn(
        name=form.get("name", ""),
        sex=form.get("sex") or None,
        id_number=id_number,
        birth_date=form_date(form.get("birth_date", "")) if no_id else None,
        origin_region=form.get("origin_region", "").strip() or ("" if no_id else id_number[:6]),
        residence_region=form.get("residence_region", ""),
        residence_committee_id=to_int(committee),
        address=form.get("address", ""),
        school=form.get("school") or None,
        guardians=guardians,
        no_id_number=no_id,
        no_id_reason=form.get("no_id_reason") or None,
        birth_date_estimated=form.get("birth_date_estimated") == "on",
    )
    return data, rows


def form_date(value: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DomainError("field_invalid", "出生日期格式不正确，请按“年-月-日”填写", field="birth_date") from None


def form_field(field: str | None, rows: list[int]) -> str | None:
    """The service's 'guardians.0.relation' as the row of the form it came from."""
    if field and field.startswith("guardians.") and field.count(".") == 2:
        _, index, name = field.split(".")
        if index.isdigit() and int(index) < len(rows):
            return f"guardians.{rows[int(index)]}.{name}"
    return field


def committee_regions(user: Principal, values: dict[str, str]) -> list[str]:
    """Where the committees offered are: in the residence county chosen (a form shown again, a record
    edited), else in the user's own county; a city agency's user sees every county's, by county."""
    chosen, served = values.get("residence_region", ""), served_regions()
    if served.is_county(chosen):
        return [chosen]
    if served.is_county(user.agency.region_code):
        return [user.agency.region_code]
    return list(served.county_names)


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
    candidates: list[Child] | None = None,
) -> HTMLResponse:
    committees = group_by_county(
        await agencies_of(session, AgencyType.village_committee, committee_regions(user, values))
    )
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
        reasons=list(NO_ID_REASON_LABELS.items()),
        candidates=candidates or [],
        masked=_masked,
        merge_offer=error.other_id if isinstance(error, MergeOffered) else None,
        may_merge=bool(editing and may_merge(user.role, user.agency, editing.residence_region)),
    )


def _masked(child: Child) -> str:
    return mask_id_number(child.id_number) if child.id_number else "暂无"


def _id_shown(child: Child, user: Principal) -> str:
    """The whole ID number for the registering agency; masked for everyone else."""
    if not child.id_number:
        return "暂无"
    return child.id_number if child.created_by_agency_id == user.agency.id else mask_id_number(child.id_number)


def _values_of(child: Child) -> dict[str, str]:
    values = {
        "name": child.name,
        "residence_region": child.residence_region,
        "residence_committee_id": str(child.residence_committee_id or ""),
        "address": child.address or "",
        "school": child.school or "",
    }
    if child.provisional:
        values.update(
            sex=child.sex,
            birth_date=child.birth_date.isoformat(),
            birth_date_estimated="on" if child.birth_date_estimated else "",
            origin_region=child.origin_region or "",
            no_id_reason=child.no_id_reason or "",
        )
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
    own = user.agency.region_code
    values = {"residence_region": own if served_regions().is_county(own) else ""}
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
        child = await register_child(
            session=session, principal=user, data=data, refuse_possible_duplicates=form.get("confirm_new") != "on"
        )
    except PossibleDuplicates as e:
        # Not refused: the clerk looks at the records that may be this child, then registers or uses one.
        return await _form_page(request, user, session, values=values, candidates=e.candidates)
    except DomainError as e:
        return await _form_page(
            request, user, session, values=values, error=e, field=form_field(e.field, rows), status=status_for(e)
        )
    if child.provisional:
        flash(request, "儿童已登记为临时档案（身份待核实），可以为其立案；核实后请补录身份证号码")
    else:
        flash(request, "儿童已登记，可以为其立案")
    return RedirectResponse(f"/cases/new?child_id={child.id}", status_code=303)


def _update_of(form: dict[str, str], child: Child) -> tuple[ChildUpdate, list[int]]:
    """The edit form as the service's change; a provisional record's form also completes its identity. The
    origin counts as confirmed against the ID number when changed or ticked as checked."""
    data, rows = child_in({**form, "id_number": "", "no_id_number": ""})
    fields: dict = {
        "name": data.name,
        "residence_region": data.residence_region,
        "residence_committee_id": data.residence_committee_id,
        "address": data.address,
        "school": data.school,
        "guardians": data.guardians,
    }
    if child.provisional:
        fields.update(
            id_number=form.get("id_number", "").strip() or None,
            sex=form.get("sex") or None,
            birth_date=form_date(form.get("birth_date", "")),
            birth_date_estimated=form.get("birth_date_estimated") == "on",
            no_id_reason=form.get("no_id_reason") or None,
        )
        origin = form.get("origin_region", "").strip()
        if origin != (child.origin_region or "") or form.get("confirm_origin") == "on":
            fields["origin_region"] = origin
    return ChildUpdate(**fields), rows


async def _editable(session: AsyncSession, user: Principal, child_id: str) -> Child:
    number = to_int(child_id)
    if number is None or user.is_admin:
        raise DomainError("child_not_found", "儿童不存在或无权查看")
    child = await get_child(session=session, principal=user, child_id=number)
    check_may_edit(access_to(user, child))
    await session.refresh(child, ["guardians"])
    return child


@router.get("/children/{child_id}/edit", response_class=HTMLResponse)
async def edit_child(request: Request, child_id: str, user: PageUser, session: SessionDep) -> Response:
    try:
        child = await _editable(session, user, child_id)
    except ChildMerged as merged:
        flash(request, "该临时档案已合并到本儿童档案，请在本档案中修改", "warn")
        return RedirectResponse(f"/children/{merged.into_id}/edit", status_code=303)
    return await _form_page(request, user, session, values=_values_of(child), editing=child)


@router.post("/children/{child_id}/edit", response_class=HTMLResponse)
async def save_child(
    request: Request, child_id: str, user: PageUser, session: SessionDep, client: ClientDep
) -> Response:
    form = await read_form(request)
    child = await _editable(session, user, child_id)
    values = {k: v for k, v in form.items() if k != "csrf"}
    rows: list[int] = []
    try:
        was_provisional = child.provisional
        update, rows = _update_of(form, child)
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
    if was_provisional and not child.provisional:
        flash(request, "身份证号码已补录，儿童身份已核实")
    await tell_open_cases(session, client, child)
    flash(request, "儿童信息已保存")
    try:
        await get_child(session=session, principal=user, child_id=child.id)
    except DomainError:
        # Moved to a county outside this agency's area: the record is out of its sight now.
        flash(request, "该儿童已迁往本单位辖区以外，记录不再在本单位显示；其案件请在案件中办理迁出移交")
        return RedirectResponse("/cases/new", status_code=303)
    return RedirectResponse(f"/children/{child.id}", status_code=303)


@router.get("/children/{child_id}", response_class=HTMLResponse)
async def child_record(request: Request, child_id: str, user: PageUser, session: SessionDep) -> Response:
    number = to_int(child_id)
    if number is None:
        raise DomainError("child_not_found", "儿童不存在或无权查看")
    try:
        child = await get_child(session=session, principal=user, child_id=number)
    except ChildMerged as merged:
        flash(request, "该临时档案已合并到本儿童档案，原档案的案件均已转入本档案", "warn")
        return RedirectResponse(f"/children/{merged.into_id}", status_code=303)
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
        origin_name=region_text(child.origin_region),
        residence_name=full_region_name(child.residence_region) or child.residence_region,
        cases=[(c, get_process(c.process)) for c in cases],
        processes=startable(user),
        reason=NO_ID_REASON_LABELS.get(NoIdReason(child.no_id_reason)) if child.no_id_reason else None,
        may_merge=child.provisional and may_merge(user.role, user.agency, child.residence_region),
        access=access_to(user, child),
        age=age_on(child.birth_date, local_date(datetime.now(UTC))),
        registry=await child_registry(session, child),
    )


def region_text(code: str | None) -> str:
    """A region's full name with its code, or 不详."""
    if not code:
        return "不详"
    return f"{full_region_name(code) or code}（{code}）"
