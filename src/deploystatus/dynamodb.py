"""The DynamoDB client: aiodynamo over aiohttp, with AWS credentials found the standard way.

aiodynamo is the data path's client because it spends a fraction of the CPU per call
that botocore-based clients do; botocore is used only to find credentials, so every
source AWS documents works (environment, profiles and SSO, web identity on EKS, ECS task
roles, instance profiles) and refreshes as botocore refreshes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import botocore.credentials
import botocore.session
from aiodynamo.client import Client
from aiodynamo.credentials import Credentials, Key
from aiodynamo.errors import (
    InternalDynamoError,
    ProvisionedThroughputExceeded,
    RequestLimitExceeded,
    ServiceUnavailable,
    Throttled,
)
from aiodynamo.http.aiohttp import AIOHTTP
from aiodynamo.http.types import HttpImplementation
from aiodynamo.models import DecorelatedJitterRetry, RetryTimeout
from yarl import URL

from .config import Settings

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


def resolve_region(settings: Settings) -> str:
    if settings.region:
        return settings.region
    region = botocore.session.get_session().get_config_variable("region")
    return str(region) if region else "us-east-1"


@asynccontextmanager
async def open_client(settings: Settings) -> AsyncIterator[Client]:
    """A DynamoDB client for the lifetime of the block; its connections close after."""
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.dynamodb_timeout_seconds),
        connector=aiohttp.TCPConnector(limit=settings.max_concurrent_calls),
    )
    try:
        yield Client(
            AIOHTTP(session),
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
