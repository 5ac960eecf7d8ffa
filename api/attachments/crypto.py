"""Attachments encrypted at rest: AES-256-GCM with a key derived (HKDF-SHA256) from each payload key
(Settings.payload_keys, worker/codec.py), so a deployment has one set of keys to keep and rotate: the first
encrypts, every one decrypts, and the row names its key. The case and the content's hash are authenticated
with the bytes: a row's ciphertext cannot be passed off as another case's file."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from worker.codec import KEY_BYTES, NONCE_BYTES, PayloadKeyError, PayloadKeys

# Another key than the payload codec's, from the same secret: neither's ciphertext opens with the other.
_PURPOSE = b"referrals attachments v1"


@dataclass(frozen=True)
class Sealed:
    key_id: str
    nonce: bytes
    data: bytes


def _derive(secret: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_PURPOSE).derive(secret)
    return AESGCM(key)


@functools.cache
def _ciphers(keys: PayloadKeys) -> dict[str, AESGCM]:
    return {kid: _derive(keys.key(kid)) for kid in keys.ids}


def _bound(case_id: int, sha256: str) -> bytes:
    return f"{case_id}:{sha256}".encode()


def seal(keys: PayloadKeys, data: bytes, *, case_id: int, sha256: str) -> Sealed:
    nonce = os.urandom(NONCE_BYTES)
    sealed = _ciphers(keys)[keys.active].encrypt(nonce, data, _bound(case_id, sha256))
    return Sealed(keys.active, nonce, sealed)


def open_sealed(keys: PayloadKeys, sealed: Sealed, *, case_id: int, sha256: str) -> bytes:
    cipher = _ciphers(keys).get(sealed.key_id)
    if cipher is None:
        raise PayloadKeyError(f"attachment encrypted with unknown key {sealed.key_id!r}")
    try:
        return cipher.decrypt(sealed.nonce, sealed.data, _bound(case_id, sha256))
    except InvalidTag:
        raise PayloadKeyError(f"attachment does not decrypt with key {sealed.key_id!r}") from None
