"""The service as one ASGI app: the JSON API (web/) and the status board (board/) over one
store (storage/). Settings in, app out; nothing is built at import time."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from . import __version__, board
from .config import Settings
from .feed import TargetPolicy
from .feed.dispatch import Dispatcher
from .feed.tail import Tail
from .storage import CallObserver, Store, open_client
from .timestamps import Renderer, load_zone
from .web import api, events, problems, webhooks
from .web.auth import BearerAuth
from .web.cursors import CursorCodec
from .web.encoding import RecordsEncoder
from .web.metrics import Metrics
from .web.observability import Observability, ServiceApp
from .web.openapi import serve_unique_operation_ids
from .web.readiness import Readiness
from .web.state import AppState

logger = logging.getLogger("deploystatus")


def create_app(settings: Settings, *, dynamodb_observers: Sequence[CallObserver] = ()) -> FastAPI:
    """The service. ``dynamodb_observers`` hear of every DynamoDB HTTP attempt."""
    encoder = RecordsEncoder(Renderer(load_zone(settings.timezone)))
    cursors = CursorCodec.from_settings(settings)
    metrics = Metrics()  # this app's own registry

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        if not settings.tokens:
            logger.warning(
                "authentication is off: anyone who reaches this service can read and write; "
                "set DEPLOYSTATUS_TOKENS in production (see docs/operations.md, Authentication)"
            )
        observers = [*dynamodb_observers, metrics.observe_dynamodb]
        async with open_client(settings, observers) as client:
            store = Store.from_settings(client, settings)
            readiness = Readiness(store)
            tail = Tail(
                store,
                poll_seconds=settings.events_poll_seconds,
                hold_seconds=settings.events_hold_seconds,
            )
            dispatcher = Dispatcher(
                store,
                policy=TargetPolicy.parse(settings.webhook_allow_private),
                timeout_seconds=settings.webhook_timeout_seconds,
                retry_hours=settings.webhook_retry_hours,
                backoff_max_seconds=settings.webhook_backoff_max_seconds,
                lease_seconds=settings.webhook_lease_seconds,
                window=settings.webhook_window,
                hold_seconds=settings.events_hold_seconds,
                poll_seconds=settings.events_poll_seconds,
            )
            if settings.webhooks:
                dispatcher.start()
            metrics.deliveries = dispatcher.stats
            state = AppState(
                settings, store, encoder, cursors, metrics, readiness, tail, dispatcher
            )
            try:
                yield {"app": state}
            finally:
                await tail.close()  # open streams end; their clients resume elsewhere
                await dispatcher.close()  # a window in flight is sent again by another

    # No trailing-slash redirects: an unknown path is a 404, as documented.
    app = ServiceApp(
        title="deploystatus",
        version=__version__,
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url="/docs" if settings.api_docs else None,
        redoc_url=None,
    )
    app.include_router(api.router)
    app.include_router(events.router)  # the change feed: /events, /events/log
    app.include_router(webhooks.router)  # /admin/webhooks
    serve_unique_operation_ids(app)  # GET + HEAD routes: one operation id per method
    app.include_router(board.router)  # the status board: /, /ui/...
    # Prometheus text format; its own scope when authentication is on (auth.py).
    app.add_route("/metrics", metrics.endpoint, methods=["GET"], include_in_schema=False)
    if settings.tokens:
        app.add_middleware(BearerAuth, tokens=settings.tokens)
    # Request ids, access log, HTTP metrics: outside the error handling, to see every answer.
    app.outermost = lambda inner: Observability(
        inner,
        metrics=metrics,
        router=app.router,
        retry_after_seconds=settings.retry_after_seconds,
    )
    problems.install(app, metrics=metrics, retry_after_seconds=settings.retry_after_seconds)
    return app


def app_from_environment() -> FastAPI:
    """For ``uvicorn --factory`` and worker processes: settings from the environment."""
    app = create_app(Settings())
    freeze_startup_heap()  # this is the worker process, about to serve
    return app


def freeze_startup_heap() -> None:
    """Exempt everything alive once the server is built (modules, the app, its routes and
    models: ~100,000 objects) from the cyclic garbage collector.

    A large read allocates tens of thousands of short-lived dicts (every DynamoDB item is
    three), which triggers collections, and each full collection walked that whole startup
    heap again: 30-50% of the CPU of ``GET /current`` at 10,000 deployables went to it
    (docs/performance.md). Frozen objects are still freed by reference counting; only
    reference cycles among them would outlive their use, and startup objects live as
    long as the process anyway. Call it once, in the serving process, just before serving.
    """
    gc.collect()
    gc.freeze()
