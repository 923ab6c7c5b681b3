"""A state written so that its string order is code-point order on every engine.

DynamoDB compares strings by their UTF-8 bytes, dynalite by UTF-16 code units, Python by
code points. The three agree below U+D800 and disagree above it (UTF-16 puts the surrogates
of U+10000 and up below U+E000-U+FFFF). So each character from U+D7FF up is written as
U+D7FF and six upper-case hex digits of its code point: every character of the result is
below U+D800 (or an ASCII digit or letter), and comparing two results compares the states
by code point, on every engine. Most states are ASCII and stay as they are.
"""

from __future__ import annotations

import re

_MARK = "\ud7ff"
_ESCAPED = re.compile("\ud7ff([0-9A-F]{6})")


def ordered(state: str) -> str:
    if not state or max(state) < _MARK:
        return state
    return "".join(c if c < _MARK else f"{_MARK}{ord(c):06X}" for c in state)


def unordered(text: str) -> str:
    """The state `ordered` wrote as ``text``."""
    if _MARK not in text:
        return text
    return _ESCAPED.sub(lambda found: chr(int(found.group(1), 16)), text)
