"""What the board shows, built from records and rendered by the Jinja2 templates
(``templates/``): the matrix of current states, a component's timeline and its rows.
No HTTP here: pages.py and sign_in.py serve what this builds."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from deploystatus import timestamps
from deploystatus.records import Record
from deploystatus.states import LABELS, Classifier, Rules, StateClass
from deploystatus.timestamps import Renderer

_NS = 1_000_000_000
ICONS: dict[StateClass, str] = {
    "success": "\u2714",  # heavy check mark
    "failed": "\u2716",  # heavy multiplication x
    "in-progress": "\u25d4",  # circle with upper right quadrant black
    "other": "\u25c6",  # black diamond
}
KIND_ORDER: tuple[StateClass, ...] = ("failed", "in-progress", "other", "success")

_templates = Environment(
    loader=PackageLoader("deploystatus.board", "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# Escaping, remembered: the board's 10,000 cells repeat a few states and each component 10
# times. Its template turns autoescaping off for the matrix and escapes free text with this.
_templates.filters["x"] = lru_cache(maxsize=65_536)(escape)


def render(template: str, **context: Any) -> str:
    return _templates.get_template(template).render(**context)


@cache
def classifier(rules: Rules) -> Classifier:
    """One classifier per set of rules (building one compiles its keywords)."""
    return Classifier(rules)


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


def age(stored: str, now_ns: int) -> str:
    """The age of a canonical timestamp: `ago` of `timestamps.from_canonical`, faster."""
    seconds = (
        _day_start(stored[:10])
        + int(stored[11:13]) * 3600
        + int(stored[14:16]) * 60
        + int(stored[17:19])
    )
    return ago((now_ns - seconds * _NS - int(stored[20:29])) / _NS)


def _script_json(value: object) -> Markup:
    """JSON safe inside a ``<script>`` element."""
    text = json.dumps(value, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


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
            kind, record.state, render(record.timestamp), age(record.timestamp, now_ns)
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
    return render(
        "board.html",
        **context,
        matrix=matrix,
        filters=filters,
        hidden_columns=hidden,
        config=_script_json(config),
        fetched_at=timestamps.canonical(now_ns)[:23] + "Z",
        fetched_text=timestamps.canonical(now_ns)[11:19] + " UTC",
        unavailable=unavailable,
    )


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


@dataclass(frozen=True, slots=True)
class RecordRow:
    environment: str
    kind: StateClass
    state: str
    time: str
    age: str


def row_of(record: Record, classify: Classifier, renderer: Renderer, now_ns: int) -> RecordRow:
    return RecordRow(
        record.environment,
        classify(record.state),
        record.state,
        renderer.render(record.timestamp),
        age(record.timestamp, now_ns),
    )
