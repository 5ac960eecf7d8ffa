"""Who may take which action on a case: one set of rules, read by the workflow's validator (which
refuses) and by the API and pages (which offer only what would be accepted)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.enums import ROLE_LABELS, Role
from domain.errors import DomainError
from domain.messages import Actor, AgencyRef, CaseState, StepState
from domain.oversight import overseen_types
from domain.process import REMOTE_SUMMARY, Action, Process
from domain.regions import covers, is_city_level, scope_of

SUPERVISOR_ACTIONS = ("urge", "extend", "reassign")


def serves_county(agency: AgencyRef, county: str) -> bool:
    """A county agency serves its county; a city-level agency serves every county of the city."""
    return covers(agency.region_code, county)


def check_step_action(process: Process, state: CaseState, step: StepState, action_name: str, actor: Actor) -> Action:
    """The action, if `actor` may take it on `step` now; else DomainError with the reason."""
    if state.closed:
        raise DomainError("case_closed", "案件已结案，不能再办理")
    if actor.role not in (Role.operator, Role.supervisor):
        raise DomainError("not_permitted", "管理员账号不能办理案件")
    definition = process.step(step.step)
    action = definition.action(action_name)
    if action is None:
        raise DomainError("action_not_allowed", f"“{definition.label}”环节不能进行“{action_name}”操作")
    if action.by_system:
        raise DomainError("action_not_allowed", f"“{action.label}”在期限届满时由系统自动办理")
    if action.held_outside is not None and action.held_outside != (step.external is not None):
        if step.external is not None:
            raise DomainError("action_not_allowed", f"本环节等待{step.external.name}办理，请登记其答复")
        raise DomainError("action_not_allowed", f"“{action.label}”仅用于登记系统外单位的答复，本环节由承办单位直接办理")
    if action.other_side_remote and not state.summary.get(REMOTE_SUMMARY):
        raise DomainError("action_not_allowed", f"“{action.label}”仅用于由其他系统移交的案件")
    if action.holder_types and step.holder.agency_type not in action.holder_types:
        raise DomainError("action_not_allowed", f"承办单位类型不能进行“{action.label}”")
    if action.roles and actor.role not in action.roles:
        who = "、".join(ROLE_LABELS[r] for r in action.roles)
        raise DomainError("not_permitted", f"“{action.label}”须由{who}办理")
    if action.actor_types is not None:
        check_actor_type(action, actor, state.county)
    elif actor.agency.id != step.holder.id:
        co_holder = actor.agency.id in {a.id for a in step.co_holders}
        if not co_holder:
            raise DomainError("not_holder", f"本单位不是“{definition.label}”环节的承办单位")
        if not action.by_co_holders:
            raise DomainError("not_holder", f"“{action.label}”由承办单位{step.holder.name}办理，协办单位不能办理")
    return action


def check_case_action(process: Process, state: CaseState, action_name: str, actor: Actor) -> Action:
    if state.closed:
        raise DomainError("case_closed", "案件已结案，不能再办理")
    if actor.role not in (Role.operator, Role.supervisor):
        raise DomainError("not_permitted", "管理员账号不能办理案件")
    action = process.case_action(action_name)
    if action is None:
        raise DomainError("action_not_allowed", f"本案件不能进行“{action_name}”操作")
    main = state.steps.get("main")
    if action.during is not None and (main is None or main.step not in action.during):
        raise DomainError("not_now", f"案件当前环节不能进行“{action.label}”")
    check_actor_type(action, actor, state.county)
    if action.by_starter and actor.agency.id != state.starter.id:
        raise DomainError("not_permitted", f"“{action.label}”由受理本案的{state.starter.name}办理")
    return action


def check_actor_type(action: Action, actor: Actor, county: str) -> None:
    if actor.agency.agency_type not in (action.actor_types or ()):
        raise DomainError("not_permitted", f"本单位类型不能进行“{action.label}”")
    if not serves_county(actor.agency, county):
        raise DomainError("not_permitted", "本单位不在案件所在县（区），不能办理")


def check_supervisor(actor: Actor, step: StepState) -> None:
    """Urge, extend and reassign: a supervisor of the agency type that oversees the holder
    (domain/oversight.py), in the holder's county or at the city."""
    if actor.role != Role.supervisor:
        raise DomainError("not_permitted", "只有督导可以督办、延期或改派")
    if actor.agency.township is not None:
        raise DomainError("not_permitted", "乡镇（街道）一级单位的督导不能督办、延期或改派，请由县级主管部门办理")
    holder = step.holder
    if holder.agency_type not in overseen_types(actor.agency.agency_type) or not serves_county(
        actor.agency, holder.region_code
    ):
        raise DomainError("not_permitted", "只有承办单位所在县（区）或市级的主管督导可以督办、延期或改派")


def reassign_regions(actor: Actor) -> tuple[str, ...]:
    """Where a supervisor may reassign a step: a county's supervisor within the county, the city's
    anywhere in the city (the city's own agencies and every county's)."""
    return tuple(scope_of(actor.agency.region_code))


def check_reassign(actor: Actor, step: StepState, new: AgencyRef) -> None:
    """The agency a supervisor reassigns `step` to: of the holder's type, another one, in their scope. The
    page offers exactly these (ui/case_pages.py), the API and the workflow refuse the rest."""
    if new.agency_type != step.holder.agency_type:
        raise DomainError("not_permitted", "只能改派给同类型的单位", field="new_holder")
    if new.id == step.holder.id:
        raise DomainError("not_permitted", "改派单位与当前承办单位相同", field="new_holder")
    if new.region_code not in reassign_regions(actor):
        who = "市级督导只能改派给本市" if is_city_level(actor.agency.region_code) else "县级督导只能改派给本县（区）"
        raise DomainError("not_permitted", f"{who}的单位", field="new_holder")


@dataclass(frozen=True)
class Offer:
    """An action a page may offer: on a step (step set) or on the case (step None)."""

    step: StepState | None
    action: Action


def offers(process: Process, state: CaseState, actor: Actor) -> list[Offer]:
    """Every action `actor` could take on the case now (process-specific checks aside)."""
    out: list[Offer] = []
    if state.closed:
        return out
    for step in state.steps.values():
        for action in process.step(step.step).actions:
            try:
                check_step_action(process, state, step, action.name, actor)
            except DomainError:
                continue
            out.append(Offer(step, action))
    for action in process.case_actions:
        try:
            check_case_action(process, state, action.name, actor)
        except DomainError:
            continue
        out.append(Offer(None, action))
    return out


def supervisable_steps(state: CaseState, actor: Actor) -> list[StepState]:
    out = []
    for step in state.steps.values():
        try:
            check_supervisor(actor, step)
        except DomainError:
            continue
        out.append(step)
    return out
