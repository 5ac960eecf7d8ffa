"""What /api/v1/admin answers, as the OpenAPI declares it: the shapes api/admin/router.py builds."""

from __future__ import annotations

from pydantic import Field

from api.answer import Answer, Timestamp


class ScheduleLoadedOut(Answer):
    year: int
    holidays: int
    workdays: int
    provisional_cases: int = Field(description="open cases whose provisional deadlines were recomputed")


class YearStatusOut(Answer):
    year: int
    exact: bool
    loaded: bool
    source: str


class CalendarYears(Answer):
    years: list[YearStatusOut]


class PolicyDefault(Answer):
    key: str
    value: str
    basis: str
    description: str


class PolicyOverride(Answer):
    key: str
    region_code: str
    value: str
    effective_from: Timestamp


class PolicyOut(Answer):
    defaults: list[PolicyDefault]
    overrides: list[PolicyOverride]


class AgencyOut(Answer):
    id: int
    code: str
    name: str
    agency_type: str
    agency_type_label: str
    region_code: str
    region_name: str
    township: str | None
    is_default: bool
    is_active: bool
    short_name: str  # what its document numbers start with (文号), set or derived


class UserAgency(Answer):
    id: int
    code: str
    name: str
    agency_type: str
    region_code: str


class UserOut(Answer):
    id: int
    username: str
    display_name: str
    title: str | None
    role: str
    role_label: str
    is_active: bool
    agency: UserAgency


class UserPage(Answer):
    items: list[UserOut]
    total: int
    page: int
    per_page: int


class PasswordReset(Answer):
    id: int
    username: str
    password_reset: bool


class AgencyPage(Answer):
    items: list[AgencyOut]
    total: int
    page: int
    per_page: int


class AgencyUser(Answer):
    id: int
    username: str
    display_name: str
    role: str
    role_label: str
    is_active: bool


class AgencyDetail(AgencyOut):
    open_steps: int
    open_cases: int
    users: list[AgencyUser]


class AgencyChangedOut(AgencyOut):
    moved: int = Field(description="agencies carried along to the township's new name")


class ImportedRowOut(Answer):
    row: int
    code: str
    result: str = Field(description="created, updated or unchanged")


class ImportOut(Answer):
    created: int
    updated: int
    unchanged: int
    moved: int
    dry_run: bool
    rows: list[ImportedRowOut]
