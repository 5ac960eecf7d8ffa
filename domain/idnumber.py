"""The 18-character resident identity number (居民身份证号码, GB 11643-1999).

Layout: 6-digit region code of the issuing office, 8-digit birth date YYYYMMDD, 3-digit sequence
(odd for men, even for women), and an ISO 7064 MOD 11-2 check character (0-9 or X).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

from domain import regions
from domain.enums import Sex
from domain.errors import DomainError

_FIELD = "id_number"

# Weight of position i (0-based, left to right) is 2^(17-i) mod 11; a total of t needs the check
# character _CHECK_CHARS[t % 11] so that the whole number sums to 1 mod 11.
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK_CHARS = "10X98765432"

# Residence permits for Hong Kong, Macao and Taiwan residents (港澳台居民居住证) use the same layout
# with these codes. 810000 and 820000 are GB/T 2260 codes anyway; Taiwan's is 710000 there, not 830000.
_RESIDENCE_PERMIT_CODES = frozenset({"810000", "820000", "830000"})

# No one alive was born before this; an earlier year is a typing error, not a very old person.
_EARLIEST_BIRTH = date(1900, 1, 1)


@dataclass(frozen=True)
class IdNumberInfo:
    id_number: str
    region_code: str
    birth_date: date
    sex: Sex


def _is_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def check_character(first17: str) -> str:
    """The check character ("0"-"9" or "X") that completes the 17 digits `first17`."""
    if len(first17) != 17 or not _is_digits(first17):
        raise DomainError("id_number_format", "身份证号码前17位应为数字", field=_FIELD)
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def _normalise(value: str) -> str:
    # NFKC: clerks typing with a Chinese IME produce full-width digits and "Ｘ".
    return unicodedata.normalize("NFKC", value).strip().upper()


def parse_id_number(value: str, *, today: date) -> IdNumberInfo:
    """Check an ID number and read the issuing region, birth date and sex from it.

    Checks run in a fixed order (length, format, check character, birth date, region) so the clerk
    is told about the most basic mistake first. `today` is passed in rather than read from the clock so
    that workflows stay deterministic and tests can pin it.
    """
    number = _normalise(value) if isinstance(value, str) else ""
    if len(number) != 18:
        raise DomainError("id_number_length", f"身份证号码应为18位，当前为{len(number)}位", field=_FIELD)
    first17, last = number[:17], number[17]
    if not _is_digits(first17) or not (_is_digits(last) or last == "X"):
        raise DomainError("id_number_format", "身份证号码格式错误：前17位应为数字，最后一位应为数字或X", field=_FIELD)
    if check_character(first17) != last:
        raise DomainError("id_number_checksum", "身份证号码校验位错误，请核对", field=_FIELD)

    year, month, day = int(number[6:10]), int(number[10:12]), int(number[12:14])
    birth_date: date | None
    try:
        birth_date = date(year, month, day)
    except ValueError:  # 20260230, month 13, day 00
        birth_date = None
    if birth_date is None or birth_date < _EARLIEST_BIRTH:
        raise DomainError(
            "id_number_birth_date_invalid",
            f"身份证号码中的出生日期“{number[6:14]}”不是有效日期，请核对",
            field=_FIELD,
        )
    if birth_date > today:
        raise DomainError(
            "id_number_birth_date_future",
            f"身份证号码中的出生日期“{birth_date.isoformat()}”晚于今天，请核对",
            field=_FIELD,
        )

    region_code = number[:6]
    # Historical codes are accepted: a number keeps the code of the office that issued it for life.
    if not (regions.is_known_region(region_code, allow_historical=True) or region_code in _RESIDENCE_PERMIT_CODES):
        raise DomainError(
            "id_number_region_unknown",
            f"身份证号码前6位地区码“{region_code}”不存在，请核对",
            field=_FIELD,
        )

    sex = Sex.male if int(number[16]) % 2 == 1 else Sex.female
    return IdNumberInfo(id_number=number, region_code=region_code, birth_date=birth_date, sex=sex)


def mask_id_number(value: str) -> str:
    """First 6 and last 4 characters, the rest as "*": "140403********123X".

    Use for display and for anything logged. Values too short to hide at least 4 characters that
    way are masked completely, since they are likely a mistyped number and still personal data.
    """
    number = _normalise(value) if isinstance(value, str) else ""
    if len(number) < 14:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def age_on(birth_date: date, on: date) -> int:
    """Full years (周岁) on the date `on`; someone born on 29 February turns a year older on 1 March
    in common years.

    This is the civil-law count. Criminal-law ages (刑法第十七条) count from the day after the
    birthday, so for those pass `on - timedelta(days=1)`.
    """
    if on < birth_date:
        raise ValueError(f"{on} is before the birth date {birth_date}")
    before_birthday = (on.month, on.day) < (birth_date.month, birth_date.day)
    return on.year - birth_date.year - int(before_birthday)
