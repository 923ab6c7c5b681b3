"""Bearer-token authentication, as pure ASGI middleware in front of the routes.

Which scope a request needs is decided by :func:`required_scope` from the method and the
path alone, before routing, so that a route added later is covered by default: GET and
HEAD need ``read``, every other method ``write``; only the health checks are open,
``/metrics`` has a scope of its own, and every path under ``/admin/`` needs ``admin``,
whatever the method. The presented token is hashed and compared with every
configured hash in constant time.

Browsers cannot send a bearer header by themselves, so the board's pages and the API reads
they make also accept the token from the ``deploystatus_token`` cookie that the board's
sign-in page sets, for GET and HEAD only: a cookie never authorizes a write, so a page on
another site cannot make a browser post records. A browser page without a token is
redirected to the sign-in page instead of getting a JSON 401.
"""

from __future__ import annotations

import hmac
import urllib.parse
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from deploystatus.tokens import ADMIN, METRICS, READ, WRITE, ApiToken, hash_token

from .problems import Answer

SIGN_IN_PATH = "/ui/sign-in"
SESSION_COOKIE = "deploystatus_token"
# The health checks, and what the sign-in page needs before anyone is signed in.
OPEN_PATHS = frozenset({"/healthz", "/readyz", SIGN_IN_PATH, "/ui/sign-out"})
OPEN_PREFIXES = ("/ui/static/",)
SCOPED_PATHS = {"/metrics": METRICS}
ADMIN_PREFIX = "/admin/"  # every method of every path under it needs ``admin``
READ_METHODS = frozenset({"GET", "HEAD"})
# Where the middleware leaves the name of the token that authenticated the request.
TOKEN_NAME_KEY = "deploystatus.token"

_CHALLENGE = 'Bearer realm="deploystatus"'


def required_scope(method: str, path: str) -> str | None:
    """The scope a request needs, or None for the open paths."""
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return None
    scope = SCOPED_PATHS.get(path)
    if scope is not None:
        return scope
    if path.startswith(ADMIN_PREFIX) or path == ADMIN_PREFIX.rstrip("/"):
        return ADMIN
    return READ if method in READ_METHODS else WRITE


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def _cookie_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, token = part.strip().partition("=")
                if key == SESSION_COOKIE and token:
                    return urllib.parse.unquote(token)
    return None


def is_browser_page(path: str) -> bool:
    """A page people open (sent to sign in), not data its script reads (answered 401)."""
    return path == "/" or (path.startswith("/ui/") and not path.endswith(".json"))


def authenticate(tokens: Sequence[ApiToken], presented: str) -> ApiToken | None:
    """The configured token ``presented`` is, compared with all of them in constant time."""
    digest = hash_token(presented)
    found = None
    for candidate in tokens:  # all of them, whichever matches
        if hmac.compare_digest(digest, candidate.sha256):
            found = candidate
    return found


# The refusals are always the same bytes: built once.
_MISSING = Answer.of(
    401,
    "unauthorized",
    "a bearer token is required: send 'Authorization: Bearer <token>'",
    www_authenticate=_CHALLENGE,
)
_INVALID = Answer.of(
    401,
    "unauthorized",
    "the bearer token is not valid",
    www_authenticate=f'{_CHALLENGE}, error="invalid_token"',
)
_LACKING = {
    scope: Answer.of(
        403,
        "forbidden",
        f"the bearer token lacks the '{scope}' scope this request needs",
        www_authenticate=f'{_CHALLENGE}, error="insufficient_scope", scope="{scope}"',
    )
    for scope in (READ, WRITE, METRICS, ADMIN)
}


class BearerAuth:
    """Refuses requests without a token that has the scope they need (401, 403)."""

    def __init__(self, app: ASGIApp, tokens: Sequence[ApiToken]) -> None:
        self.app = app
        self.tokens = tuple(tokens)

    def _authenticate(self, token: str) -> ApiToken | None:
        return authenticate(self.tokens, token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        needed = required_scope(scope["method"], scope["path"])
        if needed is None:
            await self.app(scope, receive, send)
            return
        presented = _bearer_token(scope)
        if presented is None and scope["method"] in READ_METHODS:
            presented = _cookie_token(scope)
        token = None if presented is None else self._authenticate(presented)
        if token is not None and needed in token.scopes:
            scope[TOKEN_NAME_KEY] = token.name
            await self.app(scope, receive, send)
            return
        if scope["method"] in READ_METHODS and is_browser_page(scope["path"]):
            await _redirect_to_sign_in(scope, send)  # a person: show the sign-in page
            return
        if token is not None:
            scope[TOKEN_NAME_KEY] = token.name
            refusal = _LACKING[needed]
        else:
            refusal = _MISSING if presented is None else _INVALID
        status, headers, body = refusal
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _redirect_to_sign_in(scope: Scope, send: Send) -> None:
    page = scope["path"] + (
        "?" + scope["query_string"].decode("latin-1") if scope["query_string"] else ""
    )
    root: str = scope.get("root_path", "")
    location = f"{root}{SIGN_IN_PATH}?{urllib.parse.urlencode({'next': page})}"
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})
