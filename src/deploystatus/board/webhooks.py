"""``GET /ui/webhooks``: every webhook, its state and its latest delivery attempts, for
anyone who may read the board. A target shows only as scheme and host: the rest of a URL
can be a credential (a Slack incoming webhook's path is its key), and the board keeps
read-only tokens. ``/admin/webhooks`` (admin) has everything but the secret."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deploystatus import timestamps
from deploystatus.errors import DeployStatusError
from deploystatus.subscriptions import Cursor, Delivery, Subscription
from deploystatus.web.state import state_of

from ._respond import error_page, html, page_context
from .views import render

router = APIRouter()
DELIVERIES = 20  # attempts shown per webhook
HEADING = "Webhooks"


def _moment(nanos: int | None) -> str | None:
    return None if nanos is None else timestamps.canonical(nanos)[:19].replace("T", " ") + " UTC"


def _row(
    subscription: Subscription, cursor: Cursor | None, log: list[Delivery]
) -> dict[str, object]:
    target = urlsplit(subscription.url)
    wanted = subscription.wanted
    filters = [
        *([f"component {wanted.component_prefix}*"] if wanted.component_prefix else []),
        *([f"in {', '.join(sorted(wanted.environments))}"] if wanted.environments else []),
        *([f"class {', '.join(sorted(wanted.classes))}"] if wanted.classes else []),
    ]
    failing = cursor is not None and cursor.failing_since_ns is not None
    return {
        "id": subscription.id,
        "target": f"{target.scheme}://{target.netloc.rpartition('@')[2]}",
        "format": subscription.format,
        "filters": "; ".join(filters) or "every event",
        "paused": subscription.paused,
        "reason": subscription.reason,
        "failing_since": _moment(cursor.failing_since_ns) if failing and cursor else None,
        "attempts": cursor.attempts if cursor else 0,
        "error": cursor.last_error if failing and cursor else None,
        "deliveries": [
            {
                "at": _moment(d.at_ns),
                "event": d.event_id[:12],
                "attempt": d.attempt,
                "status": d.status,
                "ok": d.status is not None and 200 <= d.status < 300,
                "latency": f"{d.latency_ms:.0f} ms",
                "error": d.error,
            }
            for d in log
        ],
    }


@router.api_route("/ui/webhooks", methods=["GET", "HEAD"], include_in_schema=False)
async def webhooks_page(request: Request) -> Response:
    state = state_of(request)
    try:
        hooks = state.hooks
        subscriptions = sorted(await hooks.subscriptions(), key=lambda s: s.created_ns)
        cursors = await asyncio.gather(*(hooks.cursor(s.id) for s in subscriptions))
        logs = await asyncio.gather(*(hooks.deliveries(s.id, DELIVERIES) for s in subscriptions))
    except DeployStatusError as exc:
        return error_page(request, exc, HEADING)
    rows = [_row(s, c, log) for s, c, log in zip(subscriptions, cursors, logs, strict=True)]
    page = render("webhooks.html", **page_context(request, HEADING), webhooks=rows)
    return html(request, page)
