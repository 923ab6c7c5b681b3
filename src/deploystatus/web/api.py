"""The JSON API. Each handler parses the request (bodies.py, options.py), calls the store and
encodes the answer (encoding.py); what goes wrong is raised, and problems.py answers it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from deploystatus.errors import (
    DeployableNotFound,
    DeployStatusError,
    Forbidden,
    RecordNotFound,
)
from deploystatus.logs import AUDIT_LOGGER
from deploystatus.records import Record, Removal

from . import openapi
from .auth import TOKEN_NAME_KEY
from .bodies import decode_record, decode_records, read_body
from .encoding import RecordsEncoder, names_body
from .options import (
    CurrentFilter,
    HistoryOptions,
    checked_component,
    checked_environment,
    next_cursor,
    wants_details,
)
from .state import state_of

JSON = "application/json"

router = APIRouter()
audit_logger = logging.getLogger(AUDIT_LOGGER)


@router.post("/records", response_class=PlainTextResponse, **openapi.POST_RECORDS)
async def post_records(request: Request) -> Response:
    state = state_of(request)
    settings = state.settings
    # Any Content-Type: the reference's own example is curl -d, which sends a form type.
    body = await read_body(request, settings.max_body_bytes, settings.body_timeout_seconds)
    records = decode_records(
        body, max_records=settings.max_records, max_skew_seconds=settings.max_clock_skew_seconds
    )
    if records:
        transitions = await state.store.put(records)
        state.metrics.records_written += len(records)  # counted once DynamoDB holds them
        state.metrics.events_recorded += transitions
    return PlainTextResponse("Ok")


@router.api_route("/current", methods=["GET", "HEAD"], **openapi.CURRENT)
async def current(request: Request) -> Response:
    state = state_of(request)
    detailed = wants_details(request.query_params)
    wanted = CurrentFilter.parse(request.query_params)  # None: no option, the original body
    if detailed:
        prefix = None if wanted is None else wanted.component_prefix
        currents = await state.store.deployables(prefix)
        if wanted is not None:
            currents = [current for current in currents if wanted.matches(current.record)]
        return Response(state.encoder.deployables_body(state.views(currents)), media_type=JSON)
    if wanted is None:
        records = await state.store.current()
        return Response(state.encoder.states_body(records), media_type=JSON)
    if wanted.component_prefix is None:
        records = await state.store.current()
    else:
        records = await state.store.current_matching(wanted.component_prefix)
    return Response(state.encoder.states_body(filter(wanted.matches, records)), media_type=JSON)


@router.api_route("/historical/{component}", methods=["GET", "HEAD"], **openapi.HISTORICAL)
async def historical(request: Request) -> Response:
    # Read here, not declared: FastAPI would document a 422 this service never answers.
    component = checked_component(request.path_params["component"])
    state = state_of(request)
    detailed = wants_details(request.query_params)
    options = HistoryOptions.parse(component, request.query_params, state.cursors)
    if options.limit is not None:
        records, position = await state.store.history_page(options.range, options.limit)
        cursor = next_cursor(options.range, position, state.cursors)
        body = state.encoder.page_body(records, cursor, detailed=detailed)
        return Response(body, media_type=JSON)
    pages = state.store.history(options.range)
    first = await anext(pages)
    second = await anext(pages, None)
    if second is None:
        return Response(state.encoder.body(first, detailed=detailed), media_type=JSON)
    # Long histories stream page by page. The first two pages are in hand, so most
    # failures still get a proper status; a later one cuts the body off mid-array,
    # which no JSON parser mistakes for a complete answer.
    stream = _stream(state.encoder, first, second, pages, detailed=detailed)
    return StreamingResponse(stream, media_type=JSON)


@router.api_route(
    "/deployables/{component}/{environment}", methods=["GET", "HEAD"], **openapi.DEPLOYABLE
)
async def deployable(request: Request) -> Response:
    component = checked_component(request.path_params["component"])
    environment = checked_environment(request.path_params["environment"])
    state = state_of(request)
    current = await state.store.deployable(component, environment)
    if current is None:
        raise DeployableNotFound(f"{component} has no record in {environment}")
    (view,) = state.views([current])
    return Response(state.encoder.deployable_body(view), media_type=JSON)


async def _stream(
    encoder: RecordsEncoder,
    first: list[Record],
    second: list[Record],
    rest: AsyncIterator[list[Record]],
    *,
    detailed: bool,
) -> AsyncIterator[bytes]:
    yield f'{{"Records":[{encoder.objects(first, detailed=detailed)}'.encode()
    separator = "," if first else ""
    async for page in _chain(second, rest):
        if page:
            yield (separator + encoder.objects(page, detailed=detailed)).encode()
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
    if not await state_of(request).readiness.ready():
        return JSONResponse(
            {"error": "not_ready", "message": "the DynamoDB table is not reachable or not active"},
            status_code=503,
        )
    return JSONResponse({"status": "ready"})


# The pickers' lists (the board's filters, a dashboard's menus)


@router.api_route("/environments", methods=["GET", "HEAD"])
async def environments(request: Request) -> Response:
    """Every environment that has a current state, sorted: ``{"Environments":[...]}``."""
    records = await state_of(request).store.current()
    return Response(names_body("Environments", (r.environment for r in records)), media_type=JSON)


@router.api_route("/components", methods=["GET", "HEAD"])
async def components(request: Request) -> Response:
    """Every component that has a current state, sorted: ``{"Components":[...]}``."""
    records = await state_of(request).store.current()
    return Response(names_body("Components", (r.component for r in records)), media_type=JSON)


# Administration: every path under /admin/ needs the admin scope (auth.py)


@router.post("/admin/remove-record", **openapi.REMOVE_RECORD)
async def remove_record(request: Request) -> Response:
    state = state_of(request)
    settings = state.settings
    # With authentication on, only an admin token gets here, and auth.py names it. Off,
    # nobody can show one: an open service must not be a way to erase history.
    token: str | None = request.scope.get(TOKEN_NAME_KEY)
    if token is None:
        _audit("refused", None, None)
        raise Forbidden(
            "removing a record needs an admin token, and authentication is off on this "
            "service: configure DEPLOYSTATUS_TOKENS with a token of scope admin"
        )
    body = await read_body(request, settings.max_body_bytes, settings.body_timeout_seconds)
    record = decode_record(body)
    try:
        removal = await state.store.remove(record)
    except RecordNotFound:
        _audit("not_found", token, record)
        raise
    except DeployStatusError as exc:
        _audit("failed", token, record, error=exc.code)
        raise
    _audit("removed", token, record, removal)
    return Response(state.encoder.removal_body(removal), media_type=JSON)


def _audit(
    outcome: str,
    token: str | None,
    record: Record | None,
    removal: Removal | None = None,
    *,
    error: str | None = None,
) -> None:
    """One line on ``deploystatus.audit`` per removal asked for: who (the token's name,
    never the token), which record, whether it was current and what is current now. At
    warning level, so that it stays when DEPLOYSTATUS_LOG_LEVEL=warning drops the
    per-request lines."""
    fields: dict[str, object] = {"action": "remove-record", "outcome": outcome, "token": token}
    if record is not None:
        fields.update(
            component=record.component,
            environment=record.environment,
            state=record.state,
            timestamp=record.timestamp,
        )
    if removal is not None:
        current = removal.current
        fields.update(
            was_current=removal.was_current,
            current_state=None if current is None else current.state,
            current_timestamp=None if current is None else current.timestamp,
        )
    if error is not None:
        fields["error"] = error
    audit_logger.warning(_AUDIT_MESSAGES[outcome], extra={"fields": fields})


_AUDIT_MESSAGES = {
    "removed": "record removed",
    "not_found": "record to remove not found: nothing changed",
    "refused": "record removal refused: authentication is off",
    "failed": "record removal failed: nothing acknowledged; it may be sent again",
}
