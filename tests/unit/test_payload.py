"""Cleaning a form against its fields (domain/process.py `clean_payload`): what is required, types,
choices, dates, region codes, lengths; the reason names the field in Chinese."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from domain.errors import DomainError
from domain.process import Field, FieldKind, clean_payload

TODAY = date(2026, 3, 2)

FIELDS = (
    Field("content", "劝诫内容"),
    Field("note", "情况说明", FieldKind.textarea, required=False),
    Field("done_on", "日期", FieldKind.date, not_future=True),
    Field("comply_by", "改正期限", FieldKind.date, required=False),
    Field("sessions", "次数", FieldKind.int, required=False),
    Field("agency_id", "接收单位", FieldKind.agency, required=False),
    Field("attended", "监护人到场", FieldKind.bool, required=False),
    Field(
        "finding",
        "回访结果",
        FieldKind.choice,
        required=False,
        choices=(("clean", "情况良好"), ("concern", "仍有隐患")),
    ),
    Field("destination_region", "迁入地", FieldKind.region, required=False),
)


def clean(**raw) -> dict:
    return clean_payload(FIELDS, {"content": "已劝诫", "done_on": "2026-03-01", **raw}, today=TODAY)


def refused(**raw) -> tuple[str, str, str | None]:
    with pytest.raises(DomainError) as e:
        clean(**raw)
    return e.value.code, e.value.message, e.value.field


def test_a_complete_form_is_normalised() -> None:
    out = clean(
        content="  已当面劝诫  ",
        note="",
        done_on=date(2026, 3, 2),
        comply_by="2026-03-20",
        sessions="2",
        agency_id="17",
        attended="on",
        finding="concern",
        destination_region="140404",
    )
    assert out == {
        "content": "已当面劝诫",
        "done_on": "2026-03-02",
        "comply_by": "2026-03-20",
        "sessions": 2,
        "agency_id": 17,
        "attended": True,
        "finding": "concern",
        "destination_region": "140404",
    }


def test_optional_empty_fields_are_left_out_but_a_bool_is_always_there() -> None:
    assert clean() == {"content": "已劝诫", "done_on": "2026-03-01", "attended": False}


def test_unknown_keys_are_dropped() -> None:
    out = clean(case_no="JH-2026-000001", holder="某单位")
    assert "case_no" not in out and "holder" not in out


@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_required_field_must_be_filled(value) -> None:
    assert refused(content=value) == ("field_required", "请填写“劝诫内容”", "content")


def test_a_required_date_must_be_filled() -> None:
    assert refused(done_on="") == ("field_required", "请填写“日期”", "done_on")


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (True, True),
        ("true", True),
        ("1", True),
        ("yes", True),
        ("off", False),
        ("0", False),
        ("no", False),
        (False, False),
    ],
)
def test_bool_values(raw, value) -> None:
    assert clean(attended=raw)["attended"] is value


def test_a_bool_that_is_neither() -> None:
    assert refused(attended="maybe") == ("field_invalid", "“监护人到场”应为是或否", "attended")


@pytest.mark.parametrize("raw", ["two", "2.5", [2]])
def test_an_int_must_be_a_whole_number(raw) -> None:
    assert refused(sessions=raw) == ("field_invalid", "“次数”应为整数", "sessions")


def test_an_int_may_not_be_negative_but_may_be_zero() -> None:
    assert refused(sessions="-1") == ("field_invalid", "“次数”不能为负数", "sessions")
    assert clean(sessions=0)["sessions"] == 0


def test_an_agency_id_is_an_integer() -> None:
    assert refused(agency_id="潞州区公安局") == ("field_invalid", "“接收单位”应为整数", "agency_id")


@pytest.mark.parametrize("raw", ["2026/03/01", "01-03-2026", "2026-02-30", "昨天"])
def test_a_date_in_iso_format(raw) -> None:
    assert refused(done_on=raw) == ("field_invalid", "“日期”日期格式应为 YYYY-MM-DD", "done_on")


def test_a_datetime_counts_as_its_date() -> None:
    assert clean(done_on=datetime(2026, 3, 1, 18, 30))["done_on"] == "2026-03-01"


def test_not_future_refuses_tomorrow_only() -> None:
    assert clean(done_on="2026-03-02")["done_on"] == "2026-03-02"
    assert refused(done_on="2026-03-03") == ("date_in_future", "“日期”不能晚于今天", "done_on")
    assert clean(comply_by="2027-01-01")["comply_by"] == "2027-01-01"  # a date that may be ahead


def test_a_choice_must_be_offered() -> None:
    assert refused(finding="bad") == ("field_invalid", "“回访结果”的取值无效", "finding")


def test_a_region_must_be_a_known_code() -> None:
    code, message, field = refused(destination_region="999999")
    assert (code, field) == ("region_unknown", "destination_region") and "999999" in message
    assert refused(destination_region="14040")[0] == "region_format"


def test_text_lengths() -> None:
    assert clean(content="字" * 200)["content"] == "字" * 200
    assert refused(content="字" * 201) == ("field_too_long", "“劝诫内容”不能超过200字", "content")
    assert clean(note="字" * 4000)["note"] == "字" * 4000
    assert refused(note="字" * 4001) == ("field_too_long", "“情况说明”不能超过4000字", "note")


def test_fields_are_checked_in_their_order() -> None:
    """The first wrong field is the one named, as the form shows them top to bottom."""
    assert refused(content="", done_on="bad")[2] == "content"
