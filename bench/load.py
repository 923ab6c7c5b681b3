"""The load generator: HTTP clients of the service, on 127.0.0.1 only.

Every loop is bounded in count and in time; a client that gets an error counts it and goes
on (the mixed load must report errors, not stop at the first).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from deploystatus.storage._http1 import ConnectionFailed, Endpoint

from .data import Sent, body

REQUEST_TIMEOUT = 300.0


@dataclass
class Outcome:
    """What a set of requests did: latencies of the successful ones, and the errors."""

    seconds: list[float] = field(default_factory=list)
    records: int = 0
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        self.errors += 1
        if len(self.error_examples) < 5:
            self.error_examples.append(what)


class Http:
    """Kept-alive connections to the service, at most ``clients`` at once.

    The client is the service's own HTTP/1.1 client (`deploystatus.storage._http1`), the one the
    engine-alone figures go through: both paths pay the same client cost per request, and
    the bench takes less of the machine's CPU from the processes it measures (aiohttp took
    about 3 times as much per request)."""

    def __init__(self, base_url: str, clients: int) -> None:
        parts = urlsplit(base_url)
        if parts.hostname != "127.0.0.1" or parts.port is None:
            raise ValueError(f"the bench talks to 127.0.0.1 only, not {base_url}")
        self._endpoint = Endpoint(parts.hostname, parts.port, tls=False, max_idle=clients)
        self._host = (("Host", parts.netloc),)
        self._post_headers = (*self._host, ("Content-Type", "application/json"))

    async def close(self) -> None:
        self._endpoint.close()

    async def __aenter__(self) -> Http:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def post(self, records: Sequence[Sent], outcome: Outcome) -> int:
        """POST the batch; the status (0 when no answer came), 200 only when stored."""
        payload = body(records)
        started = time.perf_counter()
        try:
            status, text = await self._endpoint.request(
                "POST", "/records", self._post_headers, payload, timeout=REQUEST_TIMEOUT
            )
        except (ConnectionFailed, TimeoutError) as exc:
            outcome.fail(f"POST /records: {exc!r}")
            return 0
        if status != 200 or text != b"Ok":
            outcome.fail(f"POST /records: {status} {text[:200]!r}")
            return status or -1
        outcome.seconds.append(time.perf_counter() - started)
        outcome.records += len(records)
        return status

    async def get(self, path: str, outcome: Outcome) -> bytes | None:
        started = time.perf_counter()
        try:
            status, content = await self._endpoint.request(
                "GET", path, self._host, b"", timeout=REQUEST_TIMEOUT
            )
        except (ConnectionFailed, TimeoutError) as exc:
            outcome.fail(f"GET {path}: {exc!r}")
            return None
        if status != 200:
            outcome.fail(f"GET {path}: {status} {content[:200]!r}")
            return None
        outcome.seconds.append(time.perf_counter() - started)
        return content


async def run_clients(
    clients: int,
    step: Callable[[int], Awaitable[Any]],
    *,
    seconds: float,
    max_steps: int,
    min_steps: int = 1,
) -> float:
    """``clients`` concurrent loops calling ``step(client)``: each stops after ``max_steps``,
    or once ``seconds`` have passed and it has done ``min_steps``. Returns the elapsed time
    (until the last loop ended)."""
    started = time.perf_counter()
    deadline = started + seconds

    async def loop(client: int) -> None:
        for done in range(max_steps):
            if done >= min_steps and time.perf_counter() >= deadline:
                return
            await step(client)

    await asyncio.gather(*(loop(client) for client in range(clients)))
    return time.perf_counter() - started
