"""The deployment record, the rules every stored record obeys, and the range of a history
read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from . import timestamps

COMPONENT_RULE = "^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$"
ENVIRONMENT_RULE = "^[a-z]+(-[a-z]+){0,2}$"
_COMPONENT = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?\Z", re.ASCII)
_ENVIRONMENT = re.compile(r"[a-z]+(?:-[a-z]+){0,2}\Z", re.ASCII)
# C0 and C1 control characters, and lone surrogates (which no UTF-8 encoder accepts).
_STATE_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
COMPONENT_MAX = 255
ENVIRONMENT_MAX = 128
STATE_MAX = 128

# Where a read of history resumes: made by the store, opaque to everyone else.
Position = dict[str, Any]


class Record(NamedTuple):
    """One deployment event. ``timestamp`` is canonical UTC (see `timestamps.canonical`),
    so records compare by time with plain string comparison. A named tuple: reads build
    one per item, and a tuple is built in half the time of a frozen dataclass."""

    component: str
    environment: str
    state: str
    timestamp: str

    @property
    def deployable(self) -> tuple[str, str]:
        return self.component, self.environment

    @property
    def precedence(self) -> tuple[str, str]:
        """Which of two records of one deployable is its current state: the later one, and
        at an equal instant the greater state, so every arrival order gives the same answer."""
        return self.timestamp, self.state


def component_problem(value: str) -> str | None:
    if not 1 <= len(value) <= COMPONENT_MAX or not _COMPONENT.match(value):
        return (
            f"must match {COMPONENT_RULE} (lower-case letters, digits, '.' and '-', "
            f"1-{COMPONENT_MAX} characters)"
        )
    return None


def environment_problem(value: str) -> str | None:
    if not 1 <= len(value) <= ENVIRONMENT_MAX or not _ENVIRONMENT.match(value):
        return f"must match {ENVIRONMENT_RULE} (at most {ENVIRONMENT_MAX} characters)"
    return None


def state_problem(value: str) -> str | None:
    if not 1 <= len(value) <= STATE_MAX:
        return f"must be 1-{STATE_MAX} characters"
    forbidden = _STATE_FORBIDDEN.search(value)
    if forbidden is None:
        return None
    code = ord(forbidden.group())
    if 0xD800 <= code <= 0xDFFF:
        return f"must be valid Unicode (found the lone surrogate U+{code:04X})"
    return f"must not contain control characters (found U+{code:04X})"


_MS = 1_000_000
_NS = 1_000 * _MS
_UNITS = ((365 * 86_400, "years"), (86_400, "days"), (3600, "h"), (60, "min"))


def _duration(nanos: int) -> str:
    """A span for people, in seconds to the millisecond, rounded up (so that a span over a
    whole-second limit never reads as the limit), and past two minutes in a larger unit too:
    ``0.001 s``, ``301.5 s (about 5 min)``, ``251,679,865,998 s (about 7,980 years)``."""
    whole, millis = divmod(-(-nanos // _MS), 1000)
    text = f"{whole:,}" + (f".{millis:03d}".rstrip("0") if millis else "") + " s"
    for size, unit in _UNITS:
        if whole >= 2 * size:
            return f"{text} (about {whole // size:,} {unit})"
    return text


def future_problem(nanos: int, *, now: int, max_skew_seconds: int) -> str | None:
    """Why a record at ``nanos`` is refused when the server's clock reads ``now`` (both
    nanoseconds since the epoch): it is more than ``max_skew_seconds`` ahead. A writer with
    a bad clock would otherwise pin its deployable's current state for as long as the
    clock was wrong: no real later record could be newer. At exactly the limit it passes."""
    ahead = nanos - now
    if ahead <= max_skew_seconds * _NS:
        return None
    clock = timestamps.canonical(now)
    return (
        f"is {_duration(ahead)} ahead of the server's clock ({clock[:19]}Z); at most "
        f"{max_skew_seconds:,} s ahead is accepted (DEPLOYSTATUS_MAX_CLOCK_SKEW_SECONDS): "
        "check the writer's clock"
    )


@dataclass(frozen=True)
class HistoryRange:
    """Which of a component's records a history read returns: those of ``environment`` (or
    of every environment) from ``since`` to ``until`` (canonical, inclusive; None is open),
    oldest first unless ``descending``, after ``after``, where a previous page ended."""

    component: str
    environment: str | None = None
    since: str | None = None
    until: str | None = None
    descending: bool = False
    after: Position | None = None


@dataclass(frozen=True)
class Removal:
    """What removing ``record`` from history did: whether it was its deployable's current
    state, and the deployable's current state after it (None: it has none left)."""

    record: Record
    was_current: bool
    current: Record | None
