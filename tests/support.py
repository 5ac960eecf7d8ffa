"""Helpers for tests: principals from the demo users, starting and acting through the services, and
reading the projection and timeline back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from temporalio.client import Client

from api.cases import service
from api.principal import Principal, load_principal
from db.models import Case, CaseStep, Child, Notification, TimelineEvent
from domain.messages import ActionResult
from tests.conftest import Db


async def who(db: Db, username: str, channel: str = "api") -> Principal:
    async with db.sf() as s:
        p = await load_principal(s, username, channel=channel)
    assert p is not None, username
    return p


async def child_id(db: Db, name: str) -> int:
    async with db.sf() as s:
        return (await s.execute(select(Child.id).where(Child.name == name))).scalar_one()


async def start(
    db: Db,
    client: Client,
    task_queue: str,
    username: str,
    *,
    child: str = "王小明",
    step: str = "admonition",
    facts: dict[str, Any] | None = None,
    key: str | None = None,
) -> str:
    p = await who(db, username)
    facts = {"facts": "监护人长期外出，儿童独自在家", "occurred_on": datetime.now(UTC).date().isoformat(), **(facts or {})}
    async with db.sf() as s:
        started = await service.start_case(
            session=s,
            client=client,
            task_queue=task_queue,
            principal=p,
            data=service.StartCaseIn(process="guardianship", start_step=step, child_id=await child_id(db, child),
                                     facts=facts),
            idempotency_key=key,
        )
    return started.case_no


async def act(
    db: Db,
    client: Client,
    case_no: str,
    username: str,
    action: str,
    payload: dict[str, Any] | None = None,
    *,
    step: str | None = "",
    step_seq: int | None = None,
) -> ActionResult:
    """Acts on the open step that offers `action` (or on `step` when given; None = a case action)."""
    p = await who(db, username)
    if step == "":
        steps = await open_steps(db, case_no)
        step = next(iter(steps.values())).step if len(steps) == 1 else None
        if step is None:
            raise AssertionError("several steps are open: name the step")
    async with db.sf() as s:
        return await service.act(
            session=s, client=client, principal=p, case_no=case_no,
            data=service.ActIn(request_id=uuid.uuid4().hex, action=action, step=step, step_seq=step_seq,
                               payload=payload or {}),
        )


async def supervise(db: Db, client: Client, case_no: str, username: str, kind: str, step: str, **kw: Any
                    ) -> ActionResult:
    p = await who(db, username)
    async with db.sf() as s:
        return await service.supervise(session=s, client=client, principal=p, case_no=case_no,
                                       data=service.SuperviseIn(kind=kind, step=step, **kw))


async def case_row(db: Db, case_no: str) -> Case:
    async with db.sf() as s:
        return (await s.execute(select(Case).where(Case.case_no == case_no))).scalar_one()


async def open_steps(db: Db, case_no: str) -> dict[str, CaseStep]:
    async with db.sf() as s:
        rows = (
            await s.execute(select(CaseStep).join(Case).where(Case.case_no == case_no))
        ).scalars()
        return {r.track: r for r in rows}


async def timeline(db: Db, case_no: str) -> list[TimelineEvent]:
    async with db.sf() as s:
        return list(
            (
                await s.execute(
                    select(TimelineEvent).join(Case).where(Case.case_no == case_no).order_by(TimelineEvent.seq)
                )
            ).scalars()
        )


async def notifications(db: Db, case_no: str) -> list[Notification]:
    async with db.sf() as s:
        return list(
            (
                await s.execute(
                    select(Notification).join(Case).where(Case.case_no == case_no).order_by(Notification.id)
                )
            ).scalars()
        )


def today_iso() -> str:
    from domain.deadlines import local_date

    return local_date(datetime.now(UTC)).isoformat()
