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

import aiohttp

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
    """One connection pool to the service, sized for ``clients`` concurrent requests."""

    def __init__(self, base_url: str, clients: int) -> None:
        if urlsplit(base_url).hostname != "127.0.0.1":
            raise ValueError(f"the bench talks to 127.0.0.1 only, not {base_url}")
        self.base_url = base_url
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=clients, force_close=False),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
            trust_env=False,
        )

    async def close(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> Http:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def post(self, records: Sequence[Sent], outcome: Outcome) -> int:
        """POST the batch; the status (0 when no answer came), 200 only when stored."""
        payload = body(records)
        started = time.perf_counter()
        try:
            async with self._session.post(self.base_url + "/records", data=payload) as response:
                text = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
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
            async with self._session.get(self.base_url + path) as response:
                content = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
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
