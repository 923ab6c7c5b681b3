"""The bound on DynamoDB calls in flight: reads first, writes never starved, no slot lost."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest

from deploystatus.errors import StorageUnavailable
from deploystatus.storage._slots import CallSlots


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 10))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_queued_read_goes_before_writes_queued_earlier() -> None:
    async def test() -> None:
        slots = CallSlots(4, wait_seconds=5)
        for _ in range(4):
            await slots.take(read=False)
        order: list[str] = []

        async def call(name: str, read: bool) -> None:
            await slots.take(read=read)
            order.append(name)
            if read:
                slots.give_back(read=True)

        waiting = [asyncio.create_task(call(f"write{i}", False)) for i in range(3)]
        await settle()
        waiting.append(asyncio.create_task(call("read", True)))
        await settle()
        for _ in range(4):
            slots.give_back(read=False)
        await asyncio.gather(*waiting)
        assert order == ["read", "write0", "write1", "write2"]

    run(test)


def test_reads_leave_a_quarter_of_the_slots_to_writes() -> None:
    async def test() -> None:
        slots = CallSlots(8, wait_seconds=5)
        assert slots.max_reads == 6
        for _ in range(6):
            await slots.take(read=True)
        blocked = asyncio.create_task(slots.take(read=True))
        await settle()
        assert not blocked.done()  # 6 reads in flight: the 7th waits though 2 slots are free
        await slots.take(read=False)  # a write takes one at once
        await slots.take(read=False)
        slots.give_back(read=True)
        await settle()
        assert blocked.done()

    run(test)


def test_while_reads_are_about_writes_hold_at_most_three_eighths_of_the_slots() -> None:
    async def test() -> None:
        slots = CallSlots(8, wait_seconds=5)
        assert slots.max_writes_beside_reads == 3
        await slots.take(read=True)
        for _ in range(3):
            await slots.take(read=False)
        blocked = asyncio.create_task(slots.take(read=False))
        await settle()
        assert not blocked.done()  # 3 writes beside a read: the 4th waits though 4 are free
        await slots.take(read=True)  # a read takes one at once
        slots.give_back(read=True)
        slots.give_back(read=True)
        await settle()
        assert blocked.done()  # no read about: writes may take every slot
        for _ in range(4):
            await asyncio.wait_for(slots.take(read=False), 1)

    run(test)


def test_a_waiting_read_holds_writes_back_to_their_share_as_slots_come_free() -> None:
    async def test() -> None:
        slots = CallSlots(8, wait_seconds=5)
        for _ in range(8):
            await slots.take(read=False)
        read = asyncio.create_task(slots.take(read=True))
        writes = [asyncio.create_task(slots.take(read=False)) for _ in range(4)]
        await settle()
        for _ in range(6):  # 8 writes -> 2 in flight
            slots.give_back(read=False)
        await settle()
        assert read.done()
        # Beside the read, writes refill only up to their share: 2 + 1 = 3.
        assert sum(task.done() for task in writes) == 1

    run(test)


def test_a_call_that_waits_too_long_is_a_503_and_leaves_no_slot_behind() -> None:
    async def test() -> None:
        slots = CallSlots(1, wait_seconds=0.05)
        await slots.take(read=False)
        with pytest.raises(StorageUnavailable, match="call slots stayed busy"):
            await slots.take(read=True)
        slots.give_back(read=False)
        await asyncio.wait_for(slots.take(read=True), 1)  # free again, at once

    run(test)


def test_random_traffic_with_cancellations_never_loses_or_overgrants_a_slot() -> None:
    async def test() -> None:
        size = 5
        slots = CallSlots(size, wait_seconds=5)
        draw = random.Random(7)
        in_flight = {"all": 0, "reads": 0}
        peak = {"all": 0, "reads": 0}

        async def call(read: bool) -> None:
            await slots.take(read=read)
            in_flight["all"] += 1
            in_flight["reads"] += read
            peak["all"] = max(peak["all"], in_flight["all"])
            peak["reads"] = max(peak["reads"], in_flight["reads"])
            try:
                await asyncio.sleep(draw.uniform(0, 0.003))
            finally:
                in_flight["all"] -= 1
                in_flight["reads"] -= read
                slots.give_back(read=read)

        tasks = [asyncio.create_task(call(draw.random() < 0.6)) for _ in range(300)]
        for task in draw.sample(tasks, 60):  # callers that give up, waiting or in flight
            await asyncio.sleep(draw.uniform(0, 0.002))
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert peak == {"all": size, "reads": slots.max_reads}
        # Every slot came back: as many calls as slots proceed at once, none more.
        for _ in range(size):
            await asyncio.wait_for(slots.take(read=False), 1)
        extra = asyncio.create_task(slots.take(read=False))
        await settle()
        assert not extra.done()
        extra.cancel()

    run(test)
