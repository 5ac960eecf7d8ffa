"""Reference data (regions) and the demo deployment: Changzhi's 12 counties and the city, agencies of
each type in each, one user per agency and role, a few children. Idempotent: running it again adds
only what is missing.

A deployment for another city (Settings.served_city) gets the same shape from the region table: its city's
and each county's agency of every type, a township and a committee per county (`demo_agencies(city)`), with
demo logins only when demo data is asked for; otherwise one administrator with a password of its own."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.security import hash_password
from db.models import Agency, CaseRequest, Child, Guardian, Region, User
from domain.enums import AgencyType as T
from domain.enums import Role
from domain.idnumber import check_character
from domain.process import DemoCase, FieldRole, Process
from domain.processes import PROCESSES
from domain.regions import CHANGZHI_COUNTIES, CITY_CODE, all_regions, served_by
from domain.workdays import WorkCalendar

DEMO_PASSWORD = "demo1234"
# The city civil-affairs bureau runs the system: administrator accounts belong to it (api/admin/users.py).
ADMIN_AGENCY_CODE = "city-civil"

# Short ASCII names for usernames and agency codes.
COUNTY_SLUGS: dict[str, str] = {
    "140403": "luzhou",
    "140404": "shangdang",
    "140405": "tunliu",
    "140406": "lucheng",
    "140423": "xiangyuan",
    "140425": "pingshun",
    "140426": "licheng",
    "140427": "huguan",
    "140428": "zhangzi",
    "140429": "wuxiang",
    "140430": "qinxian",
    "140431": "qinyuan",
    CITY_CODE: "city",
}

# The seat town (or sub-district) of each county, and a second one.
TOWNS: dict[str, tuple[str, str]] = {
    "140403": ("东街街道", "西街街道"),
    "140404": ("韩店街道", "荫城镇"),
    "140405": ("麟绛街道", "渔泽镇"),
    "140406": ("潞华街道", "店上镇"),
    "140423": ("古韩镇", "侯堡镇"),
    "140425": ("青羊镇", "龙溪镇"),
    "140426": ("黎侯镇", "东阳关镇"),
    "140427": ("龙泉镇", "集店镇"),
    "140428": ("丹朱镇", "鲍店镇"),
    "140429": ("丰州镇", "蟠龙镇"),
    "140430": ("定昌镇", "故县镇"),
    "140431": ("沁河镇", "郭道镇"),
}

# (agency type, code suffix, name pattern for a county, name for the city)
SINGLE_AGENCIES: list[tuple[T, str, str, str]] = [
    (T.police, "police", "{c}公安局", "长治市公安局"),
    (T.procuratorate, "procuratorate", "{c}人民检察院", "长治市人民检察院"),
    (T.court, "court", "{c}人民法院", "长治市中级人民法院"),
    (T.civil_affairs, "civil", "{c}民政局", "长治市民政局"),
    (T.education_bureau, "edu", "{c}教育局", "长治市教育局"),
    (T.womens_federation, "wf", "{c}妇女联合会", "长治市妇女联合会"),
    (T.health_commission, "health", "{c}卫生健康和体育局", "长治市卫生健康委员会"),
    (T.hospital, "hospital", "{c}人民医院", "长治市人民医院"),
    (T.counselling_center, "counselling", "{c}心理辅导中心", "长治市心理健康服务中心"),
    (T.youth_league, "youth", "共青团{c}委员会", "共青团长治市委员会"),
    (T.disabled_persons_federation, "dpf", "{c}残疾人联合会", "长治市残疾人联合会"),
    (T.medical_insurance, "mi", "{c}医疗保障局", "长治市医疗保障局"),
    (T.political_legal_committee, "plc", "中共{c}委政法委员会", "中共长治市委政法委员会"),
    (T.social_work_org, "swo", "{c}社会工作服务中心", "长治市社会工作服务中心"),
]


@dataclass(frozen=True)
class AgencySeed:
    code: str
    name: str
    agency_type: T
    region_code: str
    township: str | None = None
    is_default: bool = False
    # A unit that works cases but supervises none (a guidance station): no supervisor account, so the
    # escalations to its type's supervisors in the county do not reach it.
    supervises: bool = True


def demo_agencies(city: str = CITY_CODE) -> list[AgencySeed]:
    """The agencies of the deployment serving `city`: Changzhi's demo, or another city's from the region table."""
    if city != CITY_CODE:
        return city_agencies(city)
    out: list[AgencySeed] = []
    for t, suffix, _, city_name in SINGLE_AGENCIES:
        out.append(AgencySeed(f"city-{suffix}", city_name, t, CITY_CODE, is_default=True))
    for code, county in CHANGZHI_COUNTIES.items():
        slug = COUNTY_SLUGS[code]
        for t, suffix, pattern, _ in SINGLE_AGENCIES:
            out.append(AgencySeed(f"{slug}-{suffix}", pattern.format(c=county), t, code, is_default=True))
        town1, town2 = TOWNS[code]
        out.append(
            AgencySeed(
                f"{slug}-town1",
                f"{county}{town1}办事处" if town1.endswith("街道") else f"{county}{town1}人民政府",
                T.township,
                code,
                town1,
                True,
            )
        )
        out.append(
            AgencySeed(
                f"{slug}-town2",
                f"{county}{town2}办事处" if town2.endswith("街道") else f"{county}{town2}人民政府",
                T.township,
                code,
                town2,
            )
        )
        out.append(
            AgencySeed(f"{slug}-vc1", f"{county}{town1}城北社区居民委员会", T.village_committee, code, town1, True)
        )
        out.append(AgencySeed(f"{slug}-vc2", f"{county}{town2}南庄村民委员会", T.village_committee, code, town2))
        out.append(AgencySeed(f"{slug}-school1", f"{county}实验小学", T.school, code, town1, True))
        out.append(AgencySeed(f"{slug}-school2", f"{county}第二中学", T.school, code, town1))
    return [*out, *guidance_stations(), *police_stations()]


def city_agencies(city: str) -> list[AgencySeed]:
    """Another city's: the city's and each county's agency of every type (named like Changzhi's), and in each
    county a township and its committee to receive cases. Codes: `city-…` for the city (so the administrator
    belongs to its civil affairs, ADMIN_AGENCY_CODE), the county's region code for a county (`410105-civil`)."""
    served = served_by(city)
    out = [
        AgencySeed(f"city-{suffix}", city_name.replace("长治市", served.name), t, served.city, is_default=True)
        for t, suffix, _, city_name in SINGLE_AGENCIES
    ]
    for code, county in served.counties:
        for t, suffix, pattern, _ in SINGLE_AGENCIES:
            out.append(AgencySeed(f"{code}-{suffix}", pattern.format(c=county), t, code, is_default=True))
        town = "城关街道"
        out.append(AgencySeed(f"{code}-town1", f"{county}{town}办事处", T.township, code, town, True))
        out.append(
            AgencySeed(f"{code}-vc1", f"{county}{town}城关社区居民委员会", T.village_committee, code, town, True)
        )
    return out


def guidance_stations() -> list[AgencySeed]:
    """Each county's family-education guidance station (家庭教育指导站), run by its education bureau: an agency
    of the bureau's type, not its default (the bureau itself answers where a step needs "the bureau")."""
    return [
        AgencySeed(
            f"{COUNTY_SLUGS[code]}-guidance", f"{county}家庭教育指导站", T.education_bureau, code, supervises=False
        )
        for code, county in CHANGZHI_COUNTIES.items()
    ]


def police_stations() -> list[AgencySeed]:
    """A police station (派出所) in each county's second demo township: an agency of type police below the
    county bureau. A case's police step goes to the station of the child's township where one
    exists, else to the county bureau, which supervises both (processes.md §1, clarifications). The seat
    town has none in the demo, so its cases stay with the bureau."""
    out: list[AgencySeed] = []
    for code, county in CHANGZHI_COUNTIES.items():
        town = TOWNS[code][1]
        short = town.removesuffix("街道").removesuffix("镇")
        out.append(AgencySeed(f"{COUNTY_SLUGS[code]}-ps2", f"{county}公安局{short}派出所", T.police, code, town))
    return out


def demo_users(agencies: list[AgencySeed]) -> list[tuple[str, str, str, str, str | None]]:
    """(username, display name, agency code, role, title): an operator and a supervisor for every
    agency, a child director (儿童主任) in every committee, and the city administrator."""
    users: list[tuple[str, str, str, str, str | None]] = []
    for a in agencies:
        users.append((a.code, f"{a.name}经办人", a.code, Role.operator.value, None))
        if a.supervises:
            users.append((f"{a.code}-sup", f"{a.name}督导", a.code, Role.supervisor.value, None))
        if a.agency_type == T.village_committee:
            users.append((f"{a.code}-director", f"{a.name}儿童主任", a.code, Role.operator.value, "儿童主任"))
    users.append(("admin", "系统管理员", ADMIN_AGENCY_CODE, Role.admin.value, None))
    return users


def make_id_number(region: str, birth: date, sequence: int) -> str:
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


# (name, sex, birth date, origin region, residence county, committee code, address, guardians)
DEMO_CHILDREN = [
    (
        "王小明",
        "male",
        date(2015, 3, 12),
        "410721",
        "140403",
        "luzhou-vc1",
        "东街街道城北社区3号楼",
        [("王建国", "父亲", "13900000001"), ("李秀英", "母亲", "13900000002")],
    ),
    (
        "李娜",
        "female",
        date(2013, 8, 2),
        "130481",
        "140403",
        "luzhou-vc1",
        "东街街道城北社区7号院",
        [("李强", "父亲", "13900000003")],
    ),
    (
        "张浩",
        "male",
        date(2011, 11, 20),
        "410526",
        "140403",
        "luzhou-vc2",
        "西街街道南庄村二组",
        [("张卫东", "祖父", "13900000004")],
    ),
    (
        "赵雨涵",
        "female",
        date(2016, 5, 30),
        "370923",
        "140404",
        "shangdang-vc1",
        "韩店街道城北社区12号",
        [("赵磊", "父亲", "13900000005"), ("孙丽", "母亲", "13900000006")],
    ),
    (
        "刘子轩",
        "male",
        date(2012, 1, 9),
        "411422",
        "140423",
        "xiangyuan-vc1",
        "古韩镇城北社区5号",
        [("刘海", "父亲", "13900000007")],
    ),
    (
        "陈思琪",
        "female",
        date(2014, 9, 16),
        "140581",
        "140429",
        "wuxiang-vc1",
        "丰州镇城北社区21号",
        [("陈刚", "父亲", "13900000008")],
    ),
]


async def seed_regions(session: AsyncSession) -> int:
    rows = [
        {
            "code": r.code,
            "name": r.name,
            "level": r.level.value,
            "parent_code": r.parent or None,
            "historical": r.historical,
        }
        for r in all_regions()
    ]
    for i in range(0, len(rows), 1000):
        await session.execute(insert(Region).values(rows[i : i + 1000]).on_conflict_do_nothing())
    return len(rows)


async def seed_demo(session: AsyncSession) -> dict[str, int]:
    """Adds the demo agencies, users and children that are missing. Returns counts added."""
    return await seed_deployment(session, CITY_CODE, demo=True)


async def seed_deployment(session: AsyncSession, city: str, *, demo: bool) -> dict[str, int]:
    """Adds the agencies of the deployment serving `city` that are missing; with `demo`, their demo logins
    (password DEMO_PASSWORD) and, for Changzhi, the demo children. Without it no login is made (see
    `ensure_admin`). Returns counts added."""
    agencies = demo_agencies(city)
    await session.execute(
        insert(Agency)
        .values(
            [
                {
                    "code": a.code,
                    "name": a.name,
                    "agency_type": a.agency_type.value,
                    "region_code": a.region_code,
                    "township": a.township,
                    "is_default": a.is_default,
                    "is_active": True,
                }
                for a in agencies
            ]
        )
        .on_conflict_do_nothing(index_elements=[Agency.code])
    )
    ids = dict((await session.execute(select(Agency.code, Agency.id))).all())
    existing = set((await session.execute(select(User.username))).scalars())
    # One hash for the shared demo password: hashing it 500 times would take half a minute.
    pw = hash_password(DEMO_PASSWORD)
    new_users = [
        {
            "username": u,
            "display_name": name,
            "agency_id": ids[code],
            "role": role,
            "title": title,
            "password_hash": pw,
            "is_active": True,
        }
        for u, name, code, role, title in (demo_users(agencies) if demo else [])
        if u not in existing
    ]
    if new_users:
        await session.execute(insert(User).values(new_users))
    added_children = 0
    have = set((await session.execute(select(Child.name))).scalars())
    children = DEMO_CHILDREN if demo and city == CITY_CODE else []
    for n, (name, sex, birth, origin, county, committee, address, guardians) in enumerate(children):
        if name in have:
            continue
        child = Child(
            name=name,
            sex=sex,
            birth_date=birth,
            origin_region=origin,
            residence_region=county,
            residence_committee_id=ids[committee],
            address=address,
            id_number=make_id_number(origin, birth, 10 + 2 * n + (1 if sex == "male" else 0)),
            guardians=[Guardian(name=g, relation=r, phone=ph) for g, r, ph in guardians],
        )
        session.add(child)
        added_children += 1
    return {"agencies": len(agencies), "users": len(new_users), "children": added_children}


async def ensure_admin(session: AsyncSession) -> str | None:
    """The administrator of a deployment seeded without demo data, with a password made here (returned once,
    for whoever sets the deployment up to print); None when there is one already."""
    if (await session.execute(select(User.id).where(User.username == "admin"))).first() is not None:
        return None
    agency = (await session.execute(select(Agency.id).where(Agency.code == ADMIN_AGENCY_CODE))).scalar_one()
    password = secrets.token_urlsafe(12)
    session.add(
        User(
            username="admin",
            display_name="系统管理员",
            agency_id=agency,
            role=Role.admin.value,
            password_hash=hash_password(password),
            is_active=True,
        )
    )
    await session.flush()
    return password


# ---------------------------------------------------------------------------- demo cases already overdue


# Every process's demo cases (Process.demo_cases), with their process.
OVERDUE_DEMO: tuple[tuple[Process, DemoCase], ...] = tuple(
    (p, demo) for p in PROCESSES.values() for demo in p.demo_cases
)


async def seed_overdue_demo(
    session_factory: async_sessionmaker[AsyncSession], client: Client, task_queue: str, *, now: datetime | None = None
) -> int:
    """Starts the OVERDUE_DEMO cases through the normal start path, each with the date found far enough
    back to be at its level now, so that the stalled lists (逾期与停滞) have content on first start.
    Idempotent: an entry started once (its idempotency key is known) is not started again, on a later
    day either (when the day found would differ).
    Needs a worker on `task_queue`. Returns how many cases were started."""
    from api.cases import service
    from api.principal import load_principal
    from db.deadline_inputs import load_calendar

    now = now or datetime.now(UTC)
    started = 0
    for process, demo in OVERDUE_DEMO:
        async with session_factory() as s:
            principal = await load_principal(s, demo.starter, channel="api")
            child_id = (await s.execute(select(Child.id).where(Child.name == demo.child))).scalar_one_or_none()
            key = f"demo-overdue-{process.name}-{demo.level}-{demo.child}"
            if principal is None or child_id is None or await _started(s, principal.agency.id, key):
                continue
            found = _found_on_for_level(process, demo, await load_calendar(s), now)
            result = await service.start_case(
                session=s,
                client=client,
                task_queue=task_queue,
                principal=principal,
                data=service.StartCaseIn(
                    process=process.name,
                    start_step=demo.start_step,
                    child_id=child_id,
                    facts={**demo.facts, **_role_facts(process, found, principal.agency.id)},
                ),
                idempotency_key=key,
            )
            started += int(result.created)
    return started


async def _started(session: AsyncSession, agency_id: int, key: str) -> bool:
    found = await session.execute(
        select(CaseRequest.id).where(CaseRequest.agency_id == agency_id, CaseRequest.idempotency_key == key)
    )
    return found.scalar_one_or_none() is not None


def _role_facts(process: Process, found: date, starter_id: int) -> dict:
    """The start facts the machinery knows by role: when the matter was found, and the committee (the starter)."""
    occurred = process.start_field_with(FieldRole.occurred_on)
    assert occurred is not None, "an overdue demo needs a process whose start form says when the matter was found"
    facts = {occurred.name: found.isoformat()}
    if committee := process.start_field_with(FieldRole.residence_committee):
        facts[committee.name] = starter_id
    return facts


def _found_on_for_level(process: Process, demo: DemoCase, cal: WorkCalendar, now: datetime) -> date:
    """The latest day found on which the first step, counted from that day's end of work (as a report
    entered later is: api/cases/service.py), has passed exactly `demo.level` thresholds by now."""
    from domain.deadlines import SHANGHAI, compute_deadlines, local_date
    from domain.processes import policy_default

    step = process.step(demo.start_step)
    assert step.policy_key is not None
    allowance = policy_default(step.policy_key).value
    day = local_date(now)
    for _ in range(120):
        day -= timedelta(days=1)
        base = datetime.combine(day, time(18, 0), tzinfo=SHANGHAI)
        d = compute_deadlines(base, allowance, cal, ladder=step.ladder)
        passed = sum(1 for t in (d.due_at, d.level2_at, d.level3_at) if now >= t)
        if passed == demo.level:
            return day
    raise ValueError(f"no day found puts {demo.start_step} at level {demo.level}")
