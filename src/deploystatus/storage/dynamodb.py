"""The DynamoDB client: signed JSON calls over kept-alive connections, retried the way AWS
SDKs retry, with AWS credentials found the standard way.

The service's own, because on its hot path the client is most of the CPU a request costs:
a call here signs with a cached key (`sigv4.py`) and goes over a small HTTP/1.1 client
(`http1.py`), a fraction of what general-purpose clients spend per call (see
docs/performance.md). botocore is used only to find credentials, so every source AWS
documents works (environment, profiles and SSO, web identity on EKS, ECS task roles,
instance profiles) and refreshes as botocore refreshes it.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol
from urllib.parse import urlsplit

import botocore.credentials
import botocore.session

from deploystatus.config import Settings
from deploystatus.errors import StorageError, StorageUnavailable

from ._http1 import ConnectionFailed, Endpoint, proxy_for
from ._sigv4 import Key, Signer

# Retried with backoff (decorrelated jitter), as AWS SDKs retry them.
THROTTLING = frozenset(
    {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"}
)
# Retried once the credentials are resolved again (temporary ones expired early, or skew).
EXPIRED_CREDENTIALS = "ExpiredTokenException"
_BASE_DELAY = 0.05
_MAX_DELAY = 1.0
_encode_json = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per call


class DynamoDBError(Exception):
    """DynamoDB answered with an error: ``code`` is its type (``ThrottlingException``...),
    ``status`` the HTTP status; ``transient`` when a later attempt may succeed."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}" if message else f"{status} {code}")
        self.status = status
        self.code = code
        self.message = message

    @property
    def transient(self) -> bool:
        return _transient(self.status, self.code)


def _transient(status: int, code: str | None) -> bool:
    return status >= 500 or code in THROTTLING


def retried(status: int | None, code: str | None) -> bool:
    """Whether the client tries a call again after this attempt's outcome (no answer is
    ``status`` None), while its time allows."""
    return status is None or _transient(status, code) or code == EXPIRED_CREDENTIALS


def call_outcome(status: int | None, error: str | None) -> str:
    """What became of one HTTP attempt, as the metrics name it."""
    if status is None:
        return "no_answer"  # connection refused or reset, time-out
    if status == 200:
        return "ok"
    if error in THROTTLING:
        return "throttled"
    if error == "ConditionalCheckFailedException":
        return "condition_failed"  # expected: an older record arrived after a newer one
    return "server_error" if status >= 500 else "client_error"


class ConditionalCheckFailed(DynamoDBError):
    """A write's condition was false: an outcome, not a failure."""


class TableNotFound(DynamoDBError):
    """``ResourceNotFoundException``: no such table (or not active yet)."""


class ResourceInUse(DynamoDBError):
    """``ResourceInUseException``: the table exists already, or is being changed."""


_ERRORS: dict[str, type[DynamoDBError]] = {
    "ConditionalCheckFailedException": ConditionalCheckFailed,
    "ResourceNotFoundException": TableNotFound,
    "ResourceInUseException": ResourceInUse,
}


def error_from_answer(status: int, body: bytes) -> DynamoDBError:
    """The error a non-200 answer carries (its ``__type``, ``message``)."""
    try:
        data = json.loads(body)
        code = str(data.get("__type", "")).rpartition("#")[2]
        message = str(data.get("message") or data.get("Message") or "")
    except (ValueError, AttributeError):
        code, message = "", body[:200].decode("utf-8", "replace")
    code = code or ("InternalServerError" if status >= 500 else "UnknownError")
    return _ERRORS.get(code, DynamoDBError)(status, code, message)


class CallObserver(Protocol):
    """Told about every HTTP attempt made to DynamoDB, retries included.

    ``status`` is None when no answer came (connection error, time-out); ``error`` is the
    DynamoDB error type (``ThrottlingException``...) of a non-200 answer, else None.
    """

    def __call__(
        self, action: str, status: int | None, error: str | None, seconds: float
    ) -> None: ...


class Credentials:
    """AWS credentials from botocore's provider chain, refreshed as botocore refreshes them."""

    def __init__(
        self, new_session: Callable[[], botocore.session.Session] = botocore.session.get_session
    ) -> None:
        self._new_session = new_session
        self._credentials: botocore.credentials.Credentials | None = None
        self._key: Key | None = None

    async def key(self) -> Key | None:
        credentials = self._credentials
        if credentials is None:
            # The chain may ask the instance metadata service: keep that off the event loop.
            # A new session each time: a session keeps the first credentials it resolved.
            credentials = await asyncio.to_thread(lambda: self._new_session().get_credentials())
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
        key = self._key
        if key is None or (key.id, key.secret, key.token) != tuple(frozen):
            key = self._key = Key(frozen.access_key, frozen.secret_key, frozen.token)
        return key

    def invalidate(self) -> None:
        """DynamoDB said they expired: resolve the provider chain again on the next call."""
        self._credentials = None


class Client:
    """Calls DynamoDB's JSON API at one endpoint.

    Each call is retried while it fails transiently (throttling, a 5xx, no answer, a
    time-out, expired credentials), with decorrelated-jitter backoff (pauses of 50 ms to
    1 s), until ``retry_seconds`` have passed; then its last failure is raised. Every call
    the service makes is safe to repeat: puts overwrite identical items, the current-state
    write is conditional, reads read.
    """

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        credentials: Credentials,
        *,
        timeout_seconds: float,
        retry_seconds: float,
        max_connections: int,
        ca_bundle: str | None = None,
        https_proxy: str | None = None,
        no_proxy: str | None = None,
        observers: Sequence[CallObserver] = (),
    ) -> None:
        url = urlsplit(endpoint_url)
        tls = url.scheme == "https"
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) endpoint URL: {endpoint_url!r}")
        port = url.port or (443 if tls else 80)
        trusted = ssl.create_default_context(cafile=ca_bundle) if tls and ca_bundle else None
        proxy = proxy_for(url.hostname, port, https_proxy, no_proxy) if tls else None
        self._endpoint = Endpoint(
            url.hostname,
            port,
            tls=tls,
            max_idle=max_connections,
            ssl_context=trusted,
            proxy=proxy,
        )
        self._path = url.path or "/"
        host = url.hostname if url.port is None else f"{url.hostname}:{url.port}"
        self._signer = Signer(host, region, self._path)
        self._credentials = credentials
        self._timeout = timeout_seconds
        self._retry_seconds = retry_seconds
        self._observers = tuple(observers)

    async def send_request(self, *, action: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """One call of ``action``: DynamoDB's answer, parsed."""
        body = _encode_json(payload).encode()
        deadline = time.monotonic() + self._retry_seconds
        delay = _BASE_DELAY
        while True:
            try:
                return await self._attempt(action, body)
            except (DynamoDBError, ConnectionFailed, TimeoutError) as exc:
                if isinstance(exc, DynamoDBError):
                    if not retried(exc.status, exc.code):
                        raise
                    if exc.code == EXPIRED_CREDENTIALS:
                        self._credentials.invalidate()
                if time.monotonic() > deadline:
                    raise
            delay = min(_MAX_DELAY, random.uniform(_BASE_DELAY, delay * 3))
            await asyncio.sleep(delay)

    async def _attempt(self, action: str, body: bytes) -> dict[str, Any]:
        key = await self._credentials.key()
        if key is None:
            raise StorageError("no AWS credentials found (see docs/operations.md, AWS credentials)")
        headers = self._signer.headers(key, action, body)
        started = time.perf_counter()
        try:
            status, answer = await self._endpoint.request(
                "POST", self._path, headers, body, timeout=self._timeout
            )
        except BaseException:
            self._observe(action, None, None, started)
            raise
        if status == 200:
            self._observe(action, 200, None, started)
            result: dict[str, Any] = json.loads(answer)
            return result
        error = error_from_answer(status, answer)
        self._observe(action, status, error.code, started)
        raise error

    def _observe(self, action: str, status: int | None, error: str | None, started: float) -> None:
        if self._observers:
            seconds = time.perf_counter() - started
            for observer in self._observers:
                observer(action, status, error, seconds)

    def close(self) -> None:
        self._endpoint.close()


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
    except DynamoDBError as exc:
        error = StorageUnavailable if exc.transient else StorageError
        raise error(f"DynamoDB {action} on {table}: {exc}") from exc
    except (ConnectionFailed, TimeoutError) as exc:
        raise StorageUnavailable(f"DynamoDB {action} on {table}: {exc!r}") from exc


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
    region = resolve_region(settings)
    client = Client(
        settings.endpoint_url or f"https://dynamodb.{region}.amazonaws.com/",
        region,
        Credentials(),
        timeout_seconds=settings.dynamodb_timeout_seconds,
        retry_seconds=settings.dynamodb_retry_seconds,
        max_connections=settings.max_concurrent_calls,
        ca_bundle=settings.ca_bundle,
        https_proxy=settings.https_proxy,
        no_proxy=settings.no_proxy,
        observers=observers,
    )
    try:
        yield client
    finally:
        client.close()
