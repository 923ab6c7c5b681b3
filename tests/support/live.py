"""Helpers for the reliability tests: the real app served by uvicorn on a free loopback port
(in a thread, as ``deploystatus serve`` runs it), fresh tables, writers that resend on 503
as clients are told to, and a model of what the service must end up holding.

Every wait has a deadline; every server and table is closed by the helper that opened it.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import uvicorn

from deploystatus import timestamps
from deploystatus.app import create_app
from deploystatus.commands.engines import LocalEngine, free_port, start_engine
from deploystatus.config import Settings
from deploystatus.web.server import server_options
from tests.conftest import run_with_store

Rec = dict[str, str]
JSON = "application/json"


# Tables and servers


@contextlib.contextmanager
def fresh_table(engine_url: str, **overrides: Any) -> Iterator[Settings]:
    """Settings for a new empty table on the engine at ``engine_url``; deleted after."""
    settings = Settings(
        endpoint_url=engine_url,
        region="us-east-1",
        table=f"rel-{uuid.uuid4().hex[:12]}",
        timezone=None,
    ).model_copy(update=overrides)
    run_with_store(settings, lambda store: store.create_table())
    try:
        yield settings
    finally:
        with contextlib.suppress(Exception):  # the engine may be the one a test killed
            run_with_store(
                settings.model_copy(update={"dynamodb_retry_seconds": 2.0}),
                lambda store: store.delete_table(),
            )


@dataclass
class LiveServer:
    """``create_app(settings)`` served by uvicorn as ``serve`` runs it (web/server.py), or,
    with ``bounded=False``, by uvicorn's own httptools protocol without the bounds."""

    settings: Settings
    bounded: bool = True
    port: int = field(default_factory=free_port)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> LiveServer:
        options = server_options(self.settings)
        if not self.bounded:
            options.update(http="httptools")
        config = uvicorn.Config(
            create_app(self.settings),
            host="127.0.0.1",
            port=self.port,
            **{
                **options,
                "ws": "none",
                "lifespan": "on",
                # uvicorn's own logging setup stops propagation: without it, its error log
                # reaches the root logger, so tests see it (caplog) and failures show it.
                "log_config": None,
                "timeout_graceful_shutdown": 5,
            },
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, name="live-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.02)
        return self

    def signal_stop(self) -> None:
        """Ask it to stop without waiting (to stop several at once; then `stop`)."""
        if self._server is not None:
            self._server.should_exit = True

    def stop(self, timeout: float = 20.0) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout)
            assert not self._thread.is_alive(), "uvicorn did not stop"
        self._server = self._thread = None

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def client(self, timeout: float = 30.0) -> httpx2.Client:
        return httpx2.Client(base_url=self.url, timeout=timeout, trust_env=False)


def own_dynalite(data_dir: Path) -> LocalEngine:
    """A dynalite of the caller's own on a free port (stop it, or use ``with``)."""
    return start_engine("dynalite", port=free_port(), data_dir=data_dir)


def restart(engine: LocalEngine) -> LocalEngine:
    """The same engine again, on its port and data dir (after a crash)."""
    return start_engine(engine.engine, port=engine.port, data_dir=engine.data_dir)


# A workload


COMPONENTS = ("api", "web.front", "db-migrate", "worker", "a1")
ENVIRONMENTS = ("dev", "prod", "eu-west-two")
STATES = ("deploy-started", "deploy-success", "deploy-failed", "Ok")


def _spell(rng: random.Random, second: int, fraction: str) -> str:
    """One instant, written in UTC or with an offset: all read back the same."""
    if rng.random() < 0.5:
        return f"2024-07-30T14:{second // 60:02d}:{second % 60:02d}{fraction}Z"
    return f"2024-07-30T16:{second // 60:02d}:{second % 60:02d}{fraction}+02:00"


def workload(seed: int = 1, batches: int = 4, size: int = 30) -> list[list[Rec]]:
    """Batches over overlapping deployables: records out of order, ties at one instant,
    duplicates within a batch and across batches. Each batch has more than 25 distinct
    records, so it takes two BatchWriteItem calls."""
    rng = random.Random(seed)
    sent: list[Rec] = []
    result = []
    for _ in range(batches):
        batch: list[Rec] = []
        while len(batch) < size:
            if sent and rng.random() < 0.1:
                batch.append(rng.choice(sent))  # resent from an earlier batch
                continue
            second = rng.randrange(0, 30 * 60)
            record = {
                "Component": rng.choice(COMPONENTS),
                "Environment": rng.choice(ENVIRONMENTS),
                "State": rng.choice(STATES),
                "Timestamp": _spell(rng, second, rng.choice(("", ".5", ".123456789"))),
            }
            batch.append(record)
            if rng.random() < 0.05:
                batch.append(dict(record))  # a duplicate within the batch
        sent.extend(batch)
        result.append(batch)
    return result


# Writers


def body(records: Sequence[Mapping[str, str]]) -> bytes:
    return json.dumps({"Records": list(records)}).encode()


@dataclass
class WriteStats:
    requests: int = 0
    ok: int = 0
    unavailable: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, other: WriteStats) -> None:
        self.requests += other.requests
        self.ok += other.ok
        self.unavailable += other.unavailable
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n


class Unexpected(AssertionError):
    """An answer the contract forbids for a write: anything but 200 Ok or 503 + Retry-After."""


def check_unavailable(response: httpx2.Response) -> None:
    """A 503 as the contract says: JSON storage_unavailable with a Retry-After."""
    if response.status_code != 503:
        raise Unexpected(f"{response.status_code}: {response.text[:500]}")
    if "retry-after" not in response.headers:
        raise Unexpected(f"503 without Retry-After: {response.headers}")
    if response.headers.get("content-type") != JSON:
        raise Unexpected(f"503 not JSON: {response.headers}")
    document = json.loads(response.content)
    if document.get("error") != "storage_unavailable" or not document.get("message"):
        raise Unexpected(f"503 body: {response.text}")


def post_until_ok(
    client: httpx2.Client,
    records: Sequence[Mapping[str, str]],
    *,
    stats: WriteStats,
    deadline: float,
    pause: float = 0.01,
) -> None:
    """POST one batch, resending the same request after each 503 (as README tells clients),
    until ``Ok``. Connection errors are resent too (the service may be restarting)."""
    content = body(records)
    while True:
        if time.monotonic() > deadline:
            raise AssertionError(f"batch not accepted in time ({stats})")
        stats.requests += 1
        try:
            response = client.post("/records", content=content)
        except httpx2.TransportError:
            time.sleep(pause)
            continue
        stats.statuses[response.status_code] = stats.statuses.get(response.status_code, 0) + 1
        if response.status_code == 200:
            if response.content != b"Ok":
                raise Unexpected(f"200 with {response.content!r}")
            stats.ok += 1
            return
        check_unavailable(response)
        stats.unavailable += 1
        time.sleep(pause)


# What the service must hold


def instant(timestamp: str) -> int:
    """Nanoseconds since the epoch of a timestamp as written or as rendered."""
    return timestamps.parse(timestamp)


def precedence(record: Mapping[str, str]) -> tuple[int, str]:
    return instant(record["Timestamp"]), record["State"]


@dataclass
class Model:
    """What the records written so far must read back as: the current state of each
    deployable is its maximum by (instant, state); history is the distinct set."""

    latest: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    history: dict[str, set[tuple[int, str, str]]] = field(default_factory=dict)

    def add(self, records: Iterable[Mapping[str, str]]) -> None:
        for record in records:
            key = (record["Component"], record["Environment"])
            rank = precedence(record)
            if key not in self.latest or rank > self.latest[key]:
                self.latest[key] = rank
            entry = (rank[0], record["Environment"], record["State"])
            self.history.setdefault(record["Component"], set()).add(entry)

    def current(self) -> list[tuple[str, str, int, str]]:
        return [(c, e, n, s) for (c, e), (n, s) in sorted(self.latest.items())]

    def history_of(self, component: str) -> list[tuple[int, str, str]]:
        return sorted(self.history.get(component, set()))


def as_current(records: Iterable[Mapping[str, str]]) -> list[tuple[str, str, int, str]]:
    return [
        (r["Component"], r["Environment"], instant(r["Timestamp"]), r["State"]) for r in records
    ]


def as_history(records: Iterable[Mapping[str, str]]) -> list[tuple[int, str, str]]:
    return [(instant(r["Timestamp"]), r["Environment"], r["State"]) for r in records]


def read_json(client: httpx2.Client, path: str) -> list[Rec]:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    records: list[Rec] = json.loads(response.content)["Records"]
    return records


def snapshot(client: httpx2.Client, components: Iterable[str]) -> dict[str, bytes]:
    """The bodies of /current (with details and derived facts too) and of each component's
    /historical, byte for byte."""
    paths = [
        "/current",
        "/current?details=true",
        *(f"/historical/{c}" for c in sorted(set(components))),
    ]
    bodies = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        bodies[path] = response.content
    return bodies
