"""Webhook subscriptions: where a subscriber wants events delivered, which, in what format.

A subscription's deliveries go out in the log's order, at most a window at a time: its
cursor names the last event delivered, and advances only past deliveries that succeeded
(docs/design.md, "Webhooks"). The secret signs every delivery; it is shown once, when the
subscription is created, and never again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .events import EventFilter

FORMATS = ("json", "slack")


def new_id() -> str:
    return "wh_" + secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    url: str
    format: str
    wanted: EventFilter
    secret: str
    created_ns: int
    paused: bool = False
    reason: str | None = None  # why it is paused, when the service paused it


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a subscription's deliveries stand, and who delivers them now.

    ``position``: the last event delivered (None: none yet; start at ``created_ns``).
    ``owner`` holds the lease until ``lease_until_ns``; another process takes the
    subscription over once it lapses. While the next delivery fails, ``failing_since_ns``
    and ``attempts`` count it, and ``next_ns`` says when to try again."""

    position: str | None
    owner: str | None = None
    lease_until_ns: int = 0
    attempts: int = 0
    failing_since_ns: int | None = None
    next_ns: int = 0
    last_error: str | None = None
    revision: int = 0
    paused: bool = False  # as the subscription: its holder stops at its next read


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt, as the delivery log keeps it."""

    at_ns: int
    event_id: str
    position: str
    attempt: int
    status: int | None
    latency_ms: float
    error: str | None
    owner: str
