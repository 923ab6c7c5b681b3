"""Signing webhook deliveries, and checking a signature as a receiver does.

A delivery carries three headers: the event's id, the time of signing and an HMAC-SHA256
of ``f"{timestamp}." + body`` under the subscription's secret. The timestamp is inside the
MAC so that a receiver can refuse a captured delivery replayed outside a short window; the
event id lets a receiver drop the duplicates that retries deliver (the same event is
delivered at least once, so the id repeats, while the timestamp and signature change).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

EVENT_ID_HEADER = "Deploystatus-Event-Id"
TIMESTAMP_HEADER = "Deploystatus-Timestamp"
SIGNATURE_HEADER = "Deploystatus-Signature"
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh subscription secret: ``whsec_`` and 256 random bits, URL-safe base64."""
    return SECRET_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def _digest(secret: str, timestamp: int | str, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_headers(
    secret: str, event_id: str, body: bytes, *, now: int | None = None
) -> dict[str, str]:
    """The headers that sign one delivery of ``body``; sign again for each attempt, so that a
    retry carries a fresh timestamp."""
    timestamp = int(time.time()) if now is None else now
    return {
        EVENT_ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"v1={_digest(secret, timestamp, body)}",
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_seconds: int = 300,
    now: int | None = None,
) -> bool:
    """Whether a delivery is authentic and recent, as a receiver checks it.

    The timestamp must be within ``tolerance_seconds`` of ``now`` either way (a replay older
    than that fails even with a valid MAC). The signature header may hold several
    space-separated ``v1=`` values, one per secret while a secret is being rotated; one match
    is enough. Header names are matched ignoring case.
    """
    folded = {name.lower(): value for name, value in headers.items()}
    timestamp = folded.get(TIMESTAMP_HEADER.lower(), "")
    signatures = folded.get(SIGNATURE_HEADER.lower(), "")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    current = int(time.time()) if now is None else now
    if abs(current - int(timestamp)) > tolerance_seconds:
        return False
    expected = _digest(secret, timestamp, body).encode()
    found = False
    for part in signatures.split():
        scheme, _, value = part.partition("=")
        # Every candidate is compared, so the time taken does not say which one matched.
        if scheme == "v1" and hmac.compare_digest(expected, value.encode("utf-8", "replace")):
            found = True
    return found
