"""Response bodies, byte for byte as the reference's Go ``json.Marshal`` wrote them.

``{"Records":[{"Component":..,"Environment":..,"Timestamp":..,"State":..}]}``: compact,
keys in that order, strings escaped as Go escapes them (``<``, ``>``, ``&``, U+2028 and
U+2029 as ``\\u`` sequences, other non-ASCII as is).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from deploystatus.memo import Memo
from deploystatus.records import Record, Removal
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

    def _object(self, r: Record) -> str:
        string = self._string
        return (
            f'{{"Component":{string(r.component)},"Environment":{string(r.environment)},'
            f'"Timestamp":"{self.renderer.render(r.timestamp)}","State":{string(r.state)}}}'
        )

    def objects(self, records: Iterable[Record]) -> str:
        """The records as comma-separated JSON objects, without the surrounding array."""
        return ",".join(map(self._object, records))

    def body(self, records: Iterable[Record]) -> bytes:
        return f'{{"Records":[{self.objects(records)}]}}'.encode()

    def page_body(self, records: Iterable[Record], cursor: str | None) -> bytes:
        """`body`, with ``"NextCursor"`` after the records when there is one."""
        if cursor is None:
            return self.body(records)
        # A cursor is base64url and ".": nothing in it needs escaping.
        return f'{{"Records":[{self.objects(records)}],"NextCursor":"{cursor}"}}'.encode()

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
