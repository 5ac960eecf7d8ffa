"""The edge's checks on what clients send: unstorable text, numbers, lists, nesting, and pydantic's
errors said in Chinese."""

from __future__ import annotations

import time
from datetime import date

import pytest
from pydantic import BaseModel, ValidationError

from domain.errors import DomainError
from domain.field_kinds import FieldKind, rules
from domain.process import Field
from domain.text import INT_MAX, LIST_LIMIT, STRING_LIMIT, check_payload_size, check_text, unstorable
from web.errors import chinese_reason
from web.limits import check_value, json_depth


@pytest.mark.parametrize("text", ["a\x00b", "\x00", "前\ud800后", "\udfff"])
def test_nul_and_lone_surrogates_are_refused(text: str) -> None:
    assert unstorable(text)
    with pytest.raises(DomainError) as e:
        check_text(text, "事实经过", "facts")
    assert e.value.code == "text_invalid" and "无法保存的字符" in e.value.message and e.value.field == "facts"


@pytest.mark.parametrize("text", ["", "普通文字", "emoji 😀 ok", "tab\tand\nnewline"])
def test_ordinary_text_passes(text: str) -> None:
    assert check_text(text, "x") == text


@pytest.mark.parametrize("kind", [FieldKind.text, FieldKind.textarea])
def test_a_form_field_refuses_nul(kind: FieldKind) -> None:
    f = Field("content", "劝诫内容", kind)
    with pytest.raises(DomainError) as e:
        rules(kind).clean(f, "已劝诫\x00", date(2026, 12, 1))
    assert e.value.code == "text_invalid" and "“劝诫内容”" in e.value.message


@pytest.mark.parametrize("kind", [FieldKind.int, FieldKind.agency])
def test_a_number_field_refuses_what_postgresql_cannot_hold(kind: FieldKind) -> None:
    f = Field("n", "人数", kind)
    assert rules(kind).clean(f, INT_MAX, date(2026, 12, 1)) == INT_MAX
    with pytest.raises(DomainError, match="数值过大"):
        rules(kind).clean(f, INT_MAX + 1, date(2026, 12, 1))


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ({"ids": [2**31]}, "field_invalid"),
        ({"ids": [-(2**31) - 1]}, "field_invalid"),
        ({"ids": list(range(LIST_LIMIT + 1))}, "too_many_items"),
        ({"note": "字" * (STRING_LIMIT + 1)}, "field_too_long"),
        ({"facts": {"a": ["x\x00"]}}, "text_invalid"),
        ({"k\x00": 1}, "text_invalid"),
    ],
)
def test_check_value_refuses(value: object, code: str) -> None:
    with pytest.raises(DomainError) as e:
        check_value(value, "请求内容")
    assert e.value.code == code


def test_check_value_passes_an_ordinary_request() -> None:
    check_value({"ids": [1, 2, INT_MAX], "all": True, "facts": {"done_on": "2026-12-01", "n": 3}}, "请求内容")


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[[{{{"}]}') == 3
    assert json_depth(b"[" * 500 + b"]" * 500) == 500
    assert json_depth(b'"\\"[["') == 0


def test_a_message_to_a_workflow_is_bounded() -> None:
    check_payload_size("x" * 1000)
    with pytest.raises(DomainError) as e:
        check_payload_size("字" * 1_000_000)
    assert e.value.code == "payload_too_large" and "KB" in e.value.message


class _Model(BaseModel):
    name: str
    step_seq: int
    tags: list[str] = []


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"step_seq": 1}, "缺少“name”"),
        ({"name": 3, "step_seq": 1}, "“name”应为文字"),
        ({"name": "x", "step_seq": "abc"}, "“step_seq”应为整数"),
        ({"name": "x", "step_seq": 1, "tags": "a"}, "“tags”应为列表"),
    ],
)
def test_pydantic_errors_are_said_in_chinese(data: dict, reason: str) -> None:
    with pytest.raises(ValidationError) as e:
        _Model.model_validate(data)
    # A request's errors are located under "body"; the field is named without it.
    first = {**e.value.errors()[0], "loc": ("body", *e.value.errors()[0]["loc"])}
    assert chinese_reason(first) == reason


def test_an_unknown_error_type_is_still_chinese() -> None:
    assert chinese_reason({"type": "something_new", "loc": ("body", "x"), "msg": "English"}) == "“x”的值无效"


def test_json_depth_is_linear_on_an_unterminated_string_of_escaped_quotes() -> None:
    """A regex retried from every quote took minutes on 256 KB of `\\"`: the check must not be the attack."""
    began = time.monotonic()
    assert json_depth(b'"' + b'\\"' * 128_000) == 0
    assert json_depth(b"[" * 200_000) == 200_000
    assert time.monotonic() - began < 1
