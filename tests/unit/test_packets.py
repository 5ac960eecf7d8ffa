"""Signed transfer packets (domain/packets.py) and their keys in Settings: a packet verifies only at the
deployment it is addressed to, from a sender it trusts, unaltered; a malformed key is refused at once."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.settings import Settings
from domain.errors import DomainError
from domain.packets import TransferPacket, new_signing_key, parse_signing_key, parse_trusted_keys, sign, verify

KEY, PUB = new_signing_key()
OTHER, OTHER_PUB = new_signing_key()


def packet(**over: object) -> TransferPacket:
    values = {
        "packet_id": "p" * 12,
        "kind": "transfer",
        "process": "certification",
        "from_deployment": "changzhi",
        "to_deployment": "zhengzhou",
        "issued_at": "2026-12-02T04:00:00+00:00",
        "case_no": "RD-2026-140403-00001",
        "body": {"child": {"name": "李娜"}},
    }
    return TransferPacket.model_validate({**values, **over})


def signed(p: TransferPacket | None = None, key: str = KEY) -> dict:
    return sign(p or packet(), parse_signing_key(key)).model_dump(mode="json")


def refused(raw: dict, trusted: str = f"changzhi={PUB}") -> DomainError:
    with pytest.raises(DomainError) as e:
        verify(raw, me="zhengzhou", trusted=parse_trusted_keys(trusted))
    assert e.value.message
    return e.value


def test_a_packet_verifies_where_it_is_addressed() -> None:
    assert verify(signed(), me="zhengzhou", trusted=parse_trusted_keys(f"changzhi={PUB}")) == packet()


def test_an_altered_packet_is_refused() -> None:
    raw = signed()
    raw["packet"]["body"]["child"]["name"] = "张三"
    assert refused(raw).code == "packet_tampered"


def test_a_packet_signed_with_another_key_is_refused() -> None:
    assert refused(signed(key=OTHER)).code == "packet_tampered"


def test_a_packet_for_another_deployment_or_from_an_untrusted_one_is_refused() -> None:
    assert refused(signed(packet(to_deployment="taiyuan"))).code == "packet_wrong_deployment"
    assert refused(signed(), trusted=f"taiyuan={OTHER_PUB}").code == "packet_untrusted"
    assert refused({"packet": {"kind": "x"}, "signature": ""}).code == "packet_invalid"


def test_settings_refuse_malformed_packet_keys(tmp_path) -> None:
    base = {"environment": "dev", "secret_key": "x", "var_dir": tmp_path}
    with pytest.raises(ValidationError):
        Settings(**base, packet_signing_key="not-base64!")
    with pytest.raises(ValidationError):
        Settings(**base, packet_trusted_keys="changzhi")
    s = Settings(**base, packet_signing_key=KEY, packet_trusted_keys=f"changzhi={PUB},zhengzhou={OTHER_PUB}")
    assert s.deployment_id == "changzhi"
