"""Benchmark of the read paths clerks and supervisors use, at city scale.

Starts a throwaway embedded PostgreSQL in a temporary directory, migrates and seeds it like the tests do,
bulk-loads the projection of N cases (default 20,000) as the workflows would have written it, then times
the service functions behind the pages (no Temporal: only what reads the database) and prints a table of
median and p95 milliseconds, the setup time, the database size and the process's peak RSS. Every statement
a benchmark runs is EXPLAIN ANALYZEd once, to show sequential scans on the big tables.

    .venv/bin/python -m bench.lists [--cases N] [--reps R]      (or: make bench BENCH_ARGS="--cases N")

Nothing is hard-coded: every figure printed is measured in this run.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import math
import os
import random
import re
import resource
import shutil
import statistics
import tempfile
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.cases import lists
from api.cases.report import monthly_report
from api.cases.visibility import visible_from_seq
from api.principal import Principal, load_principal
from db.case_reads import BACKFILL_SQL
from db.embedded import embedded_server, ensure_database
from db.migrate import upgrade
from db.models import Case, CaseStep, Document, TimelineEvent
from db.seed import make_id_number, seed_demo, seed_regions
from db.session import make_engine, make_session_factory, transaction
from domain.deadlines import StepDeadlines, compute_deadlines, local_date
from domain.enums import AgencyType as T
from domain.ids import case_number, case_year
from domain.oversight import overseer_type
from domain.policy import Allowance, Unit
from domain.process import CLOSE, Process
from domain.processes import POLICY_DEFAULTS, get_process
from domain.regions import CHANGZHI_COUNTIES, CITY_CODE, RegionLevel, all_regions
from domain.workdays import WorkCalendar

DB_NAME = "referrals_bench"
SLOW_MS = 50.0  # a read path slower than this (median) at 20k cases deserves a look
# The tables that grow with the number of cases: a sequential scan of one of these is worth a look.
BIG_TABLES = frozenset(
    "cases case_steps case_parties timeline_events notifications notification_reads children guardians documents"
    " case_requests".split()
)

# Copied from workflows/oversight.py (importing workflows would pull in the Temporal sandbox code).
LEVEL_LABELS = {1: "已逾期", 2: "逾期未办，已报县级督导", 3: "严重逾期，已报市级督导"}
ACTIVITY_KINDS = {"opened", "action", "urged", "extended", "reassigned"}  # as activities/cases.py counts them

# Urban 潞州区 carries the most cases; the mountain counties the fewest.
COUNTY_WEIGHTS: dict[str, float] = {
    "140403": 3.0,
    "140404": 1.6,
    "140405": 1.2,
    "140406": 1.0,
    "140423": 1.0,
    "140425": 0.6,
    "140426": 0.6,
    "140427": 0.8,
    "140428": 1.0,
    "140429": 0.7,
    "140430": 0.6,
    "140431": 0.6,
}

# The main track's steps a case has gone through, in order (the last is the open one if the case is open),
# with a weight: the paths domain/processes/*.py allows.
PATHS: dict[str, list[tuple[float, tuple[str, ...]]]] = {
    "guardianship": [
        (10, ("admonition",)),
        (8, ("admonition", "admonition_followup")),
        (12, ("admonition", "admonition_followup", "monitoring")),
        (4, ("admonition", "admonition_followup", "police_report")),
        (6, ("police_report",)),
        (8, ("police_report", "police_decision")),
        (6, ("police_report", "police_decision", "reprimand")),
        (8, ("police_report", "police_decision", "reprimand", "family_education_guidance")),
        (10, ("police_report", "police_decision", "reprimand", "family_education_guidance", "monitoring")),
        (3, ("police_report", "police_decision", "reprimand", "family_education_guidance", "guidance_noncompliance")),
        (5, ("police_report", "police_decision", "monitoring")),
        (3, ("reprimand", "family_education_guidance", "monitoring")),
        (2, ("admonition", "admonition_followup", "monitoring", "handover")),
    ],
    "dropout_return": [
        (12, ("school_contact",)),
        (14, ("school_contact", "consolidation")),
        (12, ("school_contact", "joint_persuasion")),
        (12, ("school_contact", "joint_persuasion", "consolidation")),
        (4, ("school_contact", "joint_persuasion", "written_order")),
        (5, ("school_contact", "joint_persuasion", "written_order", "order_compliance")),
        (4, ("school_contact", "joint_persuasion", "written_order", "order_compliance", "legal_action")),
        (
            1,
            (
                "school_contact",
                "joint_persuasion",
                "written_order",
                "order_compliance",
                "legal_action",
                "unresolved_signoff",
            ),
        ),
        (4, ("school_contact", "locate")),
        (2, ("school_contact", "locate", "handover")),
        (2, ("school_contact", "joint_persuasion", "locate", "joint_persuasion")),
        (3, ("school_contact", "consolidation", "school_contact")),
    ],
}
# How a closed case ended, by the last step it was at (else the weighted fallback).
OUTCOME_BY_LAST: dict[tuple[str, str], str] = {
    ("guardianship", "monitoring"): "resolved",
    ("guardianship", "handover"): "moved",
    ("dropout_return", "consolidation"): "returned",
    ("dropout_return", "handover"): "moved",
    ("dropout_return", "unresolved_signoff"): "unresolved",
}
OUTCOME_FALLBACK: dict[str, list[tuple[float, str]]] = {
    "guardianship": [(80, "resolved"), (15, "adult"), (5, "long_term_guardianship")],
    "dropout_return": [(85, "returned"), (15, "aged_out")],
}
LEVEL_WEIGHTS = (0.55, 0.2, 0.12, 0.13)  # escalation level an open step is aimed at (0: not yet due)

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
    "余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
)
GIVEN = "子浩宇轩涵怡欣梓晨雨思佳俊杰泽博文明娜婷雪琪一诺安然嘉乐天瑞鑫磊强丽华建国秀英志伟小红"
VILLAGES = ("南庄", "北坡", "东沟", "西岭", "后河", "前营", "马村", "李家庄", "王家峪", "新民")
CLASSES = (
    "一年级一班",
    "二年级二班",
    "三年级一班",
    "四年级二班",
    "五年级三班",
    "六年级一班",
    "初一（2）班",
    "初二（1）班",
)

# The columns each COPY fills, as db/models.py names them.
COLUMNS: dict[str, list[str]] = {
    "children": (
        "id name sex id_number birth_date origin_region residence_region residence_committee_id address "
        "school created_at created_by_agency_id"
    ).split(),
    "guardians": "id child_id name relation phone is_guardian".split(),
    "case_requests": "id agency_id idempotency_key request_hash case_no created_at".split(),
    "cases": (
        "id case_no process child_id county status outcome main_step started_by_agency_id facts "
        "opened_at closed_at last_activity_at last_seq summary automation_error"
    ).split(),
    "case_steps": (
        "case_id track step step_seq holder_agency_id holder_type holder_region co_holder_ids opened_at "
        "due_at level2_at level3_at due_provisional allowance escalation_level counters"
    ).split(),
    "case_parties": "case_id agency_id role visible_from_seq".split(),
    "timeline_events": (
        "id case_id seq at kind track action from_step to_step actor_user_id actor_agency_id actor_name "
        "actor_agency_name note payload due_at"
    ).split(),
    "documents": "id case_id seq kind title fields created_at".split(),
    "notifications": "id case_id seq agency_id user_id role kind title created_at".split(),
    "notification_reads": "notification_id user_id read_at".split(),
}
SERIAL_TABLES = ("children", "guardians", "case_requests", "cases", "timeline_events", "documents", "notifications")


# ---------------------------------------------------------------------------- the registry the seed made


@dataclass(frozen=True)
class Ag:
    id: int
    code: str
    name: str
    type: str
    region: str
    township: str | None


@dataclass
class Registry:
    by_region_type: dict[tuple[str, str], list[Ag]]  # the default first
    operator: dict[int, tuple[int, str]]  # agency id -> (user id, display name)
    supervisor: dict[int, tuple[int, str]]

    def one(self, region: str, t: T) -> Ag:
        return self.by_region_type[(region, t.value)][0]

    def all(self, region: str, t: T) -> list[Ag]:
        return self.by_region_type[(region, t.value)]

    def town_of(self, vc: Ag) -> Ag:
        towns = self.all(vc.region, T.township)
        return next((a for a in towns if a.township == vc.township), towns[0])


def load_registry(conn: psycopg.Connection) -> Registry:
    by_region_type: dict[tuple[str, str], list[Ag]] = defaultdict(list)
    rows = conn.execute(
        "SELECT id, code, name, agency_type, region_code, township FROM agencies"
        " WHERE is_active ORDER BY is_default DESC, id"
    ).fetchall()
    for r in rows:
        a = Ag(*r)
        by_region_type[(a.region, a.type)].append(a)
    operator: dict[int, tuple[int, str]] = {}
    supervisor: dict[int, tuple[int, str]] = {}
    for uid, agency_id, role, name, title in conn.execute(
        "SELECT id, agency_id, role, display_name, title FROM users ORDER BY id"
    ):
        if role == "operator" and title is None:
            operator.setdefault(agency_id, (uid, name))
        elif role == "supervisor":
            supervisor.setdefault(agency_id, (uid, name))
    return Registry(dict(by_region_type), operator, supervisor)


# ---------------------------------------------------------------------------- deadlines


class CachedCalendar(WorkCalendar):
    """The statutory calendar with its answers remembered: for a year the package does not know it answers
    by raising, which makes the ~100k deadline computations of a load take minutes."""

    def __init__(self) -> None:
        super().__init__()
        self._exact: dict[int, bool] = {}
        self._working: dict[date, bool] = {}

    def is_exact(self, year: int) -> bool:
        if year not in self._exact:
            self._exact[year] = super().is_exact(year)
        return self._exact[year]

    def is_working_day(self, d: date) -> bool:
        if d not in self._working:
            self._working[d] = super().is_working_day(d)
        return self._working[d]


class Deadlines:
    """domain.deadlines.compute_deadlines, remembered: for day units the answer depends only on the local
    date the step opened (hours are cheap and computed every time)."""

    def __init__(self) -> None:
        self.cal = CachedCalendar()
        self._memo: dict[tuple[date, str], StepDeadlines] = {}

    def __call__(self, base: datetime, allowance: Allowance) -> StepDeadlines:
        if allowance.unit == Unit.hours:
            return compute_deadlines(base, allowance, self.cal)
        key = (local_date(base), str(allowance))
        if key not in self._memo:
            self._memo[key] = compute_deadlines(base, allowance, self.cal)
        return self._memo[key]


def allowance_of(process: Process, step: str) -> Allowance:
    key = process.step(step).policy_key
    # order_compliance is due on the date the written order sets: the default compliance period.
    return POLICY_DEFAULTS[key or "dropout.written_order_comply"].value


def level_at(d: StepDeadlines, now: datetime) -> int:
    return sum(1 for t in (d.due_at, d.level2_at, d.level3_at) if t <= now)


# ---------------------------------------------------------------------------- the plan of each case


@dataclass
class Kid:
    id: int
    vc: Ag
    school: Ag | None


@dataclass
class Plan:
    process: str
    county: str
    path: tuple[str, ...]
    times: list[datetime]  # when each step of the path opened; times[0] is when the case opened
    closed_at: datetime | None
    outcome: str | None
    safety: tuple[str, datetime] | None  # an open side-track step (a child in temporary guardianship)
    events: int  # how many timeline events the case aims at
    kid: Kid | None = None


X = TypeVar("X")


def weighted(rng: random.Random, options: list[tuple[float, X]]) -> X:
    return rng.choices([o for _, o in options], [w for w, _ in options])[0]


def plan_cases(n: int, rng: random.Random, now: datetime, open_share: float, dl: Deadlines) -> list[Plan]:
    counties = list(COUNTY_WEIGHTS)
    weights = list(COUNTY_WEIGHTS.values())
    offsets: dict[str, tuple[timedelta, timedelta, timedelta]] = {}
    plans = []
    for _ in range(n):
        name = "guardianship" if rng.random() < 0.55 else "dropout_return"
        process = get_process(name)
        county = rng.choices(counties, weights)[0]
        path = weighted(rng, PATHS[name])
        gaps = [timedelta(days=rng.uniform(0.5, 25)) for _ in path[1:]]
        safety = None
        if rng.random() < open_share:
            # Aim the open step at an escalation level: when it opened follows from its deadlines.
            a = allowance_of(process, path[-1])
            if str(a) not in offsets:
                d = dl(now, a)
                offsets[str(a)] = (d.due_at - now, d.level2_at - now, d.level3_at - now)
            o1, o2, o3 = offsets[str(a)]
            level = rng.choices(range(4), LEVEL_WEIGHTS)[0]
            zero = timedelta(0)
            low, high = [(zero, o1), (o1, o2), (o2, o3), (o3, o3 + timedelta(days=rng.expovariate(1 / 40)))][level]
            times = [now - (low + (high - low) * rng.random()) - timedelta(minutes=1)]
            for gap in reversed(gaps):
                times.insert(0, times[0] - gap)
            closed_at, outcome = None, None
            if name == "guardianship" and rng.random() < 0.05:
                step = rng.choice(
                    ("temporary_guardianship_intake", "temporary_guardianship", "guardianship_revocation")
                )
                safety = (step, times[0] + (now - times[0]) * rng.uniform(0.2, 0.99))
        else:
            start = now - timedelta(days=30 + 900 * rng.random() ** 1.3)
            times = [start]
            for gap in gaps:
                times.append(times[-1] + gap)
            closed_at = times[-1] + timedelta(days=rng.uniform(1, 60))
            if closed_at > now - timedelta(hours=1):  # a long path from a recent start: shift it back
                shift = closed_at - now + timedelta(days=rng.uniform(0.1, 20))
                times = [t - shift for t in times]
                closed_at -= shift
            outcome = OUTCOME_BY_LAST.get((name, path[-1])) or weighted(rng, OUTCOME_FALLBACK[name])
        plans.append(Plan(name, county, path, times, closed_at, outcome, safety, rng.randint(4, 12)))
    plans.sort(key=lambda p: p.times[0])  # case numbers follow the order cases were opened in
    return plans


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


class Builder:
    """Turns plans into the rows the workflows' record_event activity would have written."""

    def __init__(self, reg: Registry, rng: random.Random, now: datetime, dl: Deadlines, first_ids: dict[str, int]):
        self.reg, self.rng, self.now, self.dl = reg, rng, now, dl
        self.next_id = dict(first_ids)
        self.rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        self.id_numbers: set[str] = set()
        self.kids_by_county: dict[tuple[str, bool], list[Kid]] = defaultdict(list)
        self.counts: Counter[str] = Counter()
        self.levels: Counter[int] = Counter()
        self.serials: Counter[tuple[str, str, int]] = Counter()  # the last case number per (code, county, year)
        non_local = [
            r.code
            for r in all_regions()
            if r.level == RegionLevel.county and not r.historical and not r.code.startswith("1404")
        ]
        self.origins = non_local
        self.people = {uid: name for uid, name in [*reg.operator.values(), *reg.supervisor.values()]}

    def take_id(self, table: str) -> int:
        value = self.next_id[table]
        self.next_id[table] += 1
        return value

    # ------------------------------------------------------------------ children

    def child_for(self, plan: Plan) -> Kid:
        """Most cases concern a new child; some a child the county already has a case for."""
        rng, today = self.rng, local_date(self.now)
        school_age = plan.process == "dropout_return"
        pools = [self.kids_by_county[(plan.county, True)]]
        if not school_age:
            pools.append(self.kids_by_county[(plan.county, False)])
        known = [k for pool in pools for k in pool[-200:]]
        if known and rng.random() < 0.12:
            return rng.choice(known)
        years = rng.uniform(6.1, 16.9) if school_age else rng.uniform(0.5, 17.5)
        birth = today - timedelta(days=int(years * 365.25))
        sex = rng.choice(("male", "female"))
        county = plan.county
        vc = rng.choice(self.reg.all(county, T.village_committee))
        in_school = 6 <= age_on(birth, today) <= 16
        school = rng.choice(self.reg.all(county, T.school)) if in_school else None
        origin = rng.choice(list(CHANGZHI_COUNTIES)) if rng.random() < 0.65 else rng.choice(self.origins)
        while True:  # the sequence is odd for boys and even for girls, and the number unique
            seq = rng.randrange(1 if sex == "male" else 2, 999, 2)
            id_number = make_id_number(origin, birth, seq)
            if id_number not in self.id_numbers:
                self.id_numbers.add(id_number)
                break
        kid = Kid(self.take_id("children"), vc, school)
        surname = rng.choice(SURNAMES)
        created_at = plan.times[0] - timedelta(days=rng.uniform(0, 200))
        village = rng.choice(VILLAGES)
        self.rows["children"].append(
            (
                kid.id,
                surname + "".join(rng.choices(GIVEN, k=rng.randint(1, 2))),
                sex,
                id_number,
                birth,
                origin,
                county,
                vc.id,
                f"{vc.township}{village}村{rng.randint(1, 12)}组{rng.randint(1, 60)}号",
                school.name if school else None,
                created_at,
                (school or vc).id,
            )
        )
        for relation in ("父亲", "母亲")[: rng.randint(1, 2)]:
            given = "".join(rng.choices(GIVEN, k=2))
            self.rows["guardians"].append(
                (
                    self.take_id("guardians"),
                    kid.id,
                    (surname if relation == "父亲" else rng.choice(SURNAMES)) + given,
                    relation,
                    f"139{rng.randrange(10**8):08d}",
                    True,
                )
            )
        self.kids_by_county[(county, in_school)].append(kid)
        return kid

    # ------------------------------------------------------------------ one case

    def holder(
        self, process: str, step: str, county: str, kid: Kid, school: Ag | None, decider: Ag
    ) -> tuple[Ag, list[Ag]]:
        """Who holds a step and who co-holds it, as the workflows choose them."""
        r, rng = self.reg, self.rng
        elsewhere = rng.choice([c for c in CHANGZHI_COUNTIES if c != county])
        if process == "guardianship":
            if step in ("admonition", "admonition_followup", "monitoring"):
                return kid.vc, []
            if step == "handover":
                return rng.choice(r.all(elsewhere, T.village_committee)), []
            if step in ("police_report", "police_decision"):
                return r.one(county, T.police), []
            if step in ("reprimand", "guidance_noncompliance"):
                return decider, []
            if step == "family_education_guidance":
                return r.one(county, T.womens_federation if rng.random() < 0.7 else T.education_bureau), []
            if step == "guardianship_revocation":
                return r.one(county, T.court), []
            return r.one(county, T.civil_affairs), []
        bureau = r.one(county, T.education_bureau)
        if step in ("school_contact", "consolidation"):
            assert school is not None
            return school, []
        if step == "joint_persuasion":
            return bureau, [kid.vc, r.town_of(kid.vc)]
        if step in ("written_order", "order_compliance"):
            return bureau, [r.town_of(kid.vc)]
        if step == "locate":
            return bureau, [r.one(county, T.police)] if rng.random() < 0.3 else []
        if step == "handover":
            return r.one(elsewhere, T.education_bureau), []
        return bureau, []

    def add_case(self, plan: Plan) -> None:
        rng, reg, now = self.rng, self.reg, self.now
        process = get_process(plan.process)
        kid = plan.kid
        assert kid is not None
        county = plan.county
        case_id = self.take_id("cases")
        count = (process.code, county, case_year(plan.times[0]))
        self.serials[count] += 1
        case_no = case_number(process.code, county, self.serials[count], plan.times[0])
        school = kid.school or rng.choice(reg.all(county, T.school))
        decider = reg.one(county, rng.choices((T.police, T.procuratorate, T.court), (8, 1, 1))[0])

        # The starter: who may start at the path's first step (domain/processes/*.py `starts`).
        first = plan.path[0]
        starter_role = "starter"
        if first == "admonition":
            starter = kid.vc
        elif first == "police_report":
            t = rng.choices(
                (T.village_committee, T.school, T.hospital, T.police, T.womens_federation, T.civil_affairs),
                (40, 20, 10, 15, 5, 10),
            )[0]
            starter = kid.vc if t == T.village_committee else (school if t == T.school else reg.one(county, t))
            starter_role = "starter" if t == T.police else "reporter"
        elif first == "reprimand":
            starter = decider
        else:
            starter = school if rng.random() < 0.85 else reg.one(county, T.education_bureau)

        holders = [self.holder(plan.process, s, county, kid, school, decider) for s in plan.path]
        parties: dict[int, tuple[str, Any]] = {starter.id: (starter_role, None)}  # agency -> (role, event)
        if plan.process == "guardianship":
            for a in (kid.vc, reg.one(county, T.civil_affairs)):
                parties.setdefault(a.id, ("participant", None))

        events: list[Ev] = []
        step_events: list[Ev] = []  # the event that opened each step of the path
        open_end = plan.closed_at or now
        for i, step in enumerate(plan.path):
            holder, co = holders[i]
            at = plan.times[i]
            d = self.dl(at, allowance_of(process, step))
            label = process.step_label(step)
            if i == 0:
                actor = starter
                ev = Ev(at, "opened", "main", None, None, step, actor, reg.operator[actor.id][0], due_at=d.due_at)
                ev.note = "监护人长期外出，儿童独自在家" if plan.process == "guardianship" else "学生连续多日未到校"
            else:
                prev, (prev_holder, _) = plan.path[i - 1], holders[i - 1]
                action = self.action_to(process, prev, step)
                actor = prev_holder
                ev = Ev(at, "action", "main", action, prev, step, actor, reg.operator[actor.id][0], due_at=d.due_at)
                if prev == "reprimand":
                    ev.document = ("reprimand", "训诫书", {"issued_on": f"{local_date(at)}"})
                if prev == "written_order":
                    ev.document = ("written_order", "责令限期改正通知书", {"issued_on": f"{local_date(at)}"})
                if prev == "police_decision" and starter_role == "reporter":
                    person = reg.operator[starter.id][0]
                    ev.notes.append((starter.id, person, "", "feedback", f"{case_no}：公安机关已作出处理决定"))
            if holder.id != actor.id or i > 0:
                for a in (holder, *co):
                    ev.notes.append((a.id, None, "", "new_step", f"新的待办：{label}"))
            role = "receiver" if step == "handover" else "holder"
            ev.grants = [(holder, role), *((a, "co_holder") for a in co)]
            events.append(ev)
            step_events.append(ev)

        # Notes on the steps while they were open (recorded attempts, visits, or a supervisor's urging).
        while len(events) < plan.events:
            at = plan.times[0] + (open_end - plan.times[0]) * rng.uniform(0.01, 0.99)
            i = max(k for k in range(len(plan.path)) if plan.times[k] <= at)
            step, (holder, co) = plan.path[i], holders[i]
            stays = [a.name for a in process.step(step).actions if "" in a.to]
            label = process.step_label(step)
            if stays and rng.random() < 0.8:
                actor = rng.choice([holder, *co]) if co else holder
                ev = Ev(at, "action", "main", rng.choice(stays), step, step, actor, reg.operator[actor.id][0])
                ev.note = "已入户走访，监护人表示配合"
            else:
                overseer = reg.one(holder.region, overseer_type(T(holder.type)))
                ev = Ev(at, "urged", "main", "urge", step, step, overseer, reg.supervisor[overseer.id][0])
                ev.note = "请抓紧办理"
                ev.notes.append((holder.id, None, "", "urged", f"{case_no}「{label}」被督办"))
            events.append(ev)

        steps: list[tuple[str, Ev, Ag, list[Ag], StepDeadlines, str]] = []
        if plan.closed_at is not None:
            last = plan.path[-1]
            holder = holders[-1][0]
            if plan.outcome == process.aged_out_outcome:  # closed by the workflow's own timer
                ev = Ev(plan.closed_at, "closed", "main", None, last, CLOSE, None, None)
            else:
                action = self.action_to(process, last, CLOSE)
                ev = Ev(plan.closed_at, "action", "main", action, last, CLOSE, holder, reg.operator[holder.id][0])
            outcome_label = process.outcome_label(plan.outcome)
            ev.notes.append(
                (
                    starter.id,
                    reg.operator[starter.id][0],
                    "",
                    "closed",
                    f"{case_no}：您登记的案件已结案（{outcome_label}）",
                )
            )
            events.append(ev)
        else:
            holder, co = holders[-1]
            opened = step_events[-1]
            d = self.dl(opened.at, allowance_of(process, plan.path[-1]))
            steps.append(("main", opened, holder, co, d, plan.path[-1]))
            if plan.safety:
                step, at = plan.safety
                holder = reg.one(county, T.court if step == "guardianship_revocation" else T.civil_affairs)
                police = reg.one(county, T.police)
                action = "place_temporary_guardianship"  # the case action that opens the safety track
                ev = Ev(at, "action", "safety", action, None, step, police, reg.operator[police.id][0])
                ev.notes.append((holder.id, None, "", "new_step", f"新的待办：{process.step_label(step)}"))
                ev.grants = [(holder, "holder")]
                events.append(ev)
                steps.append(("safety", ev, holder, [], self.dl(at, allowance_of(process, step)), step))
            # The escalation ladder the open steps have climbed (domain/oversight.py picks the audience).
            for track, _, holder, _, d, step in steps:
                level = level_at(d, now)
                label = process.step_label(step)
                for lv, at in zip(range(1, level + 1), (d.due_at, d.level2_at, d.level3_at), strict=False):
                    ev = Ev(at, "escalated", track, None, step, step, None, None)
                    ev.note, ev.payload = LEVEL_LABELS[lv], {"level": lv}
                    title = f"{case_no}「{label}」{LEVEL_LABELS[lv]}"
                    if lv == 1:
                        ev.notes.append((holder.id, None, "", "overdue", title))
                    else:
                        region = holder.region if lv == 2 else CITY_CODE
                        for a in reg.all(region, overseer_type(T(holder.type))):
                            ev.notes.append((a.id, None, "supervisor", "escalated", title))
                    events.append(ev)

        # Seq follows time, as the workflow appends its events.
        events.sort(key=lambda e: e.at)
        for seq, ev in enumerate(events, 1):
            ev.seq = seq
        last_activity = max(e.at for e in events if e.kind in ACTIVITY_KINDS)
        for ev in events:
            for a, role in ev.grants:
                if a.id not in parties:
                    parties[a.id] = (role, ev)

        relapses = sum(
            1 for a, b in zip(plan.path, plan.path[1:], strict=False) if (a, b) == ("consolidation", "school_contact")
        )
        summary = {"school": school.name, "relapses": relapses} if plan.process == "dropout_return" else {}
        if plan.process == "guardianship":
            facts = {
                "facts": "监护人长期外出，儿童独自在家",
                "occurred_on": f"{local_date(plan.times[0])}",
                "village_committee_id": kid.vc.id,
                "guardian_aware": rng.random() < 0.5,
            }
        else:
            absent_to = local_date(plan.times[0]) - timedelta(days=1)
            facts = {
                "school_id": school.id,
                "class_name": rng.choice(CLASSES),
                "absent_from": f"{absent_to - timedelta(days=rng.randint(10, 30))}",
                "absent_to": f"{absent_to}",
                "known": "家长称孩子不愿上学，电话多次联系未果",
                "village_committee_id": kid.vc.id,
            }
        error = "ActivityError: record_event timed out" if plan.closed_at is None and rng.random() < 0.003 else None
        self.rows["case_requests"].append(
            (
                self.take_id("case_requests"),
                starter.id,
                f"{rng.getrandbits(128):032x}",
                f"{rng.getrandbits(256):064x}",
                case_no,
                plan.times[0],
            )
        )
        self.rows["cases"].append(
            (
                case_id,
                case_no,
                plan.process,
                kid.id,
                county,
                "closed" if plan.closed_at else "open",
                plan.outcome,
                None if plan.closed_at else plan.path[-1],
                starter.id,
                Jsonb(facts),
                plan.times[0],
                plan.closed_at,
                last_activity,
                len(events),
                Jsonb(summary),
                error,
            )
        )
        self.counts["open" if plan.closed_at is None else "closed"] += 1
        for track, opened, holder, co, d, step in steps:
            level = level_at(d, now)
            self.levels[level] += 1
            counters = self.counters(step)
            self.rows["case_steps"].append(
                (
                    case_id,
                    track,
                    step,
                    opened.seq,
                    holder.id,
                    holder.type,
                    holder.region,
                    [a.id for a in co],
                    opened.at,
                    d.due_at,
                    d.level2_at,
                    d.level3_at,
                    d.provisional,
                    d.allowance,
                    level,
                    Jsonb(counters),
                )
            )
        for agency_id, (role, ev) in parties.items():
            since = ev.seq if role == "receiver" and ev is not None else 0
            self.rows["case_parties"].append((case_id, agency_id, role, since))
        for ev in events:
            self.add_event(case_id, ev)

    def action_to(self, process: Process, step: str, to: str) -> str:
        actions = process.step(step).actions
        found = next((a.name for a in actions if to in a.to), None)
        if found is None:  # a case-level action (a hand-over, placing the child) or the aged-out close
            found = next((a.name for a in process.case_actions if to in a.to), actions[0].name)
        return found

    def counters(self, step: str) -> dict[str, int]:
        rng = self.rng
        return {
            "joint_persuasion": {"attempts": rng.randint(0, 4), "home_visits": rng.randint(0, 2)},
            "legal_action": {"measures": rng.randint(0, 3)},
            "consolidation": {"checks": rng.randint(0, 1)},
            "family_education_guidance": {"sessions": rng.randint(0, 2)},
            "monitoring": {"visits": rng.randint(0, 1)},
        }.get(step, {})

    def add_event(self, case_id: int, ev: Ev) -> None:
        reg, rng, now = self.reg, self.rng, self.now
        actor = ev.actor
        actor_name = self.people.get(ev.actor_user) if ev.actor_user is not None else None
        self.rows["timeline_events"].append(
            (
                self.take_id("timeline_events"),
                case_id,
                ev.seq,
                ev.at,
                ev.kind,
                ev.track,
                ev.action,
                ev.from_step,
                ev.to_step,
                ev.actor_user,
                actor.id if actor else None,
                actor_name,
                actor.name if actor else None,
                ev.note,
                Jsonb(ev.payload),
                ev.due_at,
            )
        )
        if ev.document:
            kind, title, fields = ev.document
            self.rows["documents"].append(
                (self.take_id("documents"), case_id, ev.seq, kind, title, Jsonb(fields), ev.at)
            )
        for agency_id, user_id, role, kind, title in dict.fromkeys(ev.notes):
            nid = self.take_id("notifications")
            self.rows["notifications"].append((nid, case_id, ev.seq, agency_id, user_id, role, kind, title, ev.at))
            # Most of what is older than a week has been read by the person it is for; recent less so.
            # An agency with no such user (the seed gives some none) leaves its notices unread.
            reader = user_id or (reg.supervisor if role == "supervisor" else reg.operator).get(agency_id, (None,))[0]
            if reader is not None and rng.random() < (0.85 if now - ev.at > timedelta(days=7) else 0.4):
                read_at = min(ev.at + timedelta(hours=rng.uniform(0.5, 72)), now)
                self.rows["notification_reads"].append((nid, reader, read_at))


@dataclass
class Ev:
    at: datetime
    kind: str
    track: str | None
    action: str | None
    from_step: str | None
    to_step: str | None
    actor: Ag | None
    actor_user: int | None
    due_at: datetime | None = None
    note: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    notes: list[tuple[int, int | None, str, str, str]] = field(default_factory=list)
    grants: list[tuple[Ag, str]] = field(default_factory=list)
    document: tuple[str, str, dict[str, Any]] | None = None
    seq: int = 0


# ---------------------------------------------------------------------------- setup


class Copier:
    """COPY into one table at a time, counting rows and the seconds spent (apart from building them)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.rows: Counter[str] = Counter()
        self.seconds = 0.0

    def __call__(self, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
        started = time.perf_counter()
        with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)
                self.rows[table] += 1
        self.seconds += time.perf_counter() - started


async def migrate_and_seed(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    async with transaction(make_session_factory(engine)) as s:
        await seed_regions(s)
        await seed_demo(s)
    await engine.dispose()


def bulk_load(url: str, n: int, seed: int, open_share: float, now: datetime) -> dict[str, Any]:
    """Plans and inserts N cases with COPY, chunk by chunk (memory stays flat); returns what was made."""
    started = time.perf_counter()
    rng = random.Random(seed)
    dl = Deadlines()
    with psycopg.connect(url) as conn:
        copy = Copier(conn)
        reg = load_registry(conn)
        first_ids = {
            t: conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in SERIAL_TABLES
        }
        b = Builder(reg, rng, now, dl, first_ids)
        plans = plan_cases(n, rng, now, open_share, dl)
        for p in plans:
            p.kid = b.child_for(p)
        for table in ("children", "guardians"):
            copy(table, b.rows.pop(table))
        chunk = 2000
        for start in range(0, len(plans), chunk):
            for p in plans[start : start + chunk]:
                b.add_case(p)
            for table in COLUMNS:
                if table in b.rows:
                    copy(table, b.rows.pop(table))
        for t in SERIAL_TABLES:  # the app's own inserts must not collide with the ids given here
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}))")
        with conn.cursor() as cur:  # the app's own cases continue each count
            cur.executemany(
                "INSERT INTO case_counters (code, county, year, last) VALUES (%s, %s, %s, %s)",
                [(*count, last) for count, last in b.serials.items()],
            )
        conn.commit()
        # The read columns (migration 0019) as its backfill makes them: COPY fills the base tables only.
        with conn.cursor() as cur:
            for statement in BACKFILL_SQL.split(";"):
                if statement.strip():
                    cur.execute(statement)
        conn.commit()
    loaded = time.perf_counter()
    # Production tables are vacuumed and analysed by autovacuum; do it now rather than wait for it.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return {
        "rows": copy.rows,
        "cases": b.counts,
        "levels": b.levels,
        "build_s": loaded - started - copy.seconds,
        "copy_s": copy.seconds,
        "vacuum_s": time.perf_counter() - loaded,
    }


# ---------------------------------------------------------------------------- measuring


@dataclass
class Explained:
    seconds: float
    sql: str
    plan: list[str]
    seq_scans: list[str]


@dataclass
class Result:
    what: str
    rows: int
    note: str
    samples: list[float]  # seconds
    alloc_peak: int  # bytes the Python heap grew to during one call
    sql_seconds: float = 0.0  # time spent in the driver's execute, summed over one call's statements
    statement_count: int = 0  # statements one call runs (SELECTs, and the audit INSERT of a report)
    statements: list[Explained] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def p95_ms(self) -> float:
        return statistics.quantiles(self.samples, n=20, method="inclusive")[18] * 1000

    @property
    def seq_scans(self) -> list[str]:
        return sorted({t for s in self.statements for t in s.seq_scans})


Call = Callable[[AsyncSession], Awaitable[tuple[int, str]]]


class Capture:
    """The statements one call runs (with their driver parameters), for EXPLAIN afterwards."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.target = engine.sync_engine
        self.seen: list[tuple[float, str, Any]] = []

    def __enter__(self) -> Capture:
        # Listening only here keeps the timed calls free of the hooks.
        self.seen.clear()
        event.listen(self.target, "before_cursor_execute", self._before)
        event.listen(self.target, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.target, "before_cursor_execute", self._before)
        event.remove(self.target, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        took = time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())
        self.seen.append((took, statement, parameters))


async def measure(
    sf: async_sessionmaker[AsyncSession], capture: Capture, what: str, call: Call, warmup: int, reps: int
) -> Result:
    async def once() -> tuple[float, int, str]:
        started = time.perf_counter()
        async with sf() as s:  # a session per call, as a request gets one
            rows, note = await call(s)
        return time.perf_counter() - started, rows, note

    for _ in range(warmup):
        await once()
    samples = []
    rows, note = 0, ""
    for _ in range(reps):
        took, rows, note = await once()
        samples.append(took)
    # Memory and statements in separate, untimed calls: tracing slows Python down.
    tracemalloc.start()
    await once()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    with capture:
        await once()
    result = Result(what, rows, note, samples, peak, sum(t for t, _, _ in capture.seen), len(capture.seen))
    for took, sql, params in list(capture.seen):
        if sql.lstrip().upper().startswith(("SELECT", "WITH")):
            result.statements.append(await explain(sf, took, sql, params))
    return result


async def explain(sf: async_sessionmaker[AsyncSession], took: float, sql: str, params: Any) -> Explained:
    async with sf() as s:
        conn = await s.connection()
        res = await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS OFF) " + sql, params or None)
        plan = [r[0] for r in res.all()]
    scanned = {m for line in plan for m in re.findall(r"Seq Scan on (\w+)", line)}
    return Explained(took, sql, plan, sorted(scanned & BIG_TABLES))


# ---------------------------------------------------------------------------- what the pages call


def optional(module: str) -> tuple[ModuleType | None, str]:
    """A module another engineer may be finishing right now: its absence skips benchmarks, not the run."""
    try:
        return importlib.import_module(module), ""
    except Exception as e:  # any failure to import is reported and skipped
        return None, f"{type(e).__name__}: {e}"


async def principals(sf: async_sessionmaker[AsyncSession], names: Iterable[str]) -> dict[str, Principal]:
    out = {}
    async with sf() as s:
        for name in names:
            p = await load_principal(s, name, channel="page")  # as tests/support.py who() builds them
            if p is None:
                raise SystemExit(f"demo user {name} is missing: has db/seed.py changed?")
            out[name] = p
    return out


def list_call(p: Principal, f: lists.CaseFilter) -> Call:
    async def call(s: AsyncSession) -> tuple[int, str]:
        page = await lists.list_cases(session=s, principal=p, f=f)
        return len(page.items), f"total {page.total}, page {page.page}"

    return call


async def build_calls(sf: async_sessionmaker[AsyncSession], now: datetime) -> tuple[list[tuple[str, Call]], list[str]]:
    """(label, call) for each read path, and notes on those skipped."""
    ps = await principals(
        sf,
        [
            "luzhou-police",
            "luzhou-police-sup",
            "city-police-sup",
            "luzhou-civil-sup",
            "city-civil-sup",
            "luzhou-edu-sup",
            "city-edu-sup",
        ],
    )
    calls: list[tuple[str, Call]] = []
    skipped: list[str] = []
    officer = ps["luzhou-police"]

    async def inbox(s: AsyncSession) -> tuple[int, str]:
        page = await lists.inbox(session=s, principal=officer)
        return len(page.items), f"of {page.total}"

    calls.append(("inbox (lists.inbox) luzhou-police, page 1", inbox))

    # The case list: a city supervisor's whole process, and a county one's filtered to overdue in the county.
    wide = lists.CaseFilter(process="guardianship")
    narrow = lists.CaseFilter(process="guardianship", county="140403", overdue=True)
    for name, f in (("city-civil-sup", wide), ("luzhou-police-sup", narrow)):
        async with sf() as s:
            total = (await lists.list_cases(session=s, principal=ps[name], f=f)).total
        last = max(1, math.ceil(total / f.per_page))
        shown = ", ".join(f"{k}={v}" for k, v in f.model_dump(exclude_defaults=True).items())
        calls.append((f"case list p1 {name} ({shown})", list_call(ps[name], f)))
        deep = f.model_copy(update={"page": last})
        calls.append((f"case list p{last} (last) {name}", list_call(ps[name], deep)))

    for name, include in (("luzhou-civil-sup", False), ("city-civil-sup", False), ("city-civil-sup", True)):

        async def stalled(s: AsyncSession, p: Principal = ps[name], include: bool = include) -> tuple[int, str]:
            found = await lists.stalled(session=s, principal=p, include_overdue=include)
            return len(found.items), f"total {found.total}, page {found.page}"

        calls.append((f"stalled{' (all overdue)' if include else ''} {name}", stalled))

    month = date(local_date(now).year, local_date(now).month, 1)
    for name in ("luzhou-edu-sup", "city-edu-sup"):

        async def report(s: AsyncSession, p: Principal = ps[name]) -> tuple[int, str]:
            r = await monthly_report(session=s, principal=p, process=get_process("dropout_return"), month=month)
            return len(r.rows), f"{len(r.groups)} groups"

        calls.append((f"monthly report dropout {month:%Y-%m} {name}", report))

    notes, why = optional("api.notifications.service")
    if notes is None:
        skipped.append(f"notifications inbox and unread count skipped: api.notifications.service: {why}")
    else:
        for name, limit in (("luzhou-police", 10), ("luzhou-police", 51)):

            async def note_inbox(s: AsyncSession, p: Principal = ps[name], limit: int = limit) -> tuple[int, str]:
                return len(await notes.inbox(s, p, limit=limit)), ""

            calls.append((f"notifications inbox limit={limit} {name}", note_inbox))
        for name in ("luzhou-police", "city-civil-sup"):

            async def unread(s: AsyncSession, p: Principal = ps[name]) -> tuple[int, str]:
                return 1, f"{await notes.unread_count(s, p)} unread"

            calls.append((f"unread count (every page) {name}", unread))

    service, why = optional("api.cases.service")
    if service is None:
        skipped.append(f"case detail skipped: api.cases.service: {why}")
    else:
        # The longest open case the county police hold: the detail page a clerk opens most.
        async with sf() as s:
            case_no = (
                await s.execute(
                    select(Case.case_no)
                    .join(CaseStep, CaseStep.case_id == Case.id)
                    .where(CaseStep.holder_agency_id == officer.agency.id, Case.status == "open")
                    .order_by(Case.last_seq.desc(), Case.id)
                    .limit(1)
                )
            ).scalar_one()
        for name in ("luzhou-police", "city-police-sup"):

            async def detail(s: AsyncSession, p: Principal = ps[name]) -> tuple[int, str]:
                # get_case_detail without the Temporal query and without marking the case read.
                case = await service.get_visible_case(s, p, case_no)
                since = await visible_from_seq(s, p, case.id)
                events = (
                    await s.execute(
                        select(TimelineEvent)
                        .where(TimelineEvent.case_id == case.id, TimelineEvent.seq >= since)
                        .order_by(TimelineEvent.seq)
                    )
                ).scalars()
                docs = (
                    await s.execute(
                        select(Document)
                        .where(Document.case_id == case.id, Document.seq >= since)
                        .order_by(Document.seq)
                    )
                ).scalars()
                return len(list(events)), f"{case_no}, {len(list(docs))} documents"

            calls.append((f"case detail (DB part) {name}", detail))
    return calls, skipped


# ---------------------------------------------------------------------------- report


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def print_table(results: list[Result]) -> None:
    width = max(len(r.what) for r in results)
    head = (
        f"{'what':<{width}}  {'rows':>6}  {'median ms':>9}  {'p95 ms':>8}  {'sql ms':>6}  {'stmts':>5}  "
        f"{'py alloc':>9}  seq scans (big tables)"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        flag = " <-- over 50 ms" if r.median_ms > SLOW_MS else ""
        print(
            f"{r.what:<{width}}  {r.rows:>6}  {r.median_ms:>9.2f}  {r.p95_ms:>8.2f}  {r.sql_seconds * 1000:>6.2f}  "
            f"{r.statement_count:>5}  {mib(r.alloc_peak):>9}  "
            f"{', '.join(r.seq_scans) or '-'}{flag}"
        )
        if r.note:
            print(f"{'':<{width}}    ({r.note})")


def compact(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


async def run(args: argparse.Namespace) -> None:
    wall = time.perf_counter()
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="referrals-bench-"))
    server = embedded_server(tmp / "pg")
    engine: AsyncEngine | None = None
    try:
        url = ensure_database(server.get_uri(), DB_NAME)
        await migrate_and_seed(url)
        ready = time.perf_counter()
        now = datetime.now(UTC)
        made = await asyncio.to_thread(bulk_load, url, args.cases, args.seed, args.open_share, now)
        loaded = time.perf_counter()
        rss_setup = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

        engine = make_engine(url)
        sf = make_session_factory(engine)
        capture = Capture(engine)
        calls, skipped = await build_calls(sf, now)
        results = [await measure(sf, capture, what, call, args.warmup, args.reps) for what, call in calls]

        with psycopg.connect(url) as conn:
            size, version, buffers, work_mem = conn.execute(
                "SELECT pg_database_size(current_database()), current_setting('server_version'),"
                " current_setting('shared_buffers'), current_setting('work_mem')"
            ).fetchone()  # type: ignore[misc]
        rss_end = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

        print(
            f"referrals read-path benchmark: {args.cases} cases, {args.warmup} warm-up + {args.reps} timed calls each"
        )
        print(f"PostgreSQL {version} (embedded, shared_buffers={buffers}, work_mem={work_mem}) in {tmp}")
        print()
        rows = made["rows"]
        print("loaded: " + ", ".join(f"{t} {rows[t]:,}" for t in COLUMNS if rows[t]))
        cases, levels = made["cases"], made["levels"]
        print(
            f"cases: {cases['open']:,} open, {cases['closed']:,} closed; open steps by escalation level: "
            + ", ".join(f"L{lv} {levels[lv]:,}" for lv in range(4))
        )
        print(
            f"setup: {loaded - wall:.1f} s (server, migrations and seed {ready - wall:.1f} s; generating rows in Python"
            f" {made['build_s']:.1f} s, COPY {made['copy_s']:.1f} s, VACUUM ANALYZE {made['vacuum_s']:.1f} s)"
        )
        print()
        print_table(results)
        for note in skipped:
            print(f"NOTE: {note}")
        print()
        print(f"database size: {mib(size)} (pg_database_size)")
        # The figures are only as quiet as the machine: say how busy it was.
        print(
            f"load average (1 min): {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end;"
            f" {os.cpu_count()} CPUs, shared with PostgreSQL"
        )
        print(f"peak RSS of this Python process: {mib(rss_setup)} after setup, {mib(rss_end)} at the end")
        print(
            "sql ms: time in the driver's execute (server work and receiving the rows) summed over the statements of"
            " one call (stmts);\n  the rest of the median is Python: building ORM objects, eager loads, the service."
        )
        print("py alloc: peak Python heap allocated during one call (tracemalloc); PostgreSQL's memory is not counted.")

        slowest = max(results, key=lambda r: r.median_ms)
        print()
        print(f"slowest: {slowest.what}: median {slowest.median_ms:.2f} ms")
        if slowest.statements:
            worst = max(slowest.statements, key=lambda s: s.seconds)
            print(f"its slowest statement ({worst.seconds * 1000:.2f} ms when captured):")
            print(f"  {compact(worst.sql)}")
            print("EXPLAIN (ANALYZE, BUFFERS OFF):")
            for line in worst.plan:
                print(f"  {line}")
            scans = worst.seq_scans
            print(f"sequential scans on big tables: {', '.join(scans) if scans else 'none'}")
        if args.plans:
            for r in results:
                for st in r.statements:
                    print()
                    print(f"[{r.what}] {st.seconds * 1000:.2f} ms when captured: {compact(st.sql)}")
                    for line in st.plan:
                        print(f"  {line}")
        slow = [r for r in results if r.median_ms > SLOW_MS]
        print()
        if slow:
            print(f"over {SLOW_MS:.0f} ms median: " + "; ".join(f"{r.what} ({r.median_ms:.1f} ms)" for r in slow))
        else:
            print(f"over {SLOW_MS:.0f} ms median: none")
        print(f"total wall time: {time.perf_counter() - wall:.1f} s")
    finally:
        if engine is not None:
            await engine.dispose()
        server.cleanup()  # stop it before its data directory goes
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20_000, help="cases to load (default 20000)")
    parser.add_argument("--reps", type=int, default=20, help="timed calls per read path (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the generated data")
    parser.add_argument("--open-share", type=float, default=0.5, help="share of cases still open (default 0.5)")
    parser.add_argument("--plans", action="store_true", help="print the plan of every statement, not only the slowest")
    args = parser.parse_args()
    if args.reps < 2:
        parser.error("--reps must be at least 2 (a p95 needs samples)")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
