"""An API answer that drifts from its declared model is a JSON 500 in Chinese, and the log says where it
drifted, never what the answer held (it may be a child's record)."""

from __future__ import annotations

import logging

import httpx
import pytest

from api.answer import Answer
from config.settings import Settings
from web.app import create_app


class Guardian(Answer):
    name: str


async def test_a_drifted_answer_is_a_500_that_logs_no_personal_data(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(
        environment="dev",
        database_url="postgresql+psycopg://u@127.0.0.1/none",
        secret_key="s" * 40,
        secure_cookies=False,
    )
    app = create_app(settings)

    # Outside /api/v1, so that no token (and no database) is needed to reach it.
    @app.get("/api/drift", response_model=Guardian)
    async def drift() -> dict[str, str]:
        return {"name": "王建国", "phone": "13900000001"}  # a key the model does not declare

    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        r = await http.get("/api/drift")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error" and "系统内部错误" in r.json()["error"]["message"]
    assert "13900000001" not in r.text and "王建国" not in r.text
    assert "does not match its model" in caplog.text and "phone: extra_forbidden" in caplog.text
    assert "13900000001" not in caplog.text and "王建国" not in caplog.text
