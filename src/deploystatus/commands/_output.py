"""How the client commands print records: ``table`` for people, ``tsv`` and ``json`` for
programs.

A table is aligned columns under a header, the same text on a terminal and in a pipe (so
what a person sees is what ``grep`` and ``awk`` get), coloured by state class only on a
terminal. No box drawing: a table's lines are records.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deploystatus import timestamps
from deploystatus.states import state_class

Output = Literal["table", "json", "tsv"]
Column = tuple[str, Callable[[dict[str, Any]], str]]

_STYLES = {"success": "green", "failed": "bold red", "in-progress": "yellow", "other": ""}
# Characters that move or hide text on a terminal (bidi embeddings, overrides and isolates,
# zero-width ones): shown as escapes in tables, so a state reads as what it is.
_INVISIBLE = str.maketrans(
    {
        code: f"\\u{code:04x}"
        for code in (
            0x061C,
            *range(0x200B, 0x2010),
            *range(0x202A, 0x202F),
            *range(0x2060, 0x2065),
            *range(0x2066, 0x206A),
            0xFEFF,
        )
    }
)
# In a TSV field, what would end the field or the line is written as its escape.
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def visible(text: str) -> str:
    return text.translate(_INVISIBLE)


def shortened(text: str, cells: int) -> str:
    """``text`` in at most ``cells`` terminal columns, ending in an ellipsis when cut; what
    is invisible is escaped first, so that the escapes are counted (a wide character counts
    two)."""
    text = visible(text)
    if cell_len(text) <= cells:
        return text
    return set_cell_size(text, cells - 1).rstrip(" ") + "…"


def age(timestamp: str, now_ns: int | None = None) -> str:
    """How long ago, in the largest unit that is whole: ``45s``, ``12m``, ``3h``, ``5d``,
    ``2y``; ``now`` for an instant up to the clock-skew bound ahead."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    seconds = (now_ns - timestamps.parse(timestamp)) // 1_000_000_000
    if seconds < 0:
        return "now"
    for unit, size in (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def field(name: str) -> Callable[[dict[str, Any]], str]:
    return lambda record: str(record[name])


def console() -> Console:
    """stdout; on a terminal, as wide as it is and in colour; in a pipe, no colour and no
    width limit, so that a line is never cut or wrapped."""
    if sys.stdout.isatty():
        return Console(highlight=False)
    return Console(highlight=False, color_system=None, width=100_000)


def records_table(records: Sequence[dict[str, Any]], columns: Sequence[Column]) -> Table:
    table = Table(
        box=None, show_edge=False, pad_edge=False, header_style="bold", padding=(0, 2, 0, 0)
    )
    for title, _ in columns:
        # The state is the column people read: it folds rather than being cut.
        table.add_column(title, no_wrap=title != "STATE", overflow="fold")
    for record in records:
        cells = []
        for title, value in columns:
            text = escape(visible(value(record)))
            if title == "STATE":
                style = _STYLES[state_class(str(record["State"]))]
                text = f"[{style}]{text}[/]" if style else text
            cells.append(text)
        table.add_row(*cells)
    return table


def print_records(
    records: Sequence[dict[str, Any]],
    output: Output,
    body: bytes,
    *,
    table: Sequence[Column],
    tsv: Sequence[Column],
) -> None:
    """``body`` is the API's answer, printed as it is for ``json``; ``table`` and ``tsv`` are
    the columns of those formats (a table shows an age where TSV has the exact instant)."""
    if output == "json":
        sys.stdout.write(body.decode() + "\n")
    elif output == "tsv":
        lines = ["\t".join(title.lower() for title, _ in tsv)]
        lines += [
            "\t".join(value(record).translate(_TSV_ESCAPES) for _, value in tsv)
            for record in records
        ]
        sys.stdout.write("\n".join(lines) + "\n")
    elif records:
        out = console()
        with out.capture() as captured:
            out.print(records_table(records, table))
        # A table's cells are padded: no line ends in blanks.
        sys.stdout.write("\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n")
