"""`Store.remove` and its steps on both engines: the races it must survive, played step by
step (the store's public steps, called in the order two actors would interleave them), then
the whole removal against concurrent writers. The invariant: once writes settle, a
deployable's current state is the newest record of its history, and never a record history
lacks."""

from __future__ import annotations

import asyncio
import random

import pytest

from deploystatus import timestamps
from deploystatus.config import Settings
from deploystatus.errors import RecordNotFound
from deploystatus.records import Record, Removal
from deploystatus.storage.store import Store
from tests.conftest import run_with_store
from tests.support.factories import history_of

C, E = "pay", "prod"


def record(state: str, when: str, environment: str = E) -> Record:
    return Record(C, environment, state, timestamps.canonical(timestamps.parse(when)))


OLD = record("deploy-started", "2024-07-30T14:00:00Z")
MIDDLE = record("deploy-success", "2024-07-30T14:05:00Z")
NEW = record("deploy-failed", "2024-07-30T14:10:00Z")
NEWER = record("deploy-started", "2024-07-30T15:00:00Z")
PINNING = record("deploy-success", "9999-12-30T23:59:59Z")
OTHER_ENVIRONMENT = record("Ok", "2030-01-01T00:00:00Z", environment="dev")


async def settled(store: Store) -> tuple[Record | None, list[Record]]:
    """The deployable's current state and its history."""
    history = [r for r in await history_of(store, C) if r.environment == E]
    return await store.current_of(C, E), history


def test_a_newer_record_written_between_the_read_and_the_write_is_not_overwritten(
    settings: Settings,
) -> None:
    async def play(store: Store) -> None:
        await store.put([OLD, NEW])
        # The removal of NEW reads current state and chooses what replaces it...
        observed = await store.current_of(C, E)
        chosen = await store.newest(C, E, without=NEW)
        assert (observed, chosen) == (NEW, OLD)
        # ...a writer stores a newer record meanwhile...
        await store.put([NEWER])
        # ...so the conditional write finds current state changed, and changes nothing.
        assert not await store.replace_current(C, E, observed, chosen)
        assert await store.current_of(C, E) == NEWER
        # The whole removal then leaves the newer record where it is.
        assert await store.remove(NEW) == Removal(NEW, was_current=False, current=NEWER)
        assert await settled(store) == (NEWER, [OLD, NEWER])

    run_with_store(settings, play)


def test_removing_the_last_record_deletes_no_current_state_written_meanwhile(
    settings: Settings,
) -> None:
    async def play(store: Store) -> None:
        await store.put([OLD])
        observed = await store.current_of(C, E)
        assert await store.newest(C, E, without=OLD) is None  # nothing would be left...
        await store.put([NEW])  # ...but a writer stores a record meanwhile
        assert not await store.replace_current(C, E, observed, None)
        assert await store.current_of(C, E) == NEW
        assert await store.remove(OLD) == Removal(OLD, was_current=False, current=NEW)
        assert await store.remove(NEW) == Removal(NEW, was_current=True, current=None)
        assert await settled(store) == (None, [])

    run_with_store(settings, play)


def test_a_record_stored_behind_a_pinned_state_is_found_by_the_next_round(
    settings: Settings,
) -> None:
    async def play(store: Store) -> None:
        await store.put([OLD, PINNING])
        observed = await store.current_of(C, E)
        chosen = await store.newest(C, E, without=PINNING)
        # A real record arrives: history takes it, current state (pinned) does not.
        await store.put([NEW])
        assert await store.current_of(C, E) == PINNING
        # The condition holds (current state is still the pinned record), so the older
        # choice is written; the next round reads history again and corrects it.
        assert await store.replace_current(C, E, observed, chosen)
        assert await store.current_of(C, E) == OLD
        assert await store.settle_current(C, E, without=PINNING) == NEW
        assert await store.remove(PINNING) == Removal(PINNING, was_current=False, current=NEW)
        assert await settled(store) == (NEW, [OLD, NEW])

    run_with_store(settings, play)


def test_what_became_current_removed_meanwhile_is_replaced_in_the_next_round(
    settings: Settings,
) -> None:
    async def play(store: Store) -> None:
        await store.put([OLD, MIDDLE, NEW])
        observed = await store.current_of(C, E)
        chosen = await store.newest(C, E, without=NEW)
        assert chosen == MIDDLE
        # Another removal takes MIDDLE out entirely: it was not current, so current stays.
        assert await store.remove(MIDDLE) == Removal(MIDDLE, was_current=False, current=NEW)
        # The first removal's write makes a record history no longer holds current...
        assert await store.replace_current(C, E, observed, chosen)
        assert await store.current_of(C, E) == MIDDLE
        # ...and its next round, reading both again, puts it right.
        assert await store.settle_current(C, E, without=NEW) == OLD
        await store.delete_history(NEW)
        assert await store.settle_current(C, E) == OLD
        assert await settled(store) == (OLD, [OLD])

    run_with_store(settings, play)


def test_a_removal_cut_off_after_the_history_delete_is_completed_by_sending_it_again(
    settings: Settings,
) -> None:
    async def play(store: Store) -> None:
        await store.put([OLD, NEW])
        # A writer resent NEW while it was being removed, and the removal failed before its
        # last round: history has lost NEW, current state still names it.
        await store.delete_history(NEW)
        assert await store.current_of(C, E) == NEW
        # Not a 404: current state still shows the record. Sending it again completes it.
        assert await store.remove(NEW) == Removal(NEW, was_current=True, current=OLD)
        assert await settled(store) == (OLD, [OLD])
        with pytest.raises(RecordNotFound):
            await store.remove(NEW)

    run_with_store(settings, play)


def test_a_record_that_is_not_there_changes_nothing(settings: Settings) -> None:
    async def play(store: Store) -> None:
        await store.put([OLD, NEW, OTHER_ENVIRONMENT])
        before = await settled(store), await store.current()
        for absent in (
            MIDDLE,
            NEW._replace(state="Deploy-failed"),
            NEW._replace(environment="qa"),
            NEW._replace(component="pay.api"),
            NEW._replace(timestamp=timestamps.canonical(timestamps.parse(NEW.timestamp) + 1)),
        ):
            with pytest.raises(RecordNotFound, match="nothing was removed"):
                await store.remove(absent)
        assert (await settled(store), await store.current()) == before

    run_with_store(settings, play)


def test_newest_skips_other_environments_and_pages_past_them(settings: Settings) -> None:
    async def play(store: Store) -> None:
        # 1,200 records of another environment, newer than every record of this one: the
        # newest of this one is found past a page of theirs.
        others = [
            record("Ok", f"2024-08-01T00:{i // 60:02d}:{i % 60:02d}Z", environment="dev")
            for i in range(1200)
        ]
        await store.put([OLD, NEW])
        for start in range(0, len(others), 400):
            await store.put(others[start : start + 400])
        assert await store.newest(C, E) == NEW
        assert await store.newest(C, E, without=NEW) == OLD
        assert await store.newest(C, E, without=OLD) == NEW
        assert await store.newest(C, "qa") is None

    run_with_store(settings, play)


def test_removal_racing_writers_leaves_current_state_the_newest_of_history(
    settings: Settings,
) -> None:
    """The pinned record removed while eight writers store records of the deployable
    concurrently, in random order, some older than what is current and some newer."""
    rng = random.Random(7)
    written = [
        record(f"s{i}", f"2024-07-30T14:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z")
        for i in range(40)
    ]

    async def play(store: Store) -> None:
        await store.put([OLD, PINNING])

        async def writer(records: list[Record]) -> None:
            for each in records:
                await store.put([each])

        removing = asyncio.ensure_future(store.remove(PINNING))
        await asyncio.gather(*(writer(written[i::8]) for i in range(8)))
        removal = await removing
        current, history = await settled(store)
        assert PINNING not in history
        newest = max([OLD, *written], key=lambda r: r.precedence)
        assert current == newest
        assert sorted(history) == sorted({OLD, *written})
        assert removal.record == PINNING and removal.was_current
        # What the removal saw as current was current at some point: a record of history.
        assert removal.current in {OLD, *written}

    run_with_store(settings, play)
