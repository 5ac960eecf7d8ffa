"""Rendering pages: the Jinja2 environment (autoescaped), the context every page gets, flash messages."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.cases.tallies import may_read
from api.cases.visibility import overseen_type_values
from api.deps import csrf_token
from api.principal import Principal
from api.served import served_regions
from domain.attachments import ACCEPT
from domain.deadlines import local_date
from domain.field_kinds import REGION_OUTSIDE, REGION_OUTSIDE_SUFFIX, FieldKind, rules
from domain.process import Field, FieldRole
from domain.processes import PROCESSES
from domain.regions import ServedRegions
from ui.filters import FILTERS

APP_NAME = "长治市流动儿童关爱保护转介系统"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True, default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(FILTERS)
_env.globals["APP_NAME"] = APP_NAME
_env.globals["kind_rules"] = rules  # a form field's widget reads its kind's rules (domain/field_kinds.py)
_env.globals["attachment_accept"] = ACCEPT  # the file types an attachment may be (domain/attachments.py)


@dataclass(frozen=True)
class RegionPlaces:
    """What a region field offers: the city's counties by name, and every place outside the city."""

    changzhi: list[tuple[str, str]]  # the served city's counties (the name is older than other cities)
    outside: list[tuple[str, str]]
    city_name: str = "长治市"
    outside_value: str = REGION_OUTSIDE
    outside_suffix: str = REGION_OUTSIDE_SUFFIX


@functools.cache
def _region_places(served: ServedRegions) -> RegionPlaces:
    return RegionPlaces(list(served.counties), served.places_outside(), city_name=served.name)


# The deployment's own counties and everything outside them (api/served.py: the request's deployment).
_env.globals["region_places"] = lambda: _region_places(served_regions())


def start_forms(f: Field) -> list[tuple[str, str, list[Field]]]:
    """What a facts field (FieldKind.facts) asks of each process it offers: that process's start fields,
    each optional on the page and named `<field>.<process>.<name>`, less those the action's own form
    fills (the date of what happened, the committee, the first required text: the visit's findings) and
    the agency choices (which need lists the page does not load here)."""
    out = []
    for name, _ in f.choices:
        process = PROCESSES.get(name)
        if process is None:
            continue
        texts = [x for x in process.start_fields if x.kind == FieldKind.textarea and x.required][:1]
        asked = [
            replace(x, name=f"{f.name}.{name}.{x.name}", required=False)
            for x in process.start_fields
            if x.role not in (FieldRole.occurred_on, FieldRole.residence_committee)
            and x.kind not in (FieldKind.agency, FieldKind.facts)
            and x not in texts
        ]
        if asked:
            out.append((name, process.label, asked))
    return out


_env.globals["start_forms"] = start_forms


class Once:
    """True the first time a key is asked on one page: a list several fields share is written once."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def __call__(self, key: str) -> bool:
        first = key not in self._seen
        self._seen.add(key)
        return first


templates = Jinja2Templates(env=_env)


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A message shown once, on the next page (after a redirect)."""
    messages = list(request.session.get("flash", []))
    messages.append({"kind": kind, "text": message})
    request.session["flash"] = messages[-5:]


def _pop_flashes(request: Request) -> list[dict[str, str]]:
    return list(request.session.pop("flash", []) or [])


def report_links(user: Principal | None) -> list[tuple[str, str]]:
    """(path, label) of the reports (by month or term), for supervisors of an agency type that oversees others'
    steps (a county or city bureau), and of the statistics (by month, quarter or year) for the supervisors of
    the agency types each names; none for operators and local agencies."""
    if user is None:
        return []
    links = [(f"/reports/{p.name}", f"{p.label}统计") for p in PROCESSES.values() if p.report_by]
    out = links if overseen_type_values(user) else []
    if user.agency.township is None and any(
        p.cross_region and user.agency.agency_type in p.cross_region.viewers for p in PROCESSES.values()
    ):
        out = [*out, ("/cross-region", "跨地区审批")]
    return out + [
        (f"/statistics/{p.name}", p.periodic_report.title)
        for p in PROCESSES.values()
        if p.periodic_report and may_read(user, p.periodic_report)
    ]


def registry_links(user: Principal | None) -> list[tuple[str, str]]:
    """(path, label): the registry for civil affairs; the registry's proposals for the agencies that may
    start a process whose definition accepts them."""
    if user is None or user.is_admin:
        return []
    kind = user.agency.agency_type
    out = [("/registry", "儿童台账")] if kind.value == "civil_affairs" else []
    if any(p.registry_proposals and any(kind in o.agency_types for o in p.starts) for p in PROCESSES.values()):
        out.append(("/registry/proposals", "台账提示"))
    return out


def render(
    request: Request,
    name: str,
    user: Principal | None,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    ctx = {
        "today": local_date(datetime.now(UTC)).isoformat(),
        "user": user,
        "csrf": csrf_token(request),
        "flashes": _pop_flashes(request),
        "path": request.url.path,
        "report_links": report_links(user),
        "registry_links": registry_links(user),
        "unread_notifications": getattr(request.state, "unread_notifications", 0),
        "page_once": Once(),
        **context,
    }
    return templates.TemplateResponse(request, name, ctx, status_code=status)
