"""Key-child follow-up (重点对象关爱服务): the orchestration of processes.md §5.

Two tracks run side by side for years, both held by the village committee where the child lives: the
contact (every 3 months) on the main track and the home visit (every 6 months) on the visit track. Each
record re-arms its step from the date it happened; a visit, also a contact with the family, re-arms the
contact too. The case ends when the child leaves the key list,
moves away (handed to civil affairs of the new county), or turns 16 (18 while a protection case of the
child is open). It continues as new well before its history grows large (FOLLOWUP.history_limit).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.deadlines import birthday, local_date, start_of_local_day
    from domain.enums import AgencyType as T
    from domain.enums import Role
    from domain.errors import DomainError
    from domain.messages import (
        ActionRequest,
        Actor,
        AgencyRef,
        CaseInput,
        CaseResult,
        CaseStart,
        OpenCasesQuery,
        PartyGrant,
        StepState,
    )
    from domain.process import FieldKind, FieldRole, Process, clean_payload
    from domain.processes import PROCESSES
    from domain.processes.followup import CATEGORIES, FOLLOWUP, PROTECTED_UNTIL_AGE, PROTECTION_PROCESSES
    from workflows import activity_names as names
    from workflows.base import CaseWorkflow
    from workflows.patches import BASELINE_1, own_patches
    from workflows.retry import ACTIVITY_TIMEOUT, WRITE_RETRY
    from workflows.steps import Change

# Past 16 with a protection case open, whether it is still open is asked again this often.
PROTECTION_RECHECK = timedelta(days=30)
# A home visit is also a contact with the family: it re-arms the contact (runs recorded before did not).
VISIT_IS_CONTACT_PATCH = "followup-visit-is-contact"


class FollowupFacts(BaseModel):
    """What the case remembers: the committee whose child director follows the child, and whether the
    child is past 16 and followed only while a protection case is open."""

    village_committee: AgencyRef | None = None
    past_age: bool = False


def category_labels(values: list[str]) -> str:
    labels = dict(CATEGORIES)
    return "、".join(labels.get(v, v) for v in values)


@workflow.defn(name="key_child_followup")
class FollowupWorkflow(CaseWorkflow):
    process = FOLLOWUP
    Kept = FollowupFacts
    baseline_patches = own_patches(BASELINE_1, {VISIT_IS_CONTACT_PATCH})
    kept: FollowupFacts

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        return await self._run(inp)

    # ------------------------------------------------------------------ start

    async def on_start(self, start: CaseStart) -> None:
        committee = start.village_committee
        if committee is None:
            # A case taken on in another county without a committee named: the county's first one serves
            # until civil affairs reassigns the steps.
            committee = await self.resolve(T.village_committee)
        self.kept.village_committee = committee
        contact = await self.new_step("main", "contact", committee, counters={"contacts": 0})
        option = self.process.start_option("contact")
        assert option is not None
        # The visits open beside the contacts (StartOption.opens_too), on their own track.
        also = [
            await self.new_step(self.process.step(name).track, name, committee, counters={"visits": 0})
            for name in option.opens_too
        ]
        town = await self.resolve(T.township, township=committee.township)
        parties = [PartyGrant(agency=start.starter.agency, role="starter")]
        parties += [PartyGrant(agency=a, role="participant") for a in (town,) if a.id != start.starter.agency.id]
        categories = list(start.facts.get("categories") or [])
        await self.open_case(
            start,
            contact,
            also=also,
            parties=parties,
            summary={"categories": category_labels(categories)},
            note=str(start.facts.get("known", "")),
        )

    # ------------------------------------------------------------------ contacts and visits

    async def on_action(self, step: StepState, req: ActionRequest) -> None:
        match step.step, req.action:
            case ("contact", "leave_key_list"):
                await self.close(req, "left_key_list")
            case ("contact", "moved_away"):
                await self._moved_away(req)
            case ("contact", "record_contact"):
                # The next contact is due 3 months from the day this one happened (move counts from it).
                await self.move(req, "contact", counters={"contacts": step.counters.get("contacts", 0) + 1})
            case ("home_visit", "record_visit"):
                await self._visited(step, req)
            case ("handover", "acknowledge_handover"):
                await self._acknowledged(step, req)
            case ("handover", "record_external_ack"):
                await self.close(req, "moved")
            case _:
                raise DomainError("action_not_allowed", "该操作在本环节没有处理方式")  # pragma: no cover

    async def _visited(self, step: StepState, req: ActionRequest) -> None:
        payload: dict[str, Any] | None = None
        chosen = req.payload.get("open_case")
        if chosen:
            linked = PROCESSES[chosen]
            option = self._start_option(linked, req)
            assert option is not None  # check_action refused otherwise
            facts = self._linked_facts(linked, req)
            case_no = await self.open_linked(
                req, linked, start_step=option, facts=facts, village_committee=self.kept.village_committee
            )
            payload = {"linked_case": case_no}
        # The linked start form is the linked case's (its clinical fields its readers'): not on this timeline.
        req.payload = {k: v for k, v in req.payload.items() if k != "linked_facts"}
        await self.move(req, "home_visit", counters={"visits": step.counters.get("visits", 0) + 1}, payload=payload)
        await self._visit_is_a_contact(req)

    async def _visit_is_a_contact(self, req: ActionRequest) -> None:
        """The plan's visit is also a contact with the family: the next contact is due 3 months from the
        visit's day, when that is later than the last contact's (a visit entered late, dated before the
        last contact, changes nothing). Recorded as its own event on the main track."""
        contact = self._st.steps.get("main")
        if contact is None or contact.step != "contact":
            return  # handed over: the contacts have ended here
        visited = self._done_at(req) or workflow.now()
        if local_date(visited) <= local_date(contact.base) or not self.patched(VISIT_IS_CONTACT_PATCH):
            return
        nxt = await self.new_step(
            "main", "contact", contact.holder, base=visited, co_holders=contact.co_holders, counters=contact.counters
        )
        await self.record(
            None,
            Change(track="main", from_step="contact", to_step="contact", set_steps=[nxt]),
            kind="rearmed",
            note="入户走访同时计为一次联系，下次联系自走访之日起计算",
        )

    @staticmethod
    def _start_option(linked: Process, req: ActionRequest) -> str | None:
        options = linked.starts_for(req.actor.agency.agency_type)
        return options[0].step if options else None

    def _linked_facts(self, linked: Process, req: ActionRequest) -> dict[str, Any]:
        """The linked process's start form, filled from the visit: what was found (its first required
        text), when (its date of what happened), where the child lives (its committee)."""
        p = req.payload
        # What the visit form carried of the linked start form (Field kind facts) first; the visit's own
        # date and committee always win, its findings fill the first required text left blank.
        facts: dict[str, Any] = dict(p.get("linked_facts") or {})
        text_given = False
        for f in linked.start_fields:
            if f.role == FieldRole.occurred_on:
                facts[f.name] = p["done_on"]
            elif f.role == FieldRole.residence_committee and self.kept.village_committee:
                facts[f.name] = self.kept.village_committee.id
            elif f.kind == FieldKind.textarea and f.required and not text_given:
                facts.setdefault(f.name, p["findings"])
                text_given = True
        return facts

    # ------------------------------------------------------------------ ending

    async def on_case_action(self, req: ActionRequest) -> None:  # pragma: no cover - the process has none
        raise DomainError("action_not_allowed", "本流程没有案件层面的操作")

    async def _moved_away(self, req: ActionRequest) -> None:
        """Handed to civil affairs of the new county on the main track; the visits end with it."""
        await self.hand_over(
            req,
            destination=req.payload["destination_region"],
            receiver_type=T.civil_affairs,
            packet={"destination_address": req.payload.get("destination_address", "")},
        )
        visit = self._st.steps.get("visit")
        if visit is not None:
            # Taken by the system, as a lapse is (workflows/oversight.py): the child is no longer here.
            system = Actor(user_id=None, user_name="系统（儿童迁出）", agency=visit.holder, role=Role.operator)
            end = ActionRequest(
                request_id=f"visits-end-{self._st.case_no}-{visit.seq}",
                actor=system,
                action="visits_end",
                step=visit.step,
                step_seq=visit.seq,
            )
            await self.end_track(end, "visit")

    async def _acknowledged(self, step: StepState, req: ActionRequest) -> None:
        """Civil affairs of the new county has the child: this case closes as moved; asked to, that county
        follows the child in a case of its own, linked to this one."""
        follow_on = None
        if req.payload.get("continue_here"):
            county = step.holder.region_code
            chosen = req.payload.get("destination_committee_id")
            committee = await self.resolve(T.village_committee, county, prefer_id=chosen) if chosen else None
            follow_on = await self.start_follow_on(
                req,
                county=county,
                village_committee=committee,
                start_step="contact",
                facts={"categories": self._categories(), "known": f"由{self._st.case_no}移交"},
            )
        told = self.handover_acknowledged(step.holder)
        await self.close(req, "moved", notify=told, payload={"follow_on": follow_on} if follow_on else None)

    def _categories(self) -> list[str]:
        labels = str(self._st.summary.get("categories") or "").split("、")
        return [v for v, label in CATEGORIES if label in labels]

    async def on_child_adult(self) -> None:
        """At 16 the follow-up ends, unless a protection case of the child is open: then it goes on while
        that case is open (asked again every PROTECTION_RECHECK), and ends at 18 whatever."""
        st = self._st
        until = start_of_local_day(birthday(st.child.birth_date, PROTECTED_UNTIL_AGE))
        now = workflow.now()
        if now < until and await self._protection_open():
            st.close_at = min(until, now + PROTECTION_RECHECK)
            if not self.kept.past_age:
                self.kept.past_age = True
                await self.record(
                    None,
                    Change(),
                    kind="age_reached",
                    note=f"儿童已年满{FOLLOWUP.closes_at_age}周岁；保护案件尚未结案，继续关爱服务",
                )
            return
        age = PROTECTED_UNTIL_AGE if now >= until else FOLLOWUP.closes_at_age
        await self.close(None, "aged_out", kind="closed", note=f"儿童已年满{age}周岁，关爱服务自动结束")

    async def _protection_open(self) -> bool:
        deployed = [p for p in PROTECTION_PROCESSES if p in PROCESSES]
        if not deployed:
            return False
        open_cases = await workflow.execute_activity(
            names.OPEN_CASES_OF_CHILD,
            OpenCasesQuery(child_id=self._st.child.id, processes=deployed),
            result_type=list[str],
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=WRITE_RETRY,
        )
        return bool(open_cases)

    # ------------------------------------------------------------------ checks beyond the definition

    def check_action(self, step: StepState, req: ActionRequest, payload: dict[str, Any]) -> None:
        if (step.step, req.action) == ("contact", "moved_away"):
            self.check_handover(payload["destination_region"])
        chosen = payload.get("open_case") if (step.step, req.action) == ("home_visit", "record_visit") else None
        if not chosen:
            return
        linked = PROCESSES.get(chosen)
        if linked is None:
            raise DomainError("process_unavailable", "该流程尚未在本系统上线，请线下转介", field="open_case")
        if self._start_option(linked, req) is None:
            raise DomainError("not_permitted", f"本单位类型不能开立“{linked.label}”案件", field="open_case")
        try:
            clean_payload(
                linked.start_fields,
                self._linked_facts(linked, req.model_copy(update={"payload": payload})),
                today=self._today(),
            )
        except DomainError as e:
            raise DomainError(
                "field_invalid",
                f"“{linked.label}”立案还需要走访记录以外的信息，请在“关联案件的立案信息”中填写（{e.message}）",
                field="open_case",
            ) from None
