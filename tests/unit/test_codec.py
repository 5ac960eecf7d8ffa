"""The payload codec: what leaves the process is encrypted, a rotated key still reads what the old one
wrote, payloads from before the codec pass through, and a failure's message is not in clear."""

from __future__ import annotations

import pytest
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from worker.codec import ENCODING, KEY_ID, PayloadKeyError, PayloadKeys, data_converter

FACT = "监护人醉酒后殴打儿童张小明，生日2015-03-08"


def keys(*ids: str) -> str:
    return ",".join(PayloadKeys.generate(k) for k in ids)


async def test_a_payload_is_encrypted_with_the_first_key_and_decrypts() -> None:
    conv = data_converter(PayloadKeys.parse(keys("k2", "k1")))
    [p] = await conv.encode([{"note": FACT}])
    assert p.metadata["encoding"] == ENCODING and p.metadata[KEY_ID] == b"k2"
    assert FACT.encode() not in p.SerializeToString()
    assert await conv.decode([p], [dict]) == [{"note": FACT}]


async def test_after_a_rotation_the_old_key_still_decrypts_and_the_new_one_encrypts() -> None:
    old = keys("k1")
    [p] = await data_converter(PayloadKeys.parse(old)).encode([FACT])
    rotated = data_converter(PayloadKeys.parse(f"{PayloadKeys.generate('k2')},{old}"))
    assert await rotated.decode([p], [str]) == [FACT]
    [q] = await rotated.encode([FACT])
    assert q.metadata[KEY_ID] == b"k2"


async def test_a_payload_from_before_the_codec_passes_through() -> None:
    conv = data_converter(PayloadKeys.parse(keys("k1")))
    plain = conv.payload_converter.to_payloads([FACT])
    assert await conv.decode(plain, [str]) == [FACT]


async def test_an_unknown_or_wrong_key_or_a_changed_payload_is_refused() -> None:
    [p] = await data_converter(PayloadKeys.parse(keys("k1"))).encode([FACT])
    with pytest.raises(PayloadKeyError, match="unknown key 'k1'"):
        await data_converter(PayloadKeys.parse(keys("other"))).decode([p], [str])
    with pytest.raises(PayloadKeyError, match="does not decrypt"):
        await data_converter(PayloadKeys.parse(keys("k1"))).decode([p], [str])  # another key of the same id


async def test_a_failure_message_and_stack_are_encrypted() -> None:
    conv = data_converter(PayloadKeys.parse(keys("k1")))
    failure = Failure()
    try:
        raise ApplicationError(FACT)
    except ApplicationError as e:
        await conv.encode_failure(e, failure)
    assert FACT.encode() not in failure.SerializeToString()
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    back = await conv.decode_failure(failure)
    assert str(back) == FACT
