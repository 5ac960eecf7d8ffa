"""Who may take which action (domain/permissions.py): holders, co-holders, agency types, roles, the
case's county, supervisors by the agency type that oversees the holder, and what a page offers."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from domain.enums import AgencyType as T
from domain.enums import Role
from domain.errors import DomainError
from domain.messages import Actor, AgencyRef, CaseState, ChildRef, StepState
from domain.permissions import (
    check_case_action,
    check_step_action,
    check_supervisor,
    offers,
    serves_county,
    supervisable_steps,
)
from domain.processes.dropout import DROPOUT
from domain.processes.guardianship import GUARDIANSHIP

LUZHOU, SHANGDANG, CITY = "140403", "140404", "140400"
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def agency(id: int, t: T, region: str = LUZHOU) -> AgencyRef:
    return AgencyRef(id=id, name=f"{t.value}-{id}", agency_type=t, region_code=region)


VC = agency(1, T.village_committee)
VC2 = agency(2, T.village_committee)
TOWN = agency(3, T.township)
POLICE = agency(4, T.police)
COURT = agency(5, T.court)
PROCURATORATE = agency(6, T.procuratorate)
EDU = agency(7, T.education_bureau)
SCHOOL = agency(8, T.school)
CIVIL = agency(9, T.civil_affairs)
SD_POLICE = agency(14, T.police, SHANGDANG)
SD_PROCURATORATE = agency(16, T.procuratorate, SHANGDANG)
SD_CIVIL = agency(19, T.civil_affairs, SHANGDANG)
CITY_PROCURATORATE = agency(26, T.procuratorate, CITY)
CITY_CIVIL = agency(29, T.civil_affairs, CITY)
CITY_POLICE = agency(24, T.police, CITY)


def actor(a: AgencyRef, role: Role = Role.operator) -> Actor:
    return Actor(user_id=a.id + 100, user_name="某人", agency=a, role=role)


def step(name: str, holder: AgencyRef, *co: AgencyRef, track: str = "main") -> StepState:
    return StepState(track=track, step=name, seq=1, opened_at=NOW, base=NOW, holder=holder, co_holders=list(co))


def case(*steps: StepState, closed: bool = False, process: str = "guardianship") -> CaseState:
    return CaseState(
        case_no="JH-2026-000001",
        process=process,
        county=LUZHOU,
        child=ChildRef(id=1, birth_date=date(2015, 1, 1), residence_region=LUZHOU, origin_region=LUZHOU),
        starter=VC,
        steps={s.track: s for s in steps},
        closed=closed,
    )


def refusal(fn, *args) -> tuple[str, str]:
    with pytest.raises(DomainError) as e:
        fn(*args)
    return e.value.code, e.value.message


# ---------------------------------------------------------------------------- step actions


def test_the_holder_may_take_the_steps_actions() -> None:
    s = step("admonition", VC)
    action = check_step_action(GUARDIANSHIP, case(s), s, "record_admonition", actor(VC))
    assert (action.name, action.to) == ("record_admonition", ("admonition_followup",))
    # A supervisor of the holding agency acts as its operators do (roles None).
    assert check_step_action(GUARDIANSHIP, case(s), s, "report_serious", actor(VC, Role.supervisor)).name == (
        "report_serious"
    )


def test_another_agency_of_the_same_type_is_not_the_holder() -> None:
    s = step("admonition", VC)
    assert refusal(check_step_action, GUARDIANSHIP, case(s), s, "record_admonition", actor(VC2)) == (
        "not_holder",
        "本单位不是“劝诫、制止”环节的承办单位",
    )


def test_an_action_the_step_does_not_have_is_refused() -> None:
    s = step("admonition", VC)
    assert refusal(check_step_action, GUARDIANSHIP, case(s), s, "accept", actor(VC)) == (
        "action_not_allowed",
        "“劝诫、制止”环节不能进行“accept”操作",
    )


def test_a_closed_case_and_an_admin_are_refused_first() -> None:
    s = step("admonition", VC)
    assert refusal(check_step_action, GUARDIANSHIP, case(s, closed=True), s, "record_admonition", actor(VC)) == (
        "case_closed",
        "案件已结案，不能再办理",
    )
    assert refusal(check_step_action, GUARDIANSHIP, case(s), s, "record_admonition", actor(VC, Role.admin)) == (
        "not_permitted",
        "管理员账号不能办理案件",
    )


def test_co_holders_take_only_the_actions_marked_for_them() -> None:
    s = step("joint_persuasion", EDU, VC, TOWN)
    st = case(s, process="dropout_return")
    for who in (EDU, VC, TOWN):
        assert check_step_action(DROPOUT, st, s, "record_attempt", actor(who)).name == "record_attempt"
        assert check_step_action(DROPOUT, st, s, "returned", actor(who)).name == "returned"
    assert check_step_action(DROPOUT, st, s, "refuses", actor(EDU)).name == "refuses"
    assert refusal(check_step_action, DROPOUT, st, s, "refuses", actor(TOWN)) == (
        "not_holder",
        "“家长拒不送学，书面责令”由承办单位education_bureau-7办理，协办单位不能办理",
    )
    assert refusal(check_step_action, DROPOUT, st, s, "record_attempt", actor(VC2))[0] == "not_holder"


@pytest.mark.parametrize(
    ("holder", "action", "allowed"),
    [
        (POLICE, "penalise", True),
        (POLICE, "issue_guidance_order", False),
        (COURT, "issue_guidance_order", True),
        (COURT, "penalise", False),
        (PROCURATORATE, "reprimand_again", True),
        (PROCURATORATE, "penalise", False),
    ],
)
def test_holder_types_limit_an_action_to_the_agencies_that_can_take_it(
    holder: AgencyRef, action: str, allowed: bool
) -> None:
    """After non-compliance only the police may penalise and only a court may order guidance."""
    s = step("guidance_noncompliance", holder)
    if allowed:
        assert check_step_action(GUARDIANSHIP, case(s), s, action, actor(holder)).name == action
    else:
        code, message = refusal(check_step_action, GUARDIANSHIP, case(s), s, action, actor(holder))
        assert code == "action_not_allowed" and message.startswith("承办单位类型不能进行")


def test_a_sign_off_needs_a_supervisor_of_the_holder() -> None:
    s = step("unresolved_signoff", EDU)
    st = case(s, process="dropout_return")
    assert refusal(check_step_action, DROPOUT, st, s, "sign_off", actor(EDU)) == (
        "not_permitted",
        "“同意以未复学结案”须由督导办理",
    )
    assert check_step_action(DROPOUT, st, s, "sign_off", actor(EDU, Role.supervisor)).name == "sign_off"
    assert check_step_action(DROPOUT, st, s, "reject_signoff", actor(EDU, Role.supervisor)).name == "reject_signoff"
    # A supervisor of the city's bureau does not hold the step.
    city_edu = agency(27, T.education_bureau, CITY)
    assert refusal(check_step_action, DROPOUT, st, s, "sign_off", actor(city_edu, Role.supervisor))[0] == "not_holder"


@pytest.mark.parametrize(
    ("who", "code"),
    [
        (PROCURATORATE, None),
        (CITY_PROCURATORATE, None),  # a city agency serves every county
        (SD_PROCURATORATE, "not_permitted"),  # another county's
        (POLICE, "not_permitted"),  # not the type
    ],
)
def test_an_action_with_actor_types_is_open_to_those_types_in_the_county(who: AgencyRef, code: str | None) -> None:
    """The procuratorate supports the suit in a revocation the court holds."""
    s = step("guardianship_revocation", COURT, track="safety")
    if code is None:
        assert check_step_action(GUARDIANSHIP, case(s), s, "support_suit", actor(who)).name == "support_suit"
    else:
        assert refusal(check_step_action, GUARDIANSHIP, case(s), s, "support_suit", actor(who))[0] == code
    # The court's own actions stay the court's.
    assert refusal(check_step_action, GUARDIANSHIP, case(s), s, "revoke", actor(PROCURATORATE))[0] == "not_holder"


# ---------------------------------------------------------------------------- case actions


def test_case_actions_by_agency_type_and_county() -> None:
    st = case(step("monitoring", VC))
    for who in (POLICE, CIVIL, CITY_POLICE):
        assert check_case_action(GUARDIANSHIP, st, "place_temporary_guardianship", actor(who)).to == (
            "temporary_guardianship_intake",
        )
    assert refusal(check_case_action, GUARDIANSHIP, st, "place_temporary_guardianship", actor(SCHOOL)) == (
        "not_permitted",
        "本单位类型不能进行“采取临时监护措施”",
    )
    assert refusal(check_case_action, GUARDIANSHIP, st, "place_temporary_guardianship", actor(SD_CIVIL)) == (
        "not_permitted",
        "本单位不在案件所在县（区），不能办理",
    )
    assert check_case_action(GUARDIANSHIP, st, "child_moved", actor(VC2)).name == "child_moved"  # who: workflow
    assert refusal(check_case_action, GUARDIANSHIP, st, "child_moved", actor(POLICE))[0] == "not_permitted"
    assert refusal(check_case_action, GUARDIANSHIP, st, "fly_away", actor(VC)) == (
        "action_not_allowed",
        "本案件不能进行“fly_away”操作",
    )
    assert refusal(check_case_action, GUARDIANSHIP, case(closed=True), "child_moved", actor(VC))[0] == "case_closed"
    assert refusal(check_case_action, GUARDIANSHIP, st, "child_moved", actor(VC, Role.admin))[0] == "not_permitted"
    assert refusal(check_case_action, DROPOUT, case(process="dropout_return"), "child_moved", actor(VC))[0] == (
        "action_not_allowed"
    )


def test_serves_county() -> None:
    assert serves_county(POLICE, LUZHOU) and serves_county(CITY_POLICE, LUZHOU)
    assert not serves_county(SD_POLICE, LUZHOU)


# ---------------------------------------------------------------------------- supervisors


@pytest.mark.parametrize(
    ("supervisor", "holder", "allowed"),
    [
        (CIVIL, VC, True),  # civil affairs oversees the village committees
        (CIVIL, TOWN, True),
        (CITY_CIVIL, VC, True),
        (SD_CIVIL, VC, False),  # another county
        (POLICE, POLICE, True),
        (CITY_POLICE, POLICE, True),
        (SD_POLICE, POLICE, False),
        (POLICE, VC, False),  # not the overseeing type
        (EDU, SCHOOL, True),
        (CIVIL, SCHOOL, False),
        (VC, VC, False),  # a local agency's supervisor oversees no step
        (SCHOOL, SCHOOL, False),
    ],
)
def test_supervisors_of_the_overseeing_type_in_the_holders_county_or_the_city(
    supervisor: AgencyRef, holder: AgencyRef, allowed: bool
) -> None:
    s = step("monitoring", holder)
    if allowed:
        check_supervisor(actor(supervisor, Role.supervisor), s)
    else:
        assert refusal(check_supervisor, actor(supervisor, Role.supervisor), s) == (
            "not_permitted",
            "只有承办单位所在县（区）或市级的主管督导可以督办、延期或改派",
        )


def test_an_operator_is_no_supervisor() -> None:
    assert refusal(check_supervisor, actor(CIVIL), step("monitoring", VC)) == (
        "not_permitted",
        "只有督导可以督办、延期或改派",
    )


def test_supervisable_steps_are_those_the_supervisor_oversees() -> None:
    main, safety = step("monitoring", VC), step("temporary_guardianship", CIVIL, track="safety")
    st = case(main, safety)
    assert [s.step for s in supervisable_steps(st, actor(CIVIL, Role.supervisor))] == [
        "monitoring",
        "temporary_guardianship",
    ]
    assert supervisable_steps(st, actor(POLICE, Role.supervisor)) == []


# ---------------------------------------------------------------------------- what a page offers


def offered(st: CaseState, who: Actor, process=GUARDIANSHIP) -> list[tuple[str | None, str]]:
    return [(o.step.step if o.step else None, o.action.name) for o in offers(process, st, who)]


def test_offers_list_what_the_actor_could_do_now() -> None:
    st = case(step("admonition", VC))
    assert offered(st, actor(VC)) == [
        ("admonition", "record_admonition"),
        ("admonition", "report_serious"),
        (None, "child_moved"),
    ]
    assert offered(st, actor(POLICE)) == [(None, "place_temporary_guardianship")]
    assert offered(st, actor(SCHOOL)) == []
    assert offered(case(step("admonition", VC), closed=True), actor(VC)) == []
    persuasion = case(step("joint_persuasion", EDU, VC, TOWN), process="dropout_return")
    assert offered(persuasion, actor(TOWN), DROPOUT) == [
        ("joint_persuasion", "record_attempt"),
        ("joint_persuasion", "returned"),
    ]
    assert len(offered(persuasion, actor(EDU), DROPOUT)) == 5  # every action of the step


def test_the_withdrawal_is_offered_only_to_the_township_that_accepted_the_application() -> None:
    """Any township of the county could once see the button that the workflow then refused (the origin's
    township in verification among them): it is offered to the accepting township alone, before the decision."""
    from domain.processes.certification import CERTIFICATION

    other_town = agency(33, T.township)
    st = case(step("origin_verification", other_town), process="certification").model_copy(update={"starter": TOWN})
    assert (None, "record_withdrawal") in offered(st, actor(TOWN), CERTIFICATION)
    for who in (other_town, CIVIL):
        assert (None, "record_withdrawal") not in offered(st, actor(who), CERTIFICATION)
    code, message = refusal(check_case_action, CERTIFICATION, st, "record_withdrawal", actor(other_town))
    assert code == "not_permitted" and TOWN.name in message
    supported = st.model_copy(update={"steps": {"main": step("in_support", CIVIL, TOWN)}})
    assert (None, "record_withdrawal") not in offered(supported, actor(TOWN), CERTIFICATION)


def test_the_residences_end_of_support_is_offered_only_on_a_case_another_deployment_transferred() -> None:
    from domain.processes.certification import CERTIFICATION

    local = case(step("in_support", SD_CIVIL), process="certification").model_copy(update={"county": SHANGDANG})
    assert ("in_support", "record_residence_ended") not in offered(local, actor(SD_CIVIL), CERTIFICATION)
    imported = local.model_copy(update={"summary": {"remote_case_no": "RD-2026-410105-00011"}})
    assert ("in_support", "record_residence_ended") in offered(imported, actor(SD_CIVIL), CERTIFICATION)
    assert ("in_support", "record_support_ended") not in offered(imported, actor(SD_CIVIL), CERTIFICATION)
