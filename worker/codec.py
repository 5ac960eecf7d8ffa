"""Payloads and failures encrypted before they leave the process: a workflow history on the Temporal
server (and in its UI) holds the facts, notes and reasons of a case, the child's birth date and staff
names, so none of it may be there in clear.

AES-256-GCM (from `cryptography`) over each whole payload; the encrypted payload's metadata names the key,
so keys can be rotated: the first key encrypts, every key decrypts. A payload that is not encrypted (a
history from before the codec) passes through as it is. Search attributes are not payloads and stay in
clear: they hold case numbers, steps, agencies and regions only.

Keys are `REFERRALS_PAYLOAD_KEYS`: `kid:base64key,kid:base64key,...` (32-byte keys)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import CompositePayloadConverter, DataConverter, DefaultFailureConverter, PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
KEY_BYTES = 32
NONCE_BYTES = 12


class PayloadKeyError(ValueError):
    """The keys setting is malformed, or a payload names a key this process does not have."""


@dataclass(frozen=True)
class PayloadKeys:
    """Keys by id, in the order given; the first is the one new payloads are encrypted with."""

    ids: tuple[str, ...]
    secrets: tuple[bytes, ...]

    @property
    def active(self) -> str:
        return self.ids[0]

    def key(self, kid: str) -> bytes:
        try:
            return self.secrets[self.ids.index(kid)]
        except ValueError:
            raise PayloadKeyError(f"payload encrypted with unknown key {kid!r}") from None

    @classmethod
    def parse(cls, text: str) -> PayloadKeys:
        """`kid:base64key,...`; refuses an empty list, a repeated id and a key that is not 32 bytes."""
        ids: list[str] = []
        keys: list[bytes] = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            kid, sep, encoded = item.partition(":")
            kid = kid.strip()
            if not sep or not kid:
                raise PayloadKeyError("each payload key is written kid:base64key")
            if kid in ids:
                raise PayloadKeyError(f"payload key id {kid!r} is given twice")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except binascii.Error:
                raise PayloadKeyError(f"payload key {kid!r} is not base64") from None
            if len(key) != KEY_BYTES:
                raise PayloadKeyError(f"payload key {kid!r} is not {KEY_BYTES} bytes")
            ids.append(kid)
            keys.append(key)
        if not ids:
            raise PayloadKeyError("no payload key is given")
        return cls(tuple(ids), tuple(keys))

    @staticmethod
    def generate(kid: str) -> str:
        """A new key written as the setting expects it."""
        return f"{kid}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: PayloadKeys) -> None:
        self.keys = keys
        self._ciphers = {kid: AESGCM(keys.key(kid)) for kid in keys.ids}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        kid = self.keys.active
        nonce = os.urandom(NONCE_BYTES)
        # The key id is authenticated too: a payload cannot be passed off as another key's.
        sealed = self._ciphers[kid].encrypt(nonce, payload.SerializeToString(), kid.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: kid.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before payloads were encrypted
        kid = payload.metadata.get(KEY_ID, b"").decode()
        if kid not in self._ciphers:
            raise PayloadKeyError(f"payload encrypted with unknown key {kid!r}")
        try:
            plain = self._ciphers[kid].decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], kid.encode())
        except InvalidTag:
            raise PayloadKeyError(f"payload does not decrypt with key {kid!r}") from None
        return Payload.FromString(plain)


class EncodedFailureConverter(DefaultFailureConverter):
    """A failure's message and stack trace go into an (encrypted) payload: an exception's text may quote
    what a case holds."""

    def __init__(self) -> None:
        super().__init__(encode_common_attributes=True)


class SharedPydanticConverter(CompositePayloadConverter):
    """The pydantic payload converter, its parts made once per process and shared. The SDK makes a payload
    converter for every workflow instance and two for every activation (one per data converter it makes), and
    pydantic's JSON part keeps its type adapters per instance: each new run built the schema of every type it
    decoded again, and every activation a serializer (about a sixth of the worker's CPU, issue 13). Every
    type a workflow decodes is imported once per worker (worker/client.py passes domain/ and workflows/
    through the sandbox), so one bounded cache serves them all; the parts keep no state but that cache."""

    def __init__(self) -> None:
        super().__init__(*_SHARED_PARTS)


_SHARED_PARTS = tuple(PydanticPayloadConverter().converters.values())


def data_converter(keys: PayloadKeys) -> DataConverter:
    """The one converter of every client, worker and replayer: pydantic payloads, encrypted."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_converter_class=SharedPydanticConverter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=EncodedFailureConverter,
    )
