"""AWS Signature Version 4 for DynamoDB's JSON API: the headers of one signed ``POST /``.

Only what the service's calls need: every call is a ``POST`` of a JSON body to the
endpoint's path (``/``) with no query string. The derived signing key depends only on the
secret, the day, the region and the service, so it is computed once a day instead of with
four HMACs per call; the ``X-Amz-Date`` value is formatted once a second.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

SERVICE = "dynamodb"
CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET_PREFIX = "DynamoDB_20120810."
ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True, slots=True)
class Key:
    """AWS credentials: access key id, secret, and the session token of temporary ones."""

    id: str
    secret: str
    token: str | None = None


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signing_key(secret: str, day: str, region: str) -> bytes:
    """The key derived for one day (``YYYYMMDD``), region and DynamoDB."""
    key = _hmac(("AWS4" + secret).encode(), day)
    return _hmac(_hmac(_hmac(key, region), SERVICE), "aws4_request")


class Signer:
    """Signs calls to one endpoint (``host`` as sent in the ``Host`` header, ``path``) in
    one region."""

    def __init__(
        self, host: str, region: str, path: str = "/", clock: Callable[[], float] = time.time
    ) -> None:
        self.host = host
        self.region = region
        self.path = path
        self._clock = clock
        self._second = -1
        self._amz_date = ""
        self._key_for: tuple[str, str] = ("", "")  # (secret, day) of the cached key
        self._key = b""

    def _now(self) -> str:
        second = int(self._clock())
        if second != self._second:
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
            self._second = second
        return self._amz_date

    def headers(self, key: Key, action: str, body: bytes) -> list[tuple[str, str]]:
        """The signed headers of a call of ``action`` with ``body`` (``Host`` included)."""
        amz_date = self._now()
        day = amz_date[:8]
        if self._key_for != (key.secret, day):
            self._key = signing_key(key.secret, day, self.region)
            self._key_for = (key.secret, day)
        target = TARGET_PREFIX + action
        # Canonical headers are sorted by name: the token's comes before the target's.
        token = f"x-amz-security-token:{key.token}\n" if key.token else ""
        canonical_headers = (
            f"content-type:{CONTENT_TYPE}\nhost:{self.host}\n"
            f"x-amz-date:{amz_date}\n{token}x-amz-target:{target}\n"
        )
        signed = (
            "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
            if key.token
            else "content-type;host;x-amz-date;x-amz-target"
        )
        payload_hash = hashlib.sha256(body).hexdigest()
        canonical_request = f"POST\n{self.path}\n\n{canonical_headers}\n{signed}\n{payload_hash}"
        scope = f"{day}/{self.region}/{SERVICE}/aws4_request"
        string_to_sign = (
            f"{ALGORITHM}\n{amz_date}\n{scope}\n"
            f"{hashlib.sha256(canonical_request.encode()).hexdigest()}"
        )
        signature = hmac.new(self._key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        headers = [
            ("Host", self.host),
            ("Content-Type", CONTENT_TYPE),
            ("X-Amz-Date", amz_date),
            ("X-Amz-Target", target),
            (
                "Authorization",
                f"{ALGORITHM} Credential={key.id}/{scope}, "
                f"SignedHeaders={signed}, Signature={signature}",
            ),
        ]
        if key.token:
            headers.append(("X-Amz-Security-Token", key.token))
        return headers
