"""Fixtures: a real local DynamoDB engine per engine kind, a fresh table per test, and the
real app in front of it. Nothing is mocked; every DynamoDB call goes over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from fastapi.testclient import TestClient

from deploystatus.app import create_app
from deploystatus.commands.engines import ENGINES, LocalEngine, free_port, start_engine
from deploystatus.config import Settings
from deploystatus.storage.dynamodb import open_client
from deploystatus.storage.store import Store
from tests.support.processes import Launcher, clean_environment

T = TypeVar("T")

# The reliability tests' record of what they tried (make reliability-report).
pytest_plugins = ("tests.support.reliability_log",)

# Local engines accept any credentials; make sure a developer's real ones are never used.
os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1")
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session", params=ENGINES)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalEngine]:
    with start_engine(
        request.param, port=free_port(), data_dir=tmp_path_factory.mktemp(request.param)
    ) as local:
        yield local


def run_with_store(settings: Settings, use: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``use`` against a store with its own client, in a fresh event loop."""

    async def main() -> T:
        async with open_client(settings) as client:
            return await use(
                Store(client, settings.table, retry_seconds=settings.dynamodb_retry_seconds)
            )

    return asyncio.run(main())


@contextlib.contextmanager
def client_of_its_own(settings: Settings, prefix: str) -> Iterator[TestClient]:
    """The app on a fresh table of its own, deleted afterwards: one per example of a
    property test (the fixture's table stays unused)."""
    fresh = settings.model_copy(update={"table": f"{prefix}-{uuid.uuid4().hex[:12]}"})
    run_with_store(fresh, lambda store: store.create_table())
    try:
        with TestClient(create_app(fresh)) as client:
            yield client
    finally:
        run_with_store(fresh, lambda store: store.delete_table())


@pytest.fixture
def settings(engine: LocalEngine) -> Iterator[Settings]:
    """Settings for a fresh, empty table of its own (UTC rendering)."""
    fresh = Settings(
        endpoint_url=engine.url,
        region="us-east-1",
        table=f"test-{uuid.uuid4().hex[:12]}",
        timezone=None,
    )
    run_with_store(fresh, lambda store: store.create_table())
    yield fresh
    run_with_store(fresh, lambda store: store.delete_table())


@pytest.fixture
def make_client(settings: Settings) -> Iterator[Callable[..., TestClient]]:
    """Open the real app on the test's table; keyword arguments override settings."""
    opened: list[TestClient] = []

    def make(**overrides: object) -> TestClient:
        client = TestClient(create_app(settings.model_copy(update=overrides)))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    """Runs ``deploystatus`` subprocesses in the test's directory; stops them at teardown."""
    launcher = Launcher(tmp_path, clean_environment())
    try:
        yield launcher
    finally:
        launcher.close()
