"""Response bodies, byte for byte as the reference's Go ``json.Marshal`` wrote them.

``{"Records":[{"Component":..,"Environment":..,"Timestamp":..,"State":..}]}``: compact,
keys in that order, strings escaped as Go escapes them (``<``, ``>``, ``&``, U+2028 and
U+2029 as ``\\u`` sequences, other non-ASCII as is).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from deploystatus.facts import Deployable
from deploystatus.memo import Memo
from deploystatus.records import DETAIL_NAMES, Record, Removal
from deploystatus.timestamps import Renderer

GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
_STRINGS_LIMIT = 65_536
# Current states, one per deployable: room for 32,768 of them (190 bytes each).
_STATES_LIMIT = 32_768

EMPTY_BODY = b'{"Records":[]}'


def _go_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False).translate(GO_ESCAPES)


class RecordsEncoder:
    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        # Components, environments and states repeat endlessly: encode each once.
        self._string = Memo(_go_string, _STRINGS_LIMIT).get
        self._states = Memo(self._object, _STATES_LIMIT)
        self._deployables = Memo(self._deployable, _STATES_LIMIT)

    def _object(self, r: Record) -> str:
        string = self._string
        return (
            f'{{"Component":{string(r.component)},"Environment":{string(r.environment)},'
            f'"Timestamp":"{self.renderer.render(r.timestamp)}","State":{string(r.state)}}}'
        )

    def objects(self, records: Iterable[Record], *, detailed: bool = False) -> str:
        """The records as comma-separated JSON objects, without the surrounding array; with
        their details when ``detailed``."""
        return ",".join(map(self._detailed if detailed else self._object, records))

    def _details(self, r: Record) -> str:
        """``,"Version":..`` and the other details ``r`` has, in `DETAIL_NAMES` order."""
        if r.details is None:
            return ""
        string = self._string
        fields = []
        for name, value in zip(DETAIL_NAMES, r.details, strict=True):
            if value is not None:
                shown = f'"{self.renderer.render(value)}"' if name == "CommitTimestamp" else None
                fields.append(f',"{name}":{shown or string(value)}')
        return "".join(fields)

    def _detailed(self, r: Record) -> str:
        return self._object(r)[:-1] + self._details(r) + "}"

    def _deployable(self, d: Deployable) -> str:
        since = "null" if d.since is None else f'"{self.renderer.render(d.since)}"'
        success = d.last_success
        last = "null"
        if success is not None:
            last = (
                f'{{"Timestamp":"{self.renderer.render(success.timestamp)}",'
                f'"State":{self._string(success.state)}{self._details(success)}}}'
            )
        return (
            f'{self._detailed(d.current)[:-1]},"Class":"{d.kind}","Since":{since},'
            f'"Stuck":{"true" if d.stuck else "false"},"LastSuccess":{last}}}'
        )

    def deployables_body(self, deployables: Iterable[Deployable]) -> bytes:
        """``{"Records":[...]}`` of current states with their details and derived facts."""
        return f'{{"Records":[{",".join(map(self._deployables.get, deployables))}]}}'.encode()

    def deployable_body(self, deployable: Deployable) -> bytes:
        return self._deployable(deployable).encode()

    def body(self, records: Iterable[Record], *, detailed: bool = False) -> bytes:
        return f'{{"Records":[{self.objects(records, detailed=detailed)}]}}'.encode()

    def page_body(
        self, records: Iterable[Record], cursor: str | None, *, detailed: bool = False
    ) -> bytes:
        """`body`, with ``"NextCursor"`` after the records when there is one."""
        if cursor is None:
            return self.body(records, detailed=detailed)
        # A cursor is base64url and ".": nothing in it needs escaping.
        objects = self.objects(records, detailed=detailed)
        return f'{{"Records":[{objects}],"NextCursor":"{cursor}"}}'.encode()

    def removal_body(self, removal: Removal) -> bytes:
        """``{"Removed":{...},"WasCurrent":true,"Current":{...}}`` (``"Current":null`` when
        the deployable has no record left), records as in every other body."""
        current = "null" if removal.current is None else self._object(removal.current)
        was_current = "true" if removal.was_current else "false"
        return (
            f'{{"Removed":{self._object(removal.record)},"WasCurrent":{was_current},'
            f'"Current":{current}}}'
        ).encode()

    def states_body(self, records: Iterable[Record]) -> bytes:
        """`body` for current states: the same records come back read after read, so each
        one's JSON is kept (`Memo`) instead of being written again."""
        return f'{{"Records":[{",".join(map(self._states.get, records))}]}}'.encode()


def names_body(key: str, names: Iterable[str]) -> bytes:
    """``{key: [...]}``, the names sorted, each once."""
    # Names are restricted to [a-z0-9.-]: plain JSON strings.
    return json.dumps({key: sorted(set(names))}, separators=(",", ":")).encode()
