"""The attachment an action's form names (FieldKind.attachment), checked before the workflow is asked: this
case's, and of the kind the field takes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Attachment
from domain.attachments import kind_label
from domain.errors import DomainError
from domain.process import Field, FieldKind


async def check_attachment_fields(
    session: AsyncSession, fields: tuple[Field, ...], payload: dict[str, Any], case_id: int
) -> None:
    """An attachment an action's form names must be this case's and of the kind the field takes."""
    for f in fields:
        if f.kind != FieldKind.attachment or payload.get(f.name) in (None, ""):
            continue
        try:
            attachment_id = int(payload[f.name])
        except (TypeError, ValueError):
            raise DomainError("field_invalid", f"“{f.label}”无效", field=f.name) from None
        row = (
            await session.execute(
                select(Attachment.kind).where(Attachment.id == attachment_id, Attachment.case_id == case_id)
            )
        ).scalar_one_or_none()
        if row is None:
            raise DomainError("field_invalid", f"“{f.label}”不是本案件已上传的附件", field=f.name)
        if row != f.attachment:
            raise DomainError("field_invalid", f"“{f.label}”应为{kind_label(f.attachment or '')}", field=f.name)
