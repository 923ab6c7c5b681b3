"""The board's pages: the matrix of every deployable (``GET /``), a component's page
(``GET /ui/components/{component}``) and their static files. Each handler reads what it
shows from the store and renders it (views.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deploystatus import facts, timestamps
from deploystatus.errors import DeployStatusError
from deploystatus.facts import Deployable
from deploystatus.records import HistoryRange
from deploystatus.storage import Store
from deploystatus.storage.store import Brief
from deploystatus.web.options import (
    checked_component,
    checked_environment,
    next_cursor,
    page_size,
    resume,
)
from deploystatus.web.problems import status_of
from deploystatus.web.state import AppState, state_of

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
    """Every deployable in brief (`_briefs`), arranged for the URL's filters, then the
    details of the page's cells (`Store.known_of`, only those whose facts changed since the
    last view this process built: `_DETAILED`)."""
    filters = matrix.BoardFilters.from_params(request.query_params)
    settings = state.settings
    layout = matrix.Layout(
        matrix.Layout.patterns(settings.board_environments),
        matrix.Layout.patterns(settings.board_emphasis),
    )
    stuck_after = settings.stuck_after_seconds * 1_000_000_000
    classify = state.store.classify
    detailed: dict[tuple[str, str], Deployable] = {}
    deployables: list[Deployable] = []
    unavailable, status = None, 200
    try:
        briefs = await _briefs(state)
        deployables = [
            facts.brief(b.record, b.since, classify, now_ns=now_ns, stuck_after_ns=stuck_after)
            for b in briefs
        ]
        arrangement = matrix.arrange(deployables, filters, layout=layout)
        wanted = arrangement.shown()
        table = state.store.table
        by_key = {b.record.deployable: b for b in briefs}
        missing = [key for key in wanted if _cached(table, by_key[key]) is None]
        if missing:
            found = await state.store.known_of(missing)
            for seen, brief in zip(state.views((k for k, _ in found), now_ns), found, strict=True):
                _remember(table, brief[1], seen)
        for key in wanted:
            cached = _cached(table, by_key[key])
            if cached is not None:
                detailed[key] = _restamped(cached, now_ns, stuck_after)
    except DeployStatusError as exc:
        if strict:
            raise
        # The page still loads: board.js keeps trying and fills the matrix once it can.
        logger.error("GET /: %s", exc, exc_info=exc)
        status = status_of(exc)
        unavailable = "The storage is unavailable or failing; retrying every few seconds."
        arrangement = matrix.arrange(deployables, filters, layout=layout)
    view = matrix.build_board(
        arrangement,
        detailed=detailed,
        total=len({d.current.component for d in deployables}),
        renderer=state.encoder.renderer,
        now_ns=now_ns,
    )
    view.remember()
    return view, unavailable, status


# Every deployable in brief, per table: read whole (`Store.briefly`, the current items and
# the facts items' since) at most every BRIEFS_RESCAN_SECONDS; in between, each view reads
# the current state (`Store.current`, shared and memoized like `/current`) and the facts of
# only the deployables whose current record changed since (`Store.known_of`). What the
# rescan alone catches: a late record that moves a deployable's since or last success
# without changing its current state.
BRIEFS_RESCAN_SECONDS = 30.0
_BRIEFS: dict[str, tuple[float, dict[tuple[str, str], Brief]]] = {}


_RESCANS: dict[str, asyncio.Task[list[Brief]]] = {}


async def _briefs(state: AppState) -> list[Brief]:
    store = state.store
    kept = _BRIEFS.get(store.table)
    if kept is None:
        return await _rescan(store)
    if time.monotonic() - kept[0] > BRIEFS_RESCAN_SECONDS and store.table not in _RESCANS:
        # In the background: no view waits for the whole facts read but the first.
        task = asyncio.create_task(_rescan(store))
        _RESCANS[store.table] = task
        task.add_done_callback(_rescanned)
    known = kept[1]
    records = await store.current()
    changed = [
        r.deployable
        for r in records
        if (b := known.get(r.deployable)) is None or b.record.identity != r.identity
    ]
    if changed:
        table = store.table
        found = await store.known_of(changed)
        for seen, (_, brief) in zip(
            state.views((k for k, _ in found), time.time_ns()), found, strict=True
        ):
            known[brief.record.deployable] = brief
            _remember(table, brief, seen)
    briefs = []
    for record in records:
        held = known.get(record.deployable)
        if held is None or held.record.identity != record.identity:
            held = Brief(record, None, None)  # changed again meanwhile: the next view knows
        briefs.append(held)
    if len(known) > 2 * len(records) + 1000:  # removed deployables: forget them
        _BRIEFS[store.table] = (kept[0], {b.record.deployable: b for b in briefs})
    return briefs


async def _rescan(store: Store) -> list[Brief]:
    started = time.monotonic()
    briefs = await store.briefly()
    _BRIEFS[store.table] = (started, {b.record.deployable: b for b in briefs})
    return briefs


def _rescanned(task: asyncio.Task[list[Brief]]) -> None:
    for table, running in list(_RESCANS.items()):
        if running is task:
            del _RESCANS[table]
    if not task.cancelled() and task.exception() is not None:
        logger.warning("the board's rescan of every deployable failed: %s", task.exception())


# The details of the board's cells, by table and deployable, with the revision of the facts
# item they were read from: a view reads again only those whose facts changed since.
_DETAILED: OrderedDict[tuple[str, str, str], tuple[int, Deployable]] = OrderedDict()
_DETAILED_KEPT = 20_000


def _cached(table: str, brief: Brief) -> Deployable | None:
    key = (table, *brief.record.deployable)
    entry = _DETAILED.get(key)
    if entry is None or brief.revision is None or entry[0] != brief.revision:
        return None
    if entry[1].current.identity != brief.record.identity:
        return None
    _DETAILED.move_to_end(key)
    return entry[1]


def _remember(table: str, brief: Brief | None, seen: Deployable) -> None:
    if brief is None or brief.revision is None or seen.since is None:
        return  # no facts of this record: read again next time
    key = (table, *brief.record.deployable)
    _DETAILED[key] = (brief.revision, seen)
    _DETAILED.move_to_end(key)
    while len(_DETAILED) > _DETAILED_KEPT:
        _DETAILED.popitem(last=False)


def _restamped(view: Deployable, now_ns: int, stuck_after_ns: int) -> Deployable:
    """A remembered view, stuck as of now."""
    if view.kind != "in-progress" or view.since is None:
        return view
    stuck = now_ns - timestamps.from_canonical(view.since) > stuck_after_ns
    return view if stuck == view.stuck else replace(view, stuck=stuck)


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
