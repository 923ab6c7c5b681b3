"""The deployment record, the rules every stored record obeys, and the range of a history
read."""

from __future__ import annotations

import hashlib
import json
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


class Details(NamedTuple):
    """What a writer may tell about a deployment besides its state, all optional:
    ``commit_timestamp`` is canonical UTC like a record's timestamp."""

    version: str | None = None
    revision: str | None = None
    actor: str | None = None
    link: str | None = None
    message: str | None = None
    commit_timestamp: str | None = None

    @property
    def digest(self) -> str:
        """16 hex digits that decide between two records that differ only in their details
        (see `Record.precedence`): a pure function of the values, so every process and
        every arrival order picks the same one."""
        text = json.dumps(list(self), ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# The API's name of each detail, in `Details` order (bodies, and the JSON stored with a record).
DETAIL_NAMES = ("Version", "Revision", "Actor", "Link", "Message", "CommitTimestamp")


class Record(NamedTuple):
    """One deployment event. ``timestamp`` is canonical UTC (see `timestamps.canonical`),
    so records compare by time with plain string comparison. A named tuple: reads build
    one per item, and a tuple is built in half the time of a frozen dataclass.

    Its identity is (component, environment, state, timestamp): ``details`` ride along, and
    of two records with one identity the store keeps one (`precedence`)."""

    component: str
    environment: str
    state: str
    timestamp: str
    details: Details | None = None

    @property
    def deployable(self) -> tuple[str, str]:
        return self.component, self.environment

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return self.component, self.environment, self.state, self.timestamp

    @property
    def precedence(self) -> tuple[str, str, str]:
        """Which of two records of one deployable is its current state: the later one; at
        an equal instant the greater state (by code point); for one identity the one with
        details over the one without, and between two with details the greater digest. So
        every arrival order gives the same answer."""
        details = self.details
        return self.timestamp, self.state, "" if details is None else details.digest

    def without_details(self) -> Record:
        return self if self.details is None else self._replace(details=None)


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
    return _forbidden_problem(value)


def _forbidden_problem(value: str) -> str | None:
    """Why free text (a state, a detail) cannot hold ``value``'s characters, if it cannot."""
    forbidden = _STATE_FORBIDDEN.search(value)
    if forbidden is None:
        return None
    code = ord(forbidden.group())
    if 0xD800 <= code <= 0xDFFF:
        return f"must be valid Unicode (found the lone surrogate U+{code:04X})"
    return f"must not contain control characters (found U+{code:04X})"


# Bounds of the details (`Details`), in characters.
DETAIL_MAX = {"Version": 128, "Revision": 128, "Actor": 128, "Link": 2048, "Message": 512}
# An absolute http(s) URL: a host, then anything but spaces and control characters.
_NOT_BLANK = "[^\\u0000-\\u0020\\u007f-\\u009f]"
LINK_RULE = f"^[hH][tT][tT][pP][sS]?://[^/?#{_NOT_BLANK[2:-1]}]+([/?#]{_NOT_BLANK}*)?$"
_LINK = re.compile(LINK_RULE[1:-1])  # fullmatch; no re.IGNORECASE, which folds U+017F to "s"


def detail_problem(name: str, value: str) -> str | None:
    """Why ``value`` cannot be the detail ``name`` (one of `DETAIL_MAX`)."""
    maximum = DETAIL_MAX[name]
    if len(value) > maximum:
        return f"must be at most {maximum} characters (it is {len(value)})"
    forbidden = _forbidden_problem(value)
    if forbidden is not None:
        return forbidden
    if name == "Link" and not _LINK.fullmatch(value):
        return "must be an absolute http:// or https:// URL without spaces"
    return None


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
