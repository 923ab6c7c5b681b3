"""Query options of the read endpoints, and the pickers' lists.

- ``GET /current?environment=E&component=PREFIX&state=S``
- ``GET /historical/{component}?environment=E&since=T&until=T&order=asc|desc&limit=N&cursor=C``
- ``GET /environments``, ``GET /components``

Every option is optional: a request without any of them is served by the original code
path, byte for byte as before (parameters with other names are ignored, as they always
were). A given option must be valid, or the request is an `InvalidRequest` (400) saying
which and why; each may be given once.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, replace

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import QueryParams

from . import timestamps
from .config import Settings
from .cursors import CursorCodec, Key
from .errors import InvalidRequest
from .records import (
    COMPONENT_MAX,
    Record,
    environment_problem,
    state_problem,
)
from .rendering import RecordsEncoder
from .services import Services, services_of
from .store import Store

JSON = "application/json"
MAX_LIMIT = 1000
CURRENT_OPTIONS = ("environment", "component", "state")
HISTORY_OPTIONS = ("environment", "since", "until", "order", "limit", "cursor")
_COMPONENT_PREFIX = re.compile(r"[a-z0-9][a-z0-9.-]*\Z", re.ASCII)

router = APIRouter()


def cursor_codec(settings: Settings) -> CursorCodec:
    secret = settings.cursor_secret
    return CursorCodec(secret.get_secret_value().encode() if secret is not None else None)


def _option(params: QueryParams, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise InvalidRequest(f"{name} is given {len(values)} times; give it at most once")
    return values[0] if values else None


def _environment(params: QueryParams) -> str | None:
    environment = _option(params, "environment")
    if environment is not None:
        problem = environment_problem(environment)
        if problem is not None:
            raise InvalidRequest(f"environment {problem}")
    return environment


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
        if prefix is not None and (
            len(prefix) > COMPONENT_MAX or not _COMPONENT_PREFIX.match(prefix)
        ):
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


async def filtered_current(services: Services, wanted: CurrentFilter) -> Response:
    store = services.store
    if wanted.component_prefix is None:
        records = await store.current()
    else:
        records = await store.current_matching(wanted.component_prefix)
    body = services.encoder.states_body(r for r in records if wanted.matches(r))
    return Response(body, media_type=JSON)


# GET /historical/{component}


@dataclass(frozen=True)
class HistoryQuery:
    component: str
    environment: str | None
    since: str | None  # canonical
    until: str | None  # canonical
    descending: bool
    limit: int | None
    start_key: Key | None
    codec: CursorCodec

    @classmethod
    def parse(cls, component: str, params: QueryParams, codec: CursorCodec) -> HistoryQuery | None:
        """The query the parameters ask for; None when they name no option."""
        if not any(name in params for name in HISTORY_OPTIONS):
            return None
        environment = _environment(params)
        since = _timestamp(params, "since")
        until = _timestamp(params, "until")
        if since is not None and until is not None and since > until:
            raise InvalidRequest("since is after until: nothing can match")
        order = _option(params, "order")
        if order not in (None, "asc", "desc"):
            raise InvalidRequest("order must be asc (oldest first) or desc (newest first)")
        limit_text = _option(params, "limit")
        limit = None
        if limit_text is not None:
            if not (limit_text.isascii() and limit_text.isdigit()) or not (
                1 <= int(limit_text) <= MAX_LIMIT
            ):
                raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
            limit = int(limit_text)
        query = cls(
            component=component,
            environment=environment,
            since=since,
            until=until,
            descending=order == "desc",
            limit=limit,
            start_key=None,
            codec=codec,
        )
        cursor = _option(params, "cursor")
        if cursor is None:
            return query
        return replace(query, start_key=codec.decode(cursor, query.scope))

    @property
    def scope(self) -> dict[str, str | None]:
        """What a cursor is bound to. Not ``limit``: the page size may change between pages."""
        return {
            "component": self.component,
            "environment": self.environment,
            "since": self.since,
            "until": self.until,
            "order": "desc" if self.descending else "asc",
        }

    def pages(self, store: Store) -> AsyncIterator[list[Record]]:
        """Every matching record, page by page (no ``limit``)."""
        return store.history_range_pages(
            self.component,
            environment=self.environment,
            since=self.since,
            until=self.until,
            descending=self.descending,
            start_key=self.start_key,
        )

    async def page(self, store: Store, limit: int) -> tuple[list[Record], str | None]:
        """One page of at most ``limit`` records and the cursor to the next, if any."""
        records, key = await store.history_page(
            self.component,
            limit=limit,
            environment=self.environment,
            since=self.since,
            until=self.until,
            descending=self.descending,
            start_key=self.start_key,
        )
        return records, None if key is None else self.codec.encode(self.scope, key)


def page_body(encoder: RecordsEncoder, records: Iterable[Record], cursor: str | None) -> bytes:
    """``{"Records":[...]}``, with ``"NextCursor"`` after the records when there is one."""
    if cursor is None:
        return encoder.body(records)
    # A cursor is base64url and ".": nothing in it needs escaping.
    return f'{{"Records":[{encoder.objects(records)}],"NextCursor":"{cursor}"}}'.encode()


async def history_page_response(services: Services, query: HistoryQuery) -> Response:
    assert query.limit is not None
    records, cursor = await query.page(services.store, query.limit)
    return Response(page_body(services.encoder, records, cursor), media_type=JSON)


# GET /environments, GET /components


def _names_body(key: str, names: Iterable[str]) -> bytes:
    # Names are restricted to [a-z0-9.-]: plain JSON strings.
    return json.dumps({key: sorted(set(names))}, separators=(",", ":")).encode()


@router.api_route("/environments", methods=["GET", "HEAD"])
async def environments(request: Request) -> Response:
    """Every environment that has a current state, sorted: ``{"Environments":[...]}``."""
    records = await services_of(request).store.current()
    return Response(_names_body("Environments", (r.environment for r in records)), media_type=JSON)


@router.api_route("/components", methods=["GET", "HEAD"])
async def components(request: Request) -> Response:
    """Every component that has a current state, sorted: ``{"Components":[...]}``."""
    records = await services_of(request).store.current()
    return Response(_names_body("Components", (r.component for r in records)), media_type=JSON)
