"""Opaque, tamper-evident pagination cursors.

A cursor carries the store's position to resume after and the query it belongs to (component,
environment, time range, order), as compact JSON, signed with HMAC-SHA256 and encoded as
base64url: ``<payload>.<signature>``. A cursor that is malformed, signed with another
secret, altered in any byte, or presented with a different query is refused as an
`InvalidRequest` (400).

The secret is ``DEPLOYSTATUS_CURSOR_SECRET``. Unset, each process draws a random one when
it starts: cursors then do not survive a restart and are not accepted by another worker
or replica, so set it wherever a client may page across processes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping

from deploystatus.config import Settings
from deploystatus.errors import InvalidRequest
from deploystatus.records import Position

VERSION = 1
MAX_LENGTH = 2048  # far above any real cursor (keys are at most ~1 KB)
_SIGNATURE_BYTES = 16  # HMAC-SHA256 truncated to 128 bits
# Drawn once per process: the documented fallback when no secret is configured.
_PROCESS_SECRET = secrets.token_bytes(32)

Scope = Mapping[str, str | None]


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict: a character outside the base64url alphabet is an error, never skipped, and so
    is any spelling but the one `_b64encode` gives (a changed unused bit of the last
    character would otherwise decode to the same bytes)."""
    data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    if _b64encode(data) != text:
        raise ValueError("not the canonical base64url spelling")
    return data


class CursorCodec:
    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret if secret else _PROCESS_SECRET

    @classmethod
    def from_settings(cls, settings: Settings) -> CursorCodec:
        secret = settings.cursor_secret
        return cls(secret.get_secret_value().encode() if secret is not None else None)

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]

    def encode(self, scope: Scope, position: Position) -> str:
        payload = json.dumps(
            {"v": VERSION, "q": dict(scope), "k": position}, separators=(",", ":"), sort_keys=True
        ).encode()
        return f"{_b64encode(payload)}.{_b64encode(self._sign(payload))}"

    def decode(self, cursor: str, scope: Scope) -> Position:
        """The position ``cursor`` resumes after, if it is genuine and was made for ``scope``."""
        if len(cursor) > MAX_LENGTH:
            raise InvalidRequest("cursor is not valid: too long; use NextCursor as given")
        encoded_payload, dot, encoded_signature = cursor.partition(".")
        try:
            if not dot or not encoded_payload.isascii() or not encoded_signature.isascii():
                raise ValueError("not two base64url parts")
            payload = _b64decode(encoded_payload)
            signature = _b64decode(encoded_signature)
        except (ValueError, binascii.Error) as exc:
            raise InvalidRequest(
                "cursor is not valid: it is not a cursor this service made; "
                "use NextCursor exactly as given"
            ) from exc
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidRequest(
                "cursor is not valid: altered, or made by a service with another "
                "DEPLOYSTATUS_CURSOR_SECRET (or before a restart); start again without it"
            )
        try:
            document = json.loads(payload)
        except ValueError:
            document = None
        if not isinstance(document, dict) or document.get("v") != VERSION:
            raise InvalidRequest("cursor is not valid: made by another version; start again")
        if document.get("q") != dict(scope):
            raise InvalidRequest(
                "cursor belongs to a different query: give the same component, environment, "
                "since, until and order as the request that returned it"
            )
        position = document.get("k")
        if not isinstance(position, dict):  # the store checks what is inside
            raise InvalidRequest("cursor is not valid: it holds no position")
        return position
