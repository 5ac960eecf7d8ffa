"""Certification (processes.md §3) in milliseconds: the real workflow on the time-skipping server with fake
activities (tests/fakes.py). Residence intake with the one-time materials list, supplements on both sides
and their lapse, the origin in the same county, in another Changzhi county and outside the deployment (its
ladder reaching the residence's county and city civil affairs), decisions, the result notice, support with
its yearly review, a change of circumstances, the age limit with and without full-time education, a
deadline across the Spring Festival, continue-as-new; and the disability subsidies on the same code."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.deadlines import birthday, end_of_local_day, local_date, start_of_local_day
from domain.errors import DomainError
from domain.processes.certification import CERTIFICATION_MATERIALS, month_after
from domain.processes.disability_subsidy import DISABILITY_MATERIALS
from domain.workdays import WorkCalendar, YearSchedule
from tests.fakes import FakeCase, FakeEnv, agency, op
from tests.support import save_history_as
from workflows.certification import CertificationFacts

CLOSE = "@close"
CAL = WorkCalendar()
SHANGHAI = ZoneInfo("Asia/Shanghai")
LUZHOU, SHANGDANG, HENAN = "140403", "140404", "410105"  # 郑州市金水区
RESIDENCE = "town-east"


def wd_end(at: datetime, n: int, cal: WorkCalendar = CAL) -> datetime:
    return end_of_local_day(cal.add_working_days(local_date(at), n)[0])


def all_materials(fields=CERTIFICATION_MATERIALS, **over) -> dict:
    return {**{f.name: True for f in fields}, **over}


async def open_case(
    f: FakeEnv, origin: str = SHANGDANG, township: str | None = None, process: str = "certification", **kw
) -> FakeCase:
    facts = {
        "kind": "de_facto_unsupported" if process == "certification" else "both",
        "origin_region": origin,
        "applicant": "祖母",
        "situation": "父亲服刑，母亲失联",
    }
    if township:
        facts["origin_township_id"] = agency(township).id
    return await FakeCase.open(f, process, op(RESIDENCE), "residence_intake", facts, **kw)


async def forward(c: FakeCase, fields=CERTIFICATION_MATERIALS) -> None:
    await c.act(op(RESIDENCE), "forward", all_materials(fields))


async def approve(c: FakeCase, verifier: str, decider: str) -> None:
    await c.act(op(verifier), "give_opinion", {"verified_by": "both", "opinion": "approve"})
    today = await c.today()
    await c.act(op(decider), "approve", {"doc_no": "上民认〔2026〕8号", "allowance_from": month_after(today)})


async def to_support(c: FakeCase) -> None:
    """A cross-county case approved and the applicant told."""
    await forward(c)
    await approve(c, "sd-town", "sd-civil")
    await c.act(op(RESIDENCE), "notified", {"done_on": (await c.today()).isoformat()})


def holder(step) -> int:
    return step.holder.id


# ---------------------------------------------------------------------------- same county, cross county


async def test_same_county_every_step_held_and_due_on_the_statutory_calendar(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env, origin=LUZHOU, township="town-west")
    intake = await c.step()
    assert (intake.step, holder(intake), intake.allowance) == ("residence_intake", agency(RESIDENCE).id, "3WD")
    assert intake.deadlines.due_at == wd_end(intake.opened_at, 3)
    assert c.events()[0].summary["holder_side"] == "居住地"

    await forward(c)
    verify = await c.step()
    assert (verify.step, holder(verify), verify.allowance) == ("origin_verification", agency("town-west").id, "15WD")
    assert verify.deadlines.due_at == wd_end(verify.opened_at, 15)
    moved = c.events()[-1]
    assert moved.document is not None and moved.document.kind == "certification_transfer"
    assert "儿童户口簿" in moved.document.fields["materials"]
    assert moved.summary["holder_side"] == "户籍地"

    await c.act(op("town-west"), "give_opinion", {"verified_by": "data", "opinion": "approve"})
    decide = await c.step()
    assert (decide.step, holder(decide), decide.allowance) == ("origin_decision", agency("civil").id, "15WD")
    assert decide.deadlines.due_at == wd_end(decide.opened_at, 15)

    today = await c.today()
    await c.act(op("civil"), "approve", {"allowance_from": month_after(today)})
    notify = await c.step()
    assert (notify.step, holder(notify), notify.allowance) == ("notify_applicant", agency(RESIDENCE).id, "3WD")
    assert notify.deadlines.due_at == wd_end(notify.opened_at, 3)
    notice = c.events()[-1].document
    assert notice is not None and (notice.kind, notice.title) == ("certification_result", "认定结果告知书")
    assert notice.fields["decision"] == "予以认定" and notice.fields["allowance_from"] == month_after(today)
    assert notice.fields["kind"] == "事实无人抚养儿童"

    await c.act(op(RESIDENCE), "notified", {"done_on": today.isoformat()})
    support = await c.step()
    assert (support.step, holder(support), support.allowance) == ("in_support", agency("civil").id, "1y")
    assert [a.id for a in support.co_holders] == [agency(RESIDENCE).id]
    assert (await c.view()).summary["allowance_from"] == month_after(today)


async def test_cross_county_the_origins_township_and_county_act_and_the_residence_cannot_decide(
    fake_env: FakeEnv,
) -> None:
    c = await open_case(fake_env)
    await forward(c)
    verify = await c.step()
    assert holder(verify) == agency("sd-town").id
    with pytest.raises(DomainError) as refused:
        await c.act(op(RESIDENCE), "give_opinion", {"verified_by": "data", "opinion": "approve"})
    assert refused.value.code == "not_holder"
    await c.act(op("sd-town"), "give_opinion", {"verified_by": "home", "opinion": "approve"})
    decide = await c.step()
    assert holder(decide) == agency("sd-civil").id
    # The residence side's civil affairs may not decide.
    with pytest.raises(DomainError) as refused:
        await c.act(op("civil"), "approve", {"allowance_from": month_after(await c.today())})
    assert refused.value.code == "not_holder" and "承办单位" in refused.value.message
    await c.act(op("sd-civil"), "approve", {"allowance_from": month_after(await c.today())})
    await c.act(op(RESIDENCE), "notified", {"done_on": (await c.today()).isoformat()})
    support = await c.step()
    assert (support.step, holder(support)) == ("in_support", agency("sd-civil").id)
    await save_history_as(c.f.client, c.no, "certification-cross-county-approved")


# ---------------------------------------------------------------------------- materials and supplements


async def test_incomplete_materials_are_refused_and_a_supplement_lists_what_is_missing(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    seq = c.events()[-1].seq
    with pytest.raises(DomainError) as refused:
        await c.act(op(RESIDENCE), "forward", all_materials(parents_status=False))
    assert refused.value.code == "materials_incomplete" and "父母死亡" in refused.value.message
    # A supplement request with nothing missing is refused: there is nothing to ask for.
    with pytest.raises(DomainError) as refused:
        await c.act(op(RESIDENCE), "request_supplement", all_materials())
    assert refused.value.code == "supplement_items_required"
    assert c.events()[-1].seq == seq  # nothing recorded

    await c.act(op(RESIDENCE), "request_supplement", all_materials(parents_status=False, other_items="村委会证明"))
    supplement = await c.step()
    assert (supplement.step, holder(supplement), supplement.allowance) == (
        "supplement",
        agency(RESIDENCE).id,
        "30d",
    )
    assert supplement.deadlines.due_at == end_of_local_day(local_date(supplement.opened_at) + timedelta(days=30))
    assert c.events()[-1].payload["items"] == "父母死亡、失踪、重残、重病、服刑等情况证明；村委会证明"

    await c.sleep(timedelta(days=20))
    await c.act(op(RESIDENCE), "supplemented", {"done_on": (await c.today()).isoformat()})
    intake = await c.step()
    assert (intake.step, intake.deadlines.due_at) == ("residence_intake", wd_end(intake.opened_at, 3))
    await forward(c)
    assert (await c.step()).step == "origin_verification"


async def test_the_origin_asks_for_a_supplement_through_the_residence(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    await forward(c)
    with pytest.raises(DomainError) as refused:
        await c.act(op("sd-town"), "request_supplement", {"items": ""})
    assert refused.value.code == "field_required"
    await c.act(op("sd-town"), "request_supplement", {"items": "父亲服刑的判决书"})
    supplement = await c.step()
    assert (supplement.step, holder(supplement)) == ("supplement", agency(RESIDENCE).id)
    assert c.events()[-1].summary["holder_side"] == "居住地"
    await c.act(op(RESIDENCE), "supplemented", {"done_on": (await c.today()).isoformat()})
    back = await c.step()
    assert (back.step, holder(back)) == ("origin_verification", agency("sd-town").id)
    assert back.deadlines.due_at == wd_end(back.opened_at, 15)
    await save_history_as(c.f.client, c.no, "certification-origin-supplement")


async def test_a_lapsed_supplement_withdraws_the_application_and_the_applicant_is_told(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    await c.act(op(RESIDENCE), "request_supplement", all_materials(application_form=False))
    step = await c.step()
    await c.sleep_until(step.deadlines.due_at + timedelta(seconds=1))
    last = (await c.wait_closed())[-1]
    assert (last.action, last.closed_outcome) == ("lapse", "withdrawn")
    assert last.document is not None and last.document.kind == "certification_withdrawn"
    assert "申请表" in last.document.fields["items"]
    told = c.told(last.seq)
    assert (last.seq, RESIDENCE, "withdrawn") in told
    assert all(e.kind != "escalated" for e in c.events())
    await save_history_as(c.f.client, c.no, "certification-withdrawn")


# ---------------------------------------------------------------------------- decisions


async def test_a_rejection_needs_reasons_and_closes_after_the_applicant_is_told(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    await forward(c)
    with pytest.raises(DomainError) as refused:
        await c.act(op("sd-town"), "give_opinion", {"verified_by": "data", "opinion": "reject"})
    assert refused.value.code == "field_required" and refused.value.field == "reasons"
    await c.act(op("sd-town"), "give_opinion", {"verified_by": "data", "opinion": "reject", "reasons": "母亲在外务工"})
    with pytest.raises(DomainError):
        await c.act(op("sd-civil"), "reject", {})
    await c.act(op("sd-civil"), "reject", {"reasons": "母亲有抚养能力，不符合事实无人抚养条件"})
    notice = c.events()[-1].document
    assert notice.fields["decision"] == "不予认定" and "抚养能力" in notice.fields["reasons"]
    await c.act(op(RESIDENCE), "notified", {"done_on": (await c.today()).isoformat()})
    last = (await c.wait_closed())[-1]
    assert last.closed_outcome == "rejected"


async def test_an_approval_needs_the_month_after_approval_as_its_start(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    await forward(c)
    await c.act(op("sd-town"), "give_opinion", {"verified_by": "data", "opinion": "approve"})
    seq = c.events()[-1].seq
    with pytest.raises(DomainError) as refused:
        await c.act(op("sd-civil"), "approve", {})
    assert refused.value.field == "allowance_from" and "保障起始月份" in refused.value.message
    today = await c.today()
    with pytest.raises(DomainError) as refused:
        await c.act(op("sd-civil"), "approve", {"allowance_from": f"{today.year}-{today.month:02d}"})
    assert refused.value.code == "field_invalid" and month_after(today) in refused.value.message
    with pytest.raises(DomainError):
        await c.act(op("sd-civil"), "approve", {"allowance_from": "2026/7"})
    assert c.events()[-1].seq == seq


# ---------------------------------------------------------------------------- external mode


async def test_an_origin_in_another_province_is_held_for_it_and_escalates_to_the_residences_civil_affairs(
    fake_env: FakeEnv,
) -> None:
    c = await open_case(fake_env, origin=HENAN)
    assert c.events()[0].summary["external"] is True
    await forward(c)
    verify = await c.step()
    assert verify.external is not None and verify.external.name == "河南省郑州市金水区民政局"
    assert holder(verify) == agency(RESIDENCE).id and verify.deadlines.due_at == wd_end(verify.opened_at, 15)
    assert c.events()[-1].document.fields["origin_office"] == "河南省郑州市金水区民政局"
    # The local actions are the origin's own: here a clerk records its answer.
    with pytest.raises(DomainError) as refused:
        await c.act(op(RESIDENCE), "give_opinion", {"verified_by": "data", "opinion": "approve"})
    assert refused.value.code == "action_not_allowed" and "河南省郑州市金水区民政局" in refused.value.message

    d = verify.deadlines
    seq = c.events()[-1].seq
    await c.sleep_until(d.level3_at + timedelta(seconds=1))
    events = await c.wait_seq(seq + 3)
    told = [(n.agency_type, n.region_code, n.role) for e in events[-3:] for n in e.notifications]
    assert told == [
        (None, None, None),
        ("civil_affairs", LUZHOU, "supervisor"),
        ("civil_affairs", "140400", "supervisor"),
    ]

    today = (await c.today()).isoformat()
    answer = {"doc_no": "金民函〔2027〕5号", "received_on": today, "answer_from": "金水区民政局"}
    await c.act(op(RESIDENCE), "record_origin_opinion", {**answer, "opinion": "approve"})
    decide = await c.step()
    assert (decide.step, holder(decide), decide.external.name) == (
        "origin_decision",
        agency(RESIDENCE).id,
        "河南省郑州市金水区民政局",
    )
    decided_on = await c.today()
    with pytest.raises(DomainError):
        await c.act(op(RESIDENCE), "record_origin_decision", {**answer, "decided_on": today, "decision": "approve"})
    await c.act(
        op(RESIDENCE),
        "record_origin_decision",
        {**answer, "decided_on": today, "decision": "approve", "allowance_from": month_after(decided_on)},
    )
    notice = c.events()[-1]
    assert notice.payload["doc_no"] == "金民函〔2027〕5号" and notice.document.fields["decided_by"].startswith("河南省")
    await c.act(op(RESIDENCE), "notified", {"done_on": today})
    support = await c.step()
    assert (support.step, holder(support), support.external is not None) == ("in_support", agency("civil").id, True)
    await save_history_as(c.f.client, c.no, "certification-external-henan")


async def test_an_origin_in_this_deployment_answers_itself(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    await forward(c)
    with pytest.raises(DomainError) as refused:
        await c.act(
            op("sd-town"),
            "record_origin_opinion",
            {"received_on": (await c.today()).isoformat(), "answer_from": "x", "opinion": "approve"},
        )
    assert refused.value.code == "action_not_allowed" and "系统外" in refused.value.message


# ---------------------------------------------------------------------------- in support


async def test_support_is_reviewed_yearly_and_a_change_ends_it_from_the_next_month(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    await to_support(c)
    support = await c.step()
    approved = local_date(support.opened_at)
    assert support.deadlines.due_at == end_of_local_day(date(approved.year + 1, approved.month, approved.day))
    await c.sleep(timedelta(days=330))
    await c.act(op("sd-civil"), "record_review", {"done_on": (await c.today()).isoformat()})
    again = await c.step()
    assert again.counters["reviews"] == 1 and again.level == 0
    reviewed = await c.today()
    assert again.deadlines.due_at == end_of_local_day(date(reviewed.year + 1, reviewed.month, reviewed.day))
    await c.sleep(timedelta(days=40))
    changed = await c.today()
    await c.act(op("sd-civil"), "circumstances_changed", {"changed_on": changed.isoformat(), "note": "母亲刑满释放"})
    last = (await c.wait_closed())[-1]
    assert last.closed_outcome == "ended" and last.payload["support_ends_from"] == month_after(changed)
    await save_history_as(c.f.client, c.no, "certification-support-review-ended")


def born_18_in(days: int, now: datetime) -> date:
    day = local_date(now) + timedelta(days=days)
    return day.replace(year=day.year - 18)


async def test_at_18_support_goes_on_in_full_time_education_then_ends(fake_env: FakeEnv) -> None:
    now = await fake_env.env.get_current_time()
    born = born_18_in(40, now)
    c = await open_case(fake_env, born=born)
    await to_support(c)
    until = local_date(now) + timedelta(days=300)
    await c.act(op("sd-civil"), "record_education", {"until": until.isoformat()})
    recorded = c.events()[-1]
    # The summary says to when (the case page, and the other side's `education` packet, read it there).
    assert recorded.summary is not None and recorded.summary["in_education_until"] == until.isoformat()
    seq = recorded.seq
    await c.sleep_until(start_of_local_day(birthday(born, 18)) + timedelta(seconds=1))
    reached = (await c.wait_seq(seq + 1))[-1]
    assert reached.kind == "age_reached" and until.isoformat() in reached.note
    await c.sleep_until(end_of_local_day(until) + timedelta(seconds=1))
    last = (await c.wait_closed())[-1]
    assert last.closed_outcome == "adult"
    await save_history_as(c.f.client, c.no, "certification-adult-in-education")


async def test_at_18_without_education_support_ends_from_the_next_month(fake_env: FakeEnv) -> None:
    now = await fake_env.env.get_current_time()
    born = born_18_in(40, now)
    c = await open_case(fake_env, born=born)
    await to_support(c)
    seq = c.events()[-1].seq
    eighteen = birthday(born, 18)
    await c.sleep_until(start_of_local_day(eighteen) + timedelta(seconds=1))
    reached = (await c.wait_seq(seq + 1))[-1]
    month_end = date.fromisoformat(f"{month_after(eighteen)}-01") - timedelta(days=1)
    if eighteen < month_end:
        assert reached.kind == "age_reached" and month_end.isoformat() in reached.note
        await c.sleep_until(end_of_local_day(month_end) + timedelta(seconds=1))
    last = (await c.wait_closed())[-1]
    assert last.closed_outcome == "adult" and local_date(last.at) == month_end


async def test_years_in_support_continue_as_new_with_a_small_state(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env, history_limit=40)
    await to_support(c)
    for _ in range(6):
        await c.sleep(timedelta(days=300))
        await c.act(op("sd-civil"), "record_review", {"done_on": (await c.today()).isoformat()})
    state = await c.view()
    assert state.steps["main"].counters["reviews"] == 6
    assert set(state.vars) <= set(CertificationFacts.model_fields)  # the typed facts, nothing grows
    history = await c.handle().fetch_history()
    assert len(history.events) < 60  # this run's history only: earlier runs were cut off
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.continued_execution_run_id  # the run is a continuation


# ---------------------------------------------------------------------------- the Spring Festival


async def test_a_verification_across_the_spring_festival_skips_the_holiday_and_counts_makeup_days(
    fake_env: FakeEnv,
) -> None:
    """With a 2027 schedule loaded (春节 5-13 February; make-up working Saturdays 30 January, 20 February),
    15 WD from Monday 25 January 2027 end on Saturday 20 February."""
    holidays = frozenset({date(2027, 1, d) for d in (1, 2, 3)} | {date(2027, 2, d) for d in range(5, 14)})
    schedule = YearSchedule(2027, holidays=holidays, workdays=frozenset({date(2027, 1, 30), date(2027, 2, 20)}))
    fake_env.fakes.schedules[2027] = schedule
    now = await fake_env.env.get_current_time()
    if local_date(now) >= date(2027, 1, 25):
        pytest.skip("written for a clock before 25 January 2027")
    await FakeCase(fake_env, "").sleep_until(datetime(2027, 1, 25, 9, 0, tzinfo=SHANGHAI))
    c = await open_case(fake_env)
    await forward(c)
    verify = await c.step()
    assert local_date(verify.opened_at) == date(2027, 1, 25)
    assert verify.deadlines.due_at == end_of_local_day(date(2027, 2, 20))
    assert verify.deadlines.due_at == wd_end(verify.opened_at, 15, WorkCalendar({2027: schedule}))
    assert not verify.deadlines.provisional


# ---------------------------------------------------------------------------- the disability subsidies


async def test_the_disability_subsidies_run_on_the_same_code_with_their_own_definition(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env, process="disability_subsidy")
    intake = await c.step()
    assert (intake.step, intake.policy_key) == ("residence_intake", "disability_subsidy.forward")
    # Its own materials list: the certification's is not enough.
    with pytest.raises(DomainError) as refused:
        await c.act(op(RESIDENCE), "forward", all_materials(CERTIFICATION_MATERIALS))
    assert refused.value.code == "materials_incomplete" and "残疾人证" in refused.value.message
    await forward(c, DISABILITY_MATERIALS)
    verify = await c.step()
    assert (holder(verify), verify.policy_key) == (agency("sd-town").id, "disability_subsidy.origin_verification")
    await c.act(op("sd-town"), "give_opinion", {"verified_by": "data", "opinion": "approve"})
    decide = await c.step()
    # The county's disabled persons' federation decides, with civil affairs.
    assert (holder(decide), [a.id for a in decide.co_holders]) == (agency("sd-dpf").id, [agency("sd-civil").id])
    assert decide.deadlines.due_at == wd_end(decide.opened_at, 15)
    await c.act(op("sd-civil"), "approve", {"allowance_from": month_after(await c.today())})
    await c.act(op(RESIDENCE), "notified", {"done_on": (await c.today()).isoformat()})
    support = await c.step()
    assert (support.step, holder(support), support.policy_key) == (
        "in_support",
        agency("sd-dpf").id,
        "disability_subsidy.review_interval",
    )
    assert c.events()[0].opening.process == "disability_subsidy"
    await save_history_as(c.f.client, c.no, "certification-disability-subsidy")


# ------------------------------------------------------------- the origin side, for another deployment


async def test_an_imported_application_runs_the_origin_side_here(fake_env: FakeEnv) -> None:
    """A transfer packet from the residence's deployment (api/packets) starts the case at origin verification
    (started here as the import does: its facts are the packet's, not a start form's); the decision puts an
    approved child in support here (the origin pays) without a notification step."""
    now = await fake_env.env.get_current_time()
    facts = {
        "kind": "orphan",
        "origin_region": SHANGDANG,
        "residence_region": HENAN,
        "residence_office": "河南省郑州市金水区经八路街道办事处",
        "remote_case_no": "RD-2026-410105-00007",
        "remote_deployment": "zhengzhou",
    }
    c = await _open_imported(fake_env, facts, now)
    verify = await c.step()
    assert (verify.step, holder(verify)) == ("origin_verification", agency("sd-town").id)
    assert c.events()[0].summary["remote_case_no"] == "RD-2026-410105-00007"
    await c.act(op("sd-town"), "request_supplement", {"items": "监护人身份证明"})
    supplement = await c.step()
    # The request goes back to the residence's deployment (a packet); here the step waits for its answer.
    assert holder(supplement) == agency("sd-town").id
    assert supplement.external is not None and supplement.external.name == "河南省郑州市金水区经八路街道办事处"
    await c.act(op("sd-town"), "supplemented", {"done_on": (await c.today()).isoformat()})
    await c.act(op("sd-town"), "give_opinion", {"verified_by": "data", "opinion": "approve"})
    await c.act(
        op("sd-civil"), "approve", {"doc_no": "上民认〔2026〕9号", "allowance_from": month_after(await c.today())}
    )
    support = await c.step()
    assert (support.step, holder(support), support.co_holders) == ("in_support", agency("sd-civil").id, [])
    assert (await c.view()).summary["decision"] == "approve"
    await save_history_as(c.f.client, c.no, "certification-imported-origin-side")


async def _open_imported(f: FakeEnv, facts: dict, now: datetime) -> FakeCase:
    from domain.ids import workflow_id
    from domain.messages import ActionResult, CaseInput, CaseStart
    from tests.fakes import child

    no = f.fakes.next_case_no("RD", SHANGDANG, now)
    start = CaseStart(
        case_no=no,
        process="certification",
        start_step="origin_verification",
        child=child(date(2015, 3, 1), county=SHANGDANG),
        county=SHANGDANG,
        starter=op("sd-town"),
        facts=facts,
    )
    handle = await f.client.start_workflow("certification", CaseInput(start=start), id=workflow_id(no), task_queue=f.tq)
    await handle.execute_update("opened", result_type=ActionResult)
    return FakeCase(f, no)


async def test_an_origin_in_taiyuan_is_outside_this_deployment_and_named_with_its_province(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env, origin="140105")  # 太原市小店区: the same province, another city
    assert c.events()[0].summary["origin"] == "山西省太原市小店区"
    await forward(c)
    verify = await c.step()
    assert (holder(verify), verify.external.name) == (agency(RESIDENCE).id, "山西省太原市小店区民政局")


async def test_outside_this_deployment_means_outside_the_city_it_serves(fake_env: FakeEnv) -> None:
    """The same cross-county application, started by a deployment that serves 太原市 (Settings.served_city):
    上党区 is outside it, so the origin is an external office the residence records the answers of."""
    c = await open_case(fake_env, origin=SHANGDANG, served_city="140100")
    assert c.events()[0].summary["external"] is True
    await forward(c)
    verify = await c.step()
    assert verify.external is not None and verify.external.name == "山西省长治市上党区民政局"
    assert holder(verify) == agency(RESIDENCE).id


async def test_an_imported_cases_supplement_waits_for_the_residence_and_closes_when_it_withdraws(
    fake_env: FakeEnv,
) -> None:
    """At the origin of an imported case the applicant's clock runs at the residence's deployment (which may
    start it days later): past its own 30 days the step escalates, held for the residence, and never withdraws;
    the residence's word that the application lapsed closes it as withdrawn."""
    now = await fake_env.env.get_current_time()
    facts = {
        "kind": "orphan",
        "origin_region": SHANGDANG,
        "residence_region": HENAN,
        "residence_office": "河南省郑州市金水区经八路街道办事处",
        "remote_case_no": "RD-2026-410105-00008",
        "remote_deployment": "zhengzhou",
    }
    c = await _open_imported(fake_env, facts, now)
    await c.act(op("sd-town"), "request_supplement", {"items": "监护人身份证明"})
    supplement = await c.step()
    assert supplement.deadlines is not None
    await c.sleep_until(supplement.deadlines.due_at + timedelta(days=3))
    waiting = await c.step()
    assert (waiting.step, waiting.level) == ("supplement", 1)
    assert waiting.external is not None and not (await c.view()).closed
    assert [e.kind for e in c.events()][-1] == "escalated"
    with pytest.raises(DomainError):  # the by-system lapse is no person's action
        await c.act(op("sd-town"), "lapse", {})
    await c.act(op("sd-town"), "record_withdrawn", {"withdrawn_on": (await c.today()).isoformat()})
    last = (await c.wait_closed())[-1]
    assert (last.action, last.closed_outcome) == ("record_withdrawn", "withdrawn")
    assert (last.seq, "sd-town", "withdrawn") in c.told(last.seq)
    await save_history_as(c.f.client, c.no, "certification-imported-supplement-waits")


async def test_a_residence_withdrawal_is_recorded_only_while_held_for_the_residence(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    await c.act(op(RESIDENCE), "request_supplement", all_materials(application_form=False))
    with pytest.raises(DomainError):
        await c.act(op(RESIDENCE), "record_withdrawn", {"withdrawn_on": (await c.today()).isoformat()})
    assert (await c.step()).step == "supplement"


# ---------------------------------------------------------------------------- closing packets (api/packets)


async def test_an_external_application_lapsing_at_the_residence_is_withdrawn_after_the_transfer(
    fake_env: FakeEnv,
) -> None:
    """The origin (another deployment) asked for a supplement after the transfer went out: the residence's
    applicant has 30 days; when they lapse the residence's case is withdrawn, the case the `withdrawn` packet
    speaks of (api/packets). Its other way: the applicant withdraws before the decision."""
    c = await open_case(fake_env, origin=HENAN)
    await forward(c)
    assert (await c.step()).external is not None
    await c.act(op(RESIDENCE), "request_supplement", {"items": "户口簿复印件"}, step="origin_verification")
    supplement = await c.step()
    assert supplement.external is None and holder(supplement) == agency(RESIDENCE).id
    assert supplement.deadlines.due_at == end_of_local_day(local_date(supplement.opened_at) + timedelta(days=30))
    await c.sleep_until(supplement.deadlines.due_at + timedelta(seconds=1))
    last = (await c.wait_closed())[-1]
    assert (last.action, last.closed_outcome) == ("lapse", "withdrawn")
    assert (await c.view()).steps == {}

    other = await open_case(fake_env, origin=HENAN)
    await forward(other)
    with pytest.raises(DomainError) as refused:  # a township of the county that did not accept it
        await other.act(op("town-west"), "record_withdrawal", {"withdrawn_on": "2026-01-01", "note": "x"}, step=None)
    assert refused.value.code == "not_permitted" and "由受理本案的" in refused.value.message
    today = (await other.today()).isoformat()
    await other.act(op(RESIDENCE), "record_withdrawal", {"withdrawn_on": today, "note": "申请人书面撤回"}, step=None)
    last = (await other.wait_closed())[-1]
    assert last.closed_outcome == "withdrawn" and "申请人书面撤回" in (last.note or "")
    assert (await other.view()).steps == {}
    await save_history_as(other.f.client, other.no, "certification-withdrawn-by-applicant")


async def test_an_imported_case_closes_as_withdrawn_when_the_residence_says_so_at_any_step_before_the_decision(
    fake_env: FakeEnv,
) -> None:
    """At the origin of an imported case the residence's `withdrawn` packet is recorded by the township holding
    it, in verification as in the decision: the open step ends (the 待办 empties), the timeline says why."""
    now = await fake_env.env.get_current_time()
    facts = {
        "kind": "orphan",
        "origin_region": SHANGDANG,
        "residence_region": HENAN,
        "residence_office": "河南省郑州市金水区经八路街道办事处",
        "remote_case_no": "RD-2026-410105-00009",
        "remote_deployment": "zhengzhou",
    }
    c = await _open_imported(fake_env, facts, now)
    await c.act(op("sd-town"), "give_opinion", {"verified_by": "data", "opinion": "approve"})
    assert (await c.step()).step == "origin_decision"
    today = (await c.today()).isoformat()
    why = {"withdrawn_on": today, "note": "居住地系统告知：逾期未补正，视为撤回"}
    with pytest.raises(DomainError):  # the deciding agency is no township
        await c.act(op("sd-civil"), "record_withdrawal", why, step=None)
    await c.act(op("sd-town"), "record_withdrawal", why, step=None)
    last = (await c.wait_closed())[-1]
    assert (last.closed_outcome, last.from_step) == ("withdrawn", "origin_decision")
    assert "逾期未补正" in (last.note or "") and (await c.view()).steps == {}
    assert (last.seq, "sd-town", "withdrawn") in c.told(last.seq)
    await save_history_as(c.f.client, c.no, "certification-imported-withdrawn-before-decision")


async def test_a_decided_application_cannot_be_withdrawn(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    await to_support(c)
    with pytest.raises(DomainError) as refused:
        await c.act(op(RESIDENCE), "record_withdrawal", {"withdrawn_on": "2026-01-01", "note": "x"}, step=None)
    assert refused.value.code == "not_now" and (await c.step()).step == "in_support"


async def test_support_ended_at_an_external_origin_closes_the_residences_case_from_that_month(
    fake_env: FakeEnv,
) -> None:
    """The origin (another deployment, which pays) ended support: its `ended` packet, imported here, records
    the month it ends from on the residence's case, which closes with the origin's reason."""
    c = await open_case(fake_env, origin=HENAN)
    await forward(c)
    today = (await c.today()).isoformat()
    answer = {"doc_no": "金民函〔2027〕5号", "received_on": today, "answer_from": "金水区民政局"}
    await c.act(op(RESIDENCE), "record_origin_opinion", {**answer, "opinion": "approve"})
    start = month_after(await c.today())
    await c.act(
        op(RESIDENCE),
        "record_origin_decision",
        {**answer, "decided_on": today, "decision": "approve", "allowance_from": start},
    )
    await c.act(op(RESIDENCE), "notified", {"done_on": today})
    support = await c.step()
    assert support.external is not None
    await c.sleep(timedelta(days=200))
    today = (await c.today()).isoformat()
    ended = {"received_on": today, "answer_from": "郑州市金水区民政局", "ended_because": "ended"}
    with pytest.raises(DomainError) as refused:
        await c.act(op("civil"), "record_support_ended", {**ended, "ends_from": "2027/03"})
    assert refused.value.field == "ends_from" and (await c.step()).step == "in_support"
    ends = month_after(await c.today())
    await c.act(op(RESIDENCE), "record_support_ended", {**ended, "ends_from": ends})  # the residence co-holds it
    last = (await c.wait_closed())[-1]
    assert last.closed_outcome == "ended" and last.payload["support_ends_from"] == ends
    assert f"保障自{ends}起终止" in (last.note or "") and "情况变化" in (last.note or "")
    assert (await c.view()).summary["support_ends_from"] == ends
    await save_history_as(c.f.client, c.no, "certification-support-ended-at-origin")


async def test_support_ended_is_recorded_only_for_an_origin_outside_this_deployment(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    await to_support(c)
    today = (await c.today()).isoformat()
    payload = {"received_on": today, "answer_from": "x", "ended_because": "adult", "ends_from": "2027-01"}
    with pytest.raises(DomainError) as refused:
        await c.act(op("sd-civil"), "record_support_ended", payload)
    assert refused.value.code == "action_not_allowed" and (await c.step()).step == "in_support"
    with pytest.raises(DomainError) as refused:  # nor the residence's word: the residence is this deployment's
        await c.act(op("sd-civil"), "record_residence_ended", payload)
    assert refused.value.code == "action_not_allowed" and (await c.step()).step == "in_support"


async def test_support_ended_at_the_residence_of_an_external_origin_closes_its_case_from_the_next_month(
    fake_env: FakeEnv,
) -> None:
    """External mode: the residence's county civil affairs, following the support for the origin office, records a
    change of circumstances; the case closes with the month support ends from, which its `ended` packet tells
    the origin's deployment (api/packets)."""
    c = await open_case(fake_env, origin=HENAN)
    await forward(c)
    today = (await c.today()).isoformat()
    answer = {"doc_no": "金民函〔2027〕5号", "received_on": today, "answer_from": "金水区民政局"}
    await c.act(op(RESIDENCE), "record_origin_opinion", {**answer, "opinion": "approve"})
    start = month_after(await c.today())
    await c.act(
        op(RESIDENCE),
        "record_origin_decision",
        {**answer, "decided_on": today, "decision": "approve", "allowance_from": start},
    )
    await c.act(op(RESIDENCE), "notified", {"done_on": today})
    support = await c.step()
    assert support.external is not None and holder(support) == agency("civil").id
    await c.sleep(timedelta(days=120))
    changed = await c.today()
    await c.act(op("civil"), "circumstances_changed", {"changed_on": changed.isoformat(), "note": "母亲刑满释放"})
    last = (await c.wait_closed())[-1]
    assert last.closed_outcome == "ended" and last.payload["support_ends_from"] == month_after(changed)
    assert (await c.view()).summary["support_ends_from"] == month_after(changed)


async def test_an_imported_case_in_support_closes_when_the_residence_ends_support_there(fake_env: FakeEnv) -> None:
    """At the origin of an imported case, the residence's `ended` packet (support ended there: 18 or the end of
    studies, or a change of circumstances) is recorded by the county that pays: the case closes with the month
    support ends from and the residence's reason on its timeline."""
    now = await fake_env.env.get_current_time()
    facts = {
        "kind": "orphan",
        "origin_region": SHANGDANG,
        "residence_region": HENAN,
        "residence_office": "河南省郑州市金水区经八路街道办事处",
        "remote_case_no": "RD-2026-410105-00011",
        "remote_deployment": "zhengzhou",
    }
    c = await _open_imported(fake_env, facts, now)
    await c.act(op("sd-town"), "give_opinion", {"verified_by": "data", "opinion": "approve"})
    await c.act(op("sd-civil"), "approve", {"allowance_from": month_after(await c.today())})
    assert (await c.step()).step == "in_support"
    await c.sleep(timedelta(days=300))
    today = (await c.today()).isoformat()
    ended = {"received_on": today, "answer_from": "河南省郑州市金水区民政局", "ended_because": "adult"}
    with pytest.raises(DomainError) as refused:
        await c.act(op("sd-civil"), "record_residence_ended", {**ended, "ends_from": "明年"})
    assert refused.value.field == "ends_from" and (await c.step()).step == "in_support"
    with pytest.raises(DomainError) as refused:  # the township does not hold the support
        await c.act(op("sd-town"), "record_residence_ended", {**ended, "ends_from": "2027-01"})
    assert refused.value.code == "not_holder" and (await c.step()).step == "in_support"
    with pytest.raises(DomainError) as refused:  # the origin's clerk records the residence's word, not the origin's
        await c.act(op("sd-civil"), "record_support_ended", {**ended, "ends_from": "2027-01"})
    assert refused.value.code == "action_not_allowed"
    ends = month_after(await c.today())
    await c.act(op("sd-civil"), "record_residence_ended", {**ended, "ends_from": ends})
    last = (await c.wait_closed())[-1]
    assert last.closed_outcome == "adult" and last.payload["support_ends_from"] == ends
    assert f"居住地（河南省郑州市金水区民政局）告知：年满18周岁或毕业，保障自{ends}起终止" == last.note
    assert (await c.view()).summary["support_ends_from"] == ends and (await c.view()).steps == {}
    await save_history_as(c.f.client, c.no, "certification-support-ended-at-residence")
