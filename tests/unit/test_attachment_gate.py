"""A file's answer holds its gate slot until the file has been sent: a slow reader keeps it, a reader that
goes away gives it back, and an answer dropped unsent gives it back too. No slot is ever lost."""

from __future__ import annotations

import asyncio
import gc

import pytest

from api.attachments.gate import BUSY, MemoryGate
from api.attachments.router import HeldResponse
from domain.errors import DomainError

SCOPE = {"type": "http", "method": "GET", "path": "/", "headers": []}


async def receive() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


async def free(gate: MemoryGate) -> bool:
    """Whether a slot can be had at once (it is given back)."""
    try:
        slot = await gate.take()
    except DomainError as e:
        assert e is BUSY
        return False
    slot.release()
    return True


async def test_the_slot_is_held_until_the_body_is_sent() -> None:
    gate = MemoryGate(1, 0.05)
    response = HeldResponse(b"x" * 1000, slot=await gate.take())
    body_sent = asyncio.Event()
    go_on = asyncio.Event()

    async def slow_send(message: dict) -> None:
        if message["type"] == "http.response.body":
            await go_on.wait()
            body_sent.set()

    sending = asyncio.create_task(response(SCOPE, receive, slow_send))
    await asyncio.sleep(0.01)
    assert not await free(gate)  # the reader has not taken the bytes yet
    go_on.set()
    await sending
    assert body_sent.is_set() and await free(gate)


async def test_a_reader_that_goes_away_gives_the_slot_back() -> None:
    gate = MemoryGate(1, 0.05)
    response = HeldResponse(b"x", slot=await gate.take())

    async def gone(message: dict) -> None:
        raise OSError("connection reset")

    with pytest.raises(OSError):
        await response(SCOPE, receive, gone)
    assert await free(gate)


async def test_an_answer_dropped_unsent_gives_the_slot_back() -> None:
    gate = MemoryGate(1, 0.05)
    response = HeldResponse(b"x", slot=await gate.take())
    assert not await free(gate)
    del response
    gc.collect()
    assert await free(gate)


async def test_a_slot_given_back_twice_frees_one_place() -> None:
    gate = MemoryGate(1, 0.05)
    slot = await gate.take()
    slot.release()
    slot.release()
    first = await gate.take()  # one slot, not two
    assert not await free(gate)
    first.release()
