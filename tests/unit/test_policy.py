"""Policy values (domain/policy.py): the default, a county's override, the city's, the latest one in
force; and the allowance notation an admin types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import DomainError
from domain.policy import Allowance, PolicyOverride, Unit, resolve_policy
from domain.processes import POLICY_DEFAULTS, policy_default

LUZHOU, SHANGDANG, CITY = "140403", "140404", "140400"
AT = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
KEY = "guardianship.admonition"  # 3WD by default


def override(value: str, region: str, days_before: float, key: str = KEY) -> PolicyOverride:
    return PolicyOverride(key, region, Allowance.parse(value), AT - timedelta(days=days_before))


def test_the_default_when_nothing_overrides() -> None:
    assert resolve_policy(policy_default(KEY), LUZHOU, [], AT) == Allowance(3, Unit.working_days)
    assert resolve_policy(policy_default("guardianship.police_accept"), LUZHOU, [], AT) == Allowance(24, Unit.hours)
    assert resolve_policy(policy_default("guardianship.guidance_sessions"), LUZHOU, [], AT) == Allowance(3, Unit.count)


def test_a_county_override_applies_to_that_county_only() -> None:
    rules = [override("5WD", LUZHOU, 10)]
    assert resolve_policy(policy_default(KEY), LUZHOU, rules, AT) == Allowance(5, Unit.working_days)
    assert resolve_policy(policy_default(KEY), SHANGDANG, rules, AT) == Allowance(3, Unit.working_days)


def test_a_city_override_applies_to_every_county_without_its_own() -> None:
    rules = [override("4WD", CITY, 10), override("6WD", SHANGDANG, 20)]
    assert resolve_policy(policy_default(KEY), LUZHOU, rules, AT) == Allowance(4, Unit.working_days)
    # The county's own value wins over the city's, even an older one.
    assert resolve_policy(policy_default(KEY), SHANGDANG, rules, AT) == Allowance(6, Unit.working_days)


def test_an_override_effective_later_is_ignored_until_then() -> None:
    rules = [override("5WD", LUZHOU, 10), override("7WD", LUZHOU, -1), override("9WD", CITY, -2)]
    assert resolve_policy(policy_default(KEY), LUZHOU, rules, AT) == Allowance(5, Unit.working_days)
    assert resolve_policy(policy_default(KEY), LUZHOU, rules, AT + timedelta(days=1)) == Allowance(7, Unit.working_days)
    # Effective exactly at `at` counts.
    assert resolve_policy(policy_default(KEY), LUZHOU, [override("8WD", LUZHOU, 0)], AT) == Allowance(
        8, Unit.working_days
    )


def test_the_latest_override_in_force_wins_whatever_the_order() -> None:
    rules = [override("5WD", LUZHOU, 3), override("2WD", LUZHOU, 30), override("4WD", LUZHOU, 10)]
    assert resolve_policy(policy_default(KEY), LUZHOU, rules, AT) == Allowance(5, Unit.working_days)
    assert resolve_policy(policy_default(KEY), LUZHOU, list(reversed(rules)), AT) == Allowance(5, Unit.working_days)
    assert resolve_policy(policy_default(KEY), LUZHOU, rules, AT - timedelta(days=5)) == Allowance(4, Unit.working_days)


def test_overrides_of_other_keys_and_other_cities_do_not_apply() -> None:
    rules = [override("9WD", LUZHOU, 1, key="guardianship.reprimand_issue"), override("9WD", "140100", 1)]
    assert resolve_policy(policy_default(KEY), LUZHOU, rules, AT) == Allowance(3, Unit.working_days)


def test_an_unknown_key_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        resolve_policy(policy_default("guardianship.nothing"), LUZHOU, [], AT)


@pytest.mark.parametrize(
    ("text", "amount", "unit", "label"),
    [
        ("15WD", 15, Unit.working_days, "15个工作日"),
        ("30d", 30, Unit.days, "30天"),
        (" 24h ", 24, Unit.hours, "24小时"),
        ("3count", 3, Unit.count, "3次"),
        ("30 d", 30, Unit.days, "30天"),
    ],
)
def test_allowance_notation(text: str, amount: int, unit: Unit, label: str) -> None:
    a = Allowance.parse(text)
    assert (a.amount, a.unit, a.label()) == (amount, unit, label)
    assert Allowance.parse(str(a)) == a


@pytest.mark.parametrize("text", ["0d", "-3d", "15", "WD", "3 weeks", "1.5d", ""])
def test_allowance_notation_refuses(text: str) -> None:
    with pytest.raises(DomainError) as e:
        Allowance.parse(text)
    assert (e.value.code, e.value.field) == ("policy_value_invalid", "value")
    assert e.value.message == f"期限格式不正确：“{text}”（例如 15WD、30d、24h、3M、1y、1M@start）"


def test_every_default_parses_back_and_names_its_basis() -> None:
    for key, p in POLICY_DEFAULTS.items():
        assert p.key == key and Allowance.parse(str(p.value)) == p.value
        assert p.basis and p.description
