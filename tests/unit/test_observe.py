"""The request log and the latency metric name a route by its template, never by the path that carries a
case number, and the JSON log line keeps only the fields it knows."""

from __future__ import annotations

import json
import logging

from starlette.routing import Mount, Route

from config.logs import JsonFormatter
from web.observe import UNMATCHED, route_of


def test_routes_are_named_by_their_templates() -> None:
    route = Route("/cases/{case_no}", lambda r: None)
    scope = {"route": route, "path": "/cases/JH-2026-140403-00001", "path_params": {"case_no": "JH-2026-140403-00001"}}
    assert route_of(scope) == "/cases/{case_no}"
    assert route_of({"path": "/wp-login.php"}) == UNMATCHED
    assert route_of({"route": Mount("/static", routes=[]), "path": "/static/style.css"}) == "/static/{path}"


def test_json_lines_keep_only_known_fields() -> None:
    record = logging.LogRecord("referrals.access", logging.INFO, __file__, 1, "GET %s %d", ("/cases", 200), None)
    record.request_id, record.status, record.child_name = "abc", 200, "王小明"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "GET /cases 200" and line["request_id"] == "abc" and line["status"] == 200
    assert "child_name" not in line and "王小明" not in json.dumps(line, ensure_ascii=False)
