"""The change feed over HTTP: ``GET /events``, a Server-Sent Events stream, and
``GET /events/log``, the log in pages (docs/api.md, "The change feed").

A stream starts at the present, or after the position a client names (``Last-Event-ID``,
as EventSource resends it, or ``?after=``): it reads the log from there to the present,
then goes on with what the process's tail reads (feed/tail.py). Each event's SSE ``id`` is
its position, so a client that reconnects resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import QueryParams

from deploystatus.errors import InvalidRequest, StorageUnavailable
from deploystatus.events import CLASSES, Event, EventFilter, document, parse_position
from deploystatus.states import StateClass

from . import openapi
from .state import AppState, state_of

router = APIRouter()

_LOG_LIMIT = 1000
_CATCH_UP_PAGE = 500
_RECENT_NS = 60 * 1_000_000_000  # ids remembered across the catch-up's end
_CLASSES = frozenset(CLASSES)
_STREAM_OPTIONS = frozenset({"component", "environment", "class", "after"})
_LOG_OPTIONS = _STREAM_OPTIONS | {"limit"}


def _filter(query: QueryParams, options: frozenset[str]) -> EventFilter:
    unknown = sorted(set(query) - options)
    if unknown:
        raise InvalidRequest(f"unknown option {unknown[0]!r}")
    environments = frozenset(
        value for entry in query.getlist("environment") for value in entry.split(",") if value
    )
    classes = frozenset(
        value for entry in query.getlist("class") for value in entry.split(",") if value
    )
    wrong = sorted(classes - _CLASSES)
    if wrong:
        raise InvalidRequest(f"class {wrong[0]!r} is not one of {', '.join(sorted(_CLASSES))}")
    return EventFilter(
        component_prefix=query.get("component", ""),
        environments=environments,
        classes=cast(frozenset[StateClass], classes),
    )


def _after(text: str | None) -> tuple[int, str] | None:
    if text is None or text == "":
        return None
    parsed = parse_position(text)
    if parsed is None:
        raise InvalidRequest("a position is 19 digits, '-' and 32 hex digits (an event's Position)")
    return parsed


def _message(event: Event, state: AppState) -> bytes:
    """The event as one SSE message, rendered once per process however many streams
    send it (the tail keeps the last ones)."""
    return state.tail.rendered(event, lambda: _render(event, state))


def _render(event: Event, state: AppState) -> bytes:
    data = json.dumps(document(event, state.store.classify), ensure_ascii=False)
    return f"id: {event.position}\nevent: transition\ndata: {data}\n\n".encode()


@router.get("/events/log", **openapi.EVENT_LOG)
async def event_log(request: Request) -> Response:
    """The log after a position (default: the oldest kept), in acceptance order."""
    state = state_of(request)
    wanted = _filter(request.query_params, _LOG_OPTIONS)
    after = _after(request.query_params.get("after"))
    limit_text = request.query_params.get("limit", "100")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= _LOG_LIMIT:
        raise InvalidRequest(f"limit is a whole number from 1 to {_LOG_LIMIT}")
    limit = int(limit_text)
    until = time.time_ns() - state.tail.hold_ns
    classify = state.store.classify
    found: list[dict[str, Any]] = []
    last = after
    while len(found) < limit:
        events = await state.store.read_events(last, until_ns=until, limit=limit)
        found.extend(document(e, classify) for e in events if wanted.matches(e, classify))
        if len(events) < limit:
            break
        last = (events[-1].accepted_ns, events[-1].id)
    found = found[:limit]
    body = {"Events": found, "Next": found[-1]["Position"] if found else None}
    return Response(json.dumps(body, ensure_ascii=False).encode(), media_type="application/json")


@router.get("/events", include_in_schema=False)  # SSE: docs/api.md
async def event_stream(request: Request) -> Response:
    state = state_of(request)
    wanted = _filter(request.query_params, _STREAM_OPTIONS)
    after = _after(request.headers.get("last-event-id") or request.query_params.get("after"))
    if state.tail.listeners >= state.settings.events_max_streams:
        raise StorageUnavailable("this process serves as many streams as it may; retry")
    listener = state.tail.listen()
    heartbeat = state.settings.events_heartbeat_seconds
    classify = state.store.classify
    state.metrics.streams_open += 1

    async def messages() -> AsyncIterator[bytes]:
        try:
            # A browser reconnects 2 s after a drop, with the last id it got.
            yield b"retry: 2000\n: deploystatus change feed\n\n"
            recent: dict[str, int] = {}
            resumed_at = after
            if after is not None:
                # The log from the client's position to the tail's: then the tail's events.
                last = after
                until = time.time_ns() - state.tail.hold_ns
                while True:
                    events = await state.store.read_events(
                        last, until_ns=until, limit=_CATCH_UP_PAGE
                    )
                    for event in events:
                        if event.accepted_ns > until - _RECENT_NS:
                            recent[event.id] = event.accepted_ns
                        if wanted.matches(event, classify):
                            yield _message(event, state)
                    if len(events) < _CATCH_UP_PAGE:
                        break
                    last = (events[-1].accepted_ns, events[-1].id)
            queue = listener.queue
            while True:
                if queue.empty():
                    try:
                        first = await asyncio.wait_for(queue.get(), heartbeat)
                    except TimeoutError:
                        yield b": heartbeat\n\n"
                        continue
                else:
                    first = queue.get_nowait()
                # Whatever waits goes out as one chunk: one write per stream per read of
                # the log, not one per event.
                waiting = [first]
                while not queue.empty() and waiting[-1] is not None:
                    waiting.append(queue.get_nowait())
                chunk = []
                for got in waiting:
                    if got is None:
                        break
                    if got.id in recent:
                        continue
                    if resumed_at is not None and (got.accepted_ns, got.id) <= resumed_at:
                        continue
                    if wanted.matches(got, classify):
                        chunk.append(_message(got, state))
                if chunk:
                    state.metrics.stream_events_sent += len(chunk)
                    yield b"".join(chunk)
                if waiting[-1] is None:
                    return  # fell behind or shutting down: the client resumes from the log
        finally:
            listener.close()
            state.metrics.streams_open -= 1

    return StreamingResponse(
        messages(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
