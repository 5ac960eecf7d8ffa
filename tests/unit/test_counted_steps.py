"""Counted steps show done/required (Step.counter with its count policy), an event's occurrence of how
many (PayloadLabel.of), and a bounded extension's refusals (Step.extension)."""

from __future__ import annotations

from domain.policy import Allowance
from domain.process import ExtensionRule
from domain.processes import get_process, policy_default
from ui.case_info import step_progress


def defaults(key: str) -> Allowance:
    return policy_default(key).value


def test_each_counted_step_shows_done_of_required() -> None:
    guardianship, dropout = get_process("guardianship"), get_process("dropout_return")
    assert step_progress(guardianship, "family_education_guidance", {"sessions": 2}, defaults) == "已完成 2/3 次"
    assert step_progress(guardianship, "monitoring", {"visits": 0}, defaults) == "已完成 0/2 次"
    assert step_progress(dropout, "consolidation", {"checks": 1}, defaults) == "已完成 1/2 次"
    assert step_progress(guardianship, "admonition", {}, defaults) is None
    # The count in force in the county (what the workflow compares with), not the default.
    two = lambda key: Allowance.parse("2count")  # noqa: E731
    assert step_progress(guardianship, "family_education_guidance", {"sessions": 1}, two) == "已完成 1/2 次"


def test_every_step_with_a_count_policy_names_its_counter() -> None:
    for name in ("guardianship", "dropout_return"):
        process = get_process(name)
        for step in process.steps:
            if step.count_key:
                assert step.counter in process.counter_labels, (name, step.name)


def test_the_timeline_says_which_session_of_how_many() -> None:
    label = next(p for p in get_process("guardianship").payload_labels if p.key == "session_number")
    assert label.read({"session_number": 2, "sessions_required": 3}) == "第2次（共3次）"
    assert label.read({"session_number": 2}) == "第2次"  # an event recorded before the total was
    assert label.read({}) is None


def test_a_bounded_extension() -> None:
    rule = ExtensionRule(times=1, at_most="30d")
    assert rule.refusal(0, "30d") is None and rule.refusal(0, "720h") is None and rule.refusal(0, "5d") is None
    assert rule.refusal(0, "31d") == "本环节每次延期不得超过30天"
    assert rule.refusal(0, "1M") == "本环节每次延期不得超过30天"  # a month may be 31 days
    assert rule.refusal(0, "20WD") == "本环节每次延期不得超过30天"  # working days may span more
    assert rule.refusal(1, "5d") == "本环节依法只能延期1次，已延期1次"
