"""What the board's pages share to show records: the templates (``templates/``), the
classes' icons, ages, shortened versions and safe links. No HTTP here. The matrix is built in
matrix.py, a component's page in component.py."""

from __future__ import annotations

import json
from functools import cache, lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from deploystatus import timestamps
from deploystatus.states import Classifier, Rules, StateClass

_NS = 1_000_000_000
ICONS: dict[StateClass, str] = {
    "success": "\u2714",  # heavy check mark
    "failed": "\u2716",  # heavy multiplication x
    "in-progress": "\u25d4",  # circle with upper right quadrant black
    "other": "\u25c6",  # black diamond
}
KIND_ORDER: tuple[StateClass, ...] = ("failed", "in-progress", "other", "success")

_templates = Environment(
    loader=PackageLoader("deploystatus.board", "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template: str, **context: Any) -> str:
    return _templates.get_template(template).render(**context)


@cache
def classifier(rules: Rules) -> Classifier:
    """One classifier per set of rules (building one compiles its keywords)."""
    return Classifier(rules)


def ago(seconds: float) -> str:
    """``42 s ago``, ``3 min ago``, ``5 h ago``, ``2 d ago`` (``in 3 min`` if in the future);
    board.js computes the same text in the browser."""
    future = seconds < 0
    s = int(abs(seconds))
    if s < 60:
        text = f"{s} s"
    elif s < 3600:
        text = f"{s // 60} min"
    elif s < 2 * 86_400:
        text = f"{s // 3600} h"
    else:
        text = f"{s // 86_400} d"
    return f"in {text}" if future else f"{text} ago"


@lru_cache(maxsize=4096)
def _day_start(date: str) -> int:
    """Seconds since the epoch of ``YYYY-MM-DD``'s midnight UTC (cells share few dates)."""
    return timestamps.days_from_civil(int(date[0:4]), int(date[5:7]), int(date[8:10])) * 86_400


def age(stored: str, now_ns: int) -> str:
    """The age of a canonical timestamp: `ago` of `timestamps.from_canonical`, faster."""
    seconds = (
        _day_start(stored[:10])
        + int(stored[11:13]) * 3600
        + int(stored[14:16]) * 60
        + int(stored[17:19])
    )
    return ago((now_ns - seconds * _NS - int(stored[20:29])) / _NS)


def script_json(value: object) -> Markup:
    """JSON safe inside a ``<script>`` element."""
    text = json.dumps(value, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def short_version(version: str) -> str:
    """A version as a cell shows it (the full text on hover): a commit SHA as its first 7
    characters, anything longer than 12 characters cut to 11 and an ellipsis."""
    if len(version) >= 12 and all(c in "0123456789abcdef" for c in version.lower()):
        return version[:7]
    return version if len(version) <= 12 else version[:11] + "\u2026"


def run_link(link: str | None) -> str | None:
    """``link`` when it is an absolute http(s) URL (writes refuse anything else; read
    tables may hold older items), else None: the board links to nothing else."""
    if link and link.lower().startswith(("https://", "http://")) and " " not in link:
        return link
    return None


def macros(template: str, **context: Any) -> Any:
    """A template's macros, to call one at a time (``macros("matrix.html", ...).row(r)``)."""
    return _templates.get_template(template).make_module(context)
