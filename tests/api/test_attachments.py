"""The scanned consent form as an attachment of a mental-health referral, through the API: uploaded by the
counselling centre holding the medical referral, named by the consent, read back by the centre and the
hospital referred (each read audited with its reason), never by anyone else (404, no bytes). Refused, each
with a Chinese reason and nothing stored or changed: a file that is not a PDF, JPEG or PNG (told from its
bytes), one over the limit (413, before the body is read to its end), an attachment of another case, an
upload by someone who may not act on the step, a written consent without its scan. The same bytes again
make no second row. One that no action names is removed a day after its upload (or after a refused action
named it), and audited. Real PostgreSQL, Temporal dev server and worker."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import undefer

from api.attachments.gate import MemoryGate
from api.attachments.sweep import REASON, remove_unnamed
from db.models import Attachment, AuditEntry, Case, TimelineEvent
from domain.clinical import WITHHELD
from tests.api.test_cases_api import auth
from tests.api.test_mental_health_api import act, start
from tests.conftest import Live, make_token
from tests.files import GIF, HTML_AS_PNG, pdf, png
from tests.support import agency_id, child_id, today_iso

SCAN = png("扫描件内容甲")
LIMIT = 10 * 1024 * 1024  # Settings.attachment_max_bytes, the default


async def referral_case(live: Live, child: str = "王小明") -> tuple[str, str]:
    """A case at the medical referral, held by 潞州区心理辅导中心; (case number, the centre's token)."""
    school = await make_token(live.db, "luzhou-school1")
    r = await start(live, school, await child_id(live.db, child), risk_level="medium", channel="school")
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    centre = await make_token(live.db, "luzhou-counselling")
    for action, payload in (
        ("assess", {"risk_level": "medium", "risk_notes": "-"}),
        ("record_session", {"session_on": today_iso(), "session_notes": "-"}),
        (
            "reassess",
            {"assessed_on": today_iso(), "result": "needs_diagnosis", "assessment_notes": "-"},
        ),
    ):
        r = await act(live, centre, case_no, action, payload)
        assert r.status_code == 200, r.text
    return case_no, centre


async def upload(
    live: Live, token: str, case_no: str, data: bytes, *, name: str = "同意书.png", kind: str = "consent_form"
) -> httpx.Response:
    return await live.http.post(
        f"/api/v1/cases/{case_no}/attachments",
        files={"file": (name, data, "image/png")},
        data={"kind": kind},
        headers=auth(token),
    )


async def consent(live: Live, **over: Any) -> dict[str, Any]:
    return {
        "hospital_id": await agency_id(live.db, "luzhou-hospital"),
        "consenter_name": "王某",
        "consenter_relation": "mother",
        "consented_on": today_iso(),
        "consent_method": "written",
        "consent_form_ref": "心档-7",
        **over,
    }


async def rows(live: Live) -> int:
    async with live.db.sf() as s:
        return (await s.execute(select(func.count()).select_from(Attachment))).scalar_one()


async def events(live: Live, case_no: str) -> int:
    async with live.db.sf() as s:
        return (
            await s.execute(select(func.count()).select_from(TimelineEvent).join(Case).where(Case.case_no == case_no))
        ).scalar_one()


async def download(live: Live, username: str, case_no: str, attachment_id: int) -> httpx.Response:
    token = await make_token(live.db, username)
    return await live.http.get(f"/api/v1/cases/{case_no}/attachments/{attachment_id}", headers=auth(token))


async def test_the_consent_form_is_uploaded_named_and_read_only_by_the_clinical_readers(live: Live) -> None:
    case_no, centre = await referral_case(live)
    r = await upload(live, centre, case_no, SCAN)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["kind"], body["content_type"], body["size"], body["created"]) == (
        "consent_form",
        "image/png",
        len(SCAN),
        True,
    )
    assert body["sha256"] == hashlib.sha256(SCAN).hexdigest()
    # A retried upload (the same bytes, under another name) is the same attachment, not a second row.
    again = await upload(live, centre, case_no, SCAN, name="重传.png")
    assert again.status_code == 200 and again.json()["id"] == body["id"] and again.json()["created"] is False
    assert await rows(live) == 1
    async with live.db.sf() as s:
        row = (await s.execute(select(Attachment).options(undefer(Attachment.sealed)))).scalar_one()
        # At rest the bytes are encrypted: neither the PNG nor its text is in the row.
        assert SCAN not in row.sealed and "扫描件内容甲".encode() not in row.sealed and b"PNG" not in row.sealed
        assert row.uploaded_by_user_id is not None

    r = await act(live, centre, case_no, "refer_with_consent", await consent(live, consent_form=body["id"]))
    assert r.status_code == 200, r.text
    hospital = await make_token(live.db, "luzhou-hospital")
    assert (await act(live, hospital, case_no, "accept_referral", {})).status_code == 200

    for reader in ("luzhou-counselling", "luzhou-counselling-sup", "luzhou-hospital"):
        r = await download(live, reader, case_no, body["id"])
        assert r.status_code == 200, (reader, r.text)
        assert r.content == SCAN
        assert r.headers["content-type"] == "image/png"
        assert r.headers["content-disposition"].startswith("attachment;")
        assert r.headers["x-content-type-options"] == "nosniff"
    async with live.db.sf() as s:
        reads = list(
            (
                await s.execute(
                    select(AuditEntry.detail).where(
                        AuditEntry.case_no == case_no,
                        AuditEntry.action == "read_clinical",
                        AuditEntry.detail.contains(f"附件{body['id']}"),
                    )
                )
            ).scalars()
        )
    assert len(reads) == 3 and all(d.startswith("本单位为案件当事单位") for d in reads)

    # Everyone else who may read the case reads that a form was recorded, never the form.
    for other in ("luzhou-school1", "luzhou-edu-sup"):
        token = await make_token(live.db, other)
        case = await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(token))
        consented = next(e for e in case.json()["timeline"] if e.get("action") == "refer_with_consent")
        assert consented["payload"]["consent_form"] == WITHHELD
    for outsider in ("luzhou-school1", "luzhou-edu-sup", "city-civil-sup", "admin", "shangdang-counselling"):
        r = await download(live, outsider, case_no, body["id"])
        assert r.status_code == 404, (outsider, r.status_code)
        assert r.json()["error"]["code"] in ("not_found", "case_not_found") and SCAN not in r.content


async def test_refusals_store_and_change_nothing(live: Live) -> None:
    case_no, centre = await referral_case(live)
    other_no, other_centre = await referral_case(live, "李娜")
    before = await events(live, case_no)

    # Not a PDF, JPEG or PNG, whatever the name and the part's type say.
    for data in (GIF, HTML_AS_PNG, b"just text"):
        r = await upload(live, centre, case_no, data)
        assert r.status_code == 415, r.text
        assert r.json()["error"]["message"].startswith("只能上传PDF、JPG或PNG格式的扫描件")
    r = await upload(live, centre, case_no, b"")
    assert r.status_code == 422 and r.json()["error"]["message"] == "上传的文件是空的"
    r = await upload(live, centre, case_no, SCAN, kind="diagnosis")
    assert r.status_code == 422 and r.json()["error"]["field"] == "kind"

    # Who may not act on the step may not upload: the reporting school (a party), an admin, the supervisor of
    # another type; another county's centre does not even see the case.
    for username, status in (
        ("luzhou-school1", 403),
        ("admin", 404),  # an admin reads no case
        ("luzhou-edu-sup", 403),
        ("shangdang-counselling", 404),
    ):
        r = await upload(live, await make_token(live.db, username), case_no, SCAN)
        assert r.status_code == status, (username, r.text)
    assert await rows(live) == 0

    # One byte over the limit: refused by the route reading the file (the body is within the form's room).
    r = await upload(live, centre, case_no, b"%PDF-" + b"0" * (LIMIT - 4))
    assert r.status_code == 413 and r.json()["error"]["message"].startswith("附件不能超过10MB"), r.text
    assert await rows(live) == 0

    # An attachment of another case, or a number that is none, is not this case's consent form.
    theirs = await upload(live, other_centre, other_no, pdf())
    assert theirs.status_code == 201, theirs.text
    for wrong in (theirs.json()["id"], 999_999):
        r = await act(live, centre, case_no, "refer_with_consent", await consent(live, consent_form=wrong))
        assert r.status_code == 422, r.text
        assert r.json()["error"] == {
            "code": "field_invalid",
            "message": "“知情同意书扫描件”不是本案件已上传的附件",
            "field": "consent_form",
        }
    # A written consent (书面签字) without its scan is refused, naming why; an oral one needs none.
    r = await act(live, centre, case_no, "refer_with_consent", await consent(live))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == {
        "code": "field_required",
        "message": "同意方式为“书面签字”时须上传“知情同意书扫描件”",
        "field": "consent_form",
    }
    assert await events(live, case_no) == before
    # Nor is it read through this case's address.
    r = await download(live, "luzhou-counselling", case_no, theirs.json()["id"])
    assert r.status_code == 404


async def _counted(total: int, chunk: int, pulled: list[int]) -> AsyncIterator[bytes]:
    yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n%PDF-'
    for _ in range(total // chunk):
        pulled.append(chunk)
        yield b"0" * chunk


async def test_an_upload_over_the_limit_is_refused_before_it_is_read_to_its_end(live: Live) -> None:
    case_no, centre = await referral_case(live)
    url = f"/api/v1/cases/{case_no}/attachments"
    kind = {**auth(centre), "Content-Type": "multipart/form-data; boundary=x"}
    total, chunk = 3 * LIMIT, 256 * 1024
    # Said up front (Content-Length): refused before a byte of the body is read.
    pulled: list[int] = []
    r = await live.http.post(
        url, content=_counted(total, chunk, pulled), headers={**kind, "Content-Length": str(total)}
    )
    assert r.status_code == 413 and r.json()["error"]["message"] == "附件不能超过10MB"
    assert sum(pulled) == 0
    # Streamed without a length: refused once the attachment limit (and the form's room) is passed.
    pulled = []
    r = await live.http.post(url, content=_counted(total, chunk, pulled), headers=kind)
    assert r.status_code == 413, r.text
    assert LIMIT < sum(pulled) < LIMIT + 2 * 1024 * 1024 < total
    # Another route's multipart body keeps its own, smaller limit.
    pulled = []
    r = await live.http.post("/api/v1/registry/imports", content=_counted(LIMIT, chunk, pulled), headers=kind)
    assert r.status_code == 413 and sum(pulled) < 4 * 1024 * 1024
    assert await rows(live) == 0


async def audited_reads(live: Live) -> int:
    async with live.db.sf() as s:
        found = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "read_clinical")
        return (await s.execute(found)).scalar_one()


async def test_uploads_and_reads_beyond_the_slots_wait_their_turn_then_are_answered_503(live: Live) -> None:
    """The web process holds at most its slots' worth of files in memory: one more waits, and is answered
    503 with a reason (nothing stored, no read audited) if no slot frees in time."""
    case_no, centre = await referral_case(live)
    gate = MemoryGate(1, 0.3)
    live.app.state.attachment_gate = gate  # type: ignore[attr-defined]
    busy = {"code": "unavailable", "message": "同时处理的附件较多，请稍后重试", "field": "file"}
    async with gate.held():  # another upload holds the one slot throughout
        r = await upload(live, centre, case_no, SCAN)
        assert r.status_code == 503 and r.json()["error"] == busy, r.text
    assert await rows(live) == 0

    async def held_for(seconds: float) -> None:
        async with gate.held():
            await asyncio.sleep(seconds)

    # A slot that frees while it waits: the upload goes on.
    holder = asyncio.create_task(held_for(0.1))
    await asyncio.sleep(0.02)
    r = await upload(live, centre, case_no, SCAN)
    await holder
    assert r.status_code == 201 and await rows(live) == 1, r.text
    attachment_id = r.json()["id"]

    before = await audited_reads(live)
    async with gate.held():
        r = await download(live, "luzhou-counselling", case_no, attachment_id)
        assert r.status_code == 503 and r.json()["error"] == busy, r.text
    assert await audited_reads(live) == before
    r = await download(live, "luzhou-counselling", case_no, attachment_id)
    assert r.status_code == 200 and r.content == SCAN
    assert await audited_reads(live) == before + 1
    # Each answer gave its slot back once sent: the one slot serves read after read.
    for _ in range(3):
        r = await download(live, "luzhou-counselling", case_no, attachment_id)
        assert r.status_code == 200 and r.content == SCAN, r.text


async def age(live: Live, attachment_id: int, hours: int) -> None:
    async with live.db.sf() as s:
        await s.execute(
            update(Attachment)
            .where(Attachment.id == attachment_id)
            .values(created_at=func.now() - timedelta(hours=hours))
        )
        await s.commit()


async def test_attachments_no_action_names_are_removed_after_a_day_and_audited(live: Live) -> None:
    case_no, centre = await referral_case(live)
    named = (await upload(live, centre, case_no, SCAN)).json()["id"]
    left = (await upload(live, centre, case_no, pdf())).json()["id"]
    refused = (await upload(live, centre, case_no, png("另一份"))).json()["id"]
    # The consent refused by the workflow (the consenter is no guardian) names `refused`: kept a day more.
    r = await act(
        live,
        centre,
        case_no,
        "refer_with_consent",
        await consent(live, consent_form=refused, consenter_relation="teacher"),
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_guardian", r.text
    r = await act(live, centre, case_no, "refer_with_consent", await consent(live, consent_form=named))
    assert r.status_code == 200, r.text
    for attachment_id in (named, left, refused):
        await age(live, attachment_id, 30)

    # Younger than a day: nothing is taken (a clerk may still name it).
    assert (await remove_unnamed(live.db.sf, older_than=timedelta(hours=31))).removed == 0
    assert (await remove_unnamed(live.db.sf)).removed == 1
    async with live.db.sf() as s:
        kept = {i: r for i, r in await s.execute(select(Attachment.id, Attachment.recorded))}
        entries = list(
            (
                await s.execute(
                    select(AuditEntry.detail, AuditEntry.channel).where(AuditEntry.action == "attach_removed")
                )
            ).all()
        )
    # The one a recorded event names is marked so, never to be read by a sweep again.
    assert kept == {named: True, refused: False}
    assert entries == [(f"attachment {left}: consent_form, {REASON}", "system")]
    # The named one is still served to the centre; a second pass removes nothing more.
    assert (await download(live, "luzhou-counselling", case_no, named)).content == SCAN
    assert (await remove_unnamed(live.db.sf)).removed == 0
    # The one the refused action named goes a day after that action.
    later = datetime.now(UTC) + timedelta(hours=25)
    assert (await remove_unnamed(live.db.sf, now=later)).removed == 1
    async with live.db.sf() as s:
        assert set((await s.execute(select(Attachment.id))).scalars()) == {named}
