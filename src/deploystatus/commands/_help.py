"""What every command's ``--help`` ends with."""

from __future__ import annotations


def examples(text: str) -> str:
    """A help epilog of examples, one a paragraph so that each keeps its own line."""
    return "[bold]Examples[/]\n\n" + "\n".join(
        f"  {line}" if line else "" for line in text.splitlines()
    )
