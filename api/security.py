"""Passwords (scrypt) and API tokens (random, stored as SHA-256)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from domain.errors import DomainError

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(got.hex(), digest)


MIN_PASSWORD = 8


def check_password_strength(password: str, *, field: str = "password") -> None:
    """At least 8 characters, with letters and digits; not the demo password. Refused in Chinese."""
    if len(password) < MIN_PASSWORD or not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        raise DomainError("weak_password", f"密码至少{MIN_PASSWORD}位，且须同时包含字母和数字", field=field)
    if password == "demo1234":
        raise DomainError("weak_password", "不能使用演示密码", field=field)


def new_token() -> str:
    return "rf_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
