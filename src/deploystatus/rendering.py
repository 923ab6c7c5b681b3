"""Response bodies, byte for byte as the reference's Go ``json.Marshal`` wrote them.

``{"Records":[{"Component":..,"Environment":..,"Timestamp":..,"State":..}]}``: compact,
keys in that order, strings escaped as Go escapes them (``<``, ``>``, ``&``, U+2028 and
U+2029 as ``\\u`` sequences, other non-ASCII as is).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from .records import Record
from .timestamps import Renderer

GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
_CACHE_LIMIT = 65_536

EMPTY_BODY = b'{"Records":[]}'


class RecordsEncoder:
    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        # Components, environments and states repeat endlessly: encode each once.
        self._strings: dict[str, str] = {}

    def _string(self, value: str) -> str:
        encoded = self._strings.get(value)
        if encoded is None:
            encoded = json.dumps(value, ensure_ascii=False).translate(GO_ESCAPES)
            if len(self._strings) >= _CACHE_LIMIT:
                self._strings.clear()
            self._strings[value] = encoded
        return encoded

    def objects(self, records: Iterable[Record]) -> str:
        """The records as comma-separated JSON objects, without the surrounding array."""
        string = self._string
        render = self.renderer.render
        return ",".join(
            f'{{"Component":{string(r.component)},"Environment":{string(r.environment)},'
            f'"Timestamp":"{render(r.timestamp)}","State":{string(r.state)}}}'
            for r in records
        )

    def body(self, records: Iterable[Record]) -> bytes:
        return f'{{"Records":[{self.objects(records)}]}}'.encode()
