"""HTTP endpoints: parse, call the store, shape the response. Errors are raised, not answered:
`app.py` turns them into statuses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.requests import ClientDisconnect

from . import openapi
from .decoding import decode_records
from .errors import InvalidRequest, RequestTimeout, RequestTooLarge, StorageError
from .queries import (
    CurrentFilter,
    HistoryQuery,
    cursor_codec,
    filtered_current,
    history_page_response,
)
from .records import Record, component_problem
from .rendering import RecordsEncoder
from .services import services_of

logger = logging.getLogger("deploystatus")

JSON = "application/json"
READY_TIMEOUT_SECONDS = 2.0

router = APIRouter()


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The body, refused as soon as it is known to exceed ``limit`` (before reading it all),
    or once ``timeout`` seconds pass before its end (a client dripping it holds a task)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"the body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise RequestTooLarge(f"the body is over the limit of {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {timeout:g}s") from None
    except ClientDisconnect:
        # Nobody will read the answer; a 400 keeps it out of the server errors.
        raise InvalidRequest("the client closed the connection before the body ended") from None
    return b"".join(chunks)


@router.post("/records", response_class=PlainTextResponse, **openapi.POST_RECORDS)
async def post_records(request: Request) -> Response:
    services = services_of(request)
    settings = services.settings
    # Any Content-Type: the reference's own example is curl -d, which sends a form type.
    body = await read_body(request, settings.max_body_bytes, settings.body_timeout_seconds)
    records = decode_records(body, max_records=settings.max_records)
    if records:
        await services.store.put(records)
    return PlainTextResponse("Ok")


@router.api_route("/current", methods=["GET", "HEAD"], **openapi.CURRENT)
async def current(request: Request) -> Response:
    services = services_of(request)
    wanted = CurrentFilter.parse(request.query_params)  # None: no option, the original body
    if wanted is not None:
        return await filtered_current(services, wanted)
    records = await services.store.current()
    return Response(services.encoder.states_body(records), media_type=JSON)


@router.api_route("/historical/{component}", methods=["GET", "HEAD"], **openapi.HISTORICAL)
async def historical(request: Request) -> Response:
    # Read here, not declared: FastAPI would document a 422 this service never answers.
    component: str = request.path_params["component"]
    problem = component_problem(component)
    if problem is not None:
        raise InvalidRequest(f"component {problem}")
    services = services_of(request)
    # Query options (queries.py); None when none is given: the original path, byte for byte.
    query = HistoryQuery.parse(component, request.query_params, cursor_codec(services.settings))
    if query is not None and query.limit is not None:
        return await history_page_response(services, query)
    pages = (
        services.store.history_pages(component) if query is None else query.pages(services.store)
    )
    first = await anext(pages)
    second = await anext(pages, None)
    if second is None:
        return Response(services.encoder.body(first), media_type=JSON)
    # Long histories stream page by page. The first two pages are in hand, so most
    # failures still get a proper status; a later one cuts the body off mid-array,
    # which no JSON parser mistakes for a complete answer.
    return StreamingResponse(_stream(services.encoder, first, second, pages), media_type=JSON)


async def _stream(
    encoder: RecordsEncoder,
    first: list[Record],
    second: list[Record],
    rest: AsyncIterator[list[Record]],
) -> AsyncIterator[bytes]:
    yield f'{{"Records":[{encoder.objects(first)}'.encode()
    separator = "," if first else ""
    async for page in _chain(second, rest):
        if page:
            yield (separator + encoder.objects(page)).encode()
            separator = ","
    yield b"]}"


async def _chain(
    head: list[Record], rest: AsyncIterator[list[Record]]
) -> AsyncIterator[list[Record]]:
    yield head
    async for page in rest:
        yield page


@router.api_route("/healthz", methods=["GET", "HEAD"], **openapi.HEALTHZ)
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.api_route("/readyz", methods=["GET", "HEAD"], **openapi.READYZ)
async def readyz(request: Request) -> JSONResponse:
    services = services_of(request)
    try:
        await asyncio.wait_for(services.store.check(), READY_TIMEOUT_SECONDS)
    except (StorageError, TimeoutError) as exc:
        logger.warning("not ready: %r", exc)
        return JSONResponse(
            {"error": "not_ready", "message": "the DynamoDB table is not reachable or not active"},
            status_code=503,
        )
    return JSONResponse({"status": "ready"})
