"""The clinical-privacy matrix: every role and agency type of the county and the city, against every GET
route of the app (the API and the pages, enumerated from its router), filled with two mental-health cases
that hold clinical content in every clinical field. 0 leaks: the content appears only to the counselling
centre and the hospital party to the case (each such read audited with its reason); the reporting school,
the supervisors of the same county and the city, the police called in a crisis, read step, deadline,
holder and risk level only (the scanned consent form, an attachment, included: its bytes reach the readers
only). Nor does the content reach the logs or, in clear, the workflow history.
Real PostgreSQL, Temporal dev server and worker."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from api.spreadsheet import is_xlsx, xlsx_rows
from db.models import Attachment, AuditEntry, Case, CaseParty
from domain.clinical import WITHHELD
from domain.ids import workflow_id
from tests.api.test_authorisation_matrix import COUNTIES, Person, Target, ask, caller, filled, people, routes
from tests.api.test_cases_api import auth
from tests.conftest import Live, make_token
from tests.files import png
from tests.support import agency_id, child_id, today_iso

SECRETS = {
    "signs": "机密表现甲",
    "risk_notes": "机密评估乙",
    "session_notes": "机密辅导丙",
    "assessment_notes": "机密复评丁",
    "consenter_name": "机密同意人戊",
    "consent_form_ref": "机密同意书己",
    "diagnosis": "机密诊断庚",
    "plan": "机密方案辛",
    "safety_measures": "机密安全措施壬",
    "consent_form": "机密扫描件癸",  # inside the scanned form's bytes (a PNG's text)
}
READERS = ("counselling_center", "hospital")


async def act(live: Live, username: str, case_no: str, action: str, payload: dict[str, Any]) -> None:
    token = await make_token(live.db, username)
    case = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(token))).json()
    offer = next(a for a in case["allowed_actions"] if a["action"] == action)
    r = await live.http.post(
        f"/api/v1/cases/{case_no}/actions",
        json={"action": action, "step": offer["step"], "step_seq": offer["step_seq"], "payload": payload},
        headers=auth(token),
    )
    assert r.status_code == 200, r.text


async def start(live: Live, starter: str, risk: str, child: str) -> str:
    body = {
        "process": "mental_health",
        "start_step": "triage",
        "child_id": await child_id(live.db, child),
        "facts": {
            "channel": "school",
            "signs": SECRETS["signs"],
            "risk_level": risk,
            "guardian_aware": True,
            "contact": "班主任",
        },
    }
    token = await make_token(live.db, starter)
    r = await live.http.post("/api/v1/cases", json=body, headers={**auth(token), "Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    return r.json()["case_no"]


async def referred_case(live: Live) -> str:
    """Reported by a school; triaged, counselled, reassessed, referred with consent, accepted, a plan."""
    no = await start(live, "luzhou-school1", "medium", "王小明")
    today = today_iso()
    await act(live, "luzhou-counselling", no, "assess", {"risk_level": "medium", "risk_notes": SECRETS["risk_notes"]})
    await act(
        live,
        "luzhou-counselling",
        no,
        "record_session",
        {"session_on": today, "session_notes": SECRETS["session_notes"]},
    )
    await act(
        live,
        "luzhou-counselling",
        no,
        "reassess",
        {"assessed_on": today, "result": "needs_diagnosis", "assessment_notes": SECRETS["assessment_notes"]},
    )
    token = await make_token(live.db, "luzhou-counselling")
    scan = await live.http.post(
        f"/api/v1/cases/{no}/attachments",
        files={"file": ("同意书.png", png(SECRETS["consent_form"]), "image/png")},
        data={"kind": "consent_form"},
        headers=auth(token),
    )
    assert scan.status_code == 201, scan.text
    await act(
        live,
        "luzhou-counselling",
        no,
        "refer_with_consent",
        {
            "consent_form": scan.json()["id"],
            "hospital_id": await agency_id(live.db, "luzhou-hospital"),
            "consenter_name": SECRETS["consenter_name"],
            "consenter_relation": "mother",
            "consented_on": today,
            "consent_method": "written",
            "consent_form_ref": SECRETS["consent_form_ref"],
        },
    )
    await act(live, "luzhou-hospital", no, "accept_referral", {})
    await act(live, "luzhou-hospital", no, "record_plan", {"diagnosis": SECRETS["diagnosis"], "plan": SECRETS["plan"]})
    return no


async def crisis_case(live: Live) -> str:
    """A crisis the police are called to."""
    no = await start(live, "luzhou-school1", "crisis", "李娜")
    await act(
        live,
        "luzhou-counselling",
        no,
        "acknowledge",
        {"guardian_notified": True, "police_needed": True, "safety_measures": SECRETS["safety_measures"]},
    )
    return no


def text_of(content: bytes, text: str) -> str:
    return "\n".join("\t".join(row) for row in xlsx_rows(content, max_rows=100_000)) if is_xlsx(content) else text


def may_read_clinical(p: Person, parties: set[int]) -> bool:
    return p.agency_type in READERS and p.agency_id in parties


async def test_clinical_content_reaches_only_the_counselling_centre_and_the_hospital(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cases = [await referred_case(live), await crisis_case(live)]
    parties: dict[str, set[int]] = {}
    children: dict[str, int] = {}
    async with live.db.sf() as s:
        scan = (await s.execute(select(Attachment.id).join(Case).where(Case.case_no == cases[0]))).scalar_one()
        for no in cases:
            rows = await s.execute(select(CaseParty.agency_id).join(Case).where(Case.case_no == no))
            parties[no] = set(rows.scalars())
            children[no] = (await s.execute(select(Case.child_id).where(Case.case_no == no))).scalar_one()
    police = await agency_id(live.db, "luzhou-police")
    assert police in parties[cases[1]]  # the police called in the crisis read that case

    persons = [p for p in await people(live) if p.region in (COUNTIES[0], "140400")]
    kinds = {(p.agency_type, p.role) for p in persons}
    assert {("school", "operator"), ("education_bureau", "supervisor"), ("counselling_center", "supervisor")} <= kinds
    gets = [t for m, t in routes(live) if m == "GET"]
    leaks: list[str] = []
    readers: list[str] = []
    for p in persons:
        c = await caller(live, p)
        try:
            for no in cases:
                allowed = may_read_clinical(p, parties[no])
                for template in gets:
                    path = filled(template, _target(no, children[no], scan)).replace("guardianship", "mental_health")
                    r = await ask(c, "GET", path)
                    text = text_of(r.content, r.text)
                    found = [k for k, v in SECRETS.items() if v in text]
                    if found and not allowed:
                        leaks.append(f"{p.username} GET {path}: {found}")
                # Search finds no case by its clinical content (lists, the API and the page alike).
                for path in ("/api/v1/cases", "/cases", "/cases/export"):
                    r = await c.page.get(path, params={"q": SECRETS["diagnosis"]}, headers=c.api)
                    if no in text_of(r.content, r.text):
                        leaks.append(f"{p.username} found {no} searching its diagnosis at {path}")
                if allowed:
                    r = await ask(c, "GET", f"/api/v1/cases/{no}")
                    shown = {"risk_notes", "session_notes", "diagnosis"} if no == cases[0] else {"safety_measures"}
                    assert r.status_code == 200 and all(SECRETS[k] in r.text for k in shown), (p.username, no)
                    page = await ask(c, "GET", f"/cases/{no}")
                    assert SECRETS["signs"] in page.text, (p.username, no)  # the start form's facts
                    if no == cases[0]:  # the scanned form, through the API and the page's link
                        link = f"/cases/{no}/attachments/{scan}"
                        assert f'href="{link}"' in page.text, p.username
                        for path in (f"/api/v1{link}", link):
                            got = await ask(c, "GET", path)
                            assert got.status_code == 200 and SECRETS["consent_form"].encode() in got.content
                    readers.append(p.username)
                elif p.agency_id in parties[no]:
                    r = await ask(c, "GET", f"/api/v1/cases/{no}")
                    # A party without the right sees the step, holder, deadline and risk level.
                    body = r.json()
                    assert body["steps"] and body["summary"][0]["value"] in ("medium", "crisis"), p.username
                    assert WITHHELD in r.text
        finally:
            await c.page.aclose()
    assert leaks == []
    assert {"luzhou-counselling", "luzhou-hospital"} <= set(readers)
    assert "luzhou-school1" not in readers and "luzhou-edu-sup" not in readers

    # Every read of clinical content is in the audit log with its reason; no entry holds the content.
    async with live.db.sf() as s:
        entries = list((await s.execute(select(AuditEntry).where(AuditEntry.case_no.in_(cases)))).scalars())
    clinical = [e for e in entries if e.action == "read_clinical"]
    assert clinical and all(e.detail.startswith("本单位为案件当事单位") for e in clinical)
    assert not [e for e in entries if any(v in e.detail for v in SECRETS.values())]

    assert not [v for v in SECRETS.values() if v in caplog.text]  # the logs
    for no in cases:  # the workflow history holds it encrypted only
        history = await live.temporal.get_workflow_handle(workflow_id(no)).fetch_history()
        raw = history.to_json()
        assert not [v for v in SECRETS.values() if v in raw or v.encode("utf-8").hex() in raw]


def _target(case_no: str, child: int, attachment: int) -> Target:
    """What the authorisation matrix fills paths with: this case, its child and the referral's scanned
    consent form (other ids: any)."""
    return Target(case_no, child, "", COUNTIES[0], 1, 1, frozenset(), frozenset(), (), attachment)
