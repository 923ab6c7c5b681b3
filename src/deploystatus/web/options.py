"""What a read asks for, parsed from its path and query once, for the API and the board.

- ``GET /current?environment=E&component=PREFIX&state=S``
- ``GET /historical/{component}?environment=E&since=T&until=T&order=asc|desc&limit=N&cursor=C``
- ``details=true`` on either: the records with their details, and on ``/current`` the
  facts derived per deployable (`wants_details`)

Every option is optional: a request without any of them is served by the original code
path, byte for byte as before (parameters with other names are ignored, as they always
were). A given option must be valid, or the request is an `InvalidRequest` (400) saying
which and why; each may be given once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from starlette.datastructures import QueryParams

from deploystatus import timestamps
from deploystatus.errors import InvalidRequest
from deploystatus.records import (
    COMPONENT_MAX,
    HistoryRange,
    Position,
    Record,
    component_problem,
    environment_problem,
    state_problem,
)

from .cursors import CursorCodec

MAX_LIMIT = 1000
CURRENT_OPTIONS = ("details", "environment", "component", "state")
HISTORY_OPTIONS = ("details", "environment", "since", "until", "order", "limit", "cursor")
# What `component=` of /current may be: the start of a component name.
COMPONENT_PREFIX_RULE = "^[a-z0-9][a-z0-9.-]*$"
_COMPONENT_PREFIX = re.compile(r"[a-z0-9][a-z0-9.-]*\Z", re.ASCII)


def is_component_prefix(text: str) -> bool:
    """What ``component=`` may be: the beginning of a component's name."""
    return len(text) <= COMPONENT_MAX and _COMPONENT_PREFIX.match(text) is not None


def _option(params: QueryParams, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise InvalidRequest(f"{name} is given {len(values)} times; give it at most once")
    return values[0] if values else None


def _environment(params: QueryParams) -> str | None:
    environment = _option(params, "environment")
    return None if environment is None else checked_environment(environment)


def _timestamp(params: QueryParams, name: str) -> str | None:
    """The canonical form of an RFC 3339 option."""
    text = _option(params, name)
    if text is None:
        return None
    try:
        return timestamps.canonical(timestamps.parse(text))
    except ValueError as exc:
        hint = " (in a URL, write the offset's '+' as %2B)" if " " in text else ""
        raise InvalidRequest(f"{name} {exc}{hint}") from exc


def wants_details(params: QueryParams) -> bool:
    """Whether the read opts in to details (and, for current states, derived facts)."""
    value = _option(params, "details")
    if value not in (None, "true", "false"):
        raise InvalidRequest("details must be true or false")
    return value == "true"


# GET /current


@dataclass(frozen=True)
class CurrentFilter:
    environment: str | None
    component_prefix: str | None
    state: str | None

    @classmethod
    def parse(cls, params: QueryParams) -> CurrentFilter | None:
        """The filter the parameters ask for; None when they name no option."""
        if not any(name in params for name in CURRENT_OPTIONS):
            return None
        prefix = _option(params, "component")
        if prefix is not None and (not is_component_prefix(prefix)):
            raise InvalidRequest(
                "component must be the start of a component name: lower-case letters, "
                f"digits, '.' and '-', beginning with a letter or digit, 1-{COMPONENT_MAX} "
                "characters"
            )
        state = _option(params, "state")
        if state is not None:
            problem = state_problem(state)
            if problem is not None:
                raise InvalidRequest(f"state {problem}")
        return cls(environment=_environment(params), component_prefix=prefix, state=state)

    def matches(self, record: Record) -> bool:
        return (self.environment is None or record.environment == self.environment) and (
            self.state is None or record.state == self.state
        )


# GET /historical/{component}


@dataclass(frozen=True)
class HistoryOptions:
    """What a history read asks for: a range, and a page size when one is given."""

    range: HistoryRange
    limit: int | None = None

    @classmethod
    def parse(cls, component: str, params: QueryParams, codec: CursorCodec) -> HistoryOptions:
        """The options the parameters give; none given is the whole history, oldest first
        (the original path, byte for byte)."""
        if not any(name in params for name in HISTORY_OPTIONS):
            return cls(HistoryRange(component))
        environment = _environment(params)
        since = _timestamp(params, "since")
        until = _timestamp(params, "until")
        if since is not None and until is not None and since > until:
            raise InvalidRequest("since is after until: nothing can match")
        order = _option(params, "order")
        if order not in (None, "asc", "desc"):
            raise InvalidRequest("order must be asc (oldest first) or desc (newest first)")
        limit = _option(params, "limit")
        wanted = HistoryRange(component, environment, since, until, descending=order == "desc")
        return cls(
            limit=None if limit is None else page_size(limit),  # checked before the cursor
            range=resume(wanted, _option(params, "cursor"), codec),
        )


def page_size(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def checked_component(component: str) -> str:
    """A component named in a path, if it is a valid name."""
    problem = component_problem(component)
    if problem is not None:
        raise InvalidRequest(f"component {problem}")
    return component


def checked_environment(environment: str) -> str:
    problem = environment_problem(environment)
    if problem is not None:
        raise InvalidRequest(f"environment {problem}")
    return environment


# Cursors: a page's position, bound to the range it was read from


def _cursor_scope(wanted: HistoryRange) -> dict[str, str | None]:
    """What a cursor is bound to. Not the page size: it may change between pages."""
    return {
        "component": wanted.component,
        "environment": wanted.environment,
        "since": wanted.since,
        "until": wanted.until,
        "order": "desc" if wanted.descending else "asc",
    }


def resume(wanted: HistoryRange, cursor: str | None, codec: CursorCodec) -> HistoryRange:
    """``wanted`` from where ``cursor`` says the previous page ended."""
    if cursor is None:
        return wanted
    return replace(wanted, after=codec.decode(cursor, _cursor_scope(wanted)))


def next_cursor(wanted: HistoryRange, position: Position | None, codec: CursorCodec) -> str | None:
    """The cursor to the page after ``position``, if there is one."""
    return None if position is None else codec.encode(_cursor_scope(wanted), position)
