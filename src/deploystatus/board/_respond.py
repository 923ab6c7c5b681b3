"""What the board's pages share: HTML answers, the static files, the context every
template gets, and the error page."""

from __future__ import annotations

import gzip
import hashlib
import logging
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from deploystatus.errors import DeployStatusError
from deploystatus.states import LABELS
from deploystatus.web.auth import SESSION_COOKIE
from deploystatus.web.problems import status_of

from .views import ICONS, KIND_ORDER, render

logger = logging.getLogger("deploystatus")

HTML = "text/html; charset=utf-8"
_GZIP_MIN_BYTES = 1400
_STATIC = Path(__file__).resolve().parent / "static"
# Pages load only this site's scripts and stylesheet (no inline script or style), post only
# to it, and are never framed.
_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
STATIC_FILES = {
    "board.js": "text/javascript; charset=utf-8",
    "component.js": "text/javascript; charset=utf-8",
    "board.css": "text/css",
}


@cache
def static_file(name: str) -> tuple[bytes, str]:
    """A static file's bytes and a short hash of them, for cache-busting URLs."""
    data = (_STATIC / name).read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:12]


def static_url(base: str, name: str) -> str:
    return f"{base}/ui/static/{name}?v={static_file(name)[1]}"


def html(request: Request, body: str, status: int = 200) -> Response:
    """The page, gzipped when the client takes it."""
    headers = {
        "Content-Security-Policy": _POLICY,
        "X-Frame-Options": "DENY",  # for browsers older than frame-ancestors
    }
    return compressed(request, body.encode(), HTML, status, headers)


def compressed(
    request: Request,
    data: bytes,
    media_type: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """An answer never cached, gzipped when the client takes it and it is worth it."""
    sent = {"Cache-Control": "no-store", "Vary": "Accept-Encoding", **(headers or {})}
    if len(data) >= _GZIP_MIN_BYTES and "gzip" in request.headers.get("accept-encoding", ""):
        data = gzip.compress(data, compresslevel=5, mtime=0)
        sent["Content-Encoding"] = "gzip"
    return Response(data, status_code=status, media_type=media_type, headers=sent)


def base_of(request: Request) -> str:
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def page_context(request: Request, title: str) -> dict[str, Any]:
    root = base_of(request)
    return {
        "title": title,
        "base": root,
        "css_url": static_url(root, "board.css"),
        "js_url": static_url(root, "board.js"),
        "icons": ICONS,
        "labels": LABELS,
        "kinds": KIND_ORDER,
        # Signed in through the sign-in page: the header offers to sign out.
        "signed_in": SESSION_COOKIE in request.cookies,
    }


def error_page(request: Request, exc: DeployStatusError, heading: str) -> Response:
    status = status_of(exc)
    if status >= 500:
        logger.error("%s %s: %s", request.method, request.url.path, exc, exc_info=exc)
        message = "The storage is unavailable or failing; nothing was lost. Retry in a moment."
    else:
        message = exc.message
    context = page_context(request, heading)
    page = render("error.html", **context, heading=heading, message=message, status=status)
    return html(request, page, status)
