"""What /api/v1/registry answers, as the OpenAPI declares it."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.answer import Answer, Day, Timestamp


class TemplateColumnOut(Answer):
    header: str
    required: bool
    hint: str


class SourceOut(Answer):
    source: str
    label: str
    columns: list[TemplateColumnOut]


class Sources(Answer):
    items: list[SourceOut]


class ProblemOut(Answer):
    row: int = Field(description="the spreadsheet's row number (the header is row 1; 0: a note on the list)")
    column: str = Field(description="the Chinese header, empty for the row or file as a whole")
    reason: str


class ImportOut(Answer):
    id: int
    source: str
    source_label: str
    county: str
    county_name: str
    filename: str
    status: str = Field(description="checking | invalid | ready | partial | applied")
    rows_total: int
    rows_checked: int
    problems: list[ProblemOut]
    counts: dict[str, dict[str, int]] = Field(description="{kind: {status: n}} of the change set")
    created_at: Timestamp
    checked_at: Timestamp | None
    applied_at: Timestamp | None
    check_ms: int | None
    same_file: bool = Field(default=False, description="the very same file was imported before: that import")
    progress_url: str = Field(description="GET it for the check's progress (status checking), then its result")


class Imports(Answer):
    items: list[ImportOut]


class ChangeOut(Answer):
    id: int
    kind: str = Field(description="new | left | moved | changed | flagged | candidate")
    row_no: int | None
    child_id: int | None
    child_name: str | None
    status: str = Field(description="pending | applied | rejected")
    facts: dict[str, Any] = Field(
        description="the row (name, birth date, ID number masked, …) while the item still has to be applied and "
        "needs more than its diff; empty once decided: the child's record holds the values, with their provenance"
    )
    diff: dict[str, Any]
    decided_at: Timestamp | None


class ImportDetail(Answer):
    summary: ImportOut
    changes: list[ChangeOut]
    changes_total: int
    limit: int
    offset: int


class ApplyOut(Answer):
    import_id: int
    status: str
    applied: dict[str, int]
    rejected: int
    children_created: int
    proposals: int
    key_child_cases: int  # follow-up cases started for the children it flagged


class RegistryChildOut(Answer):
    id: int
    name: str
    sex: str
    birth_date: Day
    id_number: str | None = Field(description="whole only where the caller's agency registered the child")
    id_number_full: bool
    residence_region: str
    residence_region_name: str
    township: str | None
    school: str | None
    key_flags: list[str]
    migrant_since: Day | None
    last_refreshed_at: Timestamp | None
    sources: list[str]


class RegistryPage(Answer):
    items: list[RegistryChildOut]
    total: int
    limit: int
    offset: int


class KeyFlagOut(Answer):
    category: str
    label: str
    source: str
    import_id: int | None
    on: str


class KeyFlags(Answer):
    child_id: int
    items: list[KeyFlagOut]


class ProposalOut(Answer):
    id: int
    kind: str
    kind_label: str
    process: str
    process_label: str
    child_id: int
    child_name: str
    county: str
    status: str
    facts: dict[str, Any]
    case_no: str | None
    created_at: Timestamp


class Proposals(Answer):
    items: list[ProposalOut]
