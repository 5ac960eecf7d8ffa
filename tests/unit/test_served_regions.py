"""The regions a deployment serves (Settings.served_city): a city and its current counties, from the table,
so that a second deployment (郑州市) is "inside" for its own counties and Changzhi is outside it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.settings import Settings
from domain.regions import CHANGZHI, CHANGZHI_COUNTIES, CITY_CODE, served_by


@pytest.fixture
def base(tmp_path) -> dict:
    return {"environment": "dev", "secret_key": "x" * 40, "var_dir": tmp_path}


def test_changzhi_is_the_default_and_its_twelve_counties(base):
    assert Settings(**base).served() == CHANGZHI
    assert CHANGZHI.city == CITY_CODE and dict(CHANGZHI.counties) == CHANGZHI_COUNTIES
    assert CHANGZHI.serves("140400") and CHANGZHI.serves(" 140403 ") and CHANGZHI.name == "长治市"
    assert not CHANGZHI.is_county("140400")  # the city owns no case
    assert not CHANGZHI.serves("140421")  # 长治县, abolished in 2018
    assert not CHANGZHI.serves("410105") and not CHANGZHI.serves("140100")


def test_a_second_deployment_serves_its_own_counties(base):
    zhengzhou = Settings(**base, served_city="410100").served()
    assert zhengzhou.name == "郑州市" and zhengzhou.is_county("410105")  # 金水区
    assert not zhengzhou.serves("140403")
    outside = dict(zhengzhou.places_outside())
    assert "140403" in outside and "410105" not in outside
    assert not any(code.startswith("4101") for code in outside)


@pytest.mark.parametrize("city", ["140403", "140000", "999900", "abc"])
def test_a_served_city_must_be_a_current_prefecture(base, city):
    with pytest.raises(ValueError):
        served_by(city)
    with pytest.raises(ValidationError):
        Settings(**base, served_city=city)


# ---------------------------------------------------------------------------- permission scopes


def test_a_city_level_agency_covers_its_own_city_whichever_it_is() -> None:
    from domain.regions import counties_in, covers, is_city_level, scope_of

    assert is_city_level("140400") and is_city_level("410100")
    assert not is_city_level("140403") and not is_city_level("140000") and not is_city_level("")
    assert covers("140400", "140403") and covers("140403", "140403") and covers("140400", "140400")
    assert covers("410100", "410105") and not covers("410100", "140403") and not covers("140400", "410105")
    assert not covers("140403", "140404") and not covers("140403", "140400")  # a county sees neither
    assert scope_of("140400") == [CITY_CODE, *CHANGZHI_COUNTIES]  # Changzhi's as the constant had it
    assert scope_of("140403") == ["140403"] and counties_in("140403") == ["140403"]
    zhengzhou = scope_of("410100")
    assert zhengzhou[0] == "410100" and "410105" in zhengzhou and all(c.startswith("4101") for c in zhengzhou)
    assert counties_in("410100") == zhengzhou[1:]


def test_supervisors_reassign_and_serve_within_their_own_city() -> None:
    from domain.enums import AgencyType, Role
    from domain.messages import Actor, AgencyRef
    from domain.permissions import reassign_regions, serves_county

    def actor(region: str) -> Actor:
        agency = AgencyRef(id=1, name="x", agency_type=AgencyType.civil_affairs, region_code=region)
        return Actor(user_id=1, user_name="x", agency=agency, role=Role.supervisor)

    assert reassign_regions(actor("140400")) == (CITY_CODE, *CHANGZHI_COUNTIES)
    assert "410105" in reassign_regions(actor("410100")) and "140403" not in reassign_regions(actor("410100"))
    assert serves_county(actor("410100").agency, "410105") and not serves_county(actor("140400").agency, "410105")


def test_another_citys_seed_is_its_own_and_its_codes_fit() -> None:
    import re

    from db.seed import city_agencies, demo_agencies

    assert demo_agencies() == demo_agencies(CITY_CODE)  # Changzhi's demo, unchanged
    agencies = city_agencies("410100")
    assert {a.region_code for a in agencies} == {"410100", *(c for c, _ in served_by("410100").counties)}
    by_code = {a.code: a for a in agencies}
    assert len(by_code) == len(agencies)
    assert by_code["city-civil"].name == "郑州市民政局" and by_code["410105-civil"].name == "金水区民政局"
    assert by_code["city-court"].name == "郑州市中级人民法院"
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9-]{1,63}", a.code) for a in agencies)
    assert not any("长治" in a.name for a in agencies)
