"""The board's matrix: components (rows) by environments (columns), built from the current
records and the filters in the URL. No HTTP here: pages.py serves what this builds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deploystatus import timestamps
from deploystatus.records import Record
from deploystatus.states import LABELS, Classifier, StateClass
from deploystatus.timestamps import Renderer

from .views import KIND_ORDER, age, render, script_json


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
        config=script_json(config),
        fetched_at=timestamps.canonical(now_ns)[:23] + "Z",
        fetched_text=timestamps.canonical(now_ns)[11:19] + " UTC",
        unavailable=unavailable,
    )
