"""One reader of the event log per process (docs/design.md, "The change feed").

Every ``poll_seconds`` the tail reads the events accepted since its last read, up to
``hold_seconds`` ago: a writer stamps an event's position just before writing it, so
holding back lets the writes of that instant land and events go out in position order.
Every few polls it reads the last ``lookback_seconds`` again, and sends what it had not
seen (an event whose write was slow): late, never lost, never twice. Listeners (stream
clients) get every event in a bounded queue; one that falls behind is dropped with a None
and resumes from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from deploystatus.errors import StorageError
from deploystatus.events import Event
from deploystatus.storage import Store

logger = logging.getLogger("deploystatus.feed")

_PAGE = 1000
_LOOKBACK_EVERY = 4  # polls
_RENDERED = 4096  # events whose stream message is kept


class Listener:
    """Events as the tail reads them; None once it fell behind or the tail closed."""

    def __init__(self, tail: Tail, size: int) -> None:
        self._tail = tail
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(size)
        self.dropped = False

    def offer(self, event: Event | None) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped = True
            # Room for the end mark: the oldest waiting event goes, the reader resumes from
            # the log anyway.
            self.queue.get_nowait()
            self.queue.put_nowait(None)

    def close(self) -> None:
        self._tail.forget(self)


class Tail:
    def __init__(
        self,
        store: Store,
        *,
        poll_seconds: float,
        hold_seconds: float,
        lookback_seconds: float = 30.0,
        queue_size: int = 10_000,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._store = store
        self._poll = poll_seconds
        self.hold_ns = int(hold_seconds * 1e9)
        self._lookback_ns = int(lookback_seconds * 1e9)
        self._queue_size = queue_size
        self._clock = clock
        self._listeners: set[Listener] = set()
        self._seen: dict[str, int] = {}  # event id: accepted, for the lookback window
        self._rendered: dict[str, bytes] = {}  # position: an event as streams send it
        self._watermark: int | None = None  # every event accepted up to here was read
        self._origin = 0  # where listening began: older events are not the listeners'
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.polls = 0

    def rendered(self, event: Event, render: Callable[[], bytes]) -> bytes:
        """``render()``'s bytes for ``event``, made once for every stream that sends it
        (the last few thousand kept)."""
        found = self._rendered.get(event.position)
        if found is None:
            found = self._rendered[event.position] = render()
            if len(self._rendered) > _RENDERED:
                del self._rendered[next(iter(self._rendered))]
        return found

    def listen(self) -> Listener:
        """A new listener, fed from the next read on (the loop starts with the first)."""
        listener = Listener(self, self._queue_size)
        if self._closed:
            listener.offer(None)
            return listener
        self._listeners.add(listener)
        if self._watermark is None:
            # Now, not at the loop's first read: a stream that read the log up to the
            # present just after this must not miss what came in between.
            self._watermark = self._origin = self._clock() - self.hold_ns
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="event-log-tail")
        return listener

    def forget(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def stop(self) -> None:
        """End every listener (the process is shutting down); new ones end at once."""
        self._closed = True
        for listener in list(self._listeners):
            listener.offer(None)
        self._listeners.clear()

    async def close(self) -> None:
        self.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            if not self._listeners:
                self._watermark = None  # nobody listens: no reads; the next starts afresh
                await asyncio.sleep(self._poll)
                continue
            try:
                await self.poll()
            except StorageError as exc:
                logger.warning("reading the event log failed: %s", exc)
            await asyncio.sleep(self._poll)

    async def poll(self) -> None:
        """One read of the log: what was accepted since the last, up to the hold."""
        until = self._clock() - self.hold_ns
        if self._watermark is None:
            self._watermark = self._origin = until
            return
        self.polls += 1
        start = self._watermark
        if self.polls % _LOOKBACK_EVERY == 0:
            start = min(start, until - self._lookback_ns)
        after: tuple[int, str] = (start, "")
        while True:
            events = await self._store.read_events(after, until_ns=until, limit=_PAGE)
            for event in events:
                if event.id in self._seen or event.accepted_ns <= self._origin:
                    continue
                self._seen[event.id] = event.accepted_ns
                for listener in list(self._listeners):
                    listener.offer(event)
            if len(events) < _PAGE:
                break
            after = (events[-1].accepted_ns, events[-1].id)
        self._watermark = max(self._watermark, until)
        oldest = until - 2 * self._lookback_ns
        if len(self._seen) > 4 * _PAGE or self.polls % _LOOKBACK_EVERY == 0:
            self._seen = {k: v for k, v in self._seen.items() if v >= oldest}
