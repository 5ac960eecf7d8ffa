"""The authorisation matrix: users of every role and agency type in two counties and the city, against
every route of the app (the API and the pages, enumerated from its router, so a new route is covered),
with the path filled with the ids of a case, its child, an agency and a user of ANOTHER county. 0 leaks:
an outsider gets 404 (or 403 where the design says: administration), never the other case's number or
the child's name; and a party sees its case.

Who may read a case is the design's rule (api/cases/visibility.py): the agencies party to it, and the
supervisors of the types overseeing a party (domain/oversight.py) in their county or, at the city, in all."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
from fastapi.routing import iter_route_contexts
from sqlalchemy import func, select

from api.spreadsheet import is_xlsx, xlsx_rows
from db.models import Agency, Case, CaseParty, Notification, TimelineEvent, User
from domain.enums import AgencyType
from domain.oversight import overseen_types
from domain.regions import CHANGZHI_COUNTIES, CITY_CODE
from tests.api.test_cases_api import auth, start_body
from tests.conftest import Live, make_token
from tests.files import png
from tests.ui.test_pages import csrf_of

COUNTIES = ("140403", "140404")  # 潞州区, 上党区
SKIPPED = {"/login", "/logout", "/healthz", "/docs/oauth2-redirect", "/api/v1/openapi.json", "/api/docs"}
SEE = "see"


@dataclass(frozen=True)
class Person:
    username: str
    role: str
    agency_id: int
    agency_type: str
    region: str
    township: str | None


@dataclass(frozen=True)
class Target:
    """One county's case and the ids an outsider's request is filled with."""

    case_no: str
    child_id: int
    child_name: str
    county: str
    agency_id: int
    user_id: int
    party_ids: frozenset[int]
    party_types: frozenset[tuple[str, str]]  # (agency type, region) of each party
    notification_ids: tuple[int, ...]
    attachment_id: int = 1  # an attachment of the case, where it has one


async def people(live: Live) -> list[Person]:
    """One account per role, agency type, region and level (county or township) in the two counties and
    the city: every agency type the seed has, operators and supervisors."""
    async with live.db.sf() as s:
        rows = (
            await s.execute(
                select(User, Agency)
                .join(Agency, Agency.id == User.agency_id)
                .where(Agency.region_code.in_([*COUNTIES, CITY_CODE]), User.is_active)
                .order_by(User.username)
            )
        ).all()
    seen: dict[tuple[str, str, str, bool], Person] = {}
    for u, a in rows:
        key = (u.role, a.agency_type, a.region_code, a.township is None)
        seen.setdefault(key, Person(u.username, u.role, a.id, a.agency_type, a.region_code, a.township))
    return list(seen.values())


async def target(live: Live, starter: str, child: str, supervisor: str) -> Target:
    """A case started by `starter`, urged by `supervisor` (so that it has notifications)."""
    token = await make_token(live.db, starter)
    r = await live.http.post(
        "/api/v1/cases",
        json=await start_body(live, child),
        headers={**auth(token), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    urged = await live.http.post(
        f"/api/v1/cases/{case_no}/supervision",
        json={"kind": "urge", "step": r.json()["steps"][0]["step"], "reason": "请尽快办理"},
        headers=auth(await make_token(live.db, supervisor)),
    )
    assert urged.status_code == 200, urged.text
    async with live.db.sf() as s:
        case = (await s.execute(select(Case).where(Case.case_no == case_no))).scalar_one()
        parties = (
            await s.execute(
                select(Agency).join(CaseParty, CaseParty.agency_id == Agency.id).where(CaseParty.case_id == case.id)
            )
        ).scalars()
        parties = list(parties)
        other_agency = (
            await s.execute(
                select(Agency.id).where(Agency.region_code == case.county, Agency.agency_type == "hospital")
            )
        ).scalar_one()
        other_user = (
            (
                await s.execute(
                    select(User.id).join(Agency, Agency.id == User.agency_id).where(Agency.region_code == case.county)
                )
            )
            .scalars()
            .first()
        )
        notes = list((await s.execute(select(Notification.id).where(Notification.case_id == case.id))).scalars())
    assert other_user is not None and notes
    return Target(
        case_no=case_no,
        child_id=case.child_id,
        child_name=child,
        county=case.county,
        agency_id=other_agency,
        user_id=other_user,
        party_ids=frozenset(a.id for a in parties),
        party_types=frozenset((a.agency_type, a.region_code) for a in parties),
        notification_ids=tuple(notes),
    )


async def events(live: Live, t: Target) -> int:
    async with live.db.sf() as s:
        return (
            await s.execute(select(func.count()).select_from(TimelineEvent).join(Case).where(Case.case_no == t.case_no))
        ).scalar_one()


def may_read(p: Person, t: Target) -> bool:
    if p.agency_id in t.party_ids:
        return True
    if p.role != "supervisor" or p.township is not None:
        return False
    scope = {CITY_CODE, *CHANGZHI_COUNTIES} if p.region == CITY_CODE else {p.region}
    types = {x.value for x in overseen_types(AgencyType(p.agency_type))}
    return any(kind in types and region in scope for kind, region in t.party_types)


def routes(live: Live) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route of the app."""
    for r in iter_route_contexts(live.app.routes):  # type: ignore[attr-defined]
        path = r.path
        if path in SKIPPED or path.startswith("/static"):
            continue
        for method in sorted(r.methods or ()):
            if method != "HEAD":
                yield method, path


def filled(path: str, t: Target) -> str:
    values = {
        "case_no": t.case_no,
        "child_id": t.child_id,
        "agency_id": t.agency_id,
        "user_id": t.user_id,
        "county": t.county,
        "doc_id": 1,
        "term_id": 1,
        "year": 2030,
        "process": "guardianship",
        "process_name": "guardianship",
        "name": "guardianship",
        "action": "edit",
        "source": "education",
        "import_id": 1,
        "proposal_id": 1,
        "attachment_id": t.attachment_id,
    }

    def one(m: re.Match[str]) -> str:
        name = m.group(1).split(":")[0]
        assert name in values, f"a new path parameter {name} in {path}: say what to fill it with"
        return str(values[name])

    return re.sub(r"\{([^}]+)\}", one, path)


@dataclass
class Caller:
    person: Person
    api: dict[str, str]
    page: httpx.AsyncClient
    csrf: str


async def caller(live: Live, p: Person) -> Caller:
    page = httpx.AsyncClient(transport=httpx.ASGITransport(app=live.app), base_url="http://testserver")
    form = await page.get("/login")
    r = await page.post(
        "/login", data={"csrf": csrf_of(form.text), "username": p.username, "password": "demo1234", "next": "/"}
    )
    assert r.status_code == 303, (p.username, r.status_code)
    csrf = csrf_of((await page.get("/account")).text)
    return Caller(p, auth(await make_token(live.db, p.username)), page, csrf)


# What a write sends: a well-formed request (so that it is the caller, not the body, that is refused).
URGE = {"kind": "urge", "step": "admonition", "reason": "越权督办"}
ACTION = {"action": "record_admonition", "step": "admonition", "payload": {}}
CHANGE = {"school": "越权修改的学校", "address": "越权修改的地址"}
WRITES: dict[str, dict[str, object]] = {
    "/api/v1/cases/{case_no}/actions": ACTION,
    "/api/v1/cases/{case_no}/supervision": URGE,
    "/api/v1/children/{child_id}": CHANGE,
    "/api/v1/children/{child_id}/merge": {"into_child_id": 1},
    "/cases/{case_no}/act": ACTION,
    "/cases/{case_no}/supervise": URGE,
    "/children/{child_id}/edit": CHANGE,
    "/children/{child_id}/merge": {"into_child_id": "1"},
}


# An upload is a well-formed multipart form with a real PNG (the page's carries the action it goes with).
UPLOADS = frozenset({"/api/v1/cases/{case_no}/attachments", "/cases/{case_no}/attachments"})
CONSENT = {"action": "refer_with_consent", "step": "medical_referral", "kind": "consent_form"}


async def ask(c: Caller, method: str, path: str, template: str = "") -> httpx.Response:
    if method == "POST" and template in UPLOADS:
        form = {**CONSENT, "request_id": uuid.uuid4().hex, "csrf": c.csrf}
        files = {"file" if path.startswith("/api/") else "consent_form": ("scan.png", png(), "image/png")}
        return await c.page.post(path, data=form, files=files, headers=c.api if path.startswith("/api/") else None)
    body = {**WRITES.get(template, {}), "request_id": uuid.uuid4().hex} if method != "GET" else None
    if path.startswith("/api/"):
        return await c.page.request(method, path, headers=c.api, json=body)
    form = None if body is None else {"csrf": c.csrf, **{k: str(v) for k, v in body.items() if k != "payload"}}
    return await c.page.request(method, path, data=form)


# The audit log shows admins and the city's supervisors who read or changed every case (issue 14): a case
# number is what an entry there is about, not a leak. Anyone else sees only their own agency's cases there.
AUDIT_ROUTES = frozenset({"/audit", "/audit/export", "/api/v1/audit"})


def reads_every_audit_entry(p: Person) -> bool:
    return p.role == "admin" or (p.role == "supervisor" and p.region == CITY_CODE)


def leak(r: httpx.Response, t: Target, same_county: bool) -> str | None:
    """What of the other case the answer shows: its number; across counties also its child's name. An
    export is read as the sheet it is (an xlsx is a zip: its text is not in the bytes)."""
    text = "\n".join("\t".join(row) for row in xlsx_rows(r.content, max_rows=100_000)) if is_xlsx(r.content) else r.text
    if t.case_no in text:
        return "case number"
    if not same_county and t.child_name in text:
        return "child's name"
    return None


def outsider_status_ok(method: str, path: str, status: int) -> bool:
    """A route about the case or the child answers an outsider 404 (403 for administration); whatever it
    is, it never succeeds."""
    if 200 <= status < 300:
        return False
    if method == "GET" and ("{case_no}" in path or "{child_id}" in path):
        return status == 404
    if "/admin" in path and method == "GET":
        return status in (403, 404)
    return status in (303, 400, 403, 404, 405, 409, 422)


def carries_the_case(template: str) -> bool:
    return bool({"{case_no}", "{child_id}"} & set(re.findall(r"\{[^}]+\}", template)))


@dataclass
class Findings:
    requests: int = 0
    leaks: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    seen_by: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Routes:
    per_case: list[tuple[str, str]]  # every route that names the case or its child, each method
    once: list[tuple[str, str]]  # every other page or list (GET), read once per person for both cases


async def probe(live: Live, p: Person, targets: list[Target], routes: Routes, found: Findings) -> None:
    c = await caller(live, p)
    who = f"{p.username} ({p.agency_type} {p.role} {p.region})"
    try:
        outside = [t for t in targets if not may_read(p, t)]
        for t in targets:
            if t in outside:
                continue
            for path in (f"/api/v1/cases/{t.case_no}", f"/cases/{t.case_no}"):
                r = await ask(c, "GET", path)
                found.requests += 1
                if r.status_code != 200 or t.case_no not in r.text:
                    found.wrong.append(f"{who} may read {t.case_no} but GET {path} → {r.status_code}")
            found.seen_by.append(p.username)
        for method, template in routes.once:
            r = await ask(c, method, filled(template, targets[0]))
            found.requests += 1
            if template in AUDIT_ROUTES and reads_every_audit_entry(p):
                continue
            for t in outside:
                what = leak(r, t, same_county=p.region in (t.county, CITY_CODE))
                if what:
                    found.leaks.append(f"{who} GET {template}: {what}")
        for t in outside:
            same_county = p.region in (t.county, CITY_CODE)
            for method, template in routes.per_case:
                path = filled(template, t)
                r = await ask(c, method, path, template)
                found.requests += 1
                what = leak(r, t, same_county)
                if what:
                    found.leaks.append(f"{who} {method} {path}: {what}")
                # A child's basic record is the county's (domain/record_access.py); a case is its parties'.
                child_only = "{case_no}" not in template
                if not (child_only and same_county) and not outsider_status_ok(method, template, r.status_code):
                    found.wrong.append(f"{who} {method} {path} → {r.status_code}")
            # Another case's notifications: none is marked read by an outsider, by id or by case.
            for body in ({"ids": list(t.notification_ids)}, {"case_no": t.case_no}):
                r = await c.page.post("/api/v1/notifications/read", json=body, headers=c.api)
                found.requests += 1
                if r.status_code != 404 and not (r.status_code == 200 and r.json()["marked"] == 0):
                    found.wrong.append(f"{who} marked {t.case_no}'s notifications read: {r.text}")
    finally:
        await c.page.aclose()


async def test_no_one_outside_a_case_sees_it_and_its_parties_do(live: Live) -> None:
    targets = [
        await target(live, "luzhou-vc1", "王小明", "luzhou-civil-sup"),
        await target(live, "shangdang-vc1", "赵雨涵", "shangdang-civil-sup"),
    ]
    persons = await people(live)
    kinds = {p.agency_type for p in persons}
    assert len(persons) >= 60 and {"police", "court", "procuratorate", "school", "hospital"} <= kinds
    templates = list(routes(live))
    assert any(p.startswith("/api/v1/") for _, p in templates) and any(not p.startswith("/api") for _, p in templates)
    split = Routes(
        per_case=[(m, p) for m, p in templates if carries_the_case(p)],
        once=[(m, p) for m, p in templates if m == "GET" and not carries_the_case(p)],
    )
    began = time.monotonic()
    found = Findings()
    events_before = [await events(live, t) for t in targets]
    for p in persons:
        await probe(live, p, targets, split, found)
    assert [await events(live, t) for t in targets] == events_before  # every write refused changed nothing
    took = time.monotonic() - began
    print(f"\n{len(persons)} users, {len(templates)} routes, 2 cases: {found.requests} requests in {took:.0f} s")
    assert found.leaks == []
    assert found.wrong == []
    # Each case's starter and the supervisors overseeing it see it.
    assert {"luzhou-vc1", "shangdang-vc1", "luzhou-civil-sup", "city-civil-sup"} <= set(found.seen_by)
