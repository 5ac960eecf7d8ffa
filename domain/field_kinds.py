"""Field kinds: what each kind of form field accepts, how a reader sees its value, and how a posted page
form gives it. A new kind is a member of `FieldKind`, its rules here, and its widget in
ui/templates/fields/<kind>.html (found by name); nothing else switches on the kind."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from domain.errors import DomainError
from domain.regions import full_region_name, region_code_by_name, validate_region_code
from domain.text import INT_MAX, check_text

if TYPE_CHECKING:
    from domain.process import Field


class FieldKind(StrEnum):
    text = "text"
    textarea = "textarea"
    date = "date"
    int = "int"
    choice = "choice"
    choices = "choices"  # several of a list (a key child's categories)
    bool = "bool"
    region = "region"  # a GB/T 2260 code
    agency = "agency"  # an agency id, chosen from a list the page offers
    # The start form of the process another field of the form chose (Field.facts_of; a case the action
    # opens, linked): its fields by name. The process the case is of checks them when it opens.
    facts = "facts"
    # An attachment of the case (a scanned consent form) uploaded beforehand, by its id
    # (api/attachments): the API checks that it is this case's and of the field's Field.attachment kind.
    attachment = "attachment"


TEXT_LIMIT = 200
TEXTAREA_LIMIT = 4000
_TRUE = {True, "true", "on", "1", "yes"}
_FALSE = {False, "false", "off", "0", "no", None, ""}


class KindRules:
    """The rules of a kind; the defaults are those of a line of text."""

    # A checkbox left unticked is an answer (no), not a missing one.
    blank_is_an_answer = False
    # The widget carries its own label (a checkbox's text beside it).
    own_label = False
    # What the page says under the widget when the field has no help of its own.
    hint = ""

    def clean(self, f: Field, value: Any, today: date) -> Any:
        text = check_text(str(value), f.label, f.name)
        if len(text) > TEXT_LIMIT:
            raise DomainError("field_too_long", f"“{f.label}”不能超过{TEXT_LIMIT}字", field=f.name)
        return text

    def show(self, f: Field, value: Any, agencies: Mapping[int, str]) -> str:
        return str(value)

    def from_form(self, f: Field, form: Mapping[str, str]) -> Any:
        """The value a posted page form gives (None: the form does not carry the field)."""
        return form.get(f.name)


RULES: dict[FieldKind, KindRules] = {}


def _rules(kind: FieldKind) -> Callable[[type[KindRules]], type[KindRules]]:
    def register(cls: type[KindRules]) -> type[KindRules]:
        RULES[kind] = cls()
        return cls

    return register


def rules(kind: FieldKind) -> KindRules:
    return RULES[kind]


_rules(FieldKind.text)(KindRules)


@_rules(FieldKind.textarea)
class _Textarea(KindRules):
    def clean(self, f: Field, value: Any, today: date) -> Any:
        text = check_text(str(value), f.label, f.name)
        if len(text) > TEXTAREA_LIMIT:
            raise DomainError("field_too_long", f"“{f.label}”不能超过{TEXTAREA_LIMIT}字", field=f.name)
        return text


@_rules(FieldKind.bool)
class _Bool(KindRules):
    blank_is_an_answer = True
    own_label = True

    def clean(self, f: Field, value: Any, today: date) -> Any:
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise DomainError("field_invalid", f"“{f.label}”应为是或否", field=f.name)

    def show(self, f: Field, value: Any, agencies: Mapping[int, str]) -> str:
        return "是" if value else "否"

    def from_form(self, f: Field, form: Mapping[str, str]) -> Any:
        return form.get(f.name) in ("on", "true", "1", "yes")


def _whole_number(f: Field, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DomainError("field_invalid", f"“{f.label}”应为整数", field=f.name) from None
    if abs(number) > INT_MAX:
        raise DomainError("field_invalid", f"“{f.label}”数值过大", field=f.name)
    return number


@_rules(FieldKind.int)
class _Int(KindRules):
    def clean(self, f: Field, value: Any, today: date) -> Any:
        number = _whole_number(f, value)
        if number < 0:
            raise DomainError("field_invalid", f"“{f.label}”不能为负数", field=f.name)
        return number


@_rules(FieldKind.agency)
class _Agency(KindRules):
    def clean(self, f: Field, value: Any, today: date) -> Any:
        return _whole_number(f, value)

    def show(self, f: Field, value: Any, agencies: Mapping[int, str]) -> str:
        try:
            return agencies.get(int(value), f"单位编号{value}")
        except (TypeError, ValueError):
            return str(value)


@_rules(FieldKind.date)
class _Date(KindRules):
    def clean(self, f: Field, value: Any, today: date) -> Any:
        try:
            d = value if isinstance(value, date) else date.fromisoformat(str(value))
        except ValueError:
            raise DomainError("field_invalid", f"“{f.label}”日期格式应为 YYYY-MM-DD", field=f.name) from None
        if isinstance(d, datetime):
            d = d.date()
        if (f.not_future or f.happened) and d > today:
            raise DomainError("date_in_future", f"“{f.label}”不能晚于今天", field=f.name)
        return d.isoformat()


@_rules(FieldKind.choice)
class _Choice(KindRules):
    def clean(self, f: Field, value: Any, today: date) -> Any:
        if str(value) not in {v for v, _ in f.choices}:
            raise DomainError("field_invalid", f"“{f.label}”的取值无效", field=f.name)
        return str(value)

    def show(self, f: Field, value: Any, agencies: Mapping[int, str]) -> str:
        return dict(f.choices).get(str(value), str(value))


@_rules(FieldKind.choices)
class _Choices(KindRules):
    """Several values of the field's list, each at most once, in the list's order. The page posts one
    checkbox per value, named "<field>.<value>"."""

    def clean(self, f: Field, value: Any, today: date) -> Any:
        given = [value] if isinstance(value, str) else value
        if not isinstance(given, list | tuple) or not given:
            raise DomainError("field_invalid", f"请至少选择一项“{f.label}”", field=f.name)
        known = [v for v, _ in f.choices]
        wrong = [str(v) for v in given if str(v) not in known]
        if wrong:
            raise DomainError("field_invalid", f"“{f.label}”的取值无效：{'、'.join(wrong[:5])[:100]}", field=f.name)
        chosen = {str(v) for v in given}
        return [v for v in known if v in chosen]

    def show(self, f: Field, value: Any, agencies: Mapping[int, str]) -> str:
        labels = dict(f.choices)
        values = [value] if isinstance(value, str) else list(value or [])
        return "、".join(labels.get(str(v), str(v)) for v in values)

    def from_form(self, f: Field, form: Mapping[str, str]) -> Any:
        ticked = [v for v, _ in f.choices if form.get(f"{f.name}.{v}") in ("on", "true", "1", "yes")]
        return ticked or None


# The region widget's choice that says "a place outside the city, named in the text beside", and the
# suffix of that text's name in the posted form ("destination_region_outside").
REGION_OUTSIDE = "outside"
REGION_OUTSIDE_SUFFIX = "_outside"


@_rules(FieldKind.region)
class _Region(KindRules):
    hint = "本市各县（区）从列表选择；本市以外请选“本市以外”，再输入省、市、县（区）名称并从提示中选择。"

    def clean(self, f: Field, value: Any, today: date) -> Any:
        # A machine sends the 6-digit code; a name as the page's list gives it is taken too.
        return validate_region_code(region_code_by_name(str(value), field=f.name), field=f.name)

    def show(self, f: Field, value: Any, agencies: Mapping[int, str]) -> str:
        name = full_region_name(str(value))
        return f"{name}（{value}）" if name else str(value)

    def from_form(self, f: Field, form: Mapping[str, str]) -> Any:
        """The county chosen from the city's list, or the place named beside "本市以外" (as its code when the
        name is known, so that the checks after this one see a code)."""
        chosen = (form.get(f.name) or "").strip()
        if chosen != REGION_OUTSIDE:
            return chosen or None
        named = (form.get(f.name + REGION_OUTSIDE_SUFFIX) or "").strip()[:TEXT_LIMIT]
        try:
            return region_code_by_name(named, field=f.name) if named else None
        except DomainError:
            return named  # refused with its reason when the payload is cleaned


FACTS_MAX_KEYS = 40
FACTS_MAX_ITEMS = 20


def _fact_value(f: Field, key: str, value: Any) -> Any:
    if isinstance(value, bool | int) and abs(int(value)) <= INT_MAX:
        return value
    if isinstance(value, str):
        text = check_text(value.strip(), f.label, f.name)
        if len(text) > TEXTAREA_LIMIT:
            raise DomainError("field_too_long", f"“{f.label}”中的“{key}”不能超过{TEXTAREA_LIMIT}字", field=f.name)
        return text
    if isinstance(value, list) and len(value) <= FACTS_MAX_ITEMS and all(isinstance(v, str) for v in value):
        return [_fact_value(f, key, v) for v in value]
    raise DomainError("field_invalid", f"“{f.label}”中的“{key}”格式不正确", field=f.name)


@_rules(FieldKind.facts)
class _Facts(KindRules):
    """Bounded and typed here (names, texts, numbers, yes/no, lists of texts); what each means is the
    chosen process's start form's to check."""

    own_label = True  # the widget heads its own group of fields

    def clean(self, f: Field, value: Any, today: date) -> Any:
        if not isinstance(value, dict) or len(value) > FACTS_MAX_KEYS:
            raise DomainError("field_invalid", f"“{f.label}”格式不正确", field=f.name)
        out = {}
        for key, v in value.items():
            if not isinstance(key, str) or not key.isidentifier() or len(key) > 64:
                raise DomainError("field_invalid", f"“{f.label}”格式不正确", field=f.name)
            if v not in (None, ""):
                out[key] = _fact_value(f, key, v)
        return out

    def show(self, f: Field, value: Any, agencies: Mapping[int, str]) -> str:
        return ""  # the linked case shows its own start form

    def from_form(self, f: Field, form: Mapping[str, str]) -> Any:
        """The page names each input `<field>.<process>.<name>`: only the chosen process's are taken."""
        chosen = form.get(f.facts_of or "") or ""
        prefix = f"{f.name}.{chosen}."
        got = {k.removeprefix(prefix): v for k, v in form.items() if chosen and k.startswith(prefix) and v != ""}
        return got or None


@_rules(FieldKind.attachment)
class _Attachment(KindRules):
    """The id of an attachment of the case; a page posts the file itself in the same form (ui/attachment_pages.py
    stores it first and puts its id here)."""

    hint = "可上传PDF、JPG或PNG文件"

    def clean(self, f: Field, value: Any, today: date) -> Any:
        number = _whole_number(f, value)
        if number < 1:
            raise DomainError("field_invalid", f"“{f.label}”无效", field=f.name)
        return number

    def show(self, f: Field, value: Any, agencies: Mapping[int, str]) -> str:
        return f"已上传（附件{value}）" if isinstance(value, int) else str(value)
