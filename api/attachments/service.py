"""Attachments of a case: uploaded by a party who may take an action whose form names one, kept encrypted,
named by an action's field (checked: this case's, of the field's kind), served to those who may read it
(a clinical attachment, a consent form, only to the clinical readers party to the case, each read audited
with why). Nothing here logs or keeps a file's name."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from temporalio.client import Client

from api.attachments.crypto import Sealed, open_sealed, seal
from api.attachments.gate import MemoryGate, Slot
from api.audit import audit
from api.cases.clinical import is_party
from api.cases.service import get_visible_case, live_state
from api.principal import Principal
from db.models import Attachment, Case
from domain import permissions
from domain.attachments import ATTACHMENT_KINDS, size_label, sniff
from domain.clinical import clinical_reason, reads_clinical
from domain.errors import DomainError
from domain.process import FieldKind, Process
from domain.processes import get_process
from worker.codec import PayloadKeys

CHUNK = 64 * 1024
NOT_FOUND = DomainError("not_found", "附件不存在或无权查看")


@dataclass(frozen=True)
class Stored:
    attachment: Attachment
    created: bool


async def read_upload(upload: UploadFile, limit: int) -> bytearray:
    """The file's bytes (from the form's spooled copy), read a chunk at a time and refused (413) as soon as
    they pass the limit; kept in the one buffer, not copied again."""
    data = bytearray()
    while chunk := await upload.read(CHUNK):
        data += chunk
        if len(data) > limit:
            raise too_large(limit)
    if not data:
        raise DomainError("file_invalid", "上传的文件是空的", field="file")
    return data


def too_large(limit: int) -> DomainError:
    return DomainError(
        "attachment_too_large", f"附件不能超过{size_label(limit)}，请压缩或分页扫描后再上传", field="file"
    )


def check_kind(kind: str) -> str:
    if kind not in ATTACHMENT_KINDS:
        raise DomainError("field_invalid", "附件类型无效", field="kind")
    return kind


async def check_may_upload(client: Client, principal: Principal, process: Process, case: Case, kind: str) -> None:
    """A party who may now take an action of the case whose form takes an attachment of this kind."""
    if case.status != "open":
        raise DomainError("case_closed", "案件已结案，不能再上传附件")
    if principal.is_admin:
        raise DomainError("not_permitted", "管理员账号不能办理案件")
    live = await live_state(client, case.case_no)
    if live is None:
        raise DomainError("unavailable", "实时状态暂不可用，暂不能上传，请稍后重试")
    for offer in permissions.offers(process, live, principal.actor()):
        if any(f.kind == FieldKind.attachment and f.attachment == kind for f in offer.action.fields):
            return
    raise DomainError("not_permitted", "本单位当前没有需要上传该附件的办理事项")


async def store(
    session: AsyncSession, principal: Principal, case: Case, kind: str, data: bytearray, keys: PayloadKeys
) -> Stored:
    """The attachment row for these bytes: a new one, or the one the same bytes made before (a retried
    upload makes no second row)."""
    media = sniff(bytes(data[:16]))
    digest = hashlib.sha256(data).hexdigest()
    sealed = seal(keys, data, case_id=case.id, sha256=digest)
    new_id = (
        await session.execute(
            insert(Attachment)
            .values(
                case_id=case.id,
                kind=kind,
                content_type=media.media_type,
                size=len(data),
                sha256=digest,
                key_id=sealed.key_id,
                nonce=sealed.nonce,
                sealed=sealed.data,
                uploaded_by_agency_id=principal.agency.id,
                uploaded_by_user_id=principal.user_id,
            )
            .on_conflict_do_nothing(constraint="uq_attachments_case_sha256")
            .returning(Attachment.id)
        )
    ).scalar_one_or_none()
    row = (
        await session.execute(select(Attachment).where(Attachment.case_id == case.id, Attachment.sha256 == digest))
    ).scalar_one()
    if row.kind != kind:
        raise DomainError("attachment_exists", "同一文件已作为本案件的另一类附件上传", field="file")
    return Stored(row, created=new_id is not None)


async def upload(
    *,
    session: AsyncSession,
    client: Client,
    principal: Principal,
    case_no: str,
    kind: str,
    file: UploadFile | None,
    keys: PayloadKeys,
    limit: int,
    gate: MemoryGate,
) -> Stored:
    """Who asks is checked before what they sent: an outsider learns nothing from the answer. The file is
    held in memory only with a slot of the gate."""
    case = await get_visible_case(session, principal, case_no)
    process = get_process(case.process)
    await check_may_upload(client, principal, process, case, check_kind(kind))
    if file is None:
        raise DomainError("field_required", "请以表单方式（multipart/form-data）选择要上传的文件", field="file")
    async with gate.held():
        stored = await store(session, principal, case, kind, await read_upload(file, limit), keys)
        if stored.created:
            detail = f"attachment {stored.attachment.id}: {kind}"
            audit(session, principal, "attach", case_no=case.case_no, child_id=case.child_id, detail=detail)
        await session.commit()
    return stored


async def forget(session: AsyncSession, attachment_id: int) -> None:
    """Removes the attachment a page's post made for an action that was then refused (a refused action
    changes nothing); the caller passes only one that post made, which no event can name yet."""
    await session.rollback()
    await session.execute(Attachment.__table__.delete().where(Attachment.id == attachment_id))
    await session.commit()


@dataclass(frozen=True)
class Served:
    """An opened file; its bytes hold `slot` of the gate until the answer carrying them is sent."""

    attachment: Attachment
    data: bytes
    slot: Slot


async def download(
    *,
    session: AsyncSession,
    principal: Principal,
    case_no: str,
    attachment_id: int,
    keys: PayloadKeys,
    gate: MemoryGate,
) -> Served:
    """The file, for a reader who may read it; everyone else is told it is not there (404), the same answer
    as for an attachment that does not exist. Its sealed bytes are loaded (after the check) and opened with
    a slot of the gate."""
    case = await get_visible_case(session, principal, case_no)
    row = (
        await session.execute(select(Attachment).where(Attachment.id == attachment_id, Attachment.case_id == case.id))
    ).scalar_one_or_none()
    if row is None:
        raise NOT_FOUND
    process = get_process(case.process)
    what = f"；附件{row.id}（{ATTACHMENT_KINDS.get(row.kind, row.kind)}）"
    if process.attachment_is_clinical(row.kind):
        if principal.is_admin or not reads_clinical(
            process, principal.agency.agency_type, await is_party(session, principal, case)
        ):
            raise NOT_FOUND
        reason = clinical_reason(principal.agency.agency_type)
        audit(session, principal, "read_clinical", case_no=case.case_no, child_id=case.child_id, detail=reason + what)
    else:
        audit(session, principal, "read", case_no=case.case_no, child_id=case.child_id, detail=what.lstrip("；"))
    slot = await gate.take()  # busy: the audit entry is not committed, as nothing was read
    try:
        sealed = (await session.execute(select(Attachment.sealed).where(Attachment.id == row.id))).scalar_one()
        data = open_sealed(keys, Sealed(row.key_id, row.nonce, sealed), case_id=case.id, sha256=row.sha256)
        await session.commit()
    except BaseException:
        slot.release()
        raise
    return Served(row, data, slot)
