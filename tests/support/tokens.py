"""API tokens for tests: one per combination of scopes, configured through the real
``DEPLOYSTATUS_TOKENS`` entry format, and the header that presents one."""

from __future__ import annotations

import hashlib

from deploystatus.tokens import new_token

# What a 401 says in WWW-Authenticate (web/auth.py).
CHALLENGE = 'Bearer realm="deploystatus"'


def entry(name: str, token: str, scopes: str) -> str:
    """A ``DEPLOYSTATUS_TOKENS`` entry for ``token``: ``NAME:SHA256:SCOPES``."""
    return f"{name}:{hashlib.sha256(token.encode()).hexdigest()}:{scopes}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Tokens:
    """Fresh tokens named reader, writer, scraper (metrics), both (read, write) and keeper
    (admin); ``setting`` configures all of them."""

    def __init__(self) -> None:
        self.read, self.write, self.metrics, self.both, self.admin = (new_token() for _ in range(5))
        self.setting = ";".join(
            [
                entry("reader", self.read, "read"),
                entry("writer", self.write, "write"),
                entry("scraper", self.metrics, "metrics"),
                entry("both", self.both, "read,write"),
                entry("keeper", self.admin, "admin"),
            ]
        )
