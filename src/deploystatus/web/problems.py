"""Failures as HTTP answers, in one place: the status of each error (errors.py has no HTTP),
and the one JSON body every failure has, ``{"error": CODE, "message": TEXT}`` (with
``"problems"`` for invalid records).

The handlers `install` registers answer what the routes raise; `Answer` serves the pure
ASGI layers (auth.py, observability.py), which answer before or after the routes; the
board's HTML pages take their status from `status_of` too.
"""

from __future__ import annotations

import json
import logging
from typing import Any, NamedTuple

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from deploystatus.errors import (
    DeployableNotFound,
    DeployStatusError,
    Forbidden,
    InvalidRecords,
    InvalidRequest,
    RecordNotFound,
    RequestTimeout,
    RequestTooLarge,
    StorageError,
    StorageUnavailable,
    WebhookNotFound,
)

from .metrics import Metrics

logger = logging.getLogger("deploystatus")

_STATUS: dict[type[DeployStatusError], int] = {
    InvalidRequest: 400,
    Forbidden: 403,
    RecordNotFound: 404,
    DeployableNotFound: 404,
    WebhookNotFound: 404,
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


def status_of(exc: DeployStatusError) -> int:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


def public_message(exc: DeployStatusError) -> str:
    """What a client is told: the error's own message, or for a server-side failure what
    to do about it."""
    return _PUBLIC_MESSAGE.get(status_of(exc), exc.message)


class Answer(NamedTuple):
    """A whole JSON failure for a pure ASGI layer: status, headers and body, built once."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    @classmethod
    def of(cls, status: int, error: str, message: str, **headers: str) -> Answer:
        """``headers``: names with ``_`` for ``-`` (``retry_after="1"``)."""
        body = json.dumps({"error": error, "message": message}, separators=(",", ":")).encode()
        return cls(
            status,
            [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(
                    (name.replace("_", "-").encode(), value.encode())
                    for name, value in headers.items()
                ),
            ],
            body,
        )


def install(app: FastAPI, *, metrics: Metrics, retry_after_seconds: int) -> None:
    """Answer every error a route raises with its status and JSON body."""

    async def domain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DeployStatusError)
        status = status_of(exc)
        body: dict[str, Any] = {"error": exc.code, "message": public_message(exc)}
        if isinstance(exc, InvalidRecords):
            metrics.records_rejected += len({problem.record for problem in exc.problems})
            body["problems"] = [
                {"record": p.record, "field": p.field, "message": p.message} for p in exc.problems
            ]
        headers = {}
        if status == 503:
            headers["Retry-After"] = str(retry_after_seconds)
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
