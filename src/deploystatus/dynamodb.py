"""The DynamoDB client: aiodynamo over aiohttp, with AWS credentials found the standard way.

aiodynamo is the data path's client because it spends a fraction of the CPU per call
that botocore-based clients do; botocore is used only to find credentials, so every
source AWS documents works (environment, profiles and SSO, web identity on EKS, ECS task
roles, instance profiles) and refreshes as botocore refreshes it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import botocore.credentials
import botocore.session
from aiodynamo.client import Client
from aiodynamo.credentials import Credentials, Key
from aiodynamo.errors import (
    AIODynamoError,
    ConditionalCheckFailed,
    InternalDynamoError,
    ProvisionedThroughputExceeded,
    RequestLimitExceeded,
    ServiceUnavailable,
    Throttled,
)
from aiodynamo.http.aiohttp import AIOHTTP
from aiodynamo.http.types import HttpImplementation, Request, Response
from aiodynamo.models import DecorelatedJitterRetry, RetryTimeout
from yarl import URL

from .config import Settings
from .errors import StorageError, StorageUnavailable

# Still failing after the client's own retries: worth retrying later, so a 503 for callers.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    Throttled,
    ProvisionedThroughputExceeded,
    RequestLimitExceeded,
    ServiceUnavailable,
    InternalDynamoError,
    RetryTimeout,
    asyncio.TimeoutError,
    aiohttp.ClientError,
    OSError,
)


class BotocoreCredentials(Credentials):
    """aiodynamo's credentials interface over botocore's provider chain."""

    def __init__(self, session: botocore.session.Session) -> None:
        self._session = session
        self._credentials: botocore.credentials.Credentials | None = None

    async def get_key(self, http: HttpImplementation) -> Key | None:
        credentials = self._credentials
        if credentials is None:
            # The chain may ask the instance metadata service: keep that off the event loop.
            credentials = await asyncio.to_thread(self._session.get_credentials)
            if credentials is None:
                return None
            self._credentials = credentials
        if (
            isinstance(credentials, botocore.credentials.RefreshableCredentials)
            and credentials.refresh_needed()
        ):
            frozen = await asyncio.to_thread(credentials.get_frozen_credentials)
        else:
            frozen = credentials.get_frozen_credentials()
        return Key(id=frozen.access_key, secret=frozen.secret_key, token=frozen.token)

    def invalidate(self) -> bool:
        self._credentials = None
        return True

    def is_disabled(self) -> bool:
        return False


async def send(
    client: Client, action: str, payload: Mapping[str, Any], table: str
) -> dict[str, Any]:
    """One DynamoDB call, its failures raised as the service's storage errors (503 for
    what a later retry may fix, else 500) with the client's exception as the cause. A
    failed condition stays `ConditionalCheckFailed`: it is an outcome for the caller."""
    try:
        return await client.send_request(action=action, payload=payload)
    except ConditionalCheckFailed:
        raise
    except TRANSIENT_ERRORS as exc:
        raise StorageUnavailable(f"DynamoDB {action} on {table}: {exc!r}") from exc
    except AIODynamoError as exc:
        raise StorageError(f"DynamoDB {action} on {table}: {exc!r}") from exc


class CallObserver(Protocol):
    """Told about every HTTP attempt made to DynamoDB, retries included.

    ``status`` is None when no answer came (connection error, time-out); ``error`` is the
    DynamoDB error type (``ThrottlingException``...) of a non-200 answer, else None.
    """

    def __call__(
        self, action: str, status: int | None, error: str | None, seconds: float
    ) -> None: ...


def _error_type(body: bytes) -> str | None:
    try:
        kind = json.loads(body).get("__type", "")
    except (ValueError, AttributeError):
        return None
    return str(kind).rpartition("#")[2] or None


@dataclass(frozen=True)
class _ObservedHttp:
    inner: HttpImplementation
    observers: Sequence[CallObserver]

    async def __call__(self, request: Request) -> Response:
        action = (request.headers or {}).get("X-Amz-Target", "").rpartition(".")[2]
        started = time.perf_counter()
        try:
            response = await self.inner(request)
        except BaseException:
            for observer in self.observers:
                observer(action, None, None, time.perf_counter() - started)
            raise
        error = _error_type(response.body) if response.status != 200 else None
        for observer in self.observers:
            observer(action, response.status, error, time.perf_counter() - started)
        return response


@dataclass(frozen=True)
class _Client(Client):
    """aiodynamo's client, retrying ``RequestLimitExceeded`` (account-level throttling) as
    AWS SDKs do; aiodynamo would give up on it at once."""

    def handle_exception(self, exception: Exception) -> None:
        if isinstance(exception, RequestLimitExceeded):
            self.health_monitor.on_exception(exception)
            return
        super().handle_exception(exception)


def resolve_region(settings: Settings) -> str:
    if settings.region:
        return settings.region
    region = botocore.session.get_session().get_config_variable("region")
    return str(region) if region else "us-east-1"


@asynccontextmanager
async def open_client(
    settings: Settings, observers: Sequence[CallObserver] = ()
) -> AsyncIterator[Client]:
    """A DynamoDB client for the lifetime of the block; its connections close after.
    ``observers`` hear of every HTTP attempt (metrics, and tests that count calls)."""
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.dynamodb_timeout_seconds),
        connector=aiohttp.TCPConnector(limit=settings.max_concurrent_calls),
    )
    http: HttpImplementation = AIOHTTP(session)
    if observers:
        http = _ObservedHttp(http, tuple(observers))
    try:
        yield _Client(
            http,
            BotocoreCredentials(botocore.session.get_session()),
            resolve_region(settings),
            endpoint=URL(settings.endpoint_url) if settings.endpoint_url else None,
            throttle_config=DecorelatedJitterRetry(
                base_delay_secs=0.05,
                max_delay_secs=1.0,
                time_limit_secs=settings.dynamodb_retry_seconds,
            ),
        )
    finally:
        await session.close()
