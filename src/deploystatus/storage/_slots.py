"""The bound on a process's DynamoDB calls in flight, with reads served first.

A burst queues here instead of piling up at DynamoDB, and a queued call waits at most
``wait_seconds`` (then `StorageUnavailable`, a 503). When calls queue, a free slot goes to
a waiting read before a waiting write: a dashboard's read waits only for the calls already
at DynamoDB, never behind a queued backfill. Reads may hold at most ``size - size // 4``
slots, so that writes always keep a quarter of them and a flood of reads cannot starve
them. While reads are in flight or waiting, writes may hold at most ``size * 3 // 8``
slots (24 of 64): at an engine that a backfill saturates, a read then queues behind at most
that many writes instead of all of them. With no read about, writes take every slot.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from deploystatus.errors import StorageUnavailable


class CallSlots:
    def __init__(self, size: int, *, wait_seconds: float) -> None:
        self.size = size
        self.max_reads = max(1, size - size // 4)
        self.max_writes_beside_reads = max(1, size * 3 // 8)
        self._wait_seconds = wait_seconds
        self._free = size
        self._reads = 0  # slots held by reads
        self._waiting_reads: deque[asyncio.Future[None]] = deque()
        self._waiting_writes: deque[asyncio.Future[None]] = deque()

    def _may_read(self) -> bool:
        return self._reads < self.max_reads

    def _may_write(self) -> bool:
        if not (self._reads or self._waiting_reads):
            return True
        writes = self.size - self._free - self._reads
        return writes < self.max_writes_beside_reads

    async def take(self, *, read: bool) -> None:
        """Wait for a slot (`StorageUnavailable` after ``wait_seconds``); `give_back` it."""
        # A slot is never left free while a call that may take it waits (`_grant`), so a
        # free slot here is this call's unless its kind is over its share.
        if self._free and (self._may_read() if read else self._may_write()):
            self._free -= 1
            self._reads += read
            return
        queue = self._waiting_reads if read else self._waiting_writes
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(granted)
        try:
            async with asyncio.timeout(self._wait_seconds):
                await granted
        except BaseException as exc:
            if granted.done() and not granted.cancelled():
                self.give_back(read=read)  # granted just as it gave up: pass it on
            else:
                with contextlib.suppress(ValueError):  # `_grant` may have dropped it
                    queue.remove(granted)
            if isinstance(exc, TimeoutError):
                raise StorageUnavailable(
                    f"all {self.size} DynamoDB call slots stayed busy for {self._wait_seconds}s"
                ) from None
            raise

    def give_back(self, *, read: bool) -> None:
        self._reads -= read
        self._free += 1
        self._grant()

    def _grant(self) -> None:
        while self._free:
            if self._waiting_reads and self._may_read():
                queue, read = self._waiting_reads, True
            elif self._waiting_writes and self._may_write():
                queue, read = self._waiting_writes, False
            else:
                return
            granted = queue.popleft()
            if granted.done():  # its caller was cancelled while waiting
                continue
            self._free -= 1
            self._reads += read
            granted.set_result(None)
