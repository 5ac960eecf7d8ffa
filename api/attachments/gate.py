"""How many attachments one web process holds in memory at once. A file is held whole while it is read,
hashed, sealed (AES-GCM seals it as one message) and stored (one bytea), or opened for a reader: without a
bound, many uploads at once could exhaust the server's memory. Beyond the bound an upload or a read waits
its turn for a while, then is answered 503 with a reason, having changed nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from domain.errors import DomainError

BUSY = DomainError("unavailable", "同时处理的附件较多，请稍后重试", field="file")


@dataclass
class Slot:
    """A slot taken from the gate; given back once, however often `release` is called."""

    _slots: asyncio.Semaphore
    _held: bool = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots.release()


class MemoryGate:
    def __init__(self, slots: int, wait_seconds: float) -> None:
        self._slots = asyncio.Semaphore(slots)
        self._wait = wait_seconds

    async def take(self) -> Slot:
        """One slot, to be released by the caller; BUSY if none frees within the wait. (A cancelled acquire
        hands a slot it was given on to the next waiter: none is lost.)"""
        try:
            async with asyncio.timeout(self._wait):
                await self._slots.acquire()
        except TimeoutError:
            raise BUSY from None
        return Slot(self._slots)

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """One slot for the block (`take`)."""
        slot = await self.take()
        try:
            yield
        finally:
            slot.release()
