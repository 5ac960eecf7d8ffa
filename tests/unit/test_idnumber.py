"""Resident ID numbers as a clerk types them, checked against an independent MOD 11-2 computation."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from domain.enums import Sex
from domain.errors import DomainError
from domain.idnumber import IdNumberInfo, age_on, check_character, mask_id_number, parse_id_number

TODAY = date(2026, 5, 20)


def iso7064_mod11_2(first17: str) -> str:
    """ISO 7064 MOD 11-2 by the standard's recursive method (not the weight table the code uses)."""
    p = 0
    for ch in first17:
        p = (p + int(ch)) * 2 % 11
    value = (12 - p) % 11
    return "X" if value == 10 else str(value)


def valid(first17: str) -> str:
    return first17 + iso7064_mod11_2(first17)


def first17_with_check(prefix14: str, wanted: str) -> str:
    """A 17-digit prefix (14 digits + a 3-digit sequence) whose check character is `wanted`."""
    for seq in range(1000):
        first17 = f"{prefix14}{seq:03d}"
        if iso7064_mod11_2(first17) == wanted:
            return first17
    raise AssertionError(f"no sequence gives {wanted}")


def wrong_check(number: str) -> str:
    right = number[17]
    return number[:17] + ("0" if right != "0" else "1")


def error_of(value: str, today: date = TODAY) -> DomainError:
    with pytest.raises(DomainError) as info:
        parse_id_number(value, today=today)
    assert info.value.field == "id_number"
    return info.value


def test_helper_agrees_with_the_standards_published_example():
    # GB 11643-1999 gives 11010519491231002X as a worked example.
    assert iso7064_mod11_2("11010519491231002") == "X"
    assert valid("44052418800101001") == "440524188001010014"


def test_parses_a_valid_changzhi_number():
    number = valid("14040320150612123")
    info = parse_id_number(number, today=TODAY)
    assert info == IdNumberInfo(id_number=number, region_code="140403", birth_date=date(2015, 6, 12), sex=Sex.male)


def test_sex_from_sequence_parity():
    assert parse_id_number(valid("14042820100301124"), today=TODAY).sex is Sex.female
    assert parse_id_number(valid("14042820100301125"), today=TODAY).sex is Sex.male
    assert parse_id_number("11010519491231002X", today=TODAY).sex is Sex.female


def test_check_character_matches_independent_computation():
    for first17 in ("14040320150612123", "11010519491231002", "44030520181111456", "14043120200229001"):
        assert check_character(first17) == iso7064_mod11_2(first17)
    assert check_character("11010519491231002") == "X"


def test_lowercase_x_is_accepted_and_normalised():
    first17 = first17_with_check("14040420120815", "X")
    info = parse_id_number(" " + first17 + "x\n", today=TODAY)
    assert info.id_number == first17 + "X"
    assert info.region_code == "140404"


def test_full_width_input_is_normalised():
    number = valid("14040320150612123")
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in number)
    assert parse_id_number(full_width, today=TODAY).id_number == number


def test_leap_day_birth_date():
    info = parse_id_number(valid("14040520120229002"), today=TODAY)
    assert info.birth_date == date(2012, 2, 29)
    error = error_of(valid("14040520130229002"))  # 2013 is not a leap year
    assert error.code == "id_number_birth_date_invalid"


@pytest.mark.parametrize("birth", ["20260230", "20151301", "20150600", "20150632", "18991231"])
def test_impossible_birth_dates(birth):
    error = error_of(valid(f"140403{birth}123"))
    assert error.code == "id_number_birth_date_invalid"
    assert birth in error.message


def test_birth_date_after_today_is_refused_but_today_is_fine():
    born_today = valid(f"140403{TODAY:%Y%m%d}123")
    assert parse_id_number(born_today, today=TODAY).birth_date == TODAY
    tomorrow = TODAY + timedelta(days=1)
    error = error_of(valid(f"140403{tomorrow:%Y%m%d}123"))
    assert error.code == "id_number_birth_date_future"
    # The same number is fine once that day has come.
    assert parse_id_number(valid(f"140403{tomorrow:%Y%m%d}123"), today=tomorrow).birth_date == tomorrow


@pytest.mark.parametrize(
    "value",
    ["", "14040320150612123", "1404032015061212345", valid("14040320150612123")[:15]],
)
def test_wrong_length(value):
    error = error_of(value)
    assert error.code == "id_number_length"
    assert "身份证号码应为18位" in error.message


@pytest.mark.parametrize(
    "value",
    ["1404032015061212AX", "14040320150612123Y", "140403-01506121234", "X40403201506121234"],
)
def test_bad_characters(value):
    assert error_of(value).code == "id_number_format"


def test_wrong_check_character():
    error = error_of(wrong_check(valid("14040320150612123")))
    assert error.code == "id_number_checksum"
    assert "校验位错误" in error.message


def test_one_mistyped_digit_is_caught_by_the_check_character():
    number = valid("14040320150612123")
    mistyped = number[:10] + ("7" if number[10] != "7" else "8") + number[11:]
    assert error_of(mistyped).code == "id_number_checksum"


def test_unknown_region():
    error = error_of(valid("99999920150612123"))
    assert error.code == "id_number_region_unknown"
    assert "999999" in error.message
    # A real province but a county code that was never issued.
    assert error_of(valid("14049920150612123")).code == "id_number_region_unknown"


def test_other_province_and_historical_codes_are_accepted():
    assert parse_id_number(valid("44030520181111456"), today=TODAY).region_code == "440305"  # 深圳南山
    # 长治县 (140421) was abolished in 2018; numbers issued there before stay valid for life.
    assert parse_id_number(valid("14042120050101001"), today=TODAY).region_code == "140421"
    # Residence permit of a Taiwan resident (台湾居民居住证).
    assert parse_id_number(valid("83000020100101001"), today=TODAY).region_code == "830000"


def test_checks_run_in_order():
    # Length before format: too short and with a letter.
    assert error_of("14040A").code == "id_number_length"
    # Format before checksum: a letter in the middle and a wrong check character.
    assert error_of("1404032015A6121230").code == "id_number_format"
    # Checksum before birth date: impossible date and a wrong check character.
    assert error_of(wrong_check(valid("14040320260230123"))).code == "id_number_checksum"
    # Birth date before region: impossible date and an unknown region.
    assert error_of(valid("99999920260230123")).code == "id_number_birth_date_invalid"
    future = TODAY + timedelta(days=400)
    assert error_of(valid(f"999999{future:%Y%m%d}123")).code == "id_number_birth_date_future"


def test_mask_shows_only_first_six_and_last_four():
    first17 = first17_with_check("14040320100101", "X")
    number = first17 + "X"
    assert mask_id_number(number) == "140403********" + first17[-3:] + "X"
    assert mask_id_number(first17 + "x ") == mask_id_number(number)
    masked = mask_id_number("140403201001011235")
    assert masked == "140403********1235"
    assert "20100101" not in masked
    assert mask_id_number("1404") == "****"


def test_age_on_counts_full_years():
    born = date(2010, 6, 15)
    assert age_on(born, date(2028, 6, 14)) == 17
    assert age_on(born, date(2028, 6, 15)) == 18
    assert age_on(born, born) == 0
    leap = date(2012, 2, 29)
    assert age_on(leap, date(2013, 2, 28)) == 0
    assert age_on(leap, date(2013, 3, 1)) == 1
    assert age_on(leap, date(2016, 2, 29)) == 4
    with pytest.raises(ValueError):
        age_on(born, date(2010, 6, 14))
