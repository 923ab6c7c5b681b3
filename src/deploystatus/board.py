"""The status board: server-rendered HTML pages for people, next to the API.

- ``GET /``: a matrix of components (rows) by environments (columns), each cell the
  deployable's current state with its class (icon, colour, text) and age. Filters come
  from the URL (``q``: part of a component's name, ``env``: the environment columns to
  show, repeated; ``env=`` shows none; ``notgreen=1``: only components with a state that
  is not success), so a view can be shared. ``static/board.js`` applies the same filters
  as they are typed and refreshes the matrix from ``GET /current`` every few seconds.
- ``GET /ui/components/{component}``: its current state per environment, a timeline of
  its last records (inline SVG) and its history, newest first, paged with the API's cursor.

Pages are built from the same `Store` the API reads, in the same process. No front-end
build step: Jinja2 templates (``templates/``), one CSS and one JS file (``static/``).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import time
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from . import timestamps
from .auth import SESSION_COOKIE, SIGN_IN_PATH, authenticate
from .errors import DeployStatusError, InvalidRequest, StorageUnavailable
from .queries import cursor_codec
from .records import Record, component_problem, environment_problem
from .routes import read_body
from .services import Services, services_of
from .states import LABELS, Classifier, Rules, StateClass
from .timestamps import Renderer
from .tokens import READ

logger = logging.getLogger("deploystatus")

HTML = "text/html; charset=utf-8"
HISTORY_PAGE_SIZE = 50  # rows of the component page's history table
MAX_PAGE_SIZE = 1000
TIMELINE_RECORDS = 200  # the last records the component page's timeline shows
_GZIP_MIN_BYTES = 1400
_NS = 1_000_000_000
_STATIC = Path(__file__).resolve().parent / "static"
_STATIC_FILES = {"board.js": "text/javascript; charset=utf-8", "board.css": "text/css"}
ICONS: dict[StateClass, str] = {
    "success": "\u2714",  # heavy check mark
    "failed": "\u2716",  # heavy multiplication x
    "in-progress": "\u25d4",  # circle with upper right quadrant black
    "other": "\u25c6",  # black diamond
}
KIND_ORDER: tuple[StateClass, ...] = ("failed", "in-progress", "other", "success")

router = APIRouter()

_templates = Environment(
    loader=PackageLoader("deploystatus", "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# Escaping, remembered: the board's 10,000 cells repeat a few states and each component 10
# times. Its template turns autoescaping off for the matrix and escapes free text with this.
_templates.filters["x"] = lru_cache(maxsize=65_536)(escape)


# Small helpers shared with the templates


def ago(seconds: float) -> str:
    """``42 s ago``, ``3 min ago``, ``5 h ago``, ``2 d ago`` (``in 3 min`` if in the future);
    board.js computes the same text in the browser."""
    future = seconds < 0
    s = int(abs(seconds))
    if s < 60:
        text = f"{s} s"
    elif s < 3600:
        text = f"{s // 60} min"
    elif s < 2 * 86_400:
        text = f"{s // 3600} h"
    else:
        text = f"{s // 86_400} d"
    return f"in {text}" if future else f"{text} ago"


@lru_cache(maxsize=4096)
def _day_start(date: str) -> int:
    """Seconds since the epoch of ``YYYY-MM-DD``'s midnight UTC (cells share few dates)."""
    return timestamps.days_from_civil(int(date[0:4]), int(date[5:7]), int(date[8:10])) * 86_400


def _age(stored: str, now_ns: int) -> str:
    """The age of a canonical timestamp: `ago` of `timestamps.from_canonical`, faster."""
    seconds = (
        _day_start(stored[:10])
        + int(stored[11:13]) * 3600
        + int(stored[14:16]) * 60
        + int(stored[17:19])
    )
    return ago((now_ns - seconds * _NS - int(stored[20:29])) / _NS)


@cache
def _static(name: str) -> tuple[bytes, str]:
    """A static file's bytes and a short hash of them, for cache-busting URLs."""
    data = (_STATIC / name).read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:12]


def _static_url(base: str, name: str) -> str:
    return f"{base}/ui/static/{name}?v={_static(name)[1]}"


def _script_json(value: object) -> Markup:
    """JSON safe inside a ``<script>`` element."""
    text = json.dumps(value, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _html(request: Request, body: str, status: int = 200) -> Response:
    """The page, gzipped when the client takes it (the board is ~130 bytes a cell)."""
    data = body.encode()
    headers = {"Cache-Control": "no-store", "Vary": "Accept-Encoding"}
    if len(data) >= _GZIP_MIN_BYTES and "gzip" in request.headers.get("accept-encoding", ""):
        data = gzip.compress(data, compresslevel=5, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(data, status_code=status, media_type=HTML, headers=headers)


def _base(request: Request) -> str:
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def _classifier(services: Services) -> Classifier:
    return _classifiers(services.settings.state_rules)


@cache
def _classifiers(rules: Rules) -> Classifier:
    return Classifier(rules)


def _page_context(request: Request, title: str) -> dict[str, Any]:
    base = _base(request)
    return {
        "title": title,
        "base": base,
        "css_url": _static_url(base, "board.css"),
        "js_url": _static_url(base, "board.js"),
        "icons": ICONS,
        "labels": LABELS,
        "kinds": KIND_ORDER,
    }


def _status_of(exc: DeployStatusError) -> int:
    """The HTML pages' statuses: the same as app.py gives the API's JSON errors."""
    if isinstance(exc, InvalidRequest):
        return 400
    return 503 if isinstance(exc, StorageUnavailable) else 500


def _error_page(request: Request, exc: DeployStatusError, heading: str) -> Response:
    status = _status_of(exc)
    if status >= 500:
        logger.error("%s %s: %s", request.method, request.url.path, exc, exc_info=exc)
        message = "The storage is unavailable or failing; nothing was lost. Retry in a moment."
    else:
        message = exc.message
    context = _page_context(request, heading)
    html = _templates.get_template("error.html").render(
        **context, heading=heading, message=message, status=status
    )
    return _html(request, html, status)


# The board


@dataclass(frozen=True)
class BoardFilters:
    """What the board's URL asks for. Lenient: these are typed by people, and an unknown
    environment is simply not shown."""

    text: str = ""
    environments: frozenset[str] | None = None  # None: every environment
    not_green: bool = False

    @classmethod
    def from_params(cls, params: Any) -> BoardFilters:
        chosen = list(params.getlist("env"))
        return cls(
            text=params.get("q", "").strip().lower(),
            environments=None if not chosen else frozenset(v for v in chosen if v),
            not_green=params.get("notgreen", "") in ("1", "on", "true", "yes"),
        )

    def shows(self, environment: str) -> bool:
        return self.environments is None or environment in self.environments


@dataclass(frozen=True, slots=True)
class Cell:
    kind: StateClass
    state: str
    time: str  # rendered as the API renders it
    age: str


@dataclass(frozen=True, slots=True)
class Row:
    component: str
    cells: list[Cell | None]
    hidden: bool


@dataclass(frozen=True)
class Matrix:
    environments: list[str]
    rows: list[Row]
    counts: dict[StateClass, int]
    shown: int


def build_matrix(
    records: Sequence[Record],
    filters: BoardFilters,
    *,
    classify: Classifier,
    renderer: Renderer,
    now_ns: int,
) -> Matrix:
    """The board's matrix from `Store.current`'s records (sorted by component)."""
    environments = sorted({record.environment for record in records})
    column = {environment: index for index, environment in enumerate(environments)}
    visible = [filters.shows(environment) for environment in environments]
    rows: list[Row] = []
    counts: Counter[StateClass] = Counter()
    render = renderer.render
    cells: list[Cell | None] = []
    component = None
    for record in records:
        if record.component != component:
            if component is not None:
                rows.append(_row(component, cells, filters, visible))
            component = record.component
            cells = [None] * len(environments)
        kind = classify(record.state)
        counts[kind] += 1
        cells[column[record.environment]] = Cell(
            kind, record.state, render(record.timestamp), _age(record.timestamp, now_ns)
        )
    if component is not None:
        rows.append(_row(component, cells, filters, visible))
    shown = sum(not row.hidden for row in rows)
    return Matrix(environments, rows, {kind: counts[kind] for kind in KIND_ORDER}, shown)


def _row(
    component: str, cells: list[Cell | None], filters: BoardFilters, visible: list[bool]
) -> Row:
    shown = not filters.text or filters.text in component
    if shown and filters.not_green:
        shown = any(
            cell is not None and cell.kind != "success" and show
            for cell, show in zip(cells, visible, strict=True)
        )
    return Row(component, cells, not shown)


def render_board(
    records: Sequence[Record],
    filters: BoardFilters,
    *,
    context: dict[str, Any],
    classify: Classifier,
    renderer: Renderer,
    refresh_seconds: float,
    now_ns: int,
    unavailable: str | None = None,
) -> str:
    matrix = build_matrix(records, filters, classify=classify, renderer=renderer, now_ns=now_ns)
    hidden = [i for i, name in enumerate(matrix.environments) if not filters.shows(name)]
    base = context["base"]
    config = {
        "refreshSeconds": refresh_seconds,
        "rules": [[name, list(words)] for name, words in classify.rules],
        "labels": LABELS,
        "currentUrl": f"{base}/current",
        "componentUrl": f"{base}/ui/components/",
    }
    return _templates.get_template("board.html").render(
        **context,
        matrix=matrix,
        filters=filters,
        hidden_columns=hidden,
        config=_script_json(config),
        fetched_at=timestamps.canonical(now_ns)[:23] + "Z",
        fetched_text=timestamps.canonical(now_ns)[11:19] + " UTC",
        unavailable=unavailable,
    )


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def board(request: Request) -> Response:
    services = services_of(request)
    filters = BoardFilters.from_params(request.query_params)
    records: Sequence[Record] = ()
    unavailable = None
    status = 200
    try:
        records = await services.store.current()
    except DeployStatusError as exc:
        # The page still loads: board.js keeps trying and fills the matrix once it can.
        logger.error("GET /: %s", exc, exc_info=exc)
        status = _status_of(exc)
        unavailable = "The storage is unavailable or failing; retrying every few seconds."
    html = render_board(
        records,
        filters,
        context=_page_context(request, "Deployment status"),
        classify=_classifier(services),
        renderer=services.encoder.renderer,
        refresh_seconds=services.settings.board_refresh_seconds,
        now_ns=time.time_ns(),
        unavailable=unavailable,
    )
    return _html(request, html, status)


@router.api_route("/ui/static/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def static(name: str, request: Request) -> Response:
    media_type = _STATIC_FILES.get(name)
    if media_type is None:
        return Response(b"not found", status_code=404, media_type="text/plain")
    data, _ = _static(name)
    # Pages name these with ?v=<hash of the content>: a new version is a new URL.
    return Response(data, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})


# A component's page


@dataclass(frozen=True, slots=True)
class Marker:
    x: float
    y: float
    kind: StateClass
    title: str


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    left: int
    right: int
    lanes: list[tuple[float, str]]
    markers: list[Marker]
    ticks: list[tuple[float, str]]
    first: str
    last: str
    count: int


def build_timeline(
    records: Sequence[Record], *, classify: Classifier, renderer: Renderer
) -> Timeline | None:
    """Time on x, one lane per environment, a marker per record (shape and colour by class)."""
    if not records:
        return None
    environments = sorted({record.environment for record in records})
    lane_height, top, bottom, left, right, width = 28, 12, 34, 120, 16, 800
    lane_y = {env: top + lane_height * (index + 0.5) for index, env in enumerate(environments)}
    instants = [timestamps.from_canonical(record.timestamp) for record in records]
    start, end = min(instants), max(instants)
    span = end - start
    plot = width - left - right

    def x_of(instant: int) -> float:
        return round(left + (plot / 2 if span == 0 else (instant - start) / span * plot), 1)

    markers = [
        Marker(
            x_of(instant),
            lane_y[record.environment],
            classify(record.state),
            f"{record.environment}: {record.state} at {renderer.render(record.timestamp)}",
        )
        # Oldest first, so that a later state is drawn over an earlier one.
        for instant, record in sorted(zip(instants, records, strict=True), key=_first)
    ]
    ticks: list[tuple[float, str]] = []
    steps = 1 if span == 0 else 4
    for step in range(steps + 1):
        instant = start + span * step // steps
        rendered = renderer.render(timestamps.canonical(instant))
        # Within two days the clock says enough; beyond, the date matters.
        clock = rendered[11:16]
        label = clock if span < 2 * 86_400 * _NS else f"{rendered[5:10]} {clock}"
        ticks.append((x_of(instant), label))
    return Timeline(
        width=width,
        height=top + lane_height * len(environments) + bottom,
        left=left,
        right=right,
        lanes=[(lane_y[env], env) for env in environments],
        markers=markers,
        ticks=ticks,
        first=renderer.render(timestamps.canonical(start)),
        last=renderer.render(timestamps.canonical(end)),
        count=len(records),
    )


def _first(pair: tuple[int, Record]) -> int:
    return pair[0]


def _page_size(text: str | None) -> int:
    if text is None or text == "":
        return HISTORY_PAGE_SIZE
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}")
    return int(text)


@router.api_route("/ui/components/{component}", methods=["GET", "HEAD"], include_in_schema=False)
async def component_page(component: str, request: Request) -> Response:
    services = services_of(request)
    heading = f"Component {component}"
    try:
        return await _component_page(component, request, services, heading)
    except DeployStatusError as exc:
        return _error_page(request, exc, heading)


async def _component_page(
    component: str, request: Request, services: Services, heading: str
) -> Response:
    problem = component_problem(component)
    if problem is not None:
        raise InvalidRequest(f"component {problem}")
    params = request.query_params
    environment = params.get("environment") or None
    if environment is not None:
        env_problem = environment_problem(environment)
        if env_problem is not None:
            raise InvalidRequest(f"environment {env_problem}")
    limit = _page_size(params.get("limit"))
    codec = cursor_codec(services.settings)
    scope = {
        "component": component,
        "environment": environment,
        "since": None,
        "until": None,
        "order": "desc",
    }
    cursor = params.get("cursor") or None
    start_key = None if cursor is None else codec.decode(cursor, scope)
    store = services.store
    current, (history, next_key), (recent, _) = await asyncio.gather(
        store.component_current(component),
        store.history_page(
            component, limit=limit, environment=environment, descending=True, start_key=start_key
        ),
        store.history_page(component, limit=TIMELINE_RECORDS, descending=True),
    )
    classify = _classifier(services)
    renderer = services.encoder.renderer
    now_ns = time.time_ns()
    context = _page_context(request, heading)
    found = bool(current or history or recent)
    html = _templates.get_template("component.html").render(
        **context,
        component=component,
        found=found,
        environment=environment,
        environments=sorted({record.environment for record in (*current, *recent)}),
        current=[_row_of(record, classify, renderer, now_ns) for record in current],
        history=[_row_of(record, classify, renderer, now_ns) for record in history],
        timeline=build_timeline(recent, classify=classify, renderer=renderer),
        timeline_records=TIMELINE_RECORDS,
        first_page=cursor is None,
        next_cursor=None if next_key is None else codec.encode(scope, next_key),
        limit=limit,
        default_limit=HISTORY_PAGE_SIZE,
        fetched_text=timestamps.canonical(now_ns)[11:19] + " UTC",
    )
    return _html(request, html, 200 if found else 404)


@dataclass(frozen=True, slots=True)
class RecordRow:
    environment: str
    kind: StateClass
    state: str
    time: str
    age: str


def _row_of(record: Record, classify: Classifier, renderer: Renderer, now_ns: int) -> RecordRow:
    return RecordRow(
        record.environment,
        classify(record.state),
        record.state,
        renderer.render(record.timestamp),
        _age(record.timestamp, now_ns),
    )


# Signing in, for when authentication is on (see auth.py)

_SIGN_IN_BODY_LIMIT = 4096
_SESSION_SECONDS = 12 * 3600


def _safe_next(page: str | None) -> str:
    """Only a path of this site: never somewhere else (``//host``, ``https://...``)."""
    if not page or not page.startswith("/") or page.startswith("//") or "\\" in page:
        return "/"
    return page


def _sign_in_page(
    request: Request, next_page: str, message: str = "", status: int = 200
) -> Response:
    html = _templates.get_template("sign_in.html").render(
        **_page_context(request, "Sign in"), next_page=next_page, message=message
    )
    return _html(request, html, status)


@router.get(SIGN_IN_PATH, include_in_schema=False)
async def sign_in_form(request: Request) -> Response:
    next_page = _safe_next(request.query_params.get("next"))
    if not services_of(request).settings.tokens:
        return RedirectResponse(_base(request) + next_page, status_code=303)
    return _sign_in_page(request, next_page)


@router.post(SIGN_IN_PATH, include_in_schema=False)
async def sign_in(request: Request) -> Response:
    services = services_of(request)
    body = await read_body(request, _SIGN_IN_BODY_LIMIT, services.settings.body_timeout_seconds)
    form = urllib.parse.parse_qs(body.decode("utf-8", errors="replace"))
    next_page = _safe_next(form.get("next", ["/"])[0])
    presented = form.get("token", [""])[0].strip()
    token = authenticate(services.settings.tokens, presented) if presented else None
    if token is None:
        return _sign_in_page(request, next_page, "That token is not valid.", 401)
    if READ not in token.scopes:
        return _sign_in_page(request, next_page, "That token lacks the read scope.", 403)
    response = RedirectResponse(_base(request) + next_page, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        urllib.parse.quote(presented, safe=""),
        max_age=_SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/ui/sign-out", include_in_schema=False)
async def sign_out(request: Request) -> Response:
    response = RedirectResponse(_base(request) + SIGN_IN_PATH, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
