"""Region codes as a clerk meets them: Changzhi's counties, a 户籍地 in another province, scopes."""

from __future__ import annotations

import pytest

from domain import regions
from domain.errors import DomainError
from domain.regions import RegionLevel

EXPECTED_CHANGZHI = [
    ("140403", "潞州区"),
    ("140404", "上党区"),
    ("140405", "屯留区"),
    ("140406", "潞城区"),
    ("140423", "襄垣县"),
    ("140425", "平顺县"),
    ("140426", "黎城县"),
    ("140427", "壶关县"),
    ("140428", "长子县"),
    ("140429", "武乡县"),
    ("140430", "沁县"),
    ("140431", "沁源县"),
]


def test_changzhi_counties_are_the_twelve_current_ones_in_code_order():
    assert regions.CITY_CODE == "140400"
    assert list(regions.CHANGZHI.counties) == EXPECTED_CHANGZHI
    assert regions.region_name("140400") == "长治市"
    for code, name in EXPECTED_CHANGZHI:
        assert regions.region_name(code) == name
        assert regions.full_region_name(code) == "山西省长治市" + name
        assert regions.validate_region_code(code) == code
        assert regions.CHANGZHI.serves(code)


def test_data_file_lists_changzhi_counties_exactly():
    assert regions.subregions("140400") == EXPECTED_CHANGZHI


def test_changzhi_serves():
    assert regions.CHANGZHI.serves("140400")
    assert regions.CHANGZHI.serves(" 140403 ")
    assert not regions.CHANGZHI.serves("140000")  # the province
    assert not regions.CHANGZHI.serves("140500")  # 晋城市
    assert not regions.CHANGZHI.serves("140421")  # 长治县, merged into 上党区 in 2018
    assert not regions.CHANGZHI.serves("14040")


def test_validate_region_code_accepts_a_county_and_normalises():
    assert regions.validate_region_code("140403") == "140403"
    assert regions.validate_region_code("  140403\n") == "140403"
    assert regions.validate_region_code("１４０４０３") == "140403"  # full-width digits from an IME


@pytest.mark.parametrize(
    ("code", "error", "message"),
    [
        ("999999", "region_unknown", "行政区划代码“999999”不存在"),
        ("140499", "region_unknown", "行政区划代码“140499”不存在"),
        ("14040", "region_format", "行政区划代码应为6位数字"),
        ("1404030", "region_format", "行政区划代码应为6位数字"),
        ("abcdef", "region_format", "行政区划代码应为6位数字"),
        ("", "region_format", "行政区划代码应为6位数字"),
    ],
)
def test_validate_region_code_refuses(code, error, message):
    with pytest.raises(DomainError) as info:
        regions.validate_region_code(code, field="origin_region")
    assert info.value.code == error
    assert info.value.message == message
    assert info.value.field == "origin_region"


def test_validate_region_code_default_field():
    with pytest.raises(DomainError) as info:
        regions.validate_region_code("999999")
    assert info.value.field == "region_code"


def test_abolished_code_only_accepted_when_historical_allowed():
    # 长治县 140421 became 上党区 140404: fine in an old ID number, not as where a child lives now.
    with pytest.raises(DomainError) as info:
        regions.validate_region_code("140421")
    assert info.value.code == "region_unknown"
    assert "140421" in info.value.message and "长治县" in info.value.message
    assert regions.validate_region_code("140421", allow_historical=True) == "140421"
    assert not regions.is_known_region("140421")
    assert regions.is_known_region("140421", allow_historical=True)
    assert regions.region_name("140421") == "长治县"


def test_origin_in_another_province():
    assert regions.full_region_name("110101") == "北京市东城区"
    assert regions.full_region_name("440305") == "广东省深圳市南山区"
    assert regions.full_region_name("419001") == "河南省济源市"  # directly under the province
    assert regions.full_region_name("140000") == "山西省"
    assert regions.region_name("810000") == "香港特别行政区"
    assert regions.region_name("710000") == "台湾省"
    assert regions.is_known_region("652901")  # 阿克苏市
    assert not regions.is_known_region("999999")
    assert not regions.is_known_region("abc")
    assert regions.region_name("999999") is None
    assert regions.full_region_name("999999") is None


def _current_tree_levels() -> dict[RegionLevel, int]:
    counts = dict.fromkeys(RegionLevel, 0)
    pending = [code for code, _ in regions.subregions("")]
    while pending:
        code = pending.pop()
        counts[regions.level_of(code)] += 1
        pending.extend(child for child, _ in regions.subregions(code))
    return counts


def test_dataset_covers_the_country():
    assert len(regions.subregions("")) == 34  # 31 mainland + 香港, 澳门, 台湾
    assert len(regions.subregions("140000")) == 11  # Shanxi's prefectures
    counts = _current_tree_levels()
    assert counts[RegionLevel.province] == 34
    assert counts[RegionLevel.prefecture] > 330
    assert counts[RegionLevel.county] > 2800


def test_every_parent_exists():
    for code in ("140403", "140421", "110101", "419001", "653201"):
        region = regions.get_region(code)
        assert region is not None
        while region.parent:
            parent = regions.get_region(region.parent)
            assert parent is not None, region.parent
            region = parent
        assert region.level is RegionLevel.province


def test_levels_and_parents():
    assert regions.level_of("140000") is RegionLevel.province
    assert regions.level_of("140400") is RegionLevel.prefecture
    assert regions.level_of("140403") is RegionLevel.county
    assert regions.province_of("140403") == "140000"
    assert regions.province_of("140400") == "140000"
    assert regions.prefecture_of("140403") == "140400"
    assert regions.prefecture_of("140400") == "140400"
    assert regions.prefecture_of("110101") == "110000"  # a municipality has no prefecture
    assert regions.prefecture_of("419001") == "410000"
    assert regions.county_of("140403") == "140403"
    assert regions.county_of("140403100000") == "140403"  # 12-digit statistical code of a township
    with pytest.raises(DomainError) as info:
        regions.province_of("1404")
    assert info.value.code == "region_format"


@pytest.mark.parametrize(
    ("code", "scope", "expected"),
    [
        ("140403", "140400", True),  # city supervisor covers a county
        ("140400", "140400", True),
        ("140403", "140403", True),  # county scope covers itself
        ("140403", "140000", True),  # province covers county
        ("140400", "140000", True),  # province covers prefecture
        ("140431", "140400", True),
        ("140400", "140403", False),  # county does not cover its city
        ("140404", "140403", False),  # nor a sibling county
        ("140525", "140400", False),  # 泽州县 is in 晋城市
        ("130403", "140000", False),  # another province
        ("140000", "140400", False),
    ],
)
def test_is_within(code, scope, expected):
    assert regions.is_within(code, scope) is expected


def test_is_within_refuses_malformed_scope():
    with pytest.raises(DomainError) as info:
        regions.is_within("140403", "1404")
    assert info.value.code == "region_format"
    assert info.value.field == "scope_code"
