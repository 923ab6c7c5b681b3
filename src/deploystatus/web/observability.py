"""Request ids, the access log and HTTP metrics: one pure ASGI layer around the whole app.

It sits outside FastAPI's own error handling (``ServiceApp``), so that it sees every
response with its final status, the 500 of an unexpected error included, and adds
``X-Request-ID`` to each, with the two headers every answer carries (``SAFE_HEADERS``).
A client's ``X-Request-ID`` is kept when it is sane (1-128 letters, digits, ``.``, ``_``,
``:``, ``-``); otherwise the service makes one.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deploystatus.logs import ACCESS_LOGGER, REQUEST_ID

from .auth import TOKEN_NAME_KEY
from .metrics import UNMATCHED_ROUTE, Metrics
from .problems import Answer

logger = logging.getLogger("deploystatus")
access_logger = logging.getLogger(ACCESS_LOGGER)

REQUEST_ID_HEADER = b"x-request-id"
# On every answer: no content-type sniffing (a JSON body is never run as a script or page),
# and no full URL (a component's name, a cursor) in the Referer of links the board follows.
SAFE_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"))
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's request id if it is sane, else a new one (32 hex digits: random, not
    secret, so the fast generator will do; it is reseeded in forked processes)."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if _SANE_REQUEST_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return f"{random.getrandbits(128):032x}"


def _stopping_answer(retry_after_seconds: int) -> Answer:
    return Answer.of(
        503,
        "shutting_down",
        "the server stopped before this request finished; resend it (resending is safe)",
        retry_after=str(retry_after_seconds),
        connection="close",
    )


class ServiceApp(FastAPI):
    """FastAPI with room for a layer outside its error handling (``outermost``)."""

    outermost: Callable[[ASGIApp], ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack if self.outermost is None else self.outermost(stack)


def all_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, those of included routers too (FastAPI keeps an included router as one
    entry whose ``original_router`` holds its routes)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from all_routes(included.routes)
        elif isinstance(route, Route):
            yield route


class Observability:
    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, router: Router, retry_after_seconds: int = 1
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.router = router
        self._routes: list[BaseRoute] | None = None
        self._stopping = _stopping_answer(retry_after_seconds)

    def _route(self, scope: Scope) -> str:
        """The template of the route that served (or would have served) the request."""
        route = scope.get("route")
        if route is None:  # refused before routing (authentication), or no route at all
            if self._routes is None:  # the routes are all known once requests come in
                self._routes = list(all_routes(self.router.routes))
            for candidate in self._routes:
                match, _ = candidate.matches(scope)
                if match is Match.FULL:
                    route = candidate
                    break
                if match is Match.PARTIAL and route is None:
                    route = candidate
        path = getattr(route, "path", None)
        return path if isinstance(path, str) and path else UNMATCHED_ROUTE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope["headers"])
        echoed = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        context = REQUEST_ID.set(request_id)
        status = 0
        complete = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, complete
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed, *SAFE_HEADERS]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True
            await send(message)

        metrics = self.metrics
        metrics.in_progress += 1
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # FastAPI has answered 500 (unless the body was under way) and re-raised it
            # for the server to log: log it here instead, with the request id.
            logger.error(
                "unexpected error serving %s %s", scope["method"], scope["path"], exc_info=exc
            )
            if not complete:
                raise  # the server closes the connection: the client sees a cut-off body
        except asyncio.CancelledError:
            # The server stops and its graceful-shutdown time is up. Resending is safe (a
            # write is idempotent), so say so, with a 503 clients retry, rather than a 500.
            if status:
                raise  # the answer was under way: the connection just closes
            logger.warning(
                "%s %s cancelled before it finished: the server is stopping",
                scope["method"],
                scope["path"],
            )
            stopping = self._stopping
            await send_with_id(
                {"type": "http.response.start", "status": 503, "headers": list(stopping.headers)}
            )
            await send_with_id({"type": "http.response.body", "body": stopping.body})
        finally:
            metrics.in_progress -= 1
            seconds = time.perf_counter() - started
            status = status or 500  # nothing sent: the server answers 500
            metrics.observe_request(scope["method"], self._route(scope), status, seconds)
            if access_logger.isEnabledFor(logging.INFO):
                self._log(scope, status, seconds, request_id)
            REQUEST_ID.reset(context)

    @staticmethod
    def _log(scope: Scope, status: int, seconds: float, request_id: str) -> None:
        fields: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "request_id": request_id,
        }
        client = scope.get("client")
        if client:
            fields["client"] = client[0]
        token = scope.get(TOKEN_NAME_KEY)
        if token is not None:
            fields["token"] = token
        # As access_logger.info("request", extra={"fields": fields}) would, without looking
        # for the caller's source line: this runs for every request.
        record = logging.LogRecord(ACCESS_LOGGER, logging.INFO, __file__, 0, "request", None, None)
        record.__dict__["fields"] = fields
        access_logger.handle(record)
