"""One read shared by every caller that asks for it while another is in flight.

Dashboards poll `/current` (and the board, `/environments` and `/components` read the same
items): with many of them, or under a write load that slows DynamoDB down, the same read
runs many times at once. Here one runs at a time: the one in flight, then the next one,
shared by everyone who asked while the first was out.

A caller never gets the result of a read that started before it asked: a write
acknowledged before a request arrived is in that request's answer, on this instance or any
other (read-your-writes, exactly as without sharing). So a caller that arrives while a read
is in flight waits for it to end, then for the next one: at most two reads' time, however
many callers.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class SharedRead(Generic[T]):
    def __init__(self, read: Callable[[], Coroutine[Any, Any, T]]) -> None:
        self._read = read
        self._running: asyncio.Task[T] | None = None
        # The read that starts when the running one ends, shared by those who came meanwhile.
        self._next: asyncio.Future[T] | None = None

    async def __call__(self) -> T:
        result: asyncio.Future[T]
        if self._running is None:
            result = self._start()
        else:
            if self._next is None:
                self._next = asyncio.get_running_loop().create_future()
                self._next.add_done_callback(_retrieve)
            result = self._next
        # A caller that gives up (its client went away) does not cancel the others' read.
        return await asyncio.shield(result)

    def _start(self) -> asyncio.Task[T]:
        # In a context of its own: it is no one caller's (no request id in its logs).
        task = asyncio.get_running_loop().create_task(self._read(), context=contextvars.Context())
        self._running = task
        task.add_done_callback(self._ended)
        return task

    def _ended(self, task: asyncio.Task[T]) -> None:
        _retrieve(task)
        self._running = None
        waiting, self._next = self._next, None
        if waiting is not None:
            self._start().add_done_callback(lambda read: _settle(waiting, read))


def _settle(future: asyncio.Future[T], read: asyncio.Task[T]) -> None:
    if future.done():
        return
    if read.cancelled():
        future.cancel()
    elif (error := read.exception()) is not None:
        future.set_exception(error)
    else:
        future.set_result(read.result())


def _retrieve(future: asyncio.Future[T]) -> None:
    """Mark a failure as seen: when every caller gave up, nobody else will look at it."""
    if not future.cancelled():
        future.exception()
