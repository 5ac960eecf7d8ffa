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
