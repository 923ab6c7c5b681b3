"""Signing in to the board, for when authentication is on (see web/auth.py): a form that
takes a token and keeps it in a cookie, and signing out."""

from __future__ import annotations

import urllib.parse

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from deploystatus.tokens import ADMIN, READ, WRITE
from deploystatus.web.auth import SESSION_COOKIE, SIGN_IN_PATH, authenticate
from deploystatus.web.bodies import read_body
from deploystatus.web.forwarded import over_https
from deploystatus.web.state import state_of

from ._respond import base_of, html, page_context
from .views import render

router = APIRouter()

_SIGN_IN_BODY_LIMIT = 4096
_SESSION_SECONDS = 12 * 3600


def _safe_next(page: str | None) -> str:
    """Only a path of this site: never somewhere else (``//host``, ``https://...``)."""
    if not page or not page.startswith("/") or page.startswith("//") or "\\" in page:
        return "/"
    return page


def _same_site(request: Request) -> bool:
    """Whether a form post comes from this site's own pages. Browsers say where a post comes
    from (``Sec-Fetch-Site``, ``Origin``): a cross-site page must not sign a browser in with
    its token (login CSRF) or out (logout CSRF). A client that sends neither is no browser
    acting for another site, and is let through."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    # The host, not the scheme: behind a TLS-terminating proxy this hop is plain http.
    host = request.headers.get("host", "")
    return bool(host) and urllib.parse.urlsplit(origin).netloc == host


def _cross_site(request: Request) -> Response:
    message = "Refused: that request came from another site. Sign in from this page."
    return _sign_in_page(request, "/", message, 403)


def _sign_in_page(
    request: Request, next_page: str, message: str = "", status: int = 200
) -> Response:
    page = render(
        "sign_in.html", **page_context(request, "Sign in"), next_page=next_page, message=message
    )
    return html(request, page, status)


@router.get(SIGN_IN_PATH, include_in_schema=False)
async def sign_in_form(request: Request) -> Response:
    next_page = _safe_next(request.query_params.get("next"))
    if not state_of(request).settings.tokens:
        return RedirectResponse(base_of(request) + next_page, status_code=303)
    return _sign_in_page(request, next_page)


@router.post(SIGN_IN_PATH, include_in_schema=False)
async def sign_in(request: Request) -> Response:
    if not _same_site(request):
        return _cross_site(request)
    settings = state_of(request).settings
    body = await read_body(request, _SIGN_IN_BODY_LIMIT, settings.body_timeout_seconds)
    form = urllib.parse.parse_qs(body.decode("utf-8", errors="replace"))
    next_page = _safe_next(form.get("next", ["/"])[0])
    presented = form.get("token", [""])[0].strip()
    token = authenticate(settings.tokens, presented) if presented else None
    if token is None:
        return _sign_in_page(request, next_page, "That token is not valid.", 401)
    if READ not in token.scopes:
        return _sign_in_page(request, next_page, "That token lacks the read scope.", 403)
    if WRITE in token.scopes or ADMIN in token.scopes:
        # A cookie lives in a browser for hours: keep only tokens that cannot change data there.
        can = "write" if WRITE in token.scopes else "remove records"
        return _sign_in_page(
            request, next_page, f"That token can {can}: sign in with a read-only token.", 403
        )
    response = RedirectResponse(base_of(request) + next_page, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        urllib.parse.quote(presented, safe=""),
        max_age=_SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=over_https(request, settings.trusted_proxies),
    )
    return response


@router.post("/ui/sign-out", include_in_schema=False)
async def sign_out(request: Request) -> Response:
    if not _same_site(request):
        return _cross_site(request)
    response = RedirectResponse(base_of(request) + SIGN_IN_PATH, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
