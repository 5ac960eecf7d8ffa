"""Signed transfer packets (移交材料) between deployments of this system: the residence's transfer packet
to an origin served by another deployment, and the origin's answer back. A packet is a JSON envelope
{"packet": {...}, "signature": base64} signed with the sending deployment's Ed25519 key over the packet's
canonical JSON. The receiver checks that it is addressed to it, that the sender is one it trusts and the
signature holds; the packet id (kept on import) refuses a replay."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, Field, ValidationError

from domain.errors import DomainError

PACKET_VERSION = 1


class TransferPacket(BaseModel):
    """What crosses: the case's number at the sender, the application, and (for an answer) the origin's
    opinion and decision."""

    version: int = PACKET_VERSION
    packet_id: str = Field(min_length=8, max_length=64)
    # transfer: residence → origin, the application; answer: origin → residence, its opinion and decision;
    # supplement_ask: origin → residence, what the applicant must supply; supplement_back: residence →
    # origin, the materials supplied (its case_no is still the residence's case); withdrawn: residence → origin,
    # the application was withdrawn there (the applicant's supplement lapsed); ended: origin → residence, the
    # support it pays ended (from which month, and why), or residence → origin (body from_side "residence",
    # case_no the residence's), support ended there; education: either way like ended (body from_side), the
    # child is in full-time education until a date, so the receiver's support goes on past 18 to then.
    kind: Literal[
        "transfer", "answer", "supplement_ask", "supplement_back", "withdrawn", "ended", "education"
    ]  # at most 16 characters: transfer_packets.kind is String(16) (kept so, no migration)
    process: str = Field(max_length=64)
    from_deployment: str = Field(max_length=64)
    to_deployment: str = Field(max_length=64)
    issued_at: str
    case_no: str = Field(max_length=40)  # the residence's case (an answer names it, to close that case)
    body: dict[str, Any]


class SignedPacket(BaseModel):
    packet: TransferPacket
    signature: str = Field(max_length=200)


def canonical(packet: TransferPacket) -> bytes:
    return json.dumps(
        packet.model_dump(mode="json"), ensure_ascii=False, sort_keys=True, separators=(",", ":")
    ).encode()


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not base64") from None


def parse_signing_key(text: str) -> Ed25519PrivateKey:
    """A deployment's signing key: the 32-byte Ed25519 private key, base64."""
    raw = _b64(text.strip(), "the packet signing key")
    if len(raw) != 32:
        raise ValueError("the packet signing key must be 32 bytes (Ed25519), base64")
    return Ed25519PrivateKey.from_private_bytes(raw)


def parse_trusted_keys(text: str) -> dict[str, Ed25519PublicKey]:
    """`deployment=base64publickey,...`: the deployments whose packets this one accepts."""
    out: dict[str, Ed25519PublicKey] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, key = item.partition("=")
        raw = _b64(key.strip(), f"the public key of {name.strip()}") if sep else b""
        if not sep or not name.strip() or len(raw) != 32:
            raise ValueError("trusted packet keys are deployment=base64 Ed25519 public key (32 bytes), comma-separated")
        out[name.strip()] = Ed25519PublicKey.from_public_bytes(raw)
    return out


def new_signing_key() -> tuple[str, str]:
    """(private, public) base64: for an admin setting up a deployment, and for the tests."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes_raw()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(private).decode(), base64.b64encode(public).decode()


def sign(packet: TransferPacket, key: Ed25519PrivateKey) -> SignedPacket:
    return SignedPacket(packet=packet, signature=base64.b64encode(key.sign(canonical(packet))).decode())


def verify(raw: dict[str, Any], *, me: str, trusted: dict[str, Ed25519PublicKey]) -> TransferPacket:
    """The packet, if it is for this deployment, from one it trusts, and unaltered; else DomainError."""
    try:
        signed = SignedPacket.model_validate(raw)
    except ValidationError:
        raise DomainError("packet_invalid", "移交材料格式不正确，无法导入", field="packet") from None
    packet = signed.packet
    if packet.to_deployment != me:
        raise DomainError(
            "packet_wrong_deployment", f"该移交材料是发给“{packet.to_deployment}”的，不是发给本系统的", field="packet"
        )
    key = trusted.get(packet.from_deployment)
    if key is None:
        raise DomainError(
            "packet_untrusted", f"本系统未登记“{packet.from_deployment}”的签名公钥，不能导入其移交材料", field="packet"
        )
    try:
        key.verify(_b64(signed.signature, "the signature"), canonical(packet))
    except (InvalidSignature, ValueError):
        raise DomainError(
            "packet_tampered", "移交材料签名无效（内容可能被修改），不能导入", field="signature"
        ) from None
    return packet
