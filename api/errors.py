"""DomainError → HTTP: the status for each refusal, and the JSON body (code, Chinese reason, field)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from domain.errors import DomainError

NOT_FOUND = {"case_not_found", "child_not_found", "agency_not_found", "user_not_found", "not_found"}
FORBIDDEN = {"not_permitted", "not_holder", "csrf", "no_personal_inbox"}
CONFLICT = {
    "stale",
    "step_not_open",
    "busy",
    "case_closed",
    "idempotency_conflict",
    "already_open",
    "case_already_open",
    "child_exists",
    "not_now",
    "username_taken",
    "agency_code_taken",
    "agency_name_taken",
    "township_taken",
    "agency_has_open_steps",
    "agency_in_use",
    "child_merged",
    "id_number_registered",
    "possible_duplicate",
    "already_applied",
    "import_superseded",
    "changed_since_check",
    "attachment_exists",
}
TOO_LARGE = {"attachment_too_large"}
UNSUPPORTED = {"file_type_not_accepted"}
UNAUTHORIZED = {"not_authenticated", "login_failed"}
TOO_MANY = {"locked"}
UNAVAILABLE = {"unavailable", "case_pending"}


def status_for(e: DomainError) -> int:
    if e.code in NOT_FOUND:
        return 404
    if e.code in FORBIDDEN:
        return 403
    if e.code in CONFLICT:
        return 409
    if e.code in UNAUTHORIZED:
        return 401
    if e.code in UNAVAILABLE:
        return 503
    if e.code in TOO_MANY:
        return 429
    if e.code in TOO_LARGE:
        return 413
    if e.code in UNSUPPORTED:
        return 415
    return 422


def error_body(e: DomainError) -> dict:
    """Some refusals offer a way on (the record a merged one went to, a merge): their `extra` comes along."""
    extra = getattr(e, "extra", None) or {}
    return {"error": {"code": e.code, "message": e.message, "field": e.field, **extra}}


async def domain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.code == "not_authenticated" else None
    return JSONResponse(error_body(exc), status_code=status_for(exc), headers=headers)
