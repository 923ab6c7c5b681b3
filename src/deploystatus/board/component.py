"""A component's page: its deployables with their details and derived facts, its history as
rows, and its timeline (inline SVG: a bar per deployment from its start to its outcome, a
marker per lone record). No HTTP here: pages.py serves what this builds.

Times are shown to the second in UTC; each carries its instant (``data-t``, milliseconds)
so that component.js can show it in the browser's zone instead, and the exact value as the
API renders it on hover.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from deploystatus import timestamps
from deploystatus.facts import Deployable
from deploystatus.records import Record
from deploystatus.states import Classifier, StateClass
from deploystatus.timestamps import Renderer

from .views import age, run_link, short_version

_NS = 1_000_000_000
_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class Moment:
    """A time as the page shows it: ``2024-07-30 14:32:05 UTC``, its instant in ms, and
    the exact value as the API renders it (on hover)."""

    text: str
    ms: int
    exact: str

    @classmethod
    def of(cls, stored: str, renderer: Renderer) -> Moment:
        return cls(f"{stored[:10]} {stored[11:19]} UTC", _ms(stored), renderer.render(stored))


def _ms(stored: str) -> int:
    return timestamps.from_canonical(stored) // _MS


def duration(seconds: float) -> str:
    """``45 s``, ``3 min 7 s``, ``2 h 5 min``, ``3 d 4 h``: how long a deployment took."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    if s < 86_400:
        return f"{s // 3600} h {s % 3600 // 60} min" if s % 3600 // 60 else f"{s // 3600} h"
    return f"{s // 86_400} d {s % 86_400 // 3600} h"


@dataclass(frozen=True, slots=True)
class CurrentRow:
    """A deployable of the component: its current state, with details and facts."""

    environment: str
    kind: StateClass
    stuck: bool
    state: str
    version: str | None
    short_version: str | None
    since: Moment | None  # when its class began
    since_for: str | None  # for how long, as the page was rendered
    last_version: str | None  # the last success, when the current state is not one
    last_short: str | None
    last: Moment | None
    last_age: str | None
    actor: str | None
    link: str | None
    time: Moment
    age: str


def current_row(deployable: Deployable, renderer: Renderer, now_ns: int) -> CurrentRow:
    record = deployable.current
    details = record.details
    version = None if details is None else details.version
    since = deployable.since
    last = deployable.last_success if deployable.kind != "success" else None
    last_version = None if last is None or last.details is None else last.details.version
    return CurrentRow(
        environment=record.environment,
        kind=deployable.kind,
        stuck=deployable.stuck,
        state=record.state,
        version=version,
        short_version=None if version is None else short_version(version),
        since=None if since is None else Moment.of(since, renderer),
        since_for=None if since is None else age(since, now_ns).removesuffix(" ago"),
        last_version=last_version,
        last_short=None if last_version is None else short_version(last_version),
        last=None if last is None else Moment.of(last.timestamp, renderer),
        last_age=None if last is None else age(last.timestamp, now_ns),
        actor=None if details is None else details.actor,
        link=None if details is None else run_link(details.link),
        time=Moment.of(record.timestamp, renderer),
        age=age(record.timestamp, now_ns),
    )


@dataclass(frozen=True, slots=True)
class RecordRow:
    environment: str
    kind: StateClass
    state: str
    version: str | None
    time: Moment
    age: str


def row_of(record: Record, classify: Classifier, renderer: Renderer, now_ns: int) -> RecordRow:
    return RecordRow(
        record.environment,
        classify(record.state),
        record.state,
        None if record.details is None else record.details.version,
        Moment.of(record.timestamp, renderer),
        age(record.timestamp, now_ns),
    )


# The timeline


@dataclass(frozen=True, slots=True)
class Title:
    """A hover text with times in it: ``parts`` around ``times`` (ms), so that component.js
    can write the times in another zone; ``text`` has them in UTC."""

    parts: tuple[str, ...]
    times: tuple[int, ...]

    @property
    def text(self) -> str:
        shown = [_utc(ms) for ms in self.times]
        return "".join(
            part + (shown[i] if i < len(shown) else "") for i, part in enumerate(self.parts)
        )


def _utc(ms: int) -> str:
    stored = timestamps.canonical(ms * _MS)
    return f"{stored[:10]} {stored[11:19]} UTC"


@dataclass(frozen=True, slots=True)
class Marker:
    """A lone record."""

    x: float
    y: float
    kind: StateClass
    title: Title


@dataclass(frozen=True, slots=True)
class Bar:
    """A deployment: from its in-progress record to its outcome (success or failure) in the
    same environment, or to the right edge while it runs."""

    x1: float
    x2: float
    y: float
    kind: StateClass  # the outcome's class; in-progress while it runs
    running: bool
    title: Title


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    left: int
    right: int
    lanes: list[tuple[float, str]]
    bars: list[Bar]
    markers: list[Marker]
    ticks: list[tuple[float, str, int]]  # x, label (UTC), instant in ms
    first: Moment
    last: Moment
    count: int


BAR_MIN_WIDTH = 3.0  # px: a deployment of a few seconds still shows as a bar
_OUTCOMES = ("success", "failed")


def build_timeline(
    records: Sequence[Record], *, classify: Classifier, renderer: Renderer
) -> Timeline | None:
    """Time on x, one lane per environment. In each lane, an in-progress record followed by
    a success or a failure is a bar from one to the other; the lane's newest record, in
    progress, is a bar to the right edge (still running); every other record is a marker
    (shape and colour by class)."""
    if not records:
        return None
    environments = sorted({record.environment for record in records})
    lane_height, top, bottom, left, right, width = 28, 12, 34, 120, 16, 800
    lane_y = {env: top + lane_height * (index + 0.5) for index, env in enumerate(environments)}
    timed = sorted(
        ((timestamps.from_canonical(record.timestamp), record) for record in records),
        key=_first,
    )
    start, end = timed[0][0], timed[-1][0]
    span = end - start
    plot = width - left - right

    def x_of(instant: int) -> float:
        return round(left + (plot / 2 if span == 0 else (instant - start) / span * plot), 1)

    bars: list[Bar] = []
    markers: list[Marker] = []
    for environment in environments:
        lane = [(instant, record) for instant, record in timed if record.environment == environment]
        y = lane_y[environment]
        index = 0
        while index < len(lane):
            instant, record = lane[index]
            kind = classify(record.state)
            following = lane[index + 1] if index + 1 < len(lane) else None
            outcome = None if following is None else classify(following[1].state)
            if kind == "in-progress" and following is not None and outcome in _OUTCOMES:
                assert outcome is not None
                end_instant, end_record = following
                x1 = x_of(instant)
                taken = duration((end_instant - instant) / _NS)
                bars.append(
                    Bar(
                        x1,
                        max(x_of(end_instant), x1 + BAR_MIN_WIDTH),
                        y,
                        outcome,
                        False,
                        Title(
                            (
                                f"{environment}: {record.state} ",
                                f" \u2192 {end_record.state} ",
                                f" ({taken})",
                            ),
                            (instant // _MS, end_instant // _MS),
                        ),
                    )
                )
                index += 2
                continue
            if kind == "in-progress" and following is None:
                x1 = x_of(instant)
                bars.append(
                    Bar(
                        x1,
                        max(float(left + plot), x1 + BAR_MIN_WIDTH),
                        y,
                        "in-progress",
                        True,
                        Title(
                            (f"{environment}: {record.state} ", ", still running"),
                            (instant // _MS,),
                        ),
                    )
                )
            else:
                title = Title((f"{environment}: {record.state} at ", ""), (instant // _MS,))
                markers.append(Marker(x_of(instant), y, kind, title))
            index += 1
    # Oldest first, so that a later one is drawn over an earlier one.
    markers.sort(key=lambda marker: marker.x)
    ticks: list[tuple[float, str, int]] = []
    steps = 1 if span == 0 else 4
    for step in range(steps + 1):
        instant = start + span * step // steps
        stored = timestamps.canonical(instant)
        # Within two days the clock says enough; beyond, the date matters.
        clock = stored[11:16]
        label = clock if span < 2 * 86_400 * _NS else f"{stored[5:10]} {clock}"
        ticks.append((x_of(instant), label, instant // _MS))
    return Timeline(
        width=width,
        height=top + lane_height * len(environments) + bottom,
        left=left,
        right=right,
        lanes=[(lane_y[env], env) for env in environments],
        bars=bars,
        markers=markers,
        ticks=ticks,
        first=Moment.of(timestamps.canonical(start), renderer),
        last=Moment.of(timestamps.canonical(end), renderer),
        count=len(records),
    )


def _first(pair: tuple[int, Record]) -> int:
    return pair[0]
