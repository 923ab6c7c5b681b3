"""A component's page: its records as rows, and its timeline (inline SVG). No HTTP here:
pages.py serves what this builds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from deploystatus import timestamps
from deploystatus.records import Record
from deploystatus.states import Classifier, StateClass
from deploystatus.timestamps import Renderer

from .views import age

_NS = 1_000_000_000


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
