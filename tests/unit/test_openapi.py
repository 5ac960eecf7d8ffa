"""What the OpenAPI says of every /api/v1 operation: a typed success answer, and every refusal in the
one error shape the API answers (`{"error": {"code", "message", "field", ...}}`), FastAPI's own 422
shape nowhere. (That the answers match it is tests/api/test_openapi_fuzz.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from config.settings import Settings
from web.app import create_app

REFUSALS = {"400", "401", "403", "404", "409", "413", "422", "503"}
BINARY = {"type": "string", "format": "binary"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    settings = Settings(
        environment="dev",
        database_url="postgresql+psycopg://u@127.0.0.1/none",
        secret_key="s" * 40,
        secure_cookies=False,
    )
    return create_app(settings).openapi()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in spec["paths"].items() for m, op in ops.items()]


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def test_every_success_answer_has_a_declared_shape(spec: dict[str, Any]) -> None:
    ops = operations(spec)
    assert len(ops) >= 30
    untyped = []
    for method, path, op in ops:
        for status, response in op["responses"].items():
            if not status.startswith("2"):
                continue
            content = response["content"]
            if "application/json" not in content:
                # a file (a PDF document, the case file, an attachment of one of a few types): declared as
                # such, and nothing else
                if not content or any(c.get("schema") != BINARY for c in content.values()):
                    untyped.append((method, path, status))
                continue
            schema = resolve(spec, content["application/json"]["schema"])
            # "any object": no properties and no alternatives
            if not (schema.get("properties") or schema.get("anyOf")):
                untyped.append((method, path, status))
    assert untyped == []


def test_every_refusal_is_declared_in_the_error_shape(spec: dict[str, Any]) -> None:
    missing = []
    for method, path, op in operations(spec):
        for status in REFUSALS:
            response = op["responses"].get(status)
            schema = response and response["content"]["application/json"]["schema"]
            if schema != {"$ref": "#/components/schemas/ErrorBody"}:
                missing.append((method, path, status))
    assert missing == []
    error = spec["components"]["schemas"]["ErrorDetail"]
    assert {"code", "message", "field"} <= set(error["required"])
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # FastAPI's 422 shape is not what we answer


def test_answers_refuse_keys_they_do_not_declare(spec: dict[str, Any]) -> None:
    """A success shape is closed: a key added to an answer without its model fails the tests."""
    case = spec["components"]["schemas"]["CaseDetailOut"]
    assert case["additionalProperties"] is False
    assert {"case_no", "timeline", "allowed_actions", "steps"} <= set(case["required"])
