"""SharedRead: concurrent callers share a read, and never one that started before they asked.

The read here is a plain coroutine over a value the test changes ("the table"), so that
each property is checked exactly; tests/reliability/test_operability.py checks the same
through the app, the proxy and the engine.
"""

from __future__ import annotations

import asyncio
import gc
import random
from typing import Any

import pytest

from deploystatus.storage._shared_read import SharedRead


class Table:
    """A value that writes move forward, and a read of it that can be held open."""

    def __init__(self) -> None:
        self.version = 0
        self.reads_started = 0
        self.release = asyncio.Event()
        self.release.set()
        self.fail_next: Exception | None = None

    async def read(self) -> int:
        self.reads_started += 1
        seen = self.version  # what a consistent read returns: the table as the read begins
        await self.release.wait()
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        return seen


async def until(condition: Any) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never met")


def test_callers_one_after_the_other_each_read() -> None:
    async def scenario() -> None:
        table = Table()
        shared = SharedRead(table.read)
        assert await shared() == 0
        table.version = 1
        assert await shared() == 1
        assert table.reads_started == 2

    asyncio.run(scenario())


def test_callers_during_a_read_share_the_next_one_not_the_running_one() -> None:
    async def scenario() -> None:
        table = Table()
        shared = SharedRead(table.read)
        table.release.clear()
        first = asyncio.create_task(shared())
        await until(lambda: table.reads_started == 1)
        table.version = 1  # a write acknowledged after the first read began
        later = [asyncio.create_task(shared()) for _ in range(10)]
        await until(lambda: all(not task.done() for task in later))
        assert table.reads_started == 1  # nobody started a read of their own yet
        table.release.set()
        assert await first == 0
        assert await asyncio.gather(*later) == [1] * 10  # the next read, after the write
        assert table.reads_started == 2

    asyncio.run(scenario())


def test_a_caller_always_sees_every_write_acknowledged_before_it_asked() -> None:
    """Random interleavings of writes, reads held open for random times, and callers."""

    async def scenario(seed: int) -> None:
        rng = random.Random(seed)
        table = Table()

        async def read() -> int:
            table.reads_started += 1
            seen = table.version
            for _ in range(rng.randrange(4)):
                await asyncio.sleep(0)
            return seen

        shared = SharedRead(read)

        async def caller() -> None:
            for _ in range(rng.randrange(3)):
                await asyncio.sleep(0)
            acknowledged = table.version
            assert await shared() >= acknowledged

        async def writer() -> None:
            for _ in range(50):
                table.version += 1
                await asyncio.sleep(0)

        await asyncio.gather(writer(), *(caller() for _ in range(200)))
        assert table.reads_started < 200  # and they did share

    for seed in range(20):
        asyncio.run(scenario(seed))


def test_a_failed_read_fails_its_callers_only_and_the_next_round_reads_again() -> None:
    async def scenario() -> None:
        table = Table()
        shared = SharedRead(table.read)
        table.release.clear()
        table.fail_next = RuntimeError("storage unavailable")
        callers = [asyncio.create_task(shared()) for _ in range(3)]
        await until(lambda: table.reads_started == 1)
        table.release.set()
        outcomes = await asyncio.gather(*callers, return_exceptions=True)
        # The first caller's read failed; the two that came during it share the next one.
        assert [type(outcome) for outcome in outcomes] == [RuntimeError, int, int]
        assert await shared() == 0
        assert table.reads_started == 3

    asyncio.run(scenario())


def test_a_caller_that_gives_up_does_not_cancel_the_others_read() -> None:
    async def scenario() -> None:
        table = Table()
        shared = SharedRead(table.read)
        table.release.clear()
        first = asyncio.create_task(shared())
        await until(lambda: table.reads_started == 1)
        gives_up, stays = asyncio.create_task(shared()), asyncio.create_task(shared())
        await asyncio.sleep(0)
        first.cancel()
        gives_up.cancel()
        table.version = 5
        table.release.set()
        assert await stays == 5
        for task in (first, gives_up):
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(scenario())


def test_a_failure_nobody_waits_for_is_not_reported_as_unretrieved() -> None:
    async def scenario() -> list[dict[str, Any]]:
        reported: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(
            lambda _, context: reported.append(context)
        )
        table = Table()
        shared = SharedRead(table.read)
        table.release.clear()
        first = asyncio.create_task(shared())
        await until(lambda: table.reads_started == 1)
        second = asyncio.create_task(shared())
        await asyncio.sleep(0)
        first.cancel()
        second.cancel()
        table.fail_next = RuntimeError("nobody is listening")
        table.release.set()
        await until(lambda: table.reads_started == 2)
        table.fail_next = RuntimeError("nor here")
        for _ in range(20):
            await asyncio.sleep(0)
        del first, second
        gc.collect()  # an unretrieved failure is reported when its future is collected
        return reported

    assert asyncio.run(scenario()) == []
