"""The board's matrix, incident first: components (rows) by environments (columns), built
from every deployable's current state and derived facts (`facts.Deployable`) and the
filters in the URL. No HTTP here: pages.py serves what this builds.

Only one page of rows is built and rendered (problems first by default, so an incident is
always on it); a refresh sends only the rows that changed since the view the browser holds
(`BoardView.changes_since`).
"""

from __future__ import annotations

import hashlib
import heapq
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any, Literal
from urllib.parse import urlencode

from deploystatus import timestamps
from deploystatus.facts import Deployable
from deploystatus.records import Record
from deploystatus.states import StateClass
from deploystatus.timestamps import Renderer

from .views import age, run_link, short_version

_MS = 1_000_000
Facet = Literal["failed", "stuck", "in-progress", "other", "success"]
# The counts above the matrix, in this order; each is also a filter (``show=``).
FACETS: tuple[Facet, ...] = ("failed", "stuck", "in-progress", "other", "success")
FACET_LABELS: dict[Facet, str] = {
    "failed": "failed",
    "stuck": "stuck",
    "in-progress": "in progress",
    "other": "other",
    "success": "success",
}
SHOWS = ("all", "notgreen", *FACETS)
SORTS = ("problems", "name")
ROWS_STEP = 20  # rows a page shows at first, and how many more "Show more" adds
MAX_ROWS = 100_000
RECENT = 8  # changes the "Recent changes" panel lists
_RANKS: dict[Facet, int] = {"failed": 0, "stuck": 1, "in-progress": 2, "other": 3, "success": 3}


def facet_of(deployable: Deployable) -> Facet:
    """The deployable's facet: its class, or stuck for one in progress past the limit."""
    return "stuck" if deployable.stuck else deployable.kind


@dataclass(frozen=True)
class BoardFilters:
    """What the board's URL asks for. Lenient: these are typed by people, so an unknown
    value means the default and an unknown environment is simply not shown."""

    text: str = ""
    environments: frozenset[str] | None = None  # None: every environment
    show: str = "all"  # all, notgreen, or one facet
    sort: str = "problems"
    rows: int = ROWS_STEP

    @classmethod
    def from_params(cls, params: Any) -> BoardFilters:
        chosen = list(params.getlist("env"))
        show = params.get("show", "")
        if show not in SHOWS or show == "all":
            show = "notgreen" if params.get("notgreen", "") in ("1", "on", "true") else "all"
        sort = params.get("sort", "")
        rows = params.get("rows", "")
        return cls(
            text=params.get("q", "").strip().lower(),
            environments=None if not chosen else frozenset(v for v in chosen if v),
            show=show,
            sort=sort if sort in SORTS else "problems",
            rows=min(int(rows), MAX_ROWS) if rows.isdigit() and int(rows) > 0 else ROWS_STEP,
        )

    @property
    def not_green(self) -> bool:
        return self.show == "notgreen"

    def shows(self, environment: str) -> bool:
        return self.environments is None or environment in self.environments

    def keeps(self, facet: Facet) -> bool:
        """Whether a cell of ``facet`` is shown under ``show``."""
        if self.show == "all":
            return True
        if self.show == "notgreen":
            return facet != "success"
        return facet == self.show

    def query(self, environments: Sequence[str], **changes: Any) -> str:
        """The URL query of this view (with ``changes``), defaults left out: what board.js
        writes into the address bar, so a view can be shared."""
        wanted = replace(self, **changes)
        params: list[tuple[str, str]] = []
        if wanted.text:
            params.append(("q", wanted.text))
        if wanted.environments is not None and not set(environments) <= wanted.environments:
            chosen = [name for name in environments if name in wanted.environments]
            params.extend(("env", name) for name in chosen or [""])
        if wanted.show == "notgreen":
            params.append(("notgreen", "1"))
        elif wanted.show != "all":
            params.append(("show", wanted.show))
        if wanted.sort != "problems":
            params.append(("sort", wanted.sort))
        if wanted.rows != ROWS_STEP:
            params.append(("rows", str(wanted.rows)))
        return urlencode(params)


@dataclass(frozen=True)
class Layout:
    """Environment columns: in the order of the first pattern each matches
    (``DEPLOYSTATUS_BOARD_ENVIRONMENTS``, e.g. ``dev,staging,prod-*``), alphabetical within
    a pattern and for the rest, which come last; those matching an emphasis pattern
    (``DEPLOYSTATUS_BOARD_EMPHASIS``, e.g. ``prod-*``) are marked."""

    order: tuple[str, ...] = ()
    emphasis: tuple[str, ...] = ()

    @staticmethod
    def patterns(text: str | None) -> tuple[str, ...]:
        return tuple(part.strip() for part in (text or "").split(",") if part.strip())

    def sorted(self, names: Iterable[str]) -> list[str]:
        last = len(self.order)

        def place(name: str) -> tuple[int, str]:
            index = next((i for i, p in enumerate(self.order) if fnmatchcase(name, p)), last)
            return index, name

        return sorted(names, key=place)

    def emphasised(self, name: str) -> bool:
        return any(fnmatchcase(name, pattern) for pattern in self.emphasis)


@dataclass(frozen=True, slots=True)
class Cell:
    """One deployable as its cell shows it; ``key`` changes when anything it shows but its
    ages does."""

    environment: str
    facet: Facet
    kind: StateClass
    state: str
    time: str  # as the API renders it (shown on hover)
    at_ms: int  # for ages, recomputed by board.js
    age: str
    version: str | None
    short_version: str | None
    actor: str | None
    link: str | None
    since_ms: int | None  # when its class began (failing since, stuck for)
    since_age: str | None
    last_version: str | None  # the last success, on a cell that is not one
    last_short: str | None
    last_ms: int | None
    last_age: str | None
    key: str  # short: it is in the page, per cell


@dataclass(frozen=True, slots=True)
class Row:
    component: str
    cells: list[Cell | None]  # one per column
    key: int


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    emphasised: bool


@dataclass(frozen=True, slots=True)
class Change:
    """A line of the "Recent changes" panel: a deployable whose class began lately."""

    component: str
    environment: str
    facet: Facet
    kind: StateClass
    state: str
    at_ms: int
    age: str
    time: str


@dataclass
class BoardView:
    """What the board shows for one set of filters, one page of rows."""

    filters: BoardFilters
    environments: list[str]  # every environment, in the layout's order (the picker)
    columns: list[Column]
    rows: list[Row]  # this page of them
    matched: int  # rows the filters keep, on every page
    total: int  # components
    counts: dict[Facet, int]
    recent: list[Change]
    version: str = field(init=False)
    head_key: int = field(init=False)  # what the head and the recent changes show
    recent_key: int = field(init=False)

    def __post_init__(self) -> None:
        self.head_key = hash((tuple(self.columns), tuple(self.environments)))
        self.recent_key = hash(
            tuple((c.component, c.environment, c.state, c.at_ms) for c in self.recent)
        )
        digest = hashlib.blake2b(digest_size=9)
        for part in (self.head_key, self.recent_key, *self.counts.values(), self.matched):
            digest.update(f"{part}\x00".encode())
        for row in self.rows:
            digest.update(f"{row.component}\x00{row.key}\x00".encode())
        self.version = digest.hexdigest()

    @property
    def failing(self) -> int:
        return self.counts["failed"]

    @property
    def more(self) -> int:
        return self.matched - len(self.rows)

    def remember(self) -> None:
        """Keep what this view sent, so that the next refresh sends only what changed."""
        _SENT[self.version] = _Sent(
            self.head_key, self.recent_key, {row.component: row.key for row in self.rows}
        )
        _SENT.move_to_end(self.version)
        while len(_SENT) > _SENT_KEPT:
            _SENT.popitem(last=False)

    def unchanged_since(self, known: str | None) -> tuple[set[str], bool, bool]:
        """Against the view ``known`` (a version this process sent lately): the components
        whose rows are the same, and whether the head and the recent changes are. Nothing
        is the same when ``known`` is unknown (another process's, or long ago)."""
        sent = _SENT.get(known or "")
        if sent is None or sent.head != self.head_key:
            return set(), False, sent is not None and sent.recent == self.recent_key
        same = {row.component for row in self.rows if sent.rows.get(row.component) == row.key}
        return same, True, sent.recent == self.recent_key


@dataclass(frozen=True, slots=True)
class _Sent:
    head: int
    recent: int
    rows: dict[str, int]


_SENT_KEPT = 256  # views remembered per process (a view is a page of row keys)
_SENT: OrderedDict[str, _Sent] = OrderedDict()


@dataclass
class Arrangement:
    """Which rows and cells a view shows, in order, from every deployable's brief state
    (`facts.brief`: class, since, stuck): all a view needs but the details of the cells on
    its page (`shown`), which `build_board` takes."""

    filters: BoardFilters
    environments: list[str]  # every environment, in the layout's order
    columns: list[Column]
    grid: dict[str, dict[str, Deployable]]  # the cells each row shows
    order: list[str]  # the rows, every page
    counts: dict[Facet, int]
    considered: list[Deployable]  # those the text and environment filters keep

    def shown(self) -> list[tuple[str, str]]:
        """The deployables of this page's cells, whose details the page shows."""
        return [
            (component, environment)
            for component in self.order[: self.filters.rows]
            for environment in self.grid[component]
        ]


def arrange(
    deployables: Sequence[Deployable], filters: BoardFilters, *, layout: Layout
) -> Arrangement:
    """The rows and cells for ``filters`` from every deployable (any order)."""
    environments = layout.sorted({d.current.environment for d in deployables})
    shown_environments = [name for name in environments if filters.shows(name)]
    shows = set(shown_environments)
    text = filters.text
    grid: dict[str, dict[str, Deployable]] = {}
    counts: dict[Facet, int] = dict.fromkeys(FACETS, 0)
    considered: list[Deployable] = []
    for deployable in deployables:
        record = deployable.current
        if text and text not in record.component:
            continue
        cells = grid.get(record.component)
        if cells is None:
            cells = grid[record.component] = {}
        if record.environment not in shows:
            continue
        facet = facet_of(deployable)
        counts[facet] += 1
        considered.append(deployable)
        if filters.keeps(facet):
            cells[record.environment] = deployable
    if filters.show != "all":
        grid = {component: cells for component, cells in grid.items() if cells}
        used = {environment for cells in grid.values() for environment in cells}
        shown_environments = [name for name in shown_environments if name in used]
    if filters.sort == "name":
        order = sorted(grid)
    else:
        order = sorted(grid, key=lambda component: _problems_first(component, grid[component]))
    return Arrangement(
        filters=filters,
        environments=environments,
        columns=[Column(name, layout.emphasised(name)) for name in shown_environments],
        grid=grid,
        order=order,
        counts=counts,
        considered=considered,
    )


def build_board(
    arrangement: Arrangement,
    *,
    detailed: Mapping[tuple[str, str], Deployable],
    total: int,
    renderer: Renderer,
    now_ns: int,
) -> BoardView:
    """The view of ``arrangement``'s page; ``detailed`` has the details and facts of its
    cells (those missing show without them), ``total`` counts every component."""
    filters = arrangement.filters
    environments = [column.name for column in arrangement.columns]
    rows = []
    for component in arrangement.order[: filters.rows]:
        cells = arrangement.grid[component]
        full = {env: detailed.get((component, env), brief) for env, brief in cells.items()}
        rows.append(_row(component, full, environments, renderer, now_ns))
    return BoardView(
        filters=filters,
        environments=arrangement.environments,
        columns=arrangement.columns,
        rows=rows,
        matched=len(arrangement.order),
        total=total,
        counts=arrangement.counts,
        recent=_recent(arrangement.considered, renderer, now_ns),
    )


def _problems_first(component: str, cells: Mapping[str, Deployable]) -> tuple[int, int, str]:
    """Failed rows, then stuck, then in progress, then the rest; within each the newest
    problem first, then by name."""
    rank, newest = 3, 0
    for deployable in cells.values():
        facet_rank = _RANKS[facet_of(deployable)]
        if facet_rank == 3:
            continue
        at = timestamps.from_canonical(deployable.current.timestamp)
        if facet_rank < rank or (facet_rank == rank and at > newest):
            rank, newest = facet_rank, at
    return rank, -newest, component


def _row(
    component: str,
    cells: Mapping[str, Deployable],
    environments: Sequence[str],
    renderer: Renderer,
    now_ns: int,
) -> Row:
    shown = [
        None if (d := cells.get(name)) is None else _cell(d, renderer, now_ns)
        for name in environments
    ]
    return Row(component, shown, hash(tuple(None if c is None else c.key for c in shown)))


def _cell(deployable: Deployable, renderer: Renderer, now_ns: int) -> Cell:
    record = deployable.current
    details = record.details
    facet = facet_of(deployable)
    since = deployable.since
    since_shown = since if facet in ("failed", "stuck") else None
    last = deployable.last_success if facet != "success" else None
    last_version = _version_of(last) or ("" if last is not None else None)
    version = None if details is None else details.version
    return Cell(
        environment=record.environment,
        facet=facet,
        kind=deployable.kind,
        state=record.state,
        time=renderer.render(record.timestamp),
        at_ms=timestamps.from_canonical(record.timestamp) // _MS,
        age=age(record.timestamp, now_ns),
        version=version,
        short_version=None if version is None else short_version(version),
        actor=None if details is None else details.actor,
        link=None if details is None else run_link(details.link),
        since_ms=None if since_shown is None else timestamps.from_canonical(since_shown) // _MS,
        since_age=None if since_shown is None else age(since_shown, now_ns).removesuffix(" ago"),
        last_version=last_version,
        last_short=short_version(last_version) if last_version else None,
        last_ms=None if last is None else timestamps.from_canonical(last.timestamp) // _MS,
        last_age=None if last is None else age(last.timestamp, now_ns),
        key=format(hash((record, since_shown, last, facet)) & 0xFFFF_FFFF, "x"),
    )


def _version_of(record: Record | None) -> str | None:
    if record is None or record.details is None:
        return None
    return record.details.version


def _recent(considered: Iterable[Deployable], renderer: Renderer, now_ns: int) -> list[Change]:
    """The deployables whose class began most lately (their ``since``; the current record's
    time where facts are not derived yet), newest first."""

    def began(deployable: Deployable) -> str:
        return deployable.since or deployable.current.timestamp

    newest = heapq.nlargest(RECENT, considered, key=began)
    return [
        Change(
            component=d.current.component,
            environment=d.current.environment,
            facet=facet_of(d),
            kind=d.kind,
            state=d.current.state,
            at_ms=timestamps.from_canonical(began(d)) // _MS,
            age=age(began(d), now_ns),
            time=renderer.render(began(d)),
        )
        for d in newest
    ]


# The page, and what board.js's refresh receives


def title(view: BoardView) -> str:
    """The page's title: the failing count first, so that it reads in a tab or a list."""
    return f"({view.failing:,} failing) Deployment status" if view.failing else "Deployment status"


def favicon(view: BoardView) -> str:
    """A red disc with the failing count, or a green one with a check mark."""
    if view.failing:
        count = f"{view.failing}" if view.failing < 100 else "99+"
        size = 20 if len(count) == 1 else 15 if len(count) == 2 else 11
        mark = (
            f"<circle cx='16' cy='16' r='15' fill='%23b3261e'/><text x='16' y='{16 + size // 3}'"
            f" font-family='sans-serif' font-weight='700' font-size='{size}' fill='white'"
            f" text-anchor='middle'>{count}</text>"
        )
    else:
        mark = (
            "<circle cx='16' cy='16' r='15' fill='%231a7f37'/><path d='M9 16.5l4.5 4.5L23 11'"
            " stroke='white' stroke-width='4' fill='none'/>"
        )
    svg = f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'>{mark}</svg>"
    return "data:image/svg+xml," + svg.replace("<", "%3C").replace(">", "%3E")


def links(view: BoardView) -> dict[str, Any]:
    """The URL queries the page links to: each count as a filter (clicking the one in use
    shows all again), and one more page of rows."""
    filters, environments = view.filters, view.environments
    return {
        "queries": {
            facet: filters.query(
                environments, show="all" if filters.show == facet else facet, rows=ROWS_STEP
            )
            for facet in FACETS
        },
        "more_query": filters.query(environments, rows=filters.rows + ROWS_STEP),
    }


def page_parts(view: BoardView) -> dict[str, Any]:
    """What board.html needs besides the page context."""
    return {
        "view": view,
        "filters": view.filters,
        "facets": FACETS,
        "facet_labels": FACET_LABELS,
        "rows_step": ROWS_STEP,
        "favicon": favicon(view),
        **links(view),
    }


def changes(view: BoardView, known: str | None, parts: Any) -> dict[str, Any]:
    """board.js's refresh: what differs from the view ``known`` it shows (everything when
    this process does not know that view). ``parts`` is matrix.html as a module (its
    macros render the rows)."""
    if known == view.version:
        return {"v": view.version, "same": True}
    same_rows, same_head, same_recent = view.unchanged_since(known)
    answer_links = links(view)
    return {
        "v": view.version,
        "same": False,
        "query": view.filters.query(view.environments),
        "environments": view.environments,
        "head": None if same_head else str(parts.head(view)),
        "rows": [
            [row.component, None if row.component in same_rows else str(parts.row(row))]
            for row in view.rows
        ],
        "recent": None if same_recent else str(parts.recent(view)),
        "counts": view.counts,
        "shown": len(view.rows),
        "matched": view.matched,
        "total": view.total,
        "more": view.more,
        "moreQuery": answer_links["more_query"],
        "queries": answer_links["queries"],
        "show": view.filters.show,
        "title": title(view),
        "favicon": favicon(view),
    }
