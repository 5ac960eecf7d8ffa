"""What the API gives away before it knows who asks: nothing. Real PostgreSQL, Temporal and the app."""

from __future__ import annotations

import re

from tests.api.test_cases_api import auth, start_body
from tests.conftest import Live, make_token


def api_operations(live: Live) -> list[tuple[str, str]]:
    """(method, path with every parameter filled with a wrong value) of every /api/v1 operation."""
    paths = live.app.openapi()["paths"]  # type: ignore[attr-defined]
    return [(m.upper(), re.sub(r"\{[^}]+\}", "x", p)) for p, ops in paths.items() for m in ops]


async def test_an_anonymous_caller_gets_401_before_any_check_of_what_it_sent(live: Live) -> None:
    """A body, a query or a path that is wrong in every way still answers 401 to a caller without a token."""
    ops = api_operations(live)
    assert len(ops) > 20
    wrong = []
    for method, path in ops:
        r = await live.http.request(
            method,
            path,
            params={"page": "-x", "month": "x", "limit": "x"},
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        if r.status_code != 401 or r.json()["error"]["code"] != "not_authenticated":
            wrong.append((method, path, r.status_code))
    assert wrong == []
    # With a token the same request is checked and refused for what it sent.
    token = await make_token(live.db, "luzhou-vc1")
    r = await live.http.post(
        "/api/v1/cases", content=b"{not json", headers={"content-type": "application/json", **auth(token)}
    )
    assert r.status_code == 422
    assert (await live.http.get("/api/v1/openapi.json")).status_code == 200  # the description stays public


NO_SUCH = "JH-2026-140403-99999"


async def test_a_non_party_learns_nothing_of_a_case_it_is_not_in(live: Live) -> None:
    """Case numbers are sequential: whoever is not a party gets for an existing case exactly what they get
    for one that does not exist (404), whatever they send; the agencies a case action is open to in the
    county can still act on it."""
    vc = await make_token(live.db, "luzhou-vc1")
    r = await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(vc))
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    step_seq = r.json()["steps"][0]["step_seq"]
    bodies = [
        {"action": "place_temporary_guardianship", "payload": {}},
        {"action": "place_temporary_guardianship", "payload": {"note": "x" * 10}},
        {"action": "child_moved", "payload": {"destination_region": "nowhere"}},
        {"action": "child_moved", "payload": {}},
        {"action": "no_such_action"},
        {"action": "record_admonition", "step": "admonition", "step_seq": step_seq, "payload": {}},
        {"action": "record_admonition", "step": "admonition", "step_seq": 999, "payload": {}},
        {"action": "x", "step": "no_such_step"},
    ]
    supervision = [
        {"kind": "urge", "step": "admonition", "reason": "请尽快"},
        {"kind": "extend", "step": "admonition", "extend_by": "99999WD"},
        {"kind": "reassign", "step": "admonition", "new_agency_id": 1},
        {"kind": "nonsense", "step": "admonition"},
    ]
    outsiders = ["luzhou-court", "luzhou-school1", "shangdang-police", "shangdang-vc1", "luzhou-vc2", "luzhou-wf"]
    outsiders += ["shangdang-police-sup", "luzhou-edu-sup", "admin"]
    for username in outsiders:
        token = await make_token(live.db, username)
        for path, sent in [("actions", b) for b in bodies] + [("supervision", b) for b in supervision]:
            answers = []
            for no in (case_no, NO_SUCH):
                r = await live.http.post(f"/api/v1/cases/{no}/{path}", json=sent, headers=auth(token))
                answers.append((r.status_code, r.json()))
            if username == "luzhou-vc2" and sent["action" if path == "actions" else "kind"] == "child_moved":
                continue  # open to the county's committees (below)
            assert answers[0] == answers[1], (username, path, sent, answers[0])
            assert answers[0][0] == 404
        assert (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(token))).status_code == 404

    # A case action open to the county's committees is still theirs to take, party or not.
    other = await make_token(live.db, "luzhou-vc2")
    r = await live.http.post(f"/api/v1/cases/{case_no}/actions", json={"action": "child_moved"}, headers=auth(other))
    assert r.status_code != 404, r.text
