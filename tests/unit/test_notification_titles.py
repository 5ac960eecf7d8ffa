"""A notification in the list shows its case number once, in front, whatever shape its title has (the
workflows write '<no>：…', '<no>「step」…' and '改派给本单位：<no>「step」')."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from ui.render import _env

NO = "KC-2026-140403-00007"


@dataclass
class Note:
    case_no: str
    title: str
    kind: str = "urged"
    read: bool = False
    settled: bool = False
    personal: bool = False
    created_at: datetime = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def shown(title: str) -> str:
    macros = _env.get_template("_macros.html").make_module({})
    html = str(macros.notes([Note(NO, title)]))
    link = html.split("<a ", 1)[1].split(">", 1)[1].split("</a>", 1)[0]
    return re.sub(r"<[^>]+>", "", link)  # the text the reader sees


@pytest.mark.parametrize(
    ("title", "rest"),
    [
        (f"{NO}：您登记的案件已结案（已复学）", "您登记的案件已结案（已复学）"),
        (f"{NO}「联合劝返」被督办", "「联合劝返」被督办"),
        (f"{NO}「联合劝返」已延期", "「联合劝返」已延期"),
        (f"改派给本单位：{NO}「学校联系家访」", "改派给本单位：「学校联系家访」"),
        ("学生已移交", "学生已移交"),
    ],
)
def test_the_case_number_is_shown_once(title: str, rest: str) -> None:
    link = shown(title)
    assert link.count(NO) == 1
    assert rest in link
