"""The registry (台账): what each agency's spreadsheet holds, and how one row of it is checked. Pure Python.

Five sources (数据来源) send the county civil-affairs bureau their lists: the school roll (education), the
residence permits (police), the 0-6 health management and vaccination lists (health), the medical-insurance
enrolment (medical_insurance) and the disability records (disability). Each has one import template with
Chinese headers. A row is checked whole, every problem named with its column, so that a clerk fixes the file
once; a row becomes a `RowFacts` that matching and the change set read.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from domain.errors import DomainError
from domain.idnumber import check_character, parse_id_number


class Source(StrEnum):
    education = "education"
    police = "police"
    health = "health"
    medical_insurance = "medical_insurance"
    disability = "disability"


SOURCE_LABELS: dict[Source, str] = {
    Source.education: "学籍（教育）",
    Source.police: "居住证（公安）",
    Source.health: "0-6岁健康管理/预防接种（卫健）",
    Source.medical_insurance: "医保参保（医保）",
    Source.disability: "残疾人证（残联）",
}


class KeyCategory(StrEnum):
    """The kinds of key child (重点对象) of the glossary."""

    hardship = "hardship"
    disability = "disability"
    guardian_missing = "guardian_missing"  # 监护缺失: no guardian caring for the child
    vagrancy = "vagrancy"
    psychological = "psychological"
    help_request = "help_request"


KEY_CATEGORY_LABELS: dict[KeyCategory, str] = {
    KeyCategory.hardship: "生活困难",
    KeyCategory.disability: "残疾",
    KeyCategory.guardian_missing: "监护缺失",
    KeyCategory.vagrancy: "流浪",
    KeyCategory.psychological: "心理行为问题",
    KeyCategory.help_request: "求助",
}
# Agencies also write 困境 for hardship.
_CATEGORY_BY_LABEL = {label: c for c, label in KEY_CATEGORY_LABELS.items()} | {"困境": KeyCategory.hardship}

# The facts a row can carry, the record's field each lands in (provenance is kept per field).
TRACKED_FIELDS: dict[str, str] = {
    "school": "学校",
    "school_roll_no": "学籍号",
    "grade": "年级",
    "township": "乡镇（街道）",
    "address": "现住址",
    "origin_region": "户籍地",
    "migrant_since": "来本地居住时间",
    "guardian_phone": "监护人电话",
    "insured": "参保状态",
    "disability_kind": "残疾类别",
    "disability_grade": "残疾等级",
}
# Those kept in the child's own columns; the others in its registry facts (the guardian's phone on the guardian).
CHILD_COLUMNS = ("school", "school_roll_no", "township", "address", "origin_region", "migrant_since")


class ProposalKind(StrEnum):
    """What the registry can propose to a process that declares it accepts it (Process.registry_proposals)."""

    # A pupil on the last school roll of the county and on no roll now, still living in the county.
    left_school_roll = "left_school_roll"


PROPOSAL_LABELS: dict[ProposalKind, str] = {ProposalKind.left_school_roll: "上学期在籍、本学期无学籍且仍在本县居住"}


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    required: bool = False
    hint: str = ""  # the template's example / the rule, shown under the header on the page


_ID = Column("身份证号", "id_number", hint="18位；旧15位号码自动转换；无号码的留空")
_NAME = Column("姓名", "name", True)
_SEX = Column("性别", "sex", True, "男/女")
_BIRTH = Column("出生日期", "birth_date", True, "2015-03-12")
_GUARDIAN = Column("监护人姓名", "guardian_name", hint="无身份证号时必填，用于比对")
_PHONE = Column("监护人电话", "guardian_phone")
_TOWNSHIP = Column("乡镇（街道）", "township")
_ADDRESS = Column("现住址", "address")
_FLAGS = Column("重点情形", "flags", hint="、".join(KEY_CATEGORY_LABELS.values()) + "，多项用顿号分隔")

TEMPLATES: dict[Source, tuple[Column, ...]] = {
    Source.education: (
        Column("学籍号", "school_roll_no", True),
        _ID,
        _NAME,
        _SEX,
        _BIRTH,
        Column("学校", "school", True),
        Column("年级", "grade"),
        _TOWNSHIP,
        _ADDRESS,
        _GUARDIAN,
        _PHONE,
        _FLAGS,
    ),
    Source.police: (
        _ID,
        _NAME,
        _SEX,
        _BIRTH,
        Column("户籍地区划代码", "origin_region", hint="6位行政区划代码"),
        Column("居住登记日期", "migrant_since", hint="2024-09-01"),
        _TOWNSHIP,
        _ADDRESS,
        _GUARDIAN,
        _PHONE,
        _FLAGS,
    ),
    Source.health: (_ID, _NAME, _SEX, _BIRTH, _TOWNSHIP, _ADDRESS, _GUARDIAN, _PHONE, _FLAGS),
    Source.medical_insurance: (
        _ID,
        _NAME,
        _SEX,
        _BIRTH,
        Column("参保状态", "insured", hint="已参保/未参保"),
        Column("医疗救助对象", "hardship", hint="是/否"),
        _GUARDIAN,
        _PHONE,
        _FLAGS,
    ),
    Source.disability: (
        _ID,
        _NAME,
        _SEX,
        _BIRTH,
        Column("残疾类别", "disability_kind", True, "视力/听力/言语/肢体/智力/精神/多重"),
        Column("残疾等级", "disability_grade", hint="一级至四级"),
        _TOWNSHIP,
        _ADDRESS,
        _GUARDIAN,
        _PHONE,
        _FLAGS,
    ),
}

SEX_VALUES = {"男": "male", "女": "female"}
DISABILITY_KINDS = ("视力", "听力", "言语", "肢体", "智力", "精神", "多重")
_MAX_CELL = 128


@dataclass(frozen=True)
class RowProblem:
    row: int  # as the spreadsheet numbers it: the header is row 1
    column: str  # the Chinese header, or "" for the row as a whole
    reason: str

    def text(self) -> str:
        where = f"“{self.column}”" if self.column else ""
        return f"第{self.row}行{where}：{self.reason}"


@dataclass
class RowFacts:
    """One checked row: who the child is and what the source says about them."""

    row: int
    id_number: str | None
    name: str
    sex: str
    birth_date: date
    guardian_name: str
    fields: dict[str, str] = field(default_factory=dict)  # TRACKED_FIELDS keys, non-empty values only
    flags: list[KeyCategory] = field(default_factory=list)
    converted_from_15: bool = False
    # The row as the file had it, in the template's column order (trailing blanks dropped): what a change
    # set keeps of a row it still has to apply, read again with `facts_of_cells`.
    cells: list[str] = field(default_factory=list)


def normalise(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def id_15_to_18(old: str) -> str:
    """A first-generation 15-digit number as its 18-character form: the century 19 inserted before the
    two-digit year (these were issued 1984-2004 to people born in the 1900s), and the check character
    computed."""
    first17 = old[:6] + "19" + old[6:]
    return first17 + check_character(first17)


def check_id_number(value: str, *, today: date) -> tuple[str, bool]:
    """The 18-character number and whether it was converted from 15 digits (DomainError with the
    reason otherwise: a wrong check character is reported, never corrected)."""
    number = normalise(value).upper()
    converted = False
    if len(number) == 15 and number.isascii() and number.isdigit():
        number, converted = id_15_to_18(number), True
    return parse_id_number(number, today=today).id_number, converted


def parse_date(value: str) -> date | None:
    text = normalise(value).replace("/", "-").replace(".", "-")
    if len(text) == 8 and text.isdigit():
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def parse_flags(value: str) -> list[KeyCategory] | None:
    """The categories in a 重点情形 cell ("残疾、监护缺失"), None when one is not a category."""
    out: list[KeyCategory] = []
    for part in normalise(value).replace("，", "、").replace(",", "、").replace(";", "、").split("、"):
        part = part.strip()
        if not part:
            continue
        if part not in _CATEGORY_BY_LABEL:
            return None
        if _CATEGORY_BY_LABEL[part] not in out:
            out.append(_CATEGORY_BY_LABEL[part])
    return out


def check_header(source: Source, header: list[str]) -> dict[str, int]:
    """The column index of each template key; refuses a sheet missing a required column (the whole file)."""
    # Both sides normalised: NFKC turns the template's full-width brackets into ASCII ones, as a clerk's
    # input method may have typed them.
    cells = [normalise(h) for h in header]
    columns = TEMPLATES[source]
    missing = [c.header for c in columns if c.required and normalise(c.header) not in cells]
    if normalise(_ID.header) not in cells:
        missing.insert(0, _ID.header)
    if missing:
        raise DomainError(
            "columns_missing",
            f"第1行表头缺少列：{'、'.join(missing)}。请下载“{SOURCE_LABELS[source]}”导入模板，按模板填写",
            field="file",
        )
    return {c.key: cells.index(normalise(c.header)) for c in columns if normalise(c.header) in cells}


def check_row(
    source: Source, n: int, cells: dict[str, str], *, today: date
) -> tuple[RowFacts | None, list[RowProblem]]:
    """One data row checked whole: the facts, or every problem it has."""
    headers = {c.key: c.header for c in TEMPLATES[source]}
    problems: list[RowProblem] = []

    def bad(key: str, reason: str) -> None:
        problems.append(RowProblem(n, headers.get(key, ""), reason))

    values = {k: normalise(v) for k, v in cells.items()}
    for c in TEMPLATES[source]:
        if c.required and not values.get(c.key):
            bad(c.key, "不能为空")
        elif len(values.get(c.key, "")) > _MAX_CELL:
            bad(c.key, f"不能超过{_MAX_CELL}字")

    id_number: str | None = None
    converted = False
    if values.get("id_number"):
        try:
            id_number, converted = check_id_number(values["id_number"], today=today)
        except DomainError as e:
            bad("id_number", e.message)
    elif not values.get("guardian_name"):
        bad("guardian_name", "无身份证号时必须填写监护人姓名，用于比对")

    sex = SEX_VALUES.get(values.get("sex", ""), "")
    if values.get("sex") and not sex:
        bad("sex", "应为“男”或“女”")
    birth = parse_date(values.get("birth_date", "")) if values.get("birth_date") else None
    if values.get("birth_date") and birth is None:
        bad("birth_date", "不是有效日期（如2015-03-12）")
    elif birth is not None and birth > today:
        bad("birth_date", "晚于今天")
    if id_number and birth and id_number[6:14] != birth.strftime("%Y%m%d"):
        bad("birth_date", "与身份证号中的出生日期不一致")

    facts_fields = {k: values[k] for k in TRACKED_FIELDS if values.get(k) and k in headers}
    if facts_fields.get("origin_region"):
        from domain.regions import is_known_region

        if not is_known_region(facts_fields["origin_region"], allow_historical=True):
            bad("origin_region", "不是有效的6位行政区划代码")
    if facts_fields.get("migrant_since"):
        since = parse_date(facts_fields["migrant_since"])
        if since is None or since > today:
            bad("migrant_since", "不是有效日期（如2024-09-01）")
        else:
            facts_fields["migrant_since"] = since.isoformat()

    flags = parse_flags(values.get("flags", "")) if values.get("flags") else []
    if flags is None:
        bad("flags", "只能填写：" + "、".join(KEY_CATEGORY_LABELS.values()))
        flags = []
    if source == Source.disability:
        if values.get("disability_kind") and values["disability_kind"] not in DISABILITY_KINDS:
            bad("disability_kind", "应为：" + "/".join(DISABILITY_KINDS))
        if KeyCategory.disability not in flags:
            flags.append(KeyCategory.disability)
    if source == Source.medical_insurance and values.get("hardship"):
        if values["hardship"] not in ("是", "否"):
            bad("hardship", "应为“是”或“否”")
        elif values["hardship"] == "是" and KeyCategory.hardship not in flags:
            flags.append(KeyCategory.hardship)

    if problems or birth is None:
        return None, problems
    return (
        RowFacts(
            row=n,
            id_number=id_number,
            name=values["name"],
            sex=sex,
            birth_date=birth,
            guardian_name=values.get("guardian_name", ""),
            fields=facts_fields,
            flags=flags,
            converted_from_15=converted,
            cells=template_cells(source, cells),
        ),
        [],
    )


def template_cells(source: Source, cells: dict[str, str]) -> list[str]:
    """A row's cells in the template's column order, trailing blanks dropped (a compact, source-free form)."""
    out = [cells.get(c.key, "") for c in TEMPLATES[source]]
    while out and not out[-1]:
        out.pop()
    return out


def facts_of_cells(source: Source, row: int, cells: list[str], *, today: date) -> RowFacts | None:
    """A row kept by `template_cells` checked again: the same facts (None if it no longer checks, e.g. a
    birth date that is somehow in the future)."""
    keys = [c.key for c in TEMPLATES[source]]
    fact, _ = check_row(source, row, dict(zip(keys, cells, strict=False)), today=today)
    return fact
