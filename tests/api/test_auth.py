"""Bearer-token authentication through the real app: 401 without or with a wrong token, 403
without the scope, the scope rule (GET/HEAD read, anything else write, /metrics its own,
health open), the DEPLOYSTATUS_TOKENS format, and ``deploystatus token create``."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import signal
import uuid
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from deploystatus.app import create_app
from deploystatus.config import Settings
from deploystatus.tokens import ApiToken, hash_token, new_token, parse_tokens
from deploystatus.web.auth import OPEN_PATHS, OPEN_PREFIXES, required_scope
from deploystatus.web.observability import all_routes
from tests.support.factories import README_RECORD, body, make_record
from tests.support.processes import Launcher, http_request
from tests.support.serving import serve_env, start_serve
from tests.support.tokens import CHALLENGE, Tokens, bearer, entry

JSON = "application/json"


@pytest.fixture
def secured(make_client: Callable[..., TestClient], tokens: Tokens) -> TestClient:
    return make_client(tokens=parse_tokens(tokens.setting))


def refusal(response: httpx2.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON
    document: dict[str, Any] = json.loads(response.content)
    assert set(document) == {"error", "message"}
    assert document["error"] == error
    assert isinstance(document["message"], str)
    assert document["message"]
    return document


def assert_401(response: httpx2.Response, challenge: str = CHALLENGE) -> None:
    refusal(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == challenge


def assert_403(response: httpx2.Response, scope: str) -> None:
    document = refusal(response, 403, "forbidden")
    assert f"'{scope}'" in document["message"]
    assert response.headers["www-authenticate"] == (
        f'{CHALLENGE}, error="insufficient_scope", scope="{scope}"'
    )


# Off by default


def test_without_tokens_every_route_is_open(client: TestClient) -> None:
    assert client.post("/records", content=body(README_RECORD)).content == b"Ok"
    assert client.get("/current").json()["Records"][0]["Component"] == "abc.def"
    assert client.get("/historical/abc.def").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_without_tokens_the_server_warns_at_start_and_with_tokens_it_does_not(
    make_client: Callable[..., TestClient], tokens: Tokens, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="deploystatus"):
        make_client()
    warnings = [r for r in caplog.records if "authentication is off" in r.getMessage()]
    assert [r.levelno for r in warnings] == [logging.WARNING]

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="deploystatus"):
        make_client(tokens=parse_tokens(tokens.setting))
    assert not [r for r in caplog.records if "authentication is off" in r.getMessage()]


# 401


def test_requests_without_a_token_are_401_json_with_a_bearer_challenge(secured: TestClient) -> None:
    assert_401(secured.get("/current"))
    assert_401(secured.get("/historical/abc.def"))
    assert_401(secured.post("/records", content=body(README_RECORD)))
    assert_401(secured.get("/metrics"))
    head = secured.head("/current")
    assert head.status_code == 401
    assert head.headers["www-authenticate"] == CHALLENGE
    # Another scheme is no bearer token.
    assert_401(secured.get("/current", headers={"Authorization": "Basic dXNlcjpwYXNz"}))
    assert_401(secured.get("/current", headers={"Authorization": "Bearer "}))


def test_a_wrong_token_is_401_invalid_token_and_writes_nothing(
    secured: TestClient, tokens: Tokens
) -> None:
    invalid = f'{CHALLENGE}, error="invalid_token"'
    configured_hash = hashlib.sha256(tokens.both.encode()).hexdigest()
    for wrong in (
        new_token(),  # well formed, never configured
        tokens.both + "x",
        tokens.both[:-1],
        configured_hash,  # the hash in the configuration is not a token
        "x" * 10_000,
    ):
        assert_401(secured.get("/current", headers=bearer(wrong)), invalid)
        assert_401(
            secured.post("/records", content=body(README_RECORD), headers=bearer(wrong)), invalid
        )
    assert secured.get("/current", headers=bearer(tokens.both)).json() == {"Records": []}


def test_the_scheme_is_case_insensitive(secured: TestClient, tokens: Tokens) -> None:
    for scheme in ("bearer", "BEARER", "Bearer"):
        response = secured.get("/current", headers={"Authorization": f"{scheme} {tokens.read}"})
        assert response.status_code == 200, scheme


# 403 and the scopes


def test_a_read_token_reads_but_posting_is_403_and_writes_nothing(
    secured: TestClient, tokens: Tokens
) -> None:
    assert_403(
        secured.post("/records", content=body(README_RECORD), headers=bearer(tokens.read)),
        "write",
    )
    assert secured.get("/current", headers=bearer(tokens.read)).json() == {"Records": []}
    assert secured.get("/historical/abc.def", headers=bearer(tokens.read)).json() == {"Records": []}
    assert secured.head("/current", headers=bearer(tokens.read)).status_code == 200


def test_a_write_token_posts_but_reading_is_403(secured: TestClient, tokens: Tokens) -> None:
    posted = secured.post("/records", content=body(README_RECORD), headers=bearer(tokens.write))
    assert (posted.status_code, posted.content) == (200, b"Ok")
    assert_403(secured.get("/current", headers=bearer(tokens.write)), "read")
    assert_403(secured.get("/historical/abc.def", headers=bearer(tokens.write)), "read")
    assert_403(secured.get("/metrics", headers=bearer(tokens.write)), "metrics")
    records = secured.get("/current", headers=bearer(tokens.read)).json()["Records"]
    assert [r["Component"] for r in records] == ["abc.def"]


def test_a_token_with_read_and_write_does_both_and_only_a_metrics_token_scrapes(
    secured: TestClient, tokens: Tokens
) -> None:
    both = bearer(tokens.both)
    assert secured.post("/records", content=body(README_RECORD), headers=both).content == b"Ok"
    assert len(secured.get("/current", headers=both).json()["Records"]) == 1
    assert_403(secured.get("/metrics", headers=both), "metrics")
    assert_403(secured.get("/metrics", headers=bearer(tokens.read)), "metrics")
    scraped = secured.get("/metrics", headers=bearer(tokens.metrics))
    assert scraped.status_code == 200
    assert "deploystatus_http_requests_total" in scraped.text
    assert_403(secured.get("/current", headers=bearer(tokens.metrics)), "read")


def test_invalid_records_from_an_authorised_writer_are_still_400(
    secured: TestClient, tokens: Tokens
) -> None:
    bad = body(make_record(Environment="dev-rev0"))
    response = secured.post("/records", content=bad, headers=bearer(tokens.write))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_records"


def test_health_checks_are_open_with_authentication_on(secured: TestClient) -> None:
    assert secured.get("/healthz").json() == {"status": "ok"}
    assert secured.get("/readyz").json() == {"status": "ready"}
    assert secured.head("/healthz").status_code == 200


def test_any_get_needs_read_and_any_other_method_needs_write_even_on_unknown_paths(
    secured: TestClient, tokens: Tokens
) -> None:
    # So a read route added later is never open by mistake, nor a write route readable.
    for path in ("/docs", "/openapi.json", "/no-such-route", "/healthz/", "/current/"):
        assert_401(secured.get(path))
        assert_403(secured.get(path, headers=bearer(tokens.write)), "read")
    assert secured.get("/openapi.json", headers=bearer(tokens.read)).status_code == 200
    assert secured.get("/no-such-route", headers=bearer(tokens.read)).status_code == 404
    for method in ("PUT", "DELETE", "PATCH"):
        assert_401(secured.request(method, "/current"))
        assert_403(secured.request(method, "/current", headers=bearer(tokens.read)), "write")
        allowed = secured.request(method, "/current", headers=bearer(tokens.write))
        assert allowed.status_code == 405


def test_the_scope_rule() -> None:
    assert required_scope("GET", "/healthz") is None
    assert required_scope("HEAD", "/readyz") is None
    assert required_scope("GET", "/metrics") == "metrics"
    assert required_scope("GET", "/current") == "read"
    assert required_scope("HEAD", "/current") == "read"
    assert required_scope("GET", "/historical/abc.def") == "read"
    assert required_scope("GET", "/some/future/route") == "read"
    assert required_scope("POST", "/records") == "write"
    assert required_scope("POST", "/some/future/route") == "write"
    assert required_scope("DELETE", "/current") == "write"
    assert required_scope("OPTIONS", "/current") == "write"
    # Every method under /admin/ needs admin, read or write alike.
    for method in ("GET", "HEAD", "POST", "DELETE"):
        assert required_scope(method, "/admin/remove-record") == "admin"
        assert required_scope(method, "/admin/some/future/route") == "admin"
        assert required_scope(method, "/admin") == "admin"
    assert required_scope("GET", "/administrators") == "read"
    assert required_scope("POST", "/administrators") == "write"


def test_every_route_of_the_app_needs_a_scope_except_the_open_ones(settings: Settings) -> None:
    """Open: the health checks, and the board's sign-in page and static files (no data)."""
    app = create_app(settings)
    templates = set()
    for route in all_routes(app.routes):
        template = str(getattr(route, "path", ""))
        templates.add(template)
        path = re.sub(r"\{[^}]*\}", "abc", template)  # each {parameter} filled in
        methods = getattr(route, "methods", None) or {"GET"}
        for method in methods:
            needed = required_scope(method, path)
            if template in OPEN_PATHS or template.startswith(OPEN_PREFIXES):
                assert needed is None, (method, template)
            else:
                assert needed in {"read", "write", "metrics", "admin"}, (method, template)
    assert {
        "/records",
        "/current",
        "/historical/{component}",
        "/metrics",
        "/admin/remove-record",
    } <= templates
    assert templates >= OPEN_PATHS


def test_several_tokens_each_authenticate_as_themselves(
    make_client: Callable[..., TestClient],
) -> None:
    readers = [new_token() for _ in range(20)]
    setting = ";".join(entry(f"r{i}", token, "read") for i, token in enumerate(readers))
    client = make_client(tokens=parse_tokens(setting))
    for token in readers:
        assert client.get("/current", headers=bearer(token)).status_code == 200
        assert client.post("/records", content=b"{}", headers=bearer(token)).status_code == 403


# DEPLOYSTATUS_TOKENS


def test_tokens_setting_reads_entries_separated_by_semicolons_or_whitespace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b, c = (hashlib.sha256(str(i).encode()).hexdigest() for i in range(3))
    monkeypatch.setenv(
        "DEPLOYSTATUS_TOKENS",
        f"ci-deployer:{a}:write; dashboard:{b.upper()}:read\n\tscraper:{c}:metrics,read;",
    )
    assert Settings().tokens == (
        ApiToken("ci-deployer", bytes.fromhex(a), frozenset({"write"})),
        ApiToken("dashboard", bytes.fromhex(b), frozenset({"read"})),
        ApiToken("scraper", bytes.fromhex(c), frozenset({"metrics", "read"})),
    )
    monkeypatch.setenv("DEPLOYSTATUS_TOKENS", " ")
    assert Settings().tokens == ()


HASH = "ab" * 32
PLAINTEXT = "ds_" + "S3cret" * 7


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"ci:{HASH}", "entry 1 has 2 ':'-separated fields"),
        (f"ci:{HASH}:read:x", "entry 1 has 4 ':'-separated fields"),
        (
            f"a:{HASH}:read;ci:{PLAINTEXT}:write",
            "entry 2 (ci): the hash must be the token's SHA-256",
        ),
        (f"ci:{PLAINTEXT}:write", "configure its hash, never the token itself"),
        (f"ci:{HASH[:-1]}:write", "64 hex digits"),
        (f"ci:{HASH[:-1]}g:write", "64 hex digits"),
        (f"ci:{HASH}:owner", "unknown scope 'owner'"),
        (f"ci:{HASH}:read,", "unknown scope ''"),
        (f"ci:{HASH}:", "unknown scope ''"),
        (f"-ci:{HASH}:read", "the name must be"),
        (f":{HASH}:read", "the name must be"),
        (f"ci:{HASH}:read;ci:{'cd' * 32}:write", "the name ci is used twice"),
        (f"a:{HASH}:read;b:{HASH.upper()}:write", "entry 2 (b): the same hash is configured twice"),
    ],
)
def test_invalid_tokens_setting_is_refused_with_a_clear_message_that_shows_no_secret(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("DEPLOYSTATUS_TOKENS", value)
    with pytest.raises(ValidationError) as raised:
        Settings()
    (error,) = raised.value.errors(include_input=False)
    assert error["loc"] == ("tokens",)
    assert message in error["msg"]
    assert error["msg"].count("DEPLOYSTATUS_TOKENS") == 1
    assert PLAINTEXT not in error["msg"]
    assert "S3cret" not in error["msg"]


def test_require_auth_without_tokens_is_refused_and_with_tokens_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEPLOYSTATUS_REQUIRE_AUTH", "true")
    with pytest.raises(ValidationError, match="DEPLOYSTATUS_REQUIRE_AUTH is on but"):
        Settings()
    monkeypatch.setenv("DEPLOYSTATUS_TOKENS", f"ci:{HASH}:read")
    assert Settings().tokens[0].name == "ci"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"DEPLOYSTATUS_TOKENS": f"ci:{PLAINTEXT}:write"}, "DEPLOYSTATUS_TOKENS entry 1 (ci)"),
        ({"DEPLOYSTATUS_REQUIRE_AUTH": "true"}, "DEPLOYSTATUS_REQUIRE_AUTH is on"),
        ({"DEPLOYSTATUS_MAX_RECORDS": "many"}, "DEPLOYSTATUS_MAX_RECORDS: "),
    ],
)
def test_serve_with_invalid_settings_exits_2_at_start_with_one_line_per_problem(
    launcher: Launcher, variables: dict[str, str], message: str
) -> None:
    result = launcher.run("serve", "--port", "1", env=launcher.env(**variables), timeout=30)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("deploystatus: invalid setting: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "S3cret" not in result.stderr
    assert "Traceback" not in result.stderr


# deploystatus token create


def test_token_create_prints_a_new_token_and_the_entry_of_its_hash(launcher: Launcher) -> None:
    result = launcher.run("token", "create", "--scope", "write", "--scope", "read", "--name", "ci")
    assert result.returncode == 0, result.stderr
    token_line, entry_line = result.stdout.splitlines()
    token = token_line.removeprefix("DEPLOYSTATUS_TOKEN=")
    setting = entry_line.removeprefix("DEPLOYSTATUS_TOKENS=")
    assert token != token_line and setting != entry_line
    assert re.fullmatch(r"ds_[A-Za-z0-9_-]{43}", token)
    assert token not in setting
    (configured,) = parse_tokens(setting)
    assert configured == ApiToken("ci", hash_token(token), frozenset({"read", "write"}))
    assert setting == f"ci:{hashlib.sha256(token.encode()).hexdigest()}:read,write"
    assert "shown only now" in result.stderr

    again = launcher.run("token", "create", "--scope", "metrics")
    token2 = again.stdout.splitlines()[0].removeprefix("DEPLOYSTATUS_TOKEN=")
    (default_named,) = parse_tokens(again.stdout.splitlines()[1].split("=", 1)[1])
    assert token2 != token
    assert default_named.name == "token-" + hashlib.sha256(token2.encode()).hexdigest()[:8]
    assert default_named.scopes == {"metrics"}


@pytest.mark.parametrize(
    "arguments",
    [[], ["--scope", "owner"], ["--scope", "read", "--name", "bad name"]],
    ids=["no-scope", "unknown-scope", "bad-name"],
)
def test_token_create_with_bad_arguments_exits_2_and_prints_no_token(
    launcher: Launcher, arguments: list[str]
) -> None:
    result = launcher.run("token", "create", *arguments)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "DEPLOYSTATUS_TOKEN" not in result.stderr


@pytest.mark.parametrize("engine", ["dynalite"], indirect=True)
def test_the_cli_client_sends_deploystatus_token_to_a_server_that_requires_one(
    launcher: Launcher, settings: Settings
) -> None:
    created = launcher.run("token", "create", "--scope", "read", "--scope", "write")
    token_line, entry_line = created.stdout.splitlines()
    token = token_line.split("=", 1)[1]
    cli, port = start_serve(
        launcher,
        serve_env(launcher, settings, DEPLOYSTATUS_TOKENS=entry_line.split("=", 1)[1]),
    )
    url = f"http://127.0.0.1:{port}"
    component = f"c{uuid.uuid4().hex[:8]}"
    post = (
        "post",
        "--url",
        url,
        "--component",
        component,
        "--environment",
        "prod",
        "--state",
        "Ok",
    )

    refused = launcher.run(*post, "--retries", "1")
    assert refused.returncode == 1
    assert refused.stderr == (
        "deploystatus: 401: the service needs a token: pass --token or set DEPLOYSTATUS_TOKEN "
        "(deploystatus token create makes one)\n"
    )
    assert http_request(f"{url}/historical/{component}", headers=bearer(token)) == (
        200,
        b'{"Records":[]}',
    )

    accepted = launcher.run(*post, env=launcher.env(DEPLOYSTATUS_TOKEN=token))
    assert accepted.returncode == 0, accepted.stderr
    shown = launcher.run(
        "history", component, "--url", url, "--json", env=launcher.env(DEPLOYSTATUS_TOKEN=token)
    )
    assert shown.returncode == 0, shown.stderr
    assert [r["State"] for r in json.loads(shown.stdout)["Records"]] == ["Ok"]
    assert cli.stop(signal.SIGTERM) == 0, cli.describe()
