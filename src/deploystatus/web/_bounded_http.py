"""uvicorn's httptools protocol, bounded: what one connection may send, for how long, and how
many connections are served at once (see server.py for the limits and why this server).

httptools (llhttp) parses fast but bounds nothing, and uvicorn arms no timer before a
connection's first response. This subclass adds, around uvicorn's own parsing:

- the request head (request line and headers) is at most ``max_header_bytes`` and
  ``max_headers`` fields: 431, counted while it arrives, before the rest is read;
- the head must be complete ``header_timeout`` seconds after the connection opened or the
  request began: 408; between requests, a connection idle for ``idle_timeout`` is closed;
- a ``Transfer-Encoding`` other than exactly ``chunked`` is refused (501); llhttp already
  refuses a repeated one, a repeated ``Content-Length`` and both together (400);
- past ``max_connections`` open connections, a new one is answered 503 and closed.

Every refusal is a JSON body in the service's shape and closes the connection, so a request
pipelined behind a refused one is never run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger("deploystatus.http")


@dataclass(frozen=True)
class HttpLimits:
    max_header_bytes: int
    max_headers: int
    header_timeout: float
    idle_timeout: float
    max_connections: int


@dataclass(frozen=True)
class _Refusal:
    status: int
    error: str
    message: str

    def response(self) -> bytes:
        body = json.dumps(
            {"error": self.error, "message": self.message}, separators=(",", ":")
        ).encode()
        head = (
            f"HTTP/1.1 {self.status} {HTTPStatus(self.status).phrase}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "x-content-type-options: nosniff\r\n"
            "connection: close\r\n\r\n"
        )
        return head.encode() + body


class _Refused(Exception):
    """Raised in a parser callback to stop parsing; uvicorn then calls send_400_response."""


_INVALID = _Refusal(400, "bad_request", "the request is not valid HTTP/1.1")


class _Busy:
    """Connections refused past the cap: at most one warning a second, with their count (a
    flood of them must not become a flood of log lines), and at most ``MAX_LINGERING`` of
    them held open for a moment after their answer (server.py reserves the files for them)."""

    MAX_LINGERING = 16
    LINGER_SECONDS = 0.5

    def __init__(self) -> None:
        self.lingering = 0
        self._count = 0
        self._logged_at = -1.0

    def refused(self, cap: int) -> None:
        self._count += 1
        now = time.monotonic()
        if now - self._logged_at >= 1.0:
            logger.warning(
                "refused %d connection(s) past the limit of %d open connections", self._count, cap
            )
            self._count, self._logged_at = 0, now


_busy = _Busy()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, limits: HttpLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._refusal: _Refusal | None = None
        self._over_capacity = False
        self._lingering = False
        self._in_head = True  # a new connection is waiting for its first request head
        self._began = False  # a request began (its first byte came) and its head is incomplete
        self._began_in_chunk = False
        self._head_bytes = 0
        self._header_count = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._busy = _Refusal(
            503,
            "too_many_connections",
            f"the server holds its limit of {limits.max_connections} connections; retry shortly",
        )

    # Connections

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) <= self.limits.max_connections:
            self._arm_head_timer()
            return
        # Answered at once, then half-closed and held for a moment, so that a request already
        # on its way does not turn the close into a reset that loses the answer.
        self._over_capacity = True
        _busy.refused(self.limits.max_connections)
        transport.write(self._busy.response())
        if _busy.lingering >= _Busy.MAX_LINGERING:
            transport.close()
            return
        _busy.lingering += 1
        self._lingering = True
        transport.write_eof()
        self.loop.call_later(_Busy.LINGER_SECONDS, transport.close)

    def shutdown(self) -> None:
        # Event streams never finish by themselves: ended now (each cleanly, its client
        # reconnecting elsewhere), they do not hold the graceful shutdown to its limit.
        state = self.app_state.get("app")
        tail = getattr(state, "tail", None)
        if tail is not None:
            tail.stop()
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lingering:
            self._lingering = False
            _busy.lingering -= 1
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._over_capacity:
            return  # answered already: what it sends now is dropped
        was_in_head, self._began_in_chunk = self._in_head, False
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._in_head:
            self._arm_head_timer()
            # Only chunks wholly inside one head are counted (so a request is never refused
            # for its neighbour's bytes): the head read is bounded to the limit plus one chunk.
            if was_in_head and not self._began_in_chunk:
                self._head_bytes += len(data)
                if self._head_bytes > self.limits.max_header_bytes:
                    self._refuse(self._too_large())

    # Parser callbacks (called by httptools from super().data_received)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = self._began = self._began_in_chunk = True
        self._head_bytes = 0
        self._header_count = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_header_bytes:
            self._refusal = self._too_large()
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refusal = _Refusal(
                431,
                "header_fields_too_large",
                f"a request may have at most {self.limits.max_headers} header fields",
            )
            raise _Refused
        if name.lower() == b"transfer-encoding":
            self._check_transfer_encoding(value)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = self._began = False
        self._cancel_head_timer()
        super().on_headers_complete()

    # Refusals

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this when parsing stops: on malformed input, or on a _Refused.
        refusal, self._refusal = self._refusal or _INVALID, None
        self._refuse(refusal)

    def _refuse(self, refusal: _Refusal) -> None:
        self._cancel_head_timer()
        if not self.transport.is_closing():
            logger.warning("refused a request: %s %s", refusal.status, refusal.error)
            self.transport.write(refusal.response())
            self.transport.close()

    def _check_transfer_encoding(self, value: bytes) -> None:
        # llhttp refuses a repeated Transfer-Encoding or Content-Length, and both together;
        # it takes any list of codings that ends in chunked ("identity, chunked").
        if value.strip().lower() != b"chunked":
            self._refusal = _Refusal(
                501,
                "unsupported_transfer_encoding",
                "the only Transfer-Encoding accepted is chunked",
            )
            raise _Refused

    def _too_large(self) -> _Refusal:
        return _Refusal(
            431,
            "header_fields_too_large",
            f"a request's line and headers may have at most {self.limits.max_header_bytes} bytes",
        )

    # Timers

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self.limits.header_timeout, self._head_timed_out
            )

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            if not self._began:
                self.transport.close()  # nothing was asked: nothing to answer
                return
            self._refuse(
                _Refusal(
                    408,
                    "header_timeout",
                    f"the request's headers must arrive within {self.limits.header_timeout:g} s",
                )
            )
