"""Readiness (``/readyz``): whether the table is reachable and ACTIVE, asked of DynamoDB at
most once per interval per process however often it is polled. Each check is a
``DescribeTable``, billed and rate-limited on AWS; an open route must not be a lever on
either. Concurrent callers share the check in flight; its answer, ready or not, stands for
the interval."""

from __future__ import annotations

import asyncio
import logging
import math
import time

from deploystatus.errors import StorageError
from deploystatus.storage import Store

logger = logging.getLogger("deploystatus")


class Readiness:
    def __init__(self, store: Store, *, interval: float = 1.0, timeout: float = 2.0) -> None:
        self._store = store
        self._interval = interval
        self._timeout = timeout
        self._checked_at = -math.inf
        self._ready = False
        self._pending: asyncio.Task[bool] | None = None

    async def ready(self) -> bool:
        if time.monotonic() - self._checked_at < self._interval:
            return self._ready
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._check())
        # Shielded: a caller that goes away does not cancel the others' check.
        return await asyncio.shield(self._pending)

    async def _check(self) -> bool:
        try:
            await asyncio.wait_for(self._store.check(), self._timeout)
            ready = True
        except (StorageError, TimeoutError) as exc:
            logger.warning("not ready: %r", exc)
            ready = False
        finally:
            self._pending = None
        self._ready, self._checked_at = ready, time.monotonic()
        return ready
