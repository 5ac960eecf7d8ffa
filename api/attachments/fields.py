"""The attachment an action's form names (FieldKind.attachment), checked before the workflow is asked: there
when the form's other answers require it (Field.required_when), this case's, and of the kind the field
takes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Attachment
from domain.attachments import kind_label
from domain.errors import DomainError
from domain.process import Field, FieldKind


async def check_attachment_fields(
    session: AsyncSession, fields: tuple[Field, ...], payload: dict[str, Any], case_id: int
) -> None:
    """An attachment an action's form names must be this case's and of the kind the field takes. One that
    passes is marked named, in the caller's transaction (committed with the request's claim, before the
    workflow is asked), so that the sweep of unnamed attachments waits for the action's event."""
    named: list[int] = []
    for f in fields:
        if f.kind != FieldKind.attachment:
            continue
        if payload.get(f.name) in (None, ""):
            check_required_when(f, fields, payload)
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
        named.append(attachment_id)
    if named:
        await session.execute(update(Attachment).where(Attachment.id.in_(named)).values(named_at=func.now()))


def check_required_when(f: Field, fields: tuple[Field, ...], payload: dict[str, Any]) -> None:
    """An attachment left out where the form's answer to another field requires it (a written consent
    without its scanned form) is refused, naming that answer."""
    if f.required_when is None:
        return
    other, value = f.required_when
    if str(payload.get(other, "")) != value:
        return
    source = next((g for g in fields if g.name == other), None)
    answer = dict(source.choices).get(value, value) if source else value
    label = source.label if source else other
    raise DomainError("field_required", f"{label}为“{answer}”时须上传“{f.label}”", field=f.name)
