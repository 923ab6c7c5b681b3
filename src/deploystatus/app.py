"""The application factory: settings in, ASGI app out. Nothing is built at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from . import __version__, board, queries
from .auth import BearerAuth
from .config import Settings
from .dynamodb import CallObserver, open_client
from .errors import (
    DeployStatusError,
    InvalidRecords,
    InvalidRequest,
    RequestTimeout,
    RequestTooLarge,
    StorageError,
    StorageUnavailable,
)
from .heap import freeze_startup_heap
from .metrics import MeteredStore, Metrics
from .observability import Observability, ServiceApp
from .openapi import serve_unique_operation_ids
from .rendering import RecordsEncoder
from .routes import router
from .services import Services
from .timestamps import Renderer, load_zone

logger = logging.getLogger("deploystatus")

_STATUS: dict[type[DeployStatusError], int] = {
    InvalidRequest: 400,
    RequestTooLarge: 413,
    RequestTimeout: 408,
    StorageUnavailable: 503,
    StorageError: 500,
}
# Server-side failures say what to do, not what went wrong inside (that goes to the log).
_PUBLIC_MESSAGE = {
    503: "DynamoDB is unavailable or throttling; nothing was lost, retry later",
    500: "the storage failed unexpectedly; retry later",
}


def _status_of(exc: DeployStatusError) -> int:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


def create_app(settings: Settings, *, dynamodb_observers: Sequence[CallObserver] = ()) -> FastAPI:
    """The service. ``dynamodb_observers`` hear of every DynamoDB HTTP attempt."""
    encoder = RecordsEncoder(Renderer(load_zone(settings.timezone)))
    metrics = Metrics()  # this app's own registry

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        if not settings.tokens:
            logger.warning(
                "authentication is off: anyone who reaches this service can read and write; "
                "set DEPLOYSTATUS_TOKENS in production (see README, Authentication)"
            )
        observers = [*dynamodb_observers, metrics.observe_dynamodb]
        async with open_client(settings, observers) as client:
            store = MeteredStore.from_settings(client, settings)
            store.metrics = metrics
            yield {"services": Services(settings=settings, store=store, encoder=encoder)}

    # No trailing-slash redirects: an unknown path is a 404, as documented.
    app = ServiceApp(
        title="deploystatus", version=__version__, lifespan=lifespan, redirect_slashes=False
    )
    app.include_router(router)
    serve_unique_operation_ids(app)  # GET + HEAD routes: one operation id per method
    app.include_router(queries.router)  # /environments, /components
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

    async def domain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DeployStatusError)
        status = _status_of(exc)
        body: dict[str, Any] = {
            "error": exc.code,
            "message": _PUBLIC_MESSAGE.get(status, exc.message),
        }
        if isinstance(exc, InvalidRecords):
            metrics.records_rejected += len({problem.record for problem in exc.problems})
            body["problems"] = [
                {"record": p.record, "field": p.field, "message": p.message} for p in exc.problems
            ]
        headers = {}
        if status == 503:
            headers["Retry-After"] = str(settings.retry_after_seconds)
        if status in (408, 413):
            # The rest of the body may still be coming: close instead of reading it, or of
            # keeping the connection for a client that drips it.
            headers["Connection"] = "close"
        if status >= 500:
            logger.error("%s %s: %s", request.method, request.url.path, exc, exc_info=exc)
        return JSONResponse(body, status_code=status, headers=headers)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = {
            404: f"no such path: {request.url.path}",
            405: f"{request.method} is not allowed here",
        }.get(exc.status_code, str(exc.detail))
        return JSONResponse(
            {"error": code, "message": message},
            status_code=exc.status_code,
            headers=dict(exc.headers or {}),
        )

    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        # The server still logs the traceback; the client learns only that it failed.
        return JSONResponse(
            {"error": "internal_error", "message": "internal server error"}, status_code=500
        )

    app.add_exception_handler(DeployStatusError, domain_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
    return app


def app_from_environment() -> FastAPI:
    """For ``uvicorn --factory`` and worker processes: settings from the environment."""
    app = create_app(Settings())
    freeze_startup_heap()  # this is the worker process, about to serve
    return app
