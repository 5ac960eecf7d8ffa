"""The inbox of notifications: agency-wide and personal entries, read or unread for each person, over the
API and on the pages. Real PostgreSQL, Temporal dev server and worker (the `live` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, update

from activities.cases import CaseActivities, recipients
from db.models import Case, CaseStep, Notification, NotificationRead, User
from domain.messages import AgencyRef, CaseOpening, EventRecord, NotificationSpec, StepState
from tests import support
from tests.api.test_cases_api import auth, start_body
from tests.conftest import Db, Live, make_token
from tests.ui.test_pages import browser, form, submit


async def notes_of(live: Live, token: str, **params: object) -> dict:
    r = await live.http.get("/api/v1/notifications", headers=auth(token), params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def reads(live: Live) -> int:
    async with live.db.sf() as s:
        return (await s.execute(select(func.count()).select_from(NotificationRead))).scalar_one()


async def report_and_decide(live: Live) -> str:
    """A school's mandatory report; the county police accept it and decide on a reprimand."""
    school = await make_token(live.db, "luzhou-school1")
    body = {**await start_body(live), "start_step": "police_report"}
    body["facts"]["village_committee_id"] = None
    r = await live.http.post("/api/v1/cases", json=body, headers=auth(school))
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    police = await make_token(live.db, "luzhou-police")
    for action in ("accept", "decide_reprimand"):
        case = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(police))).json()
        step = case["steps"][0]
        r = await live.http.post(
            f"/api/v1/cases/{case_no}/actions",
            headers=auth(police),
            json={
                "step": step["step"],
                "step_seq": step["step_seq"],
                "action": action,
                "payload": support.form(action),
            },
        )
        assert r.status_code == 200, r.text
    return case_no


async def test_feedback_reaches_the_reporter_in_person_and_reads_are_per_person(live: Live) -> None:
    case_no = await report_and_decide(live)
    school = await make_token(live.db, "luzhou-school1")
    mine = await notes_of(live, school)
    feedback = [n for n in mine["items"] if n["case_no"] == case_no and n["kind"] == "feedback"]
    assert len(feedback) == 1
    assert feedback[0]["personal"] is True and feedback[0]["read"] is False
    assert "决定训诫" in feedback[0]["title"]
    assert mine["unread"] >= 1
    # Addressed to the clerk who reported, not to everyone of the school.
    colleague = await make_token(live.db, "luzhou-school1-sup")
    assert all(n["kind"] != "feedback" for n in (await notes_of(live, colleague))["items"])

    # The police's "new step" notice is agency-wide: each officer reads it for themself.
    police, police_sup = await make_token(live.db, "luzhou-police"), await make_token(live.db, "luzhou-police-sup")
    new_step = next(n for n in (await notes_of(live, police))["items"] if n["case_no"] == case_no)
    before = (await notes_of(live, police))["unread"]
    r = await live.http.post("/api/v1/notifications/read", headers=auth(police), json={"ids": [new_step["id"]]})
    assert r.status_code == 200, r.text
    assert r.json() == {"marked": 1, "unread": before - 1}
    again = await live.http.post("/api/v1/notifications/read", headers=auth(police), json={"ids": [new_step["id"]]})
    assert again.json()["marked"] == 0  # marking twice changes nothing
    assert next(n for n in (await notes_of(live, police))["items"] if n["id"] == new_step["id"])["read"] is True
    theirs = next(n for n in (await notes_of(live, police_sup))["items"] if n["id"] == new_step["id"])
    assert theirs["read"] is False
    unread_only = (await notes_of(live, police, unread=True))["items"]
    assert new_step["id"] not in [n["id"] for n in unread_only]

    # Opening the case marks its notifications read for the person who opened it.
    r = await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(school))
    assert r.status_code == 200
    after = await notes_of(live, school)
    assert all(n["read"] for n in after["items"] if n["case_no"] == case_no)
    assert after["unread"] == mine["unread"] - len([n for n in mine["items"] if n["case_no"] == case_no])


async def test_marking_read_refuses_what_is_not_yours(live: Live) -> None:
    case_no = await report_and_decide(live)
    school = await make_token(live.db, "luzhou-school1")
    feedback = next(n for n in (await notes_of(live, school))["items"] if n["case_no"] == case_no)
    police = await make_token(live.db, "luzhou-police")
    own = next(n for n in (await notes_of(live, police))["items"] if n["case_no"] == case_no)
    before = await reads(live)

    # Someone else's notification, together with one's own: refused whole, nothing marked.
    r = await live.http.post(
        "/api/v1/notifications/read", headers=auth(police), json={"ids": [own["id"], feedback["id"]]}
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found" and str(feedback["id"]) in r.json()["error"]["message"]
    r = await live.http.post("/api/v1/notifications/read", headers=auth(police), json={})
    assert r.status_code == 422 and r.json()["error"]["message"] == "请指定要标为已读的通知"
    integration = await make_token(live.db, agency_code="luzhou-police")
    r = await live.http.post("/api/v1/notifications/read", headers=auth(integration), json={"all": True})
    assert r.status_code == 403 and "集成令牌" in r.json()["error"]["message"]
    assert (await live.http.post("/api/v1/notifications/read", json={"all": True})).status_code == 401
    assert await reads(live) == before


async def test_a_person_who_left_is_replaced_by_their_agency(db: Db) -> None:
    """What was addressed to a clerk who has since left goes to their former agency as a whole."""
    clerk = await support.who(db, "luzhou-school1")
    spec = NotificationSpec(agency_id=clerk.agency.id, user_id=clerk.user_id, kind="feedback", title="t")
    async with db.sf() as s:
        assert await recipients(s, spec) == [(clerk.agency.id, clerk.user_id)]
        await s.execute(update(User).where(User.id == clerk.user_id).values(is_active=False))
        assert await recipients(s, spec) == [(clerk.agency.id, None)]
        other = await support.agency_id(db, "luzhou-school2")
        moved = spec.model_copy(update={"agency_id": other})  # no longer of that agency either way
        assert await recipients(s, moved) == [(other, None)]
        await s.rollback()


async def test_notifications_page_marks_all_read(live: Live) -> None:
    case_no = await report_and_decide(live)
    async with browser(live, "luzhou-police-sup") as http:
        page = await http.get("/notifications")
        assert page.status_code == 200
        assert "条未读" in page.text and case_no in page.text
        assert 'class="badge badge-unread" title="未读通知"' in page.text  # the count in the top bar
        no_csrf = await http.post("/notifications/read", data={})
        assert no_csrf.status_code == 403 and "页面已过期" in no_csrf.text
        r = await submit(http, form(page.text, action="/notifications/read"))
        assert r.status_code == 303
        page = await http.get(r.headers["location"])
        assert "条通知标为已读" in page.text
        assert "条未读" not in page.text and "全部标为已读" not in page.text
        assert "note-unread" not in page.text
        inbox = await http.get("/inbox")
        assert "全部通知" in inbox.text and case_no in inbox.text
    # Another officer of the same station still has them unread.
    async with browser(live, "luzhou-police") as http:
        assert "note-unread" in (await http.get("/notifications?unread=1")).text
        # Opening the case reads its notifications (the only ones here): the top bar says so at once.
        case_page = await http.get(f"/cases/{case_no}")
        assert case_page.status_code == 200
        assert 'title="未读通知"' not in case_page.text
        assert "note-unread" not in (await http.get("/notifications")).text


async def test_an_urge_reaches_the_officer_on_the_step_in_person_once(live: Live) -> None:
    """The officer who accepted the report is working on the decision: the supervisor's urge reaches
    them in person (once, not also as one of the station) and the rest of the station as before."""
    school = await make_token(live.db, "luzhou-school1")
    body = {**await start_body(live), "start_step": "police_report"}
    body["facts"]["village_committee_id"] = None
    case_no = (await live.http.post("/api/v1/cases", json=body, headers=auth(school))).json()["case_no"]
    police, sup = await make_token(live.db, "luzhou-police"), await make_token(live.db, "luzhou-police-sup")
    case = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(police))).json()
    step = case["steps"][0]
    r = await live.http.post(
        f"/api/v1/cases/{case_no}/actions",
        headers=auth(police),
        json={
            "step": "police_report",
            "step_seq": step["step_seq"],
            "action": "accept",
            "payload": support.form("accept"),
        },
    )
    assert r.status_code == 200, r.text
    r = await live.http.post(
        f"/api/v1/cases/{case_no}/supervision",
        headers=auth(sup),
        json={"kind": "urge", "step": "police_decision", "reason": "请尽快作出决定"},
    )
    assert r.status_code == 200, r.text
    urged = [n for n in (await notes_of(live, police))["items"] if n["kind"] == "urged"]
    assert [(n["case_no"], n["personal"]) for n in urged] == [(case_no, True)]
    theirs = [n for n in (await notes_of(live, sup))["items"] if n["kind"] == "urged"]
    assert [(n["case_no"], n["personal"]) for n in theirs] == [(case_no, False)]
    # Reading the personal one leaves nothing unread about it: the agency-wide copy is not shown to them.
    await live.http.post("/api/v1/notifications/read", headers=auth(police), json={"ids": [urged[0]["id"]]})
    unread = (await notes_of(live, police, unread=True))["items"]
    assert all(n["kind"] != "urged" for n in unread)


async def test_a_notice_about_a_step_is_settled_when_the_step_is(live: Live) -> None:
    """The police were told of the new report; once they have accepted it and decided, that notice no
    longer counts as unread and shows as 已办结, for every officer (read or not)."""
    case_no = await report_and_decide(live)
    police_sup = await make_token(live.db, "luzhou-police-sup")
    mine = await notes_of(live, police_sup)
    of_case = [n for n in mine["items"] if n["case_no"] == case_no]
    first = min((n for n in of_case if n["kind"] == "new_step"), key=lambda n: n["id"])
    assert first["settled"] is True and first["read"] is True
    unread_ids = [n["id"] for n in (await notes_of(live, police_sup, unread=True))["items"]]
    assert first["id"] not in unread_ids
    assert mine["unread"] == len([n for n in mine["items"] if not n["read"]])
    async with live.db.sf() as s:
        open_seq = (
            (
                await s.execute(
                    select(CaseStep.step_seq).join(Case, Case.id == CaseStep.case_id).where(Case.case_no == case_no)
                )
            )
            .scalars()
            .all()
        )
        rows = (
            await s.execute(
                select(Notification.step_seq, Notification.settled_at)
                .join(Case, Case.id == Notification.case_id)
                .where(Case.case_no == case_no, Notification.kind == "new_step")
            )
        ).all()
    # Each step notice is settled exactly when its step is no longer open.
    assert rows and all((seq in open_seq) == (settled is None) for seq, settled in rows)
    async with browser(live, "luzhou-police-sup") as http:
        page = await http.get("/notifications")
        assert "已办结" in page.text


def _step(track: str, seq: int, holder: AgencyRef, at: datetime) -> StepState:
    return StepState(track=track, step="school_contact", seq=seq, opened_at=at, base=at, holder=holder)


async def test_a_step_notice_is_settled_when_the_case_closes_or_the_step_moves_away(db: Db) -> None:
    """The projection path on its own (activities/cases.py record_event): the holder's notice is settled
    when a supervisor moves the step to another agency, the new holder's when the case closes; a notice
    that is not about a step (feedback) stays unread."""
    acts = CaseActivities(db.sf)
    school, other = await support.agency_ref_of(db, "luzhou-school1"), await support.agency_ref_of(db, "luzhou-school2")
    at = datetime.now(UTC)
    case_no = "KC-TEST-0001"

    def tell(a: AgencyRef, kind: str) -> NotificationSpec:
        return NotificationSpec(agency_id=a.id, kind=kind, title=f"{kind} {a.name}")

    first = _step("main", 1, school, at)
    opening = CaseOpening(
        process="dropout_return",
        child_id=await support.child_id(db, "王小明"),
        county="140403",
        starter=school,
        facts={},
    )
    await acts.record_event(
        EventRecord(
            case_no=case_no,
            seq=1,
            at=at,
            kind="opened",
            track="main",
            opening=opening,
            set_steps=[first],
            notifications=[tell(school, "new_step"), tell(school, "feedback")],
        )
    )
    await acts.record_event(
        EventRecord(case_no=case_no, seq=2, at=at, kind="urged", track="main", notifications=[tell(school, "urged")])
    )

    async def unsettled() -> set[tuple[str, int]]:
        async with db.sf() as s:
            rows = await s.execute(
                select(Notification.kind, Notification.agency_id)
                .join(Case, Case.id == Notification.case_id)
                .where(Case.case_no == case_no, Notification.settled_at.is_(None))
            )
            return {(k, a) for k, a in rows}

    assert await unsettled() == {("new_step", school.id), ("urged", school.id), ("feedback", school.id)}
    moved = first.model_copy(update={"holder": other})
    await acts.record_event(
        EventRecord(
            case_no=case_no,
            seq=3,
            at=at,
            kind="reassigned",
            track="main",
            set_steps=[moved],
            notifications=[tell(other, "reassigned"), tell(other, "urged")],
        )
    )
    assert await unsettled() == {("feedback", school.id), ("reassigned", other.id), ("urged", other.id)}
    await acts.record_event(
        EventRecord(case_no=case_no, seq=4, at=at, kind="closed", end_tracks=["*"], closed_outcome="returned")
    )
    assert await unsettled() == {("feedback", school.id), ("reassigned", other.id)}
