"""/api/v1/cases/{case_no}/attachments: upload a file to a case (multipart), and read one back."""

from __future__ import annotations

import weakref
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.types import Receive, Scope, Send

from api.answer import Answer
from api.attachments import service
from api.attachments.gate import Slot
from api.deps import ApiUser, AttachmentGateDep, ClientDep, SessionDep, SettingsDep
from api.error_schema import ErrorBody
from db.models import Attachment
from domain.attachments import ATTACHMENT_KINDS, MEDIA_TYPES, file_type
from domain.text import INT_MAX

router = APIRouter(prefix="/cases", tags=["attachments"])

UPLOAD_PATH = "/{case_no}/attachments"


class AttachmentOut(Answer):
    id: int
    case_no: str
    kind: str
    content_type: str
    size: int
    sha256: str
    created: bool


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "kind"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "PDF, JPEG or PNG"},
                        "kind": {"type": "string", "enum": list(ATTACHMENT_KINDS)},
                    },
                }
            }
        },
    }
}
_FILE_ANSWER = {
    200: {
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in MEDIA_TYPES},
        "description": "The file, as an attachment (Content-Disposition), of the type its bytes are",
    }
}
_UNSUPPORTED = {415: {"model": ErrorBody, "description": "Not a PDF, a JPEG or a PNG (told from the bytes)"}}


def answer(a: Attachment, case_no: str, created: bool) -> dict[str, Any]:
    return {
        "id": a.id,
        "case_no": case_no,
        "kind": a.kind,
        "content_type": a.content_type,
        "size": a.size,
        "sha256": a.sha256,
        "created": created,
    }


async def _form_upload(request: Request) -> tuple[UploadFile | None, str]:
    """The file and its kind, from the form the limits dependency already read (none: not a multipart form;
    the service says so once it has checked who asks)."""
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        return None, ""
    form = await request.form()
    file, kind = form.get("file"), form.get("kind")
    return file if isinstance(file, UploadFile) else None, kind if isinstance(kind, str) else ""


@router.post(
    UPLOAD_PATH,
    status_code=201,
    summary="Upload a file to the case (multipart: file, kind), by a party who may now take an action whose "
    "form names such an attachment; PDF, JPEG or PNG, told from the bytes, at most the attachment limit. The "
    "same bytes again answer the attachment they made (200). Name it by an action within 24 h: one no action "
    "names is removed then",
    response_model=AttachmentOut,
    responses={
        200: {"model": AttachmentOut, "description": "The same bytes were uploaded to this case before"},
        **_UNSUPPORTED,
    },
    openapi_extra=_UPLOAD_BODY,
)
async def upload(
    case_no: str,
    request: Request,
    principal: ApiUser,
    session: SessionDep,
    client: ClientDep,
    settings: SettingsDep,
    gate: AttachmentGateDep,
) -> Any:
    file, kind = await _form_upload(request)
    stored = await service.upload(
        session=session,
        client=client,
        principal=principal,
        case_no=case_no,
        kind=kind,
        file=file,
        keys=settings.keys(),
        limit=settings.attachment_max_bytes,
        gate=gate,
    )
    body = answer(stored.attachment, case_no, stored.created)
    return JSONResponse(body, status_code=201 if stored.created else 200)


class HeldResponse(Response):
    """A response whose body holds a slot of the attachment gate: given back once the body is sent, or the
    client has gone, or the response is dropped unsent."""

    def __init__(self, *args: Any, slot: Slot, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slot = slot
        weakref.finalize(self, slot.release)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._slot.release()


def file_response(served: service.Served, case_no: str) -> Response:
    """The bytes as a download of the type they are; never shown inline, never sniffed by the browser."""
    a = served.attachment
    name = f"{case_no}-{a.kind}-{a.id}.{file_type(a.content_type).extension}"
    return HeldResponse(
        served.data,
        slot=served.slot,
        media_type=a.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/{case_no}/attachments/{attachment_id}",
    summary="Read a file of the case: a clinical one (a consent form) only by the clinical readers party to the "
    "case (audited as read_clinical with the reason); anyone else is answered 404",
    response_class=Response,
    responses=_FILE_ANSWER,
)
async def download(
    case_no: str,
    attachment_id: Annotated[int, Path(ge=1, le=INT_MAX)],
    principal: ApiUser,
    session: SessionDep,
    settings: SettingsDep,
    gate: AttachmentGateDep,
) -> Response:
    served = await service.download(
        session=session,
        principal=principal,
        case_no=case_no,
        attachment_id=attachment_id,
        keys=settings.keys(),
        gate=gate,
    )
    return file_response(served, case_no)
