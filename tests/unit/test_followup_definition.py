"""The key-child follow-up's own start check and its categories field (domain/processes/followup.py)."""

from __future__ import annotations

from datetime import date

import pytest

from domain.enums import AgencyType
from domain.errors import DomainError
from domain.policy import Allowance
from domain.process import StartContext, clean_payload
from domain.processes.followup import FOLLOWUP, check_start

TODAY = date(2026, 12, 2)


def ctx(born: date) -> StartContext:
    return StartContext(
        facts={}, birth_date=born, today=TODAY, starter_type=AgencyType.civil_affairs, policy=Allowance.parse
    )


def test_a_child_of_16_is_not_listed() -> None:
    check_start(ctx(date(2010, 12, 3)))  # 15, 16 tomorrow
    with pytest.raises(DomainError) as e:
        check_start(ctx(date(2010, 12, 2)))
    assert (e.value.code, e.value.field) == ("too_old", "child_id") and "16周岁" in e.value.message


def test_categories_are_several_of_the_list_in_its_order() -> None:
    clean = clean_payload(FOLLOWUP.start_fields, {"categories": ["vagrancy", "hardship", "hardship"]}, today=TODAY)
    assert clean["categories"] == ["hardship", "vagrancy"]
    for wrong in (["hardship", "rich"], [], "rich", [1]):
        with pytest.raises(DomainError) as e:
            clean_payload(FOLLOWUP.start_fields, {"categories": wrong}, today=TODAY)
        assert e.value.field == "categories"
