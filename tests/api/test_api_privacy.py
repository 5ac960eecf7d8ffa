"""What the API gives away before it knows who asks: nothing. Real PostgreSQL, Temporal and the app."""

from __future__ import annotations

import re

from tests.api.test_cases_api import auth
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
