"""使用说明: one help page per role (a clerk, a county supervisor, a city supervisor, the administrator),
each saying what appears in 我的待办, what each escalation level means and how to extend or reassign. The
figures it quotes (the extension maxima, when a case counts as stalled) are read from the policy defaults,
so that the page says what the system does."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import PageUser
from api.principal import Principal
from domain.oversight import DEFAULT_AUDIENCE
from domain.policy import Unit, extension_max_key
from domain.processes import POLICY_DEFAULTS, PROCESSES
from ui.filters import LEVEL_LABELS
from ui.render import render

router = APIRouter(include_in_schema=False)


class HelpRole(StrEnum):
    operator = "operator"
    county = "county"
    city = "city"
    admin = "admin"


HELP_ROLE_LABELS: dict[HelpRole, str] = {
    HelpRole.operator: "经办人（含儿童主任）",
    HelpRole.county: "县级督导",
    HelpRole.city: "市级督导",
    HelpRole.admin: "系统管理员",
}


@dataclass(frozen=True)
class Level:
    level: int
    when: str
    told: str
    shown: str


LEVEL_WHEN = {
    1: "办理期限届满",
    2: "期限届满后，再过该环节办理时限的一半（至少1个工作日，按小时计的至少1小时）",
    3: "期限届满后，再过该环节的全部办理时限",
}
LEVEL_TOLD = {1: "承办单位", 2: "县级同类单位的督导（进入其“逾期与停滞”列表）", 3: "市级同类单位的督导"}


def levels() -> list[Level]:
    assert len(DEFAULT_AUDIENCE) == len(LEVEL_WHEN)  # the page explains every rung of the default ladder
    return [Level(n, LEVEL_WHEN[n], LEVEL_TOLD[n], LEVEL_LABELS[n]) for n in sorted(LEVEL_WHEN)]


def own_role(user: Principal) -> HelpRole:
    if user.is_admin:
        return HelpRole.admin
    if user.is_supervisor:
        return HelpRole.city if user.is_city else HelpRole.county
    return HelpRole.operator


def extension_limits() -> list[str]:
    return [
        POLICY_DEFAULTS[extension_max_key(u)].value.label() for u in Unit if extension_max_key(u) in POLICY_DEFAULTS
    ]


@router.get("/help", response_class=HTMLResponse)
async def help_page(request: Request, user: PageUser, role: str | None = None) -> HTMLResponse:
    shown = HelpRole(role) if role in HelpRole.__members__ else own_role(user)
    return render(
        request,
        "help.html",
        user,
        role=shown,
        own=own_role(user),
        roles=HELP_ROLE_LABELS,
        levels=levels(),
        extension_limits=extension_limits(),
        stalled_after=POLICY_DEFAULTS["stalled_after"].value.label(),
        processes=list(PROCESSES.values()),
    )
