"""Signing in to the board when authentication is on: a browser gets a sign-in page, a read
token becomes a cookie that lets the board's pages and API reads through, and that cookie
never authorizes a write."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from deploystatus.app import create_app
from deploystatus.config import Settings
from deploystatus.tokens import new_token, parse_tokens
from deploystatus.web.auth import SESSION_COOKIE
from tests.support.factories import README_RECORD, body

READ_TOKEN = new_token()
WRITE_TOKEN = new_token()
READ_WRITE_TOKEN = new_token()
READ_ADMIN_TOKEN = new_token()


def _entry(name: str, token: str, scopes: str) -> str:
    return f"{name}:{hashlib.sha256(token.encode()).hexdigest()}:{scopes}"


@pytest.fixture
def board(make_client: Callable[..., TestClient]) -> TestClient:
    tokens = parse_tokens(
        ";".join(
            [
                _entry("reader", READ_TOKEN, "read"),
                _entry("writer", WRITE_TOKEN, "write"),
                _entry("both", READ_WRITE_TOKEN, "read,write"),
                _entry("keeper", READ_ADMIN_TOKEN, "read,admin"),
            ]
        )
    )
    client = make_client(tokens=tokens)
    client.follow_redirects = False
    return client


def _sign_in(client: TestClient, token: str, next_page: str = "/") -> str:
    response = client.post(
        "/ui/sign-in",
        content=f"token={token}&next={next_page}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 303, response.text
    return response.headers["location"]


def test_a_browser_without_a_token_is_sent_to_the_sign_in_page(board: TestClient) -> None:
    response = board.get("/ui/components/abc.def?limit=5")
    assert response.status_code == 303
    assert (
        response.headers["location"] == "/ui/sign-in?next=%2Fui%2Fcomponents%2Fabc.def%3Flimit%3D5"
    )
    page = board.get("/ui/sign-in")
    assert page.status_code == 200
    assert 'name="token"' in page.text


def test_the_api_without_a_token_still_answers_401_json(board: TestClient) -> None:
    response = board.get("/current")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_a_read_token_signs_in_and_the_cookie_opens_pages_and_reads(board: TestClient) -> None:
    assert _sign_in(board, READ_TOKEN, "/ui/components/abc.def") == "/ui/components/abc.def"
    cookie = board.cookies.get(SESSION_COOKIE)
    assert cookie
    assert board.get("/").status_code == 200
    assert board.get("/current").status_code == 200  # what the board's script fetches


def test_the_cookie_is_http_only_and_same_site_strict(board: TestClient) -> None:
    response = board.post(
        "/ui/sign-in",
        content=f"token={READ_TOKEN}&next=/",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    set_cookie = response.headers["set-cookie"].lower()
    assert "httponly" in set_cookie
    assert "samesite=strict" in set_cookie


def test_a_cookie_never_authorizes_a_write(board: TestClient) -> None:
    # Even a write token, once in a cookie, writes nothing: only the header does.
    board.cookies.set(SESSION_COOKIE, WRITE_TOKEN)
    response = board.post("/records", content=body(README_RECORD))
    assert response.status_code == 401
    authorized = board.post(
        "/records", content=body(README_RECORD), headers={"Authorization": f"Bearer {WRITE_TOKEN}"}
    )
    assert authorized.content == b"Ok"


def test_a_wrong_token_or_one_without_read_is_refused_on_the_form(board: TestClient) -> None:
    for token, status in ((new_token(), 401), (WRITE_TOKEN, 403)):
        response = board.post(
            "/ui/sign-in",
            content=f"token={token}&next=/",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == status
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
        assert 'name="token"' in response.text


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "evil", "/\\evil"])
def test_sign_in_never_redirects_off_site(board: TestClient, target: str) -> None:
    assert _sign_in(board, READ_TOKEN, target) == "/"


def test_signing_out_forgets_the_cookie(board: TestClient) -> None:
    _sign_in(board, READ_TOKEN)
    response = board.post("/ui/sign-out")
    assert response.status_code == 303
    assert board.cookies.get(SESSION_COOKIE) is None
    assert board.get("/").status_code == 303


def test_without_authentication_the_sign_in_page_just_returns(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    client.follow_redirects = False
    response = client.get("/ui/sign-in?next=/ui/components/abc.def")
    assert (response.status_code, response.headers["location"]) == (303, "/ui/components/abc.def")


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://other.testserver"},
    ],
)
def test_sign_in_and_out_from_another_site_are_refused(
    board: TestClient, headers: dict[str, str]
) -> None:
    response = board.post(
        "/ui/sign-in", content=f"token={READ_TOKEN}&next=/", headers={**FORM, **headers}
    )
    assert response.status_code == 403
    assert "another site" in response.text
    assert "set-cookie" not in response.headers
    board.cookies.set(SESSION_COOKIE, READ_TOKEN)
    response = board.post("/ui/sign-out", headers=headers)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers  # the session stays


def test_sign_in_from_its_own_page_is_accepted(board: TestClient) -> None:
    own = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    response = board.post(
        "/ui/sign-in", content=f"token={READ_TOKEN}&next=/", headers={**FORM, **own}
    )
    assert response.status_code == 303
    assert SESSION_COOKIE in response.headers["set-cookie"]
    response = board.post("/ui/sign-out", headers=own)
    assert response.status_code == 303
    assert f'{SESSION_COOKIE}=""' in response.headers["set-cookie"]


@pytest.mark.parametrize(
    ("token", "can"),
    [(READ_WRITE_TOKEN, "can write"), (READ_ADMIN_TOKEN, "can remove records")],
    ids=["read-write", "read-admin"],
)
def test_a_token_that_can_write_or_remove_is_not_kept_in_a_cookie(
    board: TestClient, token: str, can: str
) -> None:
    response = board.post("/ui/sign-in", content=f"token={token}&next=/", headers=FORM)
    assert response.status_code == 403
    assert can in response.text
    assert "read-only token" in response.text
    assert "set-cookie" not in response.headers


def test_pages_cannot_be_framed_and_load_only_this_sites_code(board: TestClient) -> None:
    board.cookies.set(SESSION_COOKIE, READ_TOKEN)
    for path in ("/", "/ui/sign-in", "/ui/components/abc.def", "/ui/components/NOT-VALID"):
        response = board.get(path)
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy, path
        assert "script-src 'self';" in policy and "default-src 'none'" in policy, path
        assert "'unsafe-inline'" not in policy, path
        assert response.headers["x-frame-options"] == "DENY", path
    for path in ("/", "/current", "/healthz", "/ui/static/board.css"):
        response = board.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "same-origin", path


@pytest.mark.parametrize(
    ("peer", "trusted", "forwarded", "secure"),
    [
        ("10.0.0.5", "10.0.0.0/8", "https", True),  # the TLS-terminating proxy says so
        ("10.0.0.5", "10.0.0.0/8", "http, https", True),  # the nearest proxy's word counts
        ("10.0.0.5", "10.0.0.0/8", "https, http", False),
        ("192.0.2.9", "10.0.0.0/8", "https", False),  # anyone else's header is ignored
        ("10.0.0.5", "", "https", False),  # no proxy trusted: none believed
    ],
)
def test_the_cookie_is_secure_behind_a_trusted_tls_proxy_only(
    settings: Settings, peer: str, trusted: str, forwarded: str, secure: bool
) -> None:
    configured = settings.model_copy(
        update={
            "trusted_proxies": Settings.model_validate(
                {"trusted_proxies": trusted}
            ).trusted_proxies,
            "tokens": parse_tokens(_entry("reader", READ_TOKEN, "read")),
        }
    )
    app = create_app(configured)
    with TestClient(app, client=(peer, 4321), follow_redirects=False) as client:
        response = client.post(
            "/ui/sign-in",
            content=f"token={READ_TOKEN}&next=/",
            headers={**FORM, "X-Forwarded-Proto": forwarded},
        )
    assert response.status_code == 303
    assert ("; secure" in response.headers["set-cookie"].lower()) is secure


def test_trusted_proxies_are_addresses_or_networks() -> None:
    assert Settings.model_validate(
        {"trusted_proxies": "10.0.0.0/8, 192.0.2.7"}
    ).trusted_proxies == (
        "10.0.0.0/8",
        "192.0.2.7/32",
    )
    with pytest.raises(ValidationError, match=r"DEPLOYSTATUS_TRUSTED_PROXIES: 'lb\.internal'"):
        Settings.model_validate({"trusted_proxies": "lb.internal"})
