"""Request bodies: read within bounds (`read_body`), and a ``POST /records`` body turned
into validated records, as leniently as the reference did (`decode_records`); the one
record ``POST /admin/remove-record`` names is decoded the same way (`decode_record`).

The reference decoded with Go's encoding/json, and writers may depend on what it let
through: field names match case-insensitively (the last of duplicate keys wins), unknown
fields are ignored, a null or missing ``Records`` is an empty batch. What it let through
that it should not have (bad names, impossible timestamps, timestamps too far ahead of the
server's clock) is refused here, for the whole batch, with every problem named.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.requests import ClientDisconnect, Request

from deploystatus import timestamps
from deploystatus.errors import (
    InvalidRecords,
    InvalidRequest,
    Problem,
    RequestTimeout,
    RequestTooLarge,
)
from deploystatus.records import (
    DETAIL_NAMES,
    Details,
    Record,
    component_problem,
    detail_problem,
    environment_problem,
    future_problem,
    state_problem,
)

_FIELDS = ("Component", "Environment", "State", "Timestamp")
_ALL_FIELDS = _FIELDS + DETAIL_NAMES
_SHAPE = 'the body must be a JSON object like {"Records":[{"Component":...}]}'


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The body, refused as soon as it is known to exceed ``limit`` (before reading it all),
    or once ``timeout`` seconds pass before its end (a client dripping it holds a task)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"the body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise RequestTooLarge(f"the body is over the limit of {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {timeout:g}s") from None
    except ClientDisconnect:
        # Nobody will read the answer; a 400 keeps it out of the server errors.
        raise InvalidRequest("the client closed the connection before the body ended") from None
    return b"".join(chunks)


class _Number:
    """Stands in for any JSON number: no field takes one, and converting a huge one costs."""


_NUMBER = _Number()

# Every JSON object decodes as the tuple of its (key, value) pairs, in document order and
# duplicates included, as Go's decoder sees them (a dict would keep a duplicate's first place).
_Pairs = tuple[tuple[str, Any], ...]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"the body is not valid UTF-8 (byte {exc.start})") from exc
    try:
        return json.loads(
            text,
            parse_int=lambda _: _NUMBER,
            parse_float=lambda _: _NUMBER,
            parse_constant=_reject_constant,
            object_pairs_hook=tuple,
        )
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except ValueError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidRequest("the body is not valid JSON: nested too deeply") from exc


def _fold(obj: _Pairs, names: tuple[str, ...], *, null_keeps: bool = False) -> dict[str, Any]:
    """Values of ``names`` matched as Go does: exact or case-insensitive, last key wins.
    With ``null_keeps``, a null changes nothing (as for Go's string fields)."""
    wanted = {name.casefold(): name for name in names}
    found: dict[str, Any] = {}
    for key, value in obj:
        folded = key.casefold()
        # Go folds character by character (U+017F matches "s"); a key that full case folding
        # lengthens (the ligature U+FB06 becomes "st") matches nothing.
        name = wanted.get(folded) if len(folded) == len(key) else None
        if name is not None and not (null_keeps and value is None):
            found[name] = value
    return found


def _record(
    index: int, raw: Any, problems: list[Problem], *, max_skew_seconds: int | None, now: int
) -> Record | None:
    before = len(problems)
    if raw is None:
        raw = ()
    if not isinstance(raw, tuple):
        problems.append(Problem(index, "", "must be a JSON object"))
        return None
    fields = _fold(raw, _ALL_FIELDS, null_keeps=True)
    values: dict[str, str] = {}
    for name in _FIELDS:
        value = fields.get(name)
        if value is None:
            problems.append(Problem(index, name, "is required"))
        elif not isinstance(value, str):
            problems.append(Problem(index, name, "must be a string"))
        else:
            values[name] = value
    checks = (
        ("Component", component_problem),
        ("Environment", environment_problem),
        ("State", state_problem),
    )
    for name, check in checks:
        if name in values and (message := check(values[name])) is not None:
            problems.append(Problem(index, name, message))
    nanos = None
    if "Timestamp" in values:
        try:
            nanos = timestamps.parse(values["Timestamp"])
        except ValueError as exc:
            problems.append(Problem(index, "Timestamp", str(exc)))
    if nanos is not None and max_skew_seconds is not None:
        ahead = future_problem(nanos, now=now, max_skew_seconds=max_skew_seconds)
        if ahead is not None:
            problems.append(Problem(index, "Timestamp", ahead))
    details = (
        _details(index, fields, problems) if any(name in fields for name in DETAIL_NAMES) else None
    )
    if nanos is None or len(problems) > before:
        return None
    return Record(
        component=values["Component"],
        environment=values["Environment"],
        state=values["State"],
        timestamp=timestamps.canonical(nanos),
        details=details,
    )


def _details(index: int, fields: dict[str, Any], problems: list[Problem]) -> Details | None:
    """The record's details; None when it has none (an empty string is none too)."""
    values: list[str | None] = []
    for name in DETAIL_NAMES:
        value = fields.get(name)
        if value is None or value == "":
            values.append(None)
        elif not isinstance(value, str):
            problems.append(Problem(index, name, "must be a string"))
            values.append(None)
        elif name == "CommitTimestamp":
            try:
                values.append(timestamps.canonical(timestamps.parse(value)))
            except ValueError as exc:
                problems.append(Problem(index, name, str(exc)))
                values.append(None)
        elif (message := detail_problem(name, value)) is not None:
            problems.append(Problem(index, name, message))
            values.append(None)
        else:
            values.append(value)
    return None if all(value is None for value in values) else Details(*values)


def decode_records(
    body: bytes, *, max_records: int, max_skew_seconds: int, now: int | None = None
) -> list[Record]:
    """The records of a ``POST /records`` body, all valid, or an error naming every problem.

    A record more than ``max_skew_seconds`` ahead of ``now`` (the server's clock, read once
    for the batch, in nanoseconds) is invalid."""
    if now is None:
        now = time.time_ns()
    document = _parse_json(body)
    if document is None:
        return []
    if not isinstance(document, tuple):
        raise InvalidRequest(_SHAPE)
    raw_records = _fold(document, ("Records",)).get("Records")
    if raw_records is None:
        return []
    if not isinstance(raw_records, list):
        raise InvalidRequest(f"Records must be an array; {_SHAPE}")
    if len(raw_records) > max_records:
        raise RequestTooLarge(
            f"{len(raw_records)} records in one request; the limit is {max_records}"
        )
    problems: list[Problem] = []
    records = [
        _record(index, raw, problems, max_skew_seconds=max_skew_seconds, now=now)
        for index, raw in enumerate(raw_records)
    ]
    if problems:
        raise InvalidRecords(problems)
    return [record for record in records if record is not None]


def decode_record(body: bytes) -> Record:
    """The record a body names: one JSON object with the fields of a ``POST /records``
    record, decoded as leniently; problems are reported as for record 0 of a batch.

    No bound on the future: a record that a bad clock dated years ahead must be nameable,
    to be removed."""
    document = _parse_json(body)
    if not isinstance(document, tuple):
        raise InvalidRequest(
            'the body must be one record, a JSON object like {"Component":"abc.def",'
            '"Environment":"prod-all","State":"Ok","Timestamp":"2024-07-30T14:06:41Z"}'
        )
    problems: list[Problem] = []
    record = _record(0, document, problems, max_skew_seconds=None, now=0)
    if record is None:
        raise InvalidRecords(problems)
    return record
