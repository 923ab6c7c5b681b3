"""The bodies a webhook delivers: the service's JSON form of an event, or a Slack message."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from deploystatus.events import Event, document
from deploystatus.records import Record
from deploystatus.states import Classifier, StateClass
from deploystatus.timestamps import canonical

FORMATS = ("json", "slack")

_EMOJI: dict[StateClass, str] = {
    "failed": ":red_circle:",
    "success": ":large_green_circle:",
    "in-progress": ":hourglass_flowing_sand:",
    "other": ":white_circle:",
}
_SECTION_MAX = 3000  # Slack refuses a section whose text is longer


def json_body(event: Event, classify: Classifier) -> bytes:
    return json.dumps(document(event, classify), separators=(",", ":"), ensure_ascii=False).encode()


def _escape(value: str) -> str:
    """Slack's escaping for message text: without it a value could link or mention
    (``<!channel>``, ``<@U123>``); values come from whoever posts records."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _state(record: Record, classify: Classifier) -> str:
    return f"{_escape(record.state)} ({classify(record.state)})"


def _run_link(link: str | None) -> str | None:
    """``<url|run>`` for an http(s) link; any other scheme (``javascript:``...) is dropped."""
    if link is None:
        return None
    try:
        scheme = urlsplit(link).scheme.lower()
    except ValueError:  # e.g. an unclosed [IPv6 host
        return None
    if scheme not in ("http", "https"):
        return None
    # "|" would end the URL inside Slack's <url|text>, a space the whole link.
    return f"<{_escape(link.replace('|', '%7C').replace(' ', '%20'))}|run>"


def _line(event: Event, classify: Classifier, *, with_link: bool) -> str:
    record = event.record
    previous = event.previous
    change = (
        f"first record: {_state(record, classify)}"
        if previous is None
        else f"{_state(previous, classify)} → {_state(record, classify)}"
    )
    parts = [
        f"{_EMOJI[classify(record.state)]} *{_escape(record.component)}* "
        f"in *{_escape(record.environment)}*: {change}"
    ]
    details = record.details
    if details is not None and details.version is not None:
        parts.append(f"version {_escape(details.version)}")
    link = None if details is None or not with_link else _run_link(details.link)
    if link is not None:
        parts.append(link)
    return ", ".join(parts)


def slack_body(event: Event, classify: Classifier) -> bytes:
    """A Slack incoming-webhook message: one line (the notification's text too) and the
    acceptance time and event id beneath it."""
    line = _line(event, classify, with_link=True)
    if len(line) > _SECTION_MAX:  # only a very long link can make it so
        line = _line(event, classify, with_link=False)
    message: dict[str, Any] = {
        "text": line,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": line}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"accepted {canonical(event.accepted_ns)} · event {event.id}",
                    }
                ],
            },
        ],
    }
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def body(fmt: str, event: Event, classify: Classifier) -> bytes:
    """The body of a delivery in format ``fmt`` (one of `FORMATS`)."""
    if fmt == "json":
        return json_body(event, classify)
    if fmt == "slack":
        return slack_body(event, classify)
    raise ValueError(f"unknown webhook format {fmt!r}: use one of {', '.join(FORMATS)}")
