"""One row of an agency's list checked (domain/registry.py): 15-digit numbers converted, a wrong check
character reported and not guessed, every problem of a row named with its column, the header checked."""

from __future__ import annotations

from datetime import date

import pytest

from db.seed import make_id_number
from domain.errors import DomainError
from domain.idnumber import parse_id_number
from domain.registry import (
    KeyCategory,
    Source,
    check_header,
    check_id_number,
    check_row,
    facts_of_cells,
    id_15_to_18,
    parse_flags,
)

TODAY = date(2026, 12, 2)


def test_a_15_digit_number_becomes_its_18_character_form() -> None:
    new = id_15_to_18("140403090312123")
    assert new[:17] == "14040319090312123"
    assert parse_id_number(new, today=TODAY).birth_date == date(1909, 3, 12)
    assert check_id_number(" 140403090312123 ", today=TODAY) == (new, True)


def test_a_wrong_check_character_is_reported_not_guessed() -> None:
    good = make_id_number("140403", date(2015, 6, 1), 11)
    wrong = good[:17] + ("1" if good[17] == "0" else "0")
    with pytest.raises(DomainError, match="校验位错误"):
        check_id_number(wrong, today=TODAY)
    assert check_id_number(good.lower(), today=TODAY) == (good, False)


def test_every_problem_of_a_row_is_named_with_its_column() -> None:
    fact, problems = check_row(
        Source.education,
        7,
        {"school_roll_no": "", "id_number": "", "name": "甲", "sex": "X", "birth_date": "2015-02-30", "school": "一小"},
        today=TODAY,
    )
    assert fact is None
    assert [p.text() for p in problems] == [
        "第7行“学籍号”：不能为空",
        "第7行“监护人姓名”：无身份证号时必须填写监护人姓名，用于比对",
        "第7行“性别”：应为“男”或“女”",
        "第7行“出生日期”：不是有效日期（如2015-03-12）",
    ]


def test_a_birth_date_must_agree_with_the_id_number() -> None:
    number = make_id_number("140403", date(2015, 6, 1), 11)
    _, problems = check_row(
        Source.health, 2, {"id_number": number, "name": "甲", "sex": "男", "birth_date": "2015-06-02"}, today=TODAY
    )
    assert [p.text() for p in problems] == ["第2行“出生日期”：与身份证号中的出生日期不一致"]


def test_sources_raise_their_own_flags() -> None:
    number = make_id_number("140403", date(2015, 6, 1), 11)
    base = {"id_number": number, "name": "甲", "sex": "男", "birth_date": "20150601"}
    fact, _ = check_row(Source.disability, 2, {**base, "disability_kind": "肢体"}, today=TODAY)
    assert fact is not None and fact.flags == [KeyCategory.disability]
    fact, _ = check_row(Source.medical_insurance, 2, {**base, "hardship": "是", "flags": "求助"}, today=TODAY)
    assert fact is not None and fact.flags == [KeyCategory.help_request, KeyCategory.hardship]
    assert parse_flags("残疾，流浪、残疾") == [KeyCategory.disability, KeyCategory.vagrancy]
    assert parse_flags("贫困") is None


def test_the_header_names_what_is_missing_and_reads_full_or_half_width_brackets() -> None:
    with pytest.raises(DomainError, match="缺少列：身份证号、残疾类别"):
        check_header(Source.disability, ["姓名", "性别", "出生日期"])
    index = check_header(Source.health, ["身份证号", "姓名", "性别", "出生日期", "乡镇(街道)"])
    assert index["township"] == 4


def test_a_row_kept_as_its_cells_reads_back_the_same() -> None:
    """What a change set keeps of a row it still has to apply: the cells in the template's order, trailing
    blanks dropped, which read back to the same facts (a 15-digit number converted again)."""
    cells = {
        "school_roll_no": "G1",
        "id_number": "140403090312123",
        "name": "甲",
        "sex": "男",
        "birth_date": "1909-03-12",
        "school": "一小",
        "township": "东街街道",
        "flags": "",
    }
    fact, problems = check_row(Source.education, 5, cells, today=TODAY)
    assert problems == [] and fact is not None
    assert fact.cells == ["G1", "140403090312123", "甲", "男", "1909-03-12", "一小", "", "东街街道"]
    again = facts_of_cells(Source.education, 5, fact.cells, today=TODAY)
    assert again == fact and again.converted_from_15 and again.fields["township"] == "东街街道"
