"""The supervisors' extend and reassign as the workflow checks them (fake activities, no database): an
extension is bounded per unit by the county's `extension_max.<unit>` and refused before any deadline is
computed; a reassignment stays within the supervisor's county (the city's: the city); the police step goes
to the station (派出所) of the child's township."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.enums import AgencyType
from domain.errors import DomainError
from domain.messages import AgencyRef
from domain.policy import Allowance, PolicyOverride
from tests.fakes import LUZHOU, FakeCase, FakeEnv, agency, op, sup
from tests.support import form, today_iso

FACTS = {"facts": "监护人长期外出，儿童独自在家", "occurred_on": today_iso()}
STATION = AgencyRef(
    id=40, name="潞州区公安局西街派出所", agency_type=AgencyType.police, region_code=LUZHOU, township="西街街道"
)


async def test_an_extension_is_bounded_per_unit_and_an_absurd_one_refused_at_once(fake_env: FakeEnv) -> None:
    c = await FakeCase.open(fake_env, "guardianship", op("vc1"), "admonition", FACTS)
    first = await c.step()
    # Refused by the validator before anything is computed or recorded.
    for extend_by, message in [
        ("99999WD", "期限过长：“99999WD”超过上限500个工作日"),
        ("9999999999999999d", "期限过长：“9999999999999999d”超过上限1100天"),
    ]:
        before, history = c.path(), await c.history()
        with pytest.raises(DomainError) as e:
            await c.supervise(sup("city-civil"), "extend", "admonition", reason="春节期间", extend_by=extend_by)
        assert (e.value.code, e.value.message) == ("policy_value_invalid", message)
        assert c.path() == before and await c.history() == history
    # In years, or above the policy's bound (30 WD by default): refused, nothing recorded, the deadline
    # unchanged.
    before = c.path()
    for extend_by, code, message in [
        ("1y", "policy_value_invalid", "延长期限应按工作日、天、小时或月计"),
        ("31WD", "extension_too_long", "一次最多延长30个工作日，“31个工作日”超出上限"),
    ]:
        with pytest.raises(DomainError) as e:
            await c.supervise(sup("city-civil"), "extend", "admonition", reason="春节期间", extend_by=extend_by)
        assert (e.value.code, e.value.message) == (code, message)
    assert c.path() == before and (await c.step()).deadlines == first.deadlines
    # A county that allows more: the same extension is taken.
    fake_env.fakes.overrides.append(
        PolicyOverride("extension_max.WD", LUZHOU, Allowance.parse("40WD"), datetime.now(UTC) - timedelta(days=1))
    )
    await c.supervise(sup("city-civil"), "extend", "admonition", reason="春节期间", extend_by="31WD")
    extended = await c.step()
    assert extended.extensions == ["31WD"] and extended.deadlines.due_at > first.deadlines.due_at


async def test_a_reassignment_stays_in_the_supervisors_scope(fake_env: FakeEnv) -> None:
    c = await FakeCase.open(fake_env, "guardianship", op("vc1"), "admonition", FACTS)
    before = c.path()
    with pytest.raises(DomainError) as e:
        await c.supervise(sup("civil"), "reassign", "admonition", reason="辖区调整", new_holder=agency("sd-vc"))
    assert (e.value.code, e.value.message) == ("not_permitted", "县级督导只能改派给本县（区）的单位")
    assert c.path() == before
    # The city's supervisor may reassign anywhere in the city.
    r = await c.supervise(sup("city-civil"), "reassign", "admonition", reason="已迁居", new_holder=agency("sd-vc"))
    assert r.steps[0].holder.id == agency("sd-vc").id


async def test_the_police_step_goes_to_the_station_of_the_childs_township(fake_env: FakeEnv) -> None:
    fake_env.fakes.agencies["station-west"] = STATION
    # The child lives in 西街街道 (the committee vc2): its station takes the report.
    c = await FakeCase.open(fake_env, "guardianship", op("vc2"), "admonition", FACTS)
    await c.act(op("vc2"), "report_serious", form("report_serious"))
    assert (await c.step()).holder == STATION
    # The county bureau's supervisor oversees the station; a supervisor at the station oversees nothing.
    await c.supervise(sup("police"), "urge", "police_report", reason="请尽快受理")
    assert [(n.agency_id, n.kind) for n in c.events()[-1].notifications] == [(STATION.id, "urged")]
    station_sup = sup("police").model_copy(update={"agency": STATION})
    with pytest.raises(DomainError) as e:
        await c.supervise(station_sup, "urge", "police_report", reason="x")
    assert e.value.code == "not_permitted"
    # In 东街街道 there is no station: the county bureau holds it.
    other = await FakeCase.open(fake_env, "guardianship", op("vc1"), "admonition", FACTS)
    await other.act(op("vc1"), "report_serious", form("report_serious"))
    assert (await other.step()).holder.id == agency("police").id
