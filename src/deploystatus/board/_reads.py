"""What the board reads, and keeps between views, per process: every deployable in brief,
and the details of the cells it shows.

Every deployable in brief, per table: read whole (`Store.briefly`: the current items and the
facts items' since and revision) at most every BRIEFS_RESCAN_SECONDS, in the background but
the first time; in between, each view reads the current state (`Store.current`, shared and
memoized like `/current`) and the facts of only the deployables whose current record changed
(`Store.known_of`). What the rescan alone catches: a late record that moves a deployable's
since or last success without changing its current state.

Views of an unchanged brief state share their arrangement (`overview`): a refresh of a
board nobody wrote to since costs a read of the current state and the rendering of its
page, not the arranging of every deployable again. Stuck is judged as of the start of the
STUCK_STEP_SECONDS window a view falls in, so that views in one window agree.

The details of the cells a view shows are kept by the revision of the facts item they were
read from: a view reads again only those whose facts changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from deploystatus import facts
from deploystatus.facts import Deployable
from deploystatus.storage import Store
from deploystatus.storage.store import Brief
from deploystatus.web.state import AppState

from . import matrix

logger = logging.getLogger("deploystatus")

BRIEFS_RESCAN_SECONDS = 60.0
STUCK_STEP_SECONDS = 5
_BRIEFS: dict[str, tuple[float, dict[tuple[str, str], Brief]]] = {}
_GENERATIONS: dict[str, int] = {}  # per table: changes each time its brief state does
_HELD: dict[str, tuple[int, list[Brief]]] = {}
_ARRANGED: OrderedDict[tuple[object, ...], Overview] = OrderedDict()
_ARRANGED_KEPT = 16  # sets of filters in use at once
_RESCANS: dict[str, asyncio.Task[list[Brief]]] = {}
_DETAILED: OrderedDict[tuple[str, str, str], tuple[int, Deployable]] = OrderedDict()
_DETAILED_KEPT = 20_000


@dataclass(frozen=True)
class Overview:
    """Every deployable in brief, and their arrangement for one view's filters."""

    briefs: list[Brief]
    arrangement: matrix.Arrangement
    components: int


async def overview(
    state: AppState, filters: matrix.BoardFilters, layout: matrix.Layout, now_ns: int
) -> Overview:
    generation, held = await briefs(state)
    settings = state.settings
    step = STUCK_STEP_SECONDS * 1_000_000_000
    as_of = now_ns - now_ns % step
    key = (
        state.store.table,
        generation,
        as_of,
        state.store.rules,
        settings.stuck_after_seconds,
        filters,
        layout,
    )
    found = _ARRANGED.get(key)
    if found is not None:
        _ARRANGED.move_to_end(key)
        return found
    classify = state.store.classify
    stuck_after = settings.stuck_after_seconds * 1_000_000_000
    deployables = [
        facts.brief(b.record, b.since, classify, now_ns=as_of, stuck_after_ns=stuck_after)
        for b in held
    ]
    found = Overview(
        held,
        matrix.arrange(deployables, filters, layout=layout),
        len({b.record.component for b in held}),
    )
    # Only the latest state's arrangements are worth keeping: each holds every deployable.
    for stale in [k for k in _ARRANGED if k[0] == key[0] and k[1:3] != key[1:3]]:
        del _ARRANGED[stale]
    _ARRANGED[key] = found
    while len(_ARRANGED) > _ARRANGED_KEPT:
        _ARRANGED.popitem(last=False)
    return found


async def briefs(state: AppState) -> tuple[int, list[Brief]]:
    """Every deployable's current record, since and facts revision, and the generation of
    that state (the same list and generation while nothing changed)."""
    store = state.store
    table = store.table
    kept = _BRIEFS.get(table)
    if kept is None:
        read = await _rescan(store)
        _HELD[table] = (_GENERATIONS[table], read)
        return _HELD[table]
    if time.monotonic() - kept[0] > BRIEFS_RESCAN_SECONDS and store.table not in _RESCANS:
        task = asyncio.create_task(_rescan(store))
        _RESCANS[store.table] = task
        task.add_done_callback(_rescanned)
    known = kept[1]
    records = await store.current()
    changed = [
        r.deployable
        for r in records
        if (b := known.get(r.deployable)) is None or b.record.identity != r.identity
    ]
    generation = _GENERATIONS.get(table, 0)
    if changed:
        for fresh in await _read(state, changed, time.time_ns()):
            known[fresh.record.deployable] = fresh
        generation = _GENERATIONS[table] = generation + 1
    else:
        last = _HELD.get(table)
        if last is not None and last[0] == generation and len(last[1]) == len(records):
            return last  # nothing changed, nothing removed
    held: list[Brief] = []
    for record in records:
        brief = known.get(record.deployable)
        if brief is None or brief.record.identity != record.identity:
            brief = Brief(record, None, None)  # changed again meanwhile: the next view knows
        held.append(brief)
    if len(known) > 2 * len(records) + 1000:  # removed deployables: forget them
        _BRIEFS[table] = (kept[0], {b.record.deployable: b for b in held})
    if not changed:
        generation = _GENERATIONS[table] = generation + 1  # some were removed
    _HELD[table] = (generation, held)
    return generation, held


async def detailed(
    state: AppState,
    briefs: Sequence[Brief],
    wanted: Sequence[tuple[str, str]],
    now_ns: int,
) -> dict[tuple[str, str], Deployable]:
    """The ``wanted`` deployables with their details and facts, stuck as of ``now_ns``:
    those kept at their facts' revision, and the others read (`Store.known_of`)."""
    table = state.store.table
    by_key = {b.record.deployable: b for b in briefs}
    missing = [key for key in wanted if _cached(table, by_key[key]) is None]
    if missing:
        await _read(state, missing, now_ns)
    stuck_after = state.settings.stuck_after_seconds * 1_000_000_000
    shown: dict[tuple[str, str], Deployable] = {}
    for key in wanted:
        cached = _cached(table, by_key[key])
        if cached is not None:
            shown[key] = _restamped(cached, now_ns, stuck_after)
    return shown


async def _read(
    state: AppState, deployables: Sequence[tuple[str, str]], now_ns: int
) -> list[Brief]:
    """``deployables`` read with their details and facts (`Store.known_of`), those kept
    (`_remember`); the brief state of each."""
    found = await state.store.known_of(deployables)
    views = state.views((known for known, _ in found), now_ns)
    for seen, (_, fresh) in zip(views, found, strict=True):
        _remember(state.store.table, fresh, seen)
    return [fresh for _, fresh in found]


async def _rescan(store: Store) -> list[Brief]:
    started = time.monotonic()
    read = await store.briefly()
    _BRIEFS[store.table] = (started, {b.record.deployable: b for b in read})
    _GENERATIONS[store.table] = _GENERATIONS.get(store.table, 0) + 1
    return read


def _rescanned(task: asyncio.Task[list[Brief]]) -> None:
    for table, running in list(_RESCANS.items()):
        if running is task:
            del _RESCANS[table]
    if not task.cancelled() and task.exception() is not None:
        logger.warning("the board's rescan of every deployable failed: %s", task.exception())


def _cached(table: str, brief: Brief) -> Deployable | None:
    key = (table, *brief.record.deployable)
    entry = _DETAILED.get(key)
    if entry is None or brief.revision is None or entry[0] != brief.revision:
        return None
    if entry[1].current.identity != brief.record.identity:
        return None
    _DETAILED.move_to_end(key)
    return entry[1]


def _remember(table: str, brief: Brief, seen: Deployable) -> None:
    if brief.revision is None or seen.since is None:
        return  # no facts of this record: read again next time
    key = (table, *brief.record.deployable)
    _DETAILED[key] = (brief.revision, seen)
    _DETAILED.move_to_end(key)
    while len(_DETAILED) > _DETAILED_KEPT:
        _DETAILED.popitem(last=False)


def _restamped(view: Deployable, now_ns: int, stuck_after_ns: int) -> Deployable:
    """A kept view, stuck as of now."""
    stuck = facts.is_stuck(view.kind, view.since, now_ns, stuck_after_ns)
    return view if stuck == view.stuck else replace(view, stuck=stuck)
