"""The error body every /api/v1 refusal answers (api/errors.py, web/errors.py), as the OpenAPI declares
it: one set of responses shared by every operation, in place of FastAPI's own 422 shape."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ValidationDetail(BaseModel):
    loc: list[str] = Field(description="where in the request: body, query, path, header, then the field")
    msg: str = Field(description="why, in Chinese")


class ErrorDetail(BaseModel):
    # Some refusals offer a way on (the record a merged one went to, a merge): their extra keys come along.
    model_config = ConfigDict(extra="allow")

    code: str = Field(description="a stable machine-readable reason, e.g. case_not_found, invalid_request")
    message: str = Field(description="the reason in Chinese, to show to a person")
    field: str | None = Field(description="the field the refusal is about (null: none)")
    details: list[ValidationDetail] | None = Field(default=None, description="every invalid field (422 only)")
    rows: list[str] | None = Field(default=None, description="every wrong CSV row, one reason each (an import's 422)")
    merge_into_child_id: int | None = Field(default=None, description="the child who has this ID number (409)")
    merge: str | None = Field(default=None, description="where to merge this record into that child (409)")
    merged_into_id: int | None = Field(default=None, description="the record a merged one went to (409)")


class ErrorBody(BaseModel):
    error: ErrorDetail


_MEANINGS = {
    400: "The request cannot be understood (e.g. a CSV that is not UTF-8)",
    401: "No valid bearer token (`Authorization: Bearer rf_…`)",
    403: "The caller may not do this",
    404: "Not found, or outside the caller's agency and scope",
    409: "In conflict with the current state (a step moved on, a reused Idempotency-Key or request_id, …)",
    413: "The body is over the size limit",
    422: "The request is invalid: every reason in Chinese, naming the field",
    503: "PostgreSQL or Temporal cannot be reached, or the case is being created; retry after `Retry-After`",
}


def error_responses() -> dict[int | str, dict[str, Any]]:
    """The refusals of every operation, all in the one error shape."""
    return {
        status: {
            "model": ErrorBody,
            "description": meaning,
            **(
                {"headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}}
                if status == 503
                else {}
            ),
        }
        for status, meaning in _MEANINGS.items()
    }
