"""The board's pages: the matrix of every deployable (``GET /``), a component's page
(``GET /ui/components/{component}``) and their static files. Each handler reads what it
shows from the store and renders it (views.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deploystatus import timestamps
from deploystatus.errors import DeployStatusError
from deploystatus.facts import Deployable
from deploystatus.records import HistoryRange
from deploystatus.web.options import (
    checked_component,
    checked_environment,
    next_cursor,
    page_size,
    resume,
)
from deploystatus.web.problems import status_of
from deploystatus.web.state import AppState, state_of

from . import _reads as reads
from . import matrix
from ._respond import (
    STATIC_FILES,
    base_of,
    compressed,
    error_page,
    html,
    page_context,
    static_file,
    static_url,
)
from .component import build_timeline, current_row, row_of
from .views import classifier, macros, render, script_json

logger = logging.getLogger("deploystatus")

HISTORY_PAGE_SIZE = 50  # rows of the component page's history table
TIMELINE_RECORDS = 200  # the last records the component page's timeline shows

router = APIRouter()


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def board(request: Request) -> Response:
    state = state_of(request)
    now_ns = time.time_ns()
    view, unavailable, status = await _board_view(request, state, now_ns)
    context = page_context(request, matrix.title(view))
    config = {
        "refreshSeconds": state.settings.board_refresh_seconds,
        "dataUrl": f"{context['base']}/ui/board.json",
        # The change feed: a refresh when something changed, polling only without it.
        "eventsUrl": f"{context['base']}/events" if state.settings.events else None,
        "version": view.version,
        "rowsStep": matrix.ROWS_STEP,
    }
    page = render(
        "board.html",
        **context,
        **matrix.page_parts(view),
        config=script_json(config),
        fetched_at=timestamps.canonical(now_ns)[:23] + "Z",
        fetched_text=timestamps.canonical(now_ns)[11:19] + " UTC",
        unavailable=unavailable,
    )
    return html(request, page, status)


@router.api_route("/ui/board.json", methods=["GET", "HEAD"], include_in_schema=False)
async def board_data(request: Request) -> Response:
    """What board.js's refresh needs: the rows that changed since the view it shows
    (``known``), counts, recent changes, title. Errors are the API's JSON problems."""
    state = state_of(request)
    view, _, _ = await _board_view(request, state, time.time_ns(), strict=True)
    parts = macros("matrix.html", base=base_of(request), facet_labels=matrix.FACET_LABELS)
    answer = matrix.changes(view, request.query_params.get("known"), parts)
    body = json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode()
    return compressed(request, body, "application/json")


async def _board_view(
    request: Request, state: AppState, now_ns: int, *, strict: bool = False
) -> tuple[matrix.BoardView, str | None, int]:
    """Every deployable in brief, arranged for the URL's filters, then the details of the
    page's cells (_reads.py)."""
    filters = matrix.BoardFilters.from_params(request.query_params)
    settings = state.settings
    layout = matrix.Layout(
        matrix.Layout.patterns(settings.board_environments),
        matrix.Layout.patterns(settings.board_emphasis),
    )
    detailed: dict[tuple[str, str], Deployable] = {}
    unavailable, status = None, 200
    try:
        seen = await reads.overview(state, filters, layout, now_ns)
        arrangement, components = seen.arrangement, seen.components
        detailed = await reads.detailed(state, seen.briefs, arrangement.shown(), now_ns)
    except DeployStatusError as exc:
        if strict:
            raise
        # The page still loads: board.js keeps trying and fills the matrix once it can.
        logger.error("GET /: %s", exc, exc_info=exc)
        status = status_of(exc)
        unavailable = "The storage is unavailable or failing; retrying every few seconds."
        arrangement, components = matrix.arrange([], filters, layout=layout), 0
    view = matrix.build_board(
        arrangement,
        detailed=detailed,
        total=components,
        renderer=state.encoder.renderer,
        now_ns=now_ns,
    )
    view.remember()
    return view, unavailable, status


@router.api_route("/ui/static/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def static(name: str, request: Request) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        return Response(b"not found", status_code=404, media_type="text/plain")
    data, _ = static_file(name)
    # Pages name these with ?v=<hash of the content>: a new version is a new URL.
    return Response(data, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})


# A component's page


@router.api_route("/ui/components/{component}", methods=["GET", "HEAD"], include_in_schema=False)
async def component_page(component: str, request: Request) -> Response:
    heading = f"Component {component}"
    try:
        return await _component_page(component, request, state_of(request), heading)
    except DeployStatusError as exc:
        return error_page(request, exc, heading)


async def _component_page(
    component: str, request: Request, state: AppState, heading: str
) -> Response:
    # Lenient where the API is strict: an empty field of the page's form means "not given".
    params = request.query_params
    environment = params.get("environment") or None
    wanted = HistoryRange(
        checked_component(component),
        None if environment is None else checked_environment(environment),
        descending=True,
    )
    limit = page_size(params.get("limit") or str(HISTORY_PAGE_SIZE))
    cursor = params.get("cursor") or None
    wanted = resume(wanted, cursor, state.cursors)
    store = state.store
    known, (history, position), (recent, _) = await asyncio.gather(
        store.deployables(component),  # a prefix: other components' are left out below
        store.history_page(wanted, limit),
        store.history_page(HistoryRange(component, descending=True), TIMELINE_RECORDS),
    )
    classify = classifier(state.settings.state_rules)
    renderer = state.encoder.renderer
    now_ns = time.time_ns()
    current = state.views((k for k in known if k.record.component == component), now_ns)
    found = bool(current or history or recent)
    context = page_context(request, heading)
    config = {"refreshSeconds": state.settings.board_refresh_seconds}
    page = render(
        "component.html",
        **context,
        component=component,
        found=found,
        environment=environment,
        environments=sorted(
            {d.current.environment for d in current} | {r.environment for r in recent}
        ),
        current=[current_row(deployable, renderer, now_ns) for deployable in current],
        history=[row_of(record, classify, renderer, now_ns) for record in history],
        timeline=build_timeline(recent, classify=classify, renderer=renderer),
        timeline_records=TIMELINE_RECORDS,
        first_page=cursor is None,
        next_cursor=next_cursor(wanted, position, state.cursors),
        limit=limit,
        default_limit=HISTORY_PAGE_SIZE,
        config=script_json(config),
        script_url=static_url(context["base"], "component.js"),
        fetched_at=timestamps.canonical(now_ns)[:23] + "Z",
        fetched_text=timestamps.canonical(now_ns)[11:19] + " UTC",
    )
    return html(request, page, 200 if found else 404)
