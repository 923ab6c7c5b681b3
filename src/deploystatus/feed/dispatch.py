"""Webhook deliveries: each subscription served by one process at a time, in log order
(docs/design.md, "Webhooks").

A process takes a subscription by writing its cursor with itself as owner and a lease; it
renews the lease with every cursor write, and another process takes over once the lease has
lapsed (a dead or stuck process). The holder reads the events after the cursor, sends the
next window of matching ones concurrently (at most one per deployable, so that each
deployable's events arrive in order), logs each attempt, and moves the cursor past the
deliveries that succeeded, up to the first that failed. A failed delivery is tried again
with exponential backoff and jitter; the ones after it wait (order is kept), those of the
window that had already succeeded are not sent again while this process holds the lease.
A delivery failing for longer than ``retry_hours`` pauses the subscription, with the reason.

So in normal operation each event goes to each matching subscription once; when a holder
dies mid-window, the next holder sends that window again: a duplicate can happen only
there, with the same event id. Every second the holder also looks 30 s behind its cursor
for events whose write came late, and delivers them out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import aiohttp

from deploystatus.errors import StorageError
from deploystatus.events import Event, parse_position
from deploystatus.storage import Store
from deploystatus.storage.hooks import Hooks
from deploystatus.subscriptions import Cursor, Delivery, Subscription
from deploystatus.timestamps import canonical

from ._attempt import Attempt, attempt
from ._formats import body
from ._signing import signature_headers
from ._targets import TargetPolicy, make_session

logger = logging.getLogger("deploystatus.webhooks")

_READ = 64  # events read after a cursor at once (a window or two: more is parsed for nothing)
# How far behind its cursor a holder looks for events whose write came late, and how often.
_LOOK_BACK_NS = 30 * 1_000_000_000
_LOOK_BACK_EVERY_NS = 1_000_000_000
_LOOK_BACK_PAGE = 1000
_LOOK_BACK_MAX = 20_000
_BACKOFF_BASE = 1.0  # seconds before the second attempt
_NS = 1_000_000_000


def process_name() -> str:
    """Who holds a lease: this host and process, and a random part for restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class DeliveryStats:
    """For the metrics: counted by this process."""

    outcomes: dict[str, int] = field(default_factory=lambda: {"delivered": 0, "failed": 0})
    latencies_ms: list[float] = field(default_factory=list)  # taken by the metrics
    waiting: dict[str, int] = field(default_factory=dict)  # per held subscription
    oldest_ns: dict[str, int] = field(default_factory=dict)  # oldest undelivered, accepted

    def take_latencies(self) -> list[float]:
        taken, self.latencies_ms = self.latencies_ms, []
        return taken


def _moved_over(
    events: list[Event], before: str | None, after: str | None, behind: dict[str, int]
) -> None:
    """Remember the events a cursor moved over, from ``before`` to ``after``."""
    if after is None:
        return
    for event in events:
        if (before is None or event.position > before) and event.position <= after:
            behind[event.id] = event.accepted_ns


class Dispatcher:
    def __init__(
        self,
        store: Store,
        *,
        policy: TargetPolicy,
        timeout_seconds: float,
        retry_hours: float,
        backoff_max_seconds: float,
        lease_seconds: float,
        window: int,
        hold_seconds: float,
        poll_seconds: float = 0.25,
        refresh_seconds: float = 2.0,
        owner: str | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.store = store
        self.hooks = Hooks(store)
        self.owner = owner or process_name()
        self._policy = policy
        self._timeout = timeout_seconds
        self._retry_ns = int(retry_hours * 3600 * _NS)
        self._backoff_max = backoff_max_seconds
        self._lease_ns = int(lease_seconds * _NS)
        self._window = window
        self._hold_ns = int(hold_seconds * _NS)
        self._poll = poll_seconds
        self._refresh = refresh_seconds
        self._clock = clock
        self._subscriptions: dict[str, Subscription] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self.stats = DeliveryStats()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._workers.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        self._session = make_session(self._policy, timeout_seconds=self._timeout)
        while True:
            try:
                await self.refresh()
            except StorageError as exc:
                logger.warning("reading webhook subscriptions failed: %s", exc)
            await asyncio.sleep(self._refresh)

    async def refresh(self) -> None:
        """Learn the subscriptions; serve each active one (those held elsewhere wait)."""
        found = {s.id: s for s in await self.hooks.subscriptions()}
        self._subscriptions = found
        for identifier, worker in list(self._workers.items()):
            if worker.done():
                del self._workers[identifier]
        for identifier, subscription in found.items():
            if not subscription.paused and identifier not in self._workers:
                self._workers[identifier] = asyncio.create_task(
                    self._serve(identifier), name=f"webhook-{identifier}"
                )

    # One subscription

    async def _serve(self, identifier: str) -> None:
        done: set[str] = set()  # delivered past a failure, while this process holds it
        # Events behind the cursor this holder knows were delivered (or passed over), for the
        # look back: None until it holds the subscription.
        behind: dict[str, int] | None = None
        checked = 0
        try:
            while True:
                subscription = self._subscriptions.get(identifier)
                if subscription is None or subscription.paused:
                    return
                try:
                    held = await self._hold(identifier)
                    if held is None:
                        done.clear()
                        behind = None
                        await asyncio.sleep(self._lease_ns / _NS / 3)
                        continue
                    if held.paused:
                        return  # paused or deleted: resumed, the next refresh starts it again
                    if behind is None:
                        # Taken over: what lies behind the cursor counts as delivered (the
                        # previous holder moved it there only past successes).
                        behind = {e.id: e.accepted_ns for e in await self._behind(held)}
                        checked = self._clock()
                    if self._clock() - checked > _LOOK_BACK_EVERY_NS:
                        await self._look_back(subscription, held, behind)
                        checked = self._clock()
                    if not await self._round(subscription, held, done, behind):
                        await asyncio.sleep(self._poll)
                except StorageError as exc:
                    logger.warning("webhook %s: %s", identifier, exc)
                    await asyncio.sleep(1.0)
        finally:
            self.stats.waiting.pop(identifier, None)
            self.stats.oldest_ns.pop(identifier, None)

    async def _behind(self, cursor: Cursor) -> list[Event]:
        """Every event of the look-back window behind ``cursor``, up to it (paged; at most
        `_LOOK_BACK_MAX`, the window's oldest: past 600 events a second, not all of it)."""
        parsed = None if cursor.position is None else parse_position(cursor.position)
        if parsed is None:
            return []
        found: list[Event] = []
        after: tuple[int, str] = (parsed[0] - _LOOK_BACK_NS, "")
        while len(found) < _LOOK_BACK_MAX:
            page = await self.store.read_events(after, until_ns=parsed[0], limit=_LOOK_BACK_PAGE)
            found.extend(page)
            if len(page) < _LOOK_BACK_PAGE:
                break
            after = (page[-1].accepted_ns, page[-1].id)
        return found

    async def _look_back(
        self, subscription: Subscription, cursor: Cursor, behind: dict[str, int]
    ) -> None:
        """Deliver what appeared behind the cursor after it passed: an event whose write
        was late (its writer cut off after the facts, and sent again)."""
        parsed = None if cursor.position is None else parse_position(cursor.position)
        if parsed is not None:  # forget what is too far behind to be looked at again
            oldest = parsed[0] - 2 * _LOOK_BACK_NS
            for key in [k for k, at in behind.items() if at < oldest]:
                del behind[key]
        late = [
            e
            for e in await self._behind(cursor)
            if e.id not in behind and subscription.wanted.matches(e, self.store.classify)
        ]
        for event in late:
            behind[event.id] = event.accepted_ns  # passed over, if not wanted
        if not late:
            return
        outcomes = await asyncio.gather(*(self._deliver(subscription, e) for e in late))
        log = []
        for event, outcome in zip(late, outcomes, strict=True):
            log.append(self._counted(event, outcome, attempt=1))
            if not outcome.ok:
                del behind[event.id]  # tried again at the next look back
        await self.hooks.log(subscription.id, log)

    async def _hold(self, identifier: str) -> Cursor | None:
        """The subscription's cursor with this process's lease on it (taken or renewed),
        or None while another process holds it."""
        cursor = await self.hooks.cursor(identifier)
        if cursor is None or cursor.paused:
            # Deleted (its cursor goes with it) or paused: never a cursor made anew here.
            return Cursor(position=None, paused=True)
        now = self._clock()
        if cursor.owner != self.owner and cursor.lease_until_ns > now:
            return None
        if cursor.owner == self.owner and cursor.lease_until_ns - now > 2 * self._lease_ns // 3:
            return cursor  # renewed lately: no write needed yet
        held = replace(
            cursor,
            owner=self.owner,
            lease_until_ns=now + self._lease_ns,
            revision=cursor.revision + 1,
        )
        if not await self.hooks.save_cursor(identifier, held, cursor):
            return None
        return held

    async def _round(
        self, subscription: Subscription, cursor: Cursor, done: set[str], behind: dict[str, int]
    ) -> bool:
        """One window: True if it did something (go on at once), False to wait. The events
        the cursor moves over go into ``behind``."""
        identifier = subscription.id
        now = self._clock()
        if cursor.next_ns > now:
            await asyncio.sleep(min((cursor.next_ns - now) / _NS, self._lease_ns / _NS / 3))
            return True
        after: tuple[int, str] = (subscription.created_ns, "")
        if cursor.position is not None:
            parsed = parse_position(cursor.position)
            if parsed is not None:
                after = parsed
        events = await self.store.read_events(after, until_ns=now - self._hold_ns, limit=_READ)
        classify = self.store.classify
        wanted = [e for e in events if subscription.wanted.matches(e, classify)]
        # While failing, one at a time; else a window of events of distinct deployables,
        # sent concurrently: a deployable's events still arrive in their order.
        window: list[Event] = []
        deployables: set[tuple[str, str]] = set()
        for event in wanted[: 1 if cursor.attempts else self._window]:
            if event.record.deployable in deployables:
                break
            deployables.add(event.record.deployable)
            window.append(event)
        # How far the cursor may go once the window is delivered: up to the next wanted
        # event not in it (the events between, no one here wants), or all that was read.
        scanned = cursor.position
        beyond = wanted[len(window)].position if len(wanted) > len(window) else None
        for event in events:
            if beyond is not None and event.position >= beyond:
                break
            scanned = event.position
        self.stats.waiting[identifier] = len(wanted)
        if wanted:
            self.stats.oldest_ns[identifier] = wanted[0].accepted_ns
        else:
            self.stats.oldest_ns.pop(identifier, None)
        if not window:
            if scanned != cursor.position:  # only events other subscriptions want
                if await self.hooks.save_cursor(
                    identifier,
                    replace(cursor, position=scanned, revision=cursor.revision + 1),
                    cursor,
                ):
                    _moved_over(events, cursor.position, scanned, behind)
                return True
            return False
        to_send = [e for e in window if e.id not in done]
        outcomes = await asyncio.gather(*(self._deliver(subscription, e) for e in to_send))
        result = dict(zip((e.id for e in to_send), outcomes, strict=True))
        log: list[Delivery] = []
        position = cursor.position
        failed: Attempt | None = None
        for index, event in enumerate(window):
            outcome = result.get(event.id)
            if outcome is not None:
                attempt = cursor.attempts + 1 if index == 0 else 1
                log.append(self._counted(event, outcome, attempt=attempt))
            delivered = outcome is None or outcome.ok  # None: delivered in an earlier round
            if failed is None and delivered:
                position = event.position
                done.discard(event.id)
            elif delivered:
                done.add(event.id)  # after a failure: not sent again while this holds
            elif failed is None:
                failed = outcome
        if failed is None:
            position = scanned  # and the events after the window that no one here wants
        await self.hooks.log(identifier, log)
        moved = replace(cursor, position=position, revision=cursor.revision + 1)
        if failed is None:
            moved = replace(moved, attempts=0, failing_since_ns=None, next_ns=0, last_error=None)
        else:
            moved = await self._failed(subscription, moved, failed)
        if not await self.hooks.save_cursor(identifier, moved, cursor):
            done.clear()  # another process took it over: it sends from the cursor
            return False
        _moved_over(events, cursor.position, position, behind)
        return True

    async def _failed(self, subscription: Subscription, cursor: Cursor, outcome: Attempt) -> Cursor:
        now = self._clock()
        attempts = cursor.attempts + 1
        since = cursor.failing_since_ns if cursor.failing_since_ns is not None else now
        delay = min(_BACKOFF_BASE * 2 ** (attempts - 1), self._backoff_max)
        delay = delay / 2 + random.uniform(0, delay / 2)  # jitter: replicas do not align
        error = outcome.error or f"HTTP {outcome.status}"
        failed = replace(
            cursor,
            attempts=attempts,
            failing_since_ns=since,
            next_ns=now + int(delay * _NS),
            last_error=error[:500],
        )
        if now - since >= self._retry_ns:
            reason = (
                f"paused by the service: deliveries failed from {canonical(since)} to "
                f"{canonical(now)} ({attempts} attempts); last error: {error[:300]}"
            )
            await self.hooks.set_paused(subscription.id, True, reason)
            # Stop at once here; other processes learn it at their next refresh.
            self._subscriptions[subscription.id] = replace(subscription, paused=True, reason=reason)
            logger.warning("webhook %s paused: %s", subscription.id, reason)
            failed = replace(failed, attempts=0, failing_since_ns=None, next_ns=0)
        return failed

    async def _deliver(self, subscription: Subscription, event: Event) -> Attempt:
        assert self._session is not None
        payload = body(subscription.format, event, self.store.classify)
        headers = signature_headers(subscription.secret, event.id, payload)
        return await attempt(
            self._session, subscription.url, payload, headers, timeout_seconds=self._timeout
        )

    async def redeliver(self, subscription: Subscription, event: Event) -> Attempt:
        """One more delivery of ``event``, now, whatever the cursor (logged as attempt 0)."""
        if self._session is None:
            self._session = make_session(self._policy, timeout_seconds=self._timeout)
        outcome = await self._deliver(subscription, event)
        await self.hooks.log(subscription.id, [self._counted(event, outcome, attempt=0)])
        return outcome

    def _counted(self, event: Event, outcome: Attempt, *, attempt: int) -> Delivery:
        """An attempt as the delivery log keeps it, counted in the metrics."""
        self.stats.outcomes["delivered" if outcome.ok else "failed"] += 1
        self.stats.latencies_ms.append(outcome.latency_ms)
        return Delivery(
            at_ns=self._clock(),
            event_id=event.id,
            position=event.position,
            attempt=attempt,
            status=outcome.status,
            latency_ms=outcome.latency_ms,
            error=outcome.error,
            owner=self.owner,
        )
