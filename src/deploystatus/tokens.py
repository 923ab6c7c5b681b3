"""API tokens: their configuration format and their hashes (`commands/tokens.py` makes new ones).

The server never holds a token, only its SHA-256: ``DEPLOYSTATUS_TOKENS`` lists entries
``NAME:SHA256:SCOPE[,SCOPE...]`` separated by ``;`` or whitespace, e.g.

    DEPLOYSTATUS_TOKENS="ci-deployer:3f0c...9a1b:write;dashboard:77d2...04ce:read"

Scopes: ``read`` (GET and HEAD), ``write`` (other methods), ``metrics`` (``/metrics``) and
``admin`` (the routes under ``/admin/``, whatever the method). None implies another.

A token is 256 random bits, so a plain (fast, unsalted) hash is enough: no dictionary or
brute-force attack on a leaked hash can find it, and the hash alone authenticates nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

READ = "read"
WRITE = "write"
METRICS = "metrics"
ADMIN = "admin"  # the routes under /admin/: removing a record from history
SCOPES = (READ, WRITE, METRICS, ADMIN)
TOKEN_PREFIX = "ds_"  # so that a token is recognisable (in a diff, by a secret scanner)

NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_SEPARATORS = re.compile(r"[;\s]+")


class TokenConfigError(ValueError):
    """``DEPLOYSTATUS_TOKENS`` is not valid; the message says where and why, never a secret."""


@dataclass(frozen=True)
class ApiToken:
    """One configured token: who holds it, the SHA-256 of the token, what it may do."""

    name: str
    sha256: bytes
    scopes: frozenset[str]

    def entry(self) -> str:
        """The ``DEPLOYSTATUS_TOKENS`` entry for this token."""
        scopes = ",".join(scope for scope in SCOPES if scope in self.scopes)
        return f"{self.name}:{self.sha256.hex()}:{scopes}"


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _parse_entry(number: int, entry: str) -> ApiToken:
    parts = entry.split(":")
    if len(parts) != 3:
        # Say only how many fields: the entry may hold a pasted token.
        raise TokenConfigError(
            f"DEPLOYSTATUS_TOKENS entry {number} has {len(parts)} ':'-separated fields; "
            "each entry is NAME:SHA256:SCOPES (as `deploystatus token create` prints)"
        )
    name, digest, scope_list = parts
    where = f"DEPLOYSTATUS_TOKENS entry {number}"
    if not NAME_RULE.fullmatch(name):
        raise TokenConfigError(
            f"{where}: the name must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    where = f"{where} ({name})"
    if not _SHA256_HEX.fullmatch(digest):
        hint = (
            " (this looks like a token: configure its hash, never the token itself)"
            if digest.startswith(TOKEN_PREFIX)
            else ""
        )
        raise TokenConfigError(
            f"{where}: the hash must be the token's SHA-256 as 64 hex digits{hint}"
        )
    scopes = frozenset(scope_list.split(","))
    unknown = sorted(scopes - set(SCOPES))
    if unknown or not scope_list:
        raise TokenConfigError(
            f"{where}: unknown scope {', '.join(map(repr, unknown or ['']))}; "
            f"scopes are {', '.join(SCOPES)}, separated by ','"
        )
    return ApiToken(name=name, sha256=bytes.fromhex(digest), scopes=scopes)


def parse_tokens(text: str) -> tuple[ApiToken, ...]:
    """The tokens of a ``DEPLOYSTATUS_TOKENS`` value (empty: no tokens, authentication off)."""
    tokens: list[ApiToken] = []
    names: set[str] = set()
    hashes: set[bytes] = set()
    for number, entry in enumerate(filter(None, _SEPARATORS.split(text)), start=1):
        token = _parse_entry(number, entry)
        if token.name in names:
            raise TokenConfigError(f"DEPLOYSTATUS_TOKENS: the name {token.name} is used twice")
        if token.sha256 in hashes:
            raise TokenConfigError(
                f"DEPLOYSTATUS_TOKENS entry {number} ({token.name}): "
                "the same hash is configured twice"
            )
        names.add(token.name)
        hashes.add(token.sha256)
        tokens.append(token)
    return tuple(tokens)
