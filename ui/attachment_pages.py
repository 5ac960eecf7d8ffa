"""A case's attachments on the pages: the action form that carries a file (a scanned consent form) stores
it and takes the action naming it in one post, no JavaScript needed; and a reader's download."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import UploadFile

from api.attachments import service as attachments
from api.attachments.router import file_response
from api.cases import service
from api.deps import AttachmentGateDep, ClientDep, PageUser, SessionDep, SettingsDep
from domain.errors import DomainError
from domain.field_kinds import FieldKind
from domain.processes import get_process
from ui.case_pages import act_key, refused_page, request_id_of
from ui.forms import payload_from_form, read_form, to_int
from ui.render import flash

router = APIRouter(include_in_schema=False)


@router.post("/cases/{case_no}/attachments")
async def act_with_attachment(
    request: Request,
    case_no: str,
    user: PageUser,
    session: SessionDep,
    client: ClientDep,
    settings: SettingsDep,
    gate: AttachmentGateDep,
) -> Response:
    form = await read_form(request)
    posted = await request.form()  # the same form, read once: its files too
    case = await service.get_visible_case(session, user, case_no)
    process = get_process(case.process)
    step, action_name = form.get("step") or None, form.get("action", "")
    if step is None:
        action = process.case_action(action_name)
    else:
        action = process.step(step).action(action_name) if process.has_step(step) else None
    fields = action.fields if action else ()
    payload = payload_from_form(fields, form)
    made: list[int] = []  # attachments this post stored: gone again if the action is refused
    try:
        for f in fields:
            file = posted.get(f.name)
            if f.kind != FieldKind.attachment or not isinstance(file, UploadFile) or not file.filename:
                continue
            stored = await attachments.upload(
                session=session,
                client=client,
                principal=user,
                case_no=case_no,
                kind=f.attachment or "",
                file=file,
                keys=settings.keys(),
                limit=settings.attachment_max_bytes,
                gate=gate,
            )
            if stored.created:
                made.append(stored.attachment.id)
            payload[f.name] = stored.attachment.id
        data = service.ActIn(
            request_id=request_id_of(form.get("request_id")),
            action=action_name,
            step=step,
            step_seq=to_int(form.get("step_seq")),
            payload=payload,
        )
        await service.act(session=session, client=client, principal=user, case_no=case_no, data=data)
    except DomainError as e:
        if e.code != "unavailable":  # refused, so never applied: the file goes with it
            for attachment_id in made:
                await attachments.forget(session, attachment_id)
        return await refused_page(request, user, session, client, case_no, act_key(step, action_name), form, e)
    flash(request, f"已提交：{process.action_label(step, action_name)}")
    return RedirectResponse(f"/cases/{case_no}", status_code=303)


@router.get("/cases/{case_no}/attachments/{attachment_id}")
async def download(
    case_no: str,
    attachment_id: str,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    gate: AttachmentGateDep,
) -> Response:
    number = to_int(attachment_id)
    if number is None:
        raise attachments.NOT_FOUND
    served = await attachments.download(
        session=session, principal=user, case_no=case_no, attachment_id=number, keys=settings.keys(), gate=gate
    )
    return file_response(served, case_no)
