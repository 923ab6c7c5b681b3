"""Webhook delivery primitives against a real receiver on loopback: signing, the target
policy (on the address really connected to), one attempt's outcomes, and the bodies."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from deploystatus.events import Event, document
from deploystatus.feed._attempt import Attempt, attempt
from deploystatus.feed._formats import FORMATS, body, json_body, slack_body
from deploystatus.feed._signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    new_secret,
    signature_headers,
    verify,
)
from deploystatus.feed._targets import (
    GuardedResolver,
    TargetPolicy,
    TargetRefused,
    check_url,
    make_session,
)
from deploystatus.records import Details, Record
from deploystatus.states import Classifier

T = TypeVar("T")
LOOPBACK = TargetPolicy.parse("127.0.0.0/8,::1/128")
TIMEOUT = 2.0
SECRET = "whsec_test-secret-for-the-receiver"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, 10))


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


HAS_IPV6 = _ipv6_loopback()


@dataclass
class Receiver:
    """A webhook receiver on loopback that records every request it gets."""

    port: int
    port6: int | None
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        if host == "[::1]":
            assert self.port6 is not None
            return f"http://[::1]:{self.port6}{path}"
        return f"http://{host}:{self.port}{path}"

    @property
    def paths(self) -> list[str]:
        return [path for path, _, _ in self.requests]


def _app(receiver: Receiver) -> web.Application:
    async def record(request: web.Request) -> None:
        receiver.requests.append((request.path, dict(request.headers), await request.read()))

    async def ok(request: web.Request) -> web.StreamResponse:
        await record(request)
        return web.Response(text="ok")

    async def fail(request: web.Request) -> web.StreamResponse:
        # Control characters, and the delivery's signature echoed back, then more text.
        await record(request)
        echoed = request.headers.get(SIGNATURE_HEADER, "")
        text = f"bad\x1b[31m signature\r\n{echoed}\x00 " + "y" * 2000
        return web.Response(status=500, text=text)

    async def redirect(request: web.Request) -> web.StreamResponse:
        await record(request)
        raise web.HTTPFound(receiver.url("/ok"))

    async def slow(request: web.Request) -> web.StreamResponse:
        await record(request)
        await asyncio.sleep(30)
        return web.Response(text="late")

    async def stall(request: web.Request) -> web.StreamResponse:
        # The status and a little of the body, then nothing more.
        await record(request)
        response = web.StreamResponse(status=int(request.query.get("status", "200")))
        await response.prepare(request)
        await response.write(b"partial")
        await asyncio.sleep(30)
        return response

    async def endless(request: web.Request) -> web.StreamResponse:
        # A body that never ends: an attempt that read it all would never return.
        await record(request)
        response = web.StreamResponse(status=int(request.query.get("status", "500")))
        await response.prepare(request)
        chunk = b"x" * 65536
        while True:
            await response.write(chunk)

    app = web.Application()
    app.router.add_post("/ok", ok)
    app.router.add_post("/fail", fail)
    app.router.add_post("/redirect", redirect)
    app.router.add_post("/slow", slow)
    app.router.add_post("/stall", stall)
    app.router.add_post("/endless", endless)
    return app


def _listening(host: str, family: socket.AddressFamily) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    sock = _listening("127.0.0.1", socket.AF_INET)
    sock6 = _listening("::1", socket.AF_INET6) if HAS_IPV6 else None
    receiver = Receiver(sock.getsockname()[1], None if sock6 is None else sock6.getsockname()[1])
    runner = web.AppRunner(_app(receiver), handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    try:
        for listener in (sock, sock6):
            if listener is not None:
                await web.SockSite(runner, listener).start()
        yield receiver
    finally:
        await runner.cleanup()


async def deliver(
    url: str,
    policy: TargetPolicy = LOOPBACK,
    *,
    payload: bytes = b'{"Id":"e1"}',
    timeout_seconds: float = TIMEOUT,
) -> Attempt:
    async with make_session(policy, timeout_seconds=timeout_seconds) as session:
        headers = signature_headers(SECRET, "e1", payload)
        return await attempt(session, url, payload, headers, timeout_seconds=timeout_seconds)


def with_receiver(use: Callable[[Receiver], Awaitable[T]]) -> T:
    async def main() -> T:
        async with receiving() as receiver:
            return await use(receiver)

    return run(main())


# Signing.


def test_a_new_secret_is_256_random_bits_in_url_safe_base64() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and "=" not in secret
    assert len(base64.urlsafe_b64decode(secret[6:] + "=")) == 32
    assert new_secret() != secret


def test_a_delivered_request_verifies_and_a_changed_one_does_not() -> None:
    payload = b'{"Id":"e1","State":"deploy-success"}'

    async def use(receiver: Receiver) -> tuple[Attempt, list[tuple[str, dict[str, str], bytes]]]:
        return await deliver(receiver.url("/ok"), payload=payload), receiver.requests

    outcome, requests = with_receiver(use)
    assert outcome.ok, outcome
    [(_, headers, received)] = requests
    assert received == payload
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "deploystatus-webhooks"
    assert headers["Deploystatus-Event-Id"] == "e1"
    assert verify(SECRET, headers, received)
    assert verify(SECRET, {name.lower(): value for name, value in headers.items()}, received)
    assert not verify(SECRET, headers, received + b" ")
    assert not verify("whsec_another", headers, received)
    signed_at = int(headers[TIMESTAMP_HEADER])
    assert verify(SECRET, headers, received, now=signed_at + 300)
    assert not verify(SECRET, headers, received, now=signed_at + 301)
    assert not verify(SECRET, headers, received, now=signed_at - 301)


def test_a_signature_header_with_two_secrets_verifies_for_either() -> None:
    payload = b"{}"
    old = signature_headers("whsec_old", "e1", payload, now=1_700_000_000)
    new = signature_headers("whsec_new", "e1", payload, now=1_700_000_000)
    rotating = {**new, SIGNATURE_HEADER: f"{old[SIGNATURE_HEADER]} {new[SIGNATURE_HEADER]}"}
    assert verify("whsec_old", rotating, payload, now=1_700_000_010)
    assert verify("whsec_new", rotating, payload, now=1_700_000_010)
    assert not verify("whsec_other", rotating, payload, now=1_700_000_010)


@pytest.mark.parametrize(
    "change",
    [
        {TIMESTAMP_HEADER: ""},
        {TIMESTAMP_HEADER: "+1700000000"},
        {TIMESTAMP_HEADER: "1700000000.0"},
        {SIGNATURE_HEADER: ""},
        {SIGNATURE_HEADER: "v0=00"},
        {SIGNATURE_HEADER: "v1=é"},
    ],
)
def test_a_malformed_signature_or_timestamp_does_not_verify(change: dict[str, str]) -> None:
    headers = {**signature_headers("whsec_k", "e1", b"{}", now=1_700_000_000), **change}
    assert not verify("whsec_k", headers, b"{}", now=1_700_000_000)


def test_the_signature_covers_the_timestamp_and_the_body() -> None:
    headers = signature_headers("whsec_k", "e1", b"{}", now=1_700_000_000)
    assert headers["Deploystatus-Timestamp"] == "1700000000"
    later = {**headers, TIMESTAMP_HEADER: "1700000001"}
    assert not verify("whsec_k", later, b"{}", now=1_700_000_000)


# Targets.


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "private"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("255.255.255.255", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::127.0.0.1", "loopback"),
        ("64:ff9b::a00:1", "private"),
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:7f00:1::1", "loopback"),
        ("2001:db8::1", "reserved"),
        ("100::1", "reserved"),
        ("8.8.8.8", None),
        ("93.184.216.34", None),
        ("2001:4860:4860::8888", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
    ],
)
def test_the_default_policy_refuses_internal_addresses(address: str, reason: str | None) -> None:
    assert TargetPolicy().classify(address) == reason


def test_an_allowed_network_lets_any_kind_of_address_through() -> None:
    policy = TargetPolicy.parse(" 127.0.0.0/8 , fd00::/8,169.254.169.254")
    assert policy.classify("127.0.0.1") is None
    assert policy.classify("127.9.9.9") is None
    assert policy.classify("::ffff:127.0.0.1") is None
    assert policy.classify("fd00::1") is None
    assert policy.classify("169.254.169.254") is None
    assert policy.classify("169.254.169.253") == "link-local"
    assert policy.classify("10.0.0.1") == "private"
    assert policy.classify("::1") == "loopback"
    assert TargetPolicy.parse(None) == TargetPolicy.parse("") == TargetPolicy()


@pytest.mark.parametrize("entry", ["127.0.0.0/33", "localhost", "10.0.0.1/8", "::1/200", "x"])
def test_a_bad_allow_list_entry_says_which(entry: str) -> None:
    with pytest.raises(ValueError, match="DEPLOYSTATUS_WEBHOOK_ALLOW_PRIVATE") as raised:
        TargetPolicy.parse(f"10.0.0.0/8,{entry}")
    assert repr(entry) in str(raised.value)


def test_a_refusal_names_the_address_the_reason_and_the_way_to_allow_it() -> None:
    assert TargetPolicy().refusal("127.0.0.1") == (
        "127.0.0.1 is loopback: not allowed as a webhook target; "
        "allow it with DEPLOYSTATUS_WEBHOOK_ALLOW_PRIVATE=127.0.0.0/8"
    )
    assert "=127.0.0.0/8" in str(TargetPolicy().refusal("::ffff:127.0.0.1"))
    assert TargetPolicy().refusal("8.8.8.8") is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://hooks.example.com/services/T0/B0/x", None),
        ("http://127.0.0.1:8080/hook?x=1", None),  # the policy judges addresses, later
        ("http://[::1]:8080/", None),
        ("ftp://example.com/", "must be an http or https URL"),
        ("javascript:alert(1)", "must be an http or https URL"),
        ("example.com/hook", "must be an http or https URL"),
        ("http:///hook", "has no host"),
        ("https://user:pass@example.com/", "user information"),
        ("https://@example.com/", "user information"),
        ("https://example.com/#frag", "fragment"),
        ("https://example.com/a b", "spaces or control characters"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://[::1/", "not a valid URL"),
        ("https://example.com/" + "a" * 2030, "longer than 2048 characters"),
    ],
)
def test_check_url_refuses_what_can_never_be_a_target(url: str, problem: str | None) -> None:
    found = check_url(url)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found, found


# The policy at connection time.


class FixedDNS(AbstractResolver):
    """A DNS server's answers, one list per lookup, in order: a rebinding name's first
    answer is public and the next one loopback."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self.answers.pop(0)
        ]

    async def close(self) -> None:
        pass


def test_the_resolver_refuses_a_name_that_resolves_to_loopback() -> None:
    async def main() -> list[ResolveResult]:
        with pytest.raises(TargetRefused) as refused:
            await GuardedResolver(TargetPolicy()).resolve("localhost", 8080)
        assert "localhost: 127.0.0.1 is loopback: not allowed" in str(refused.value)
        assert isinstance(refused.value, OSError)
        return await GuardedResolver(LOOPBACK).resolve("localhost", 8080)

    resolved = run(main())
    assert resolved and {result["host"] for result in resolved} <= {"127.0.0.1", "::1"}


def test_each_answer_is_checked_so_a_rebinding_name_is_refused_when_it_turns_internal() -> None:
    async def main() -> None:
        dns = FixedDNS(["93.184.216.34"], ["127.0.0.1"], ["10.0.0.7", "93.184.216.34"])
        resolver = GuardedResolver(TargetPolicy(), dns)
        first = await resolver.resolve("rebind.example", 443)
        assert [result["host"] for result in first] == ["93.184.216.34"]
        with pytest.raises(TargetRefused, match=r"rebind\.example: 127\.0\.0\.1 is loopback"):
            await resolver.resolve("rebind.example", 443)
        mixed = await resolver.resolve("rebind.example", 443)
        assert [result["host"] for result in mixed] == ["93.184.216.34"]

    run(main())


@pytest.mark.parametrize(
    ("host", "said"),
    [
        ("127.0.0.1", "127.0.0.1 is loopback: not allowed"),
        ("localhost", "localhost: 127.0.0.1 is loopback: not allowed"),
        ("[::1]", "::1 is loopback: not allowed"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1 (127.0.0.1) is loopback: not allowed"),
        ("127.1", "127.1 is not an IP address: not allowed"),
        ("2130706433", "2130706433 is not an IP address: not allowed"),
    ],
)
def test_an_attempt_to_loopback_is_refused_by_default(host: str, said: str) -> None:
    if host == "[::1]" and not HAS_IPV6:
        pytest.skip("no IPv6 loopback here")

    async def use(receiver: Receiver) -> tuple[Attempt, list[str]]:
        url = receiver.url("/ok", host)
        return await deliver(url, TargetPolicy()), receiver.paths

    outcome, paths = with_receiver(use)
    assert (outcome.status, outcome.ok, paths) == (None, False, [])
    assert outcome.error is not None and said in outcome.error
    assert "DEPLOYSTATUS_WEBHOOK_ALLOW_PRIVATE" in outcome.error or "not an IP" in outcome.error


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_an_allow_list_lets_an_attempt_through(host: str) -> None:
    if host == "[::1]" and not HAS_IPV6:
        pytest.skip("no IPv6 loopback here")

    async def use(receiver: Receiver) -> tuple[Attempt, list[str]]:
        return await deliver(receiver.url("/ok", host)), receiver.paths

    outcome, paths = with_receiver(use)
    assert (outcome.status, outcome.ok, outcome.error, paths) == (200, True, None, ["/ok"])
    assert 0 < outcome.latency_ms < TIMEOUT * 1000


# One attempt's outcomes.


def test_an_error_answer_gives_a_short_clean_excerpt_without_the_signature() -> None:
    async def use(receiver: Receiver) -> tuple[Attempt, str]:
        outcome = await deliver(receiver.url("/fail"))
        return outcome, receiver.requests[0][1][SIGNATURE_HEADER]

    outcome, signature = with_receiver(use)
    assert (outcome.status, outcome.ok) == (500, False)
    assert outcome.error is not None
    assert outcome.error.startswith("HTTP 500: bad [31m signature [redacted] y")
    assert signature not in outcome.error and signature[3:] not in outcome.error
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in outcome.error)
    assert len(outcome.error) <= len("HTTP 500: ") + 200


def test_a_redirect_is_not_followed() -> None:
    async def use(receiver: Receiver) -> tuple[Attempt, list[str], str]:
        return await deliver(receiver.url("/redirect")), receiver.paths, receiver.url("/ok")

    outcome, paths, target = with_receiver(use)
    assert (outcome.status, outcome.ok, paths) == (302, False, ["/redirect"])
    assert outcome.error == f"HTTP 302: redirect to {target} not followed"


def test_a_slow_receiver_times_out() -> None:
    async def use(receiver: Receiver) -> Attempt:
        return await deliver(receiver.url("/slow"), timeout_seconds=0.2)

    outcome = with_receiver(use)
    assert (outcome.status, outcome.error) == (None, "no answer within 0.2 s")
    assert 200 <= outcome.latency_ms < 1500


@pytest.mark.parametrize(("status", "error"), [(200, None), (503, "HTTP 503")])
def test_the_status_decides_when_the_body_stalls(status: int, error: str | None) -> None:
    async def use(receiver: Receiver) -> Attempt:
        return await deliver(receiver.url(f"/stall?status={status}"), timeout_seconds=0.2)

    outcome = with_receiver(use)
    assert (outcome.status, outcome.ok, outcome.error) == (status, error is None, error)


@pytest.mark.parametrize("status", [200, 500])
def test_an_endless_answer_is_read_only_up_to_1_kb(status: int) -> None:
    async def use(receiver: Receiver) -> Attempt:
        return await deliver(receiver.url(f"/endless?status={status}"), timeout_seconds=5)

    outcome = with_receiver(use)
    assert outcome.status == status and outcome.latency_ms < 2000
    if status == 500:
        assert outcome.error == "HTTP 500: " + "x" * 199 + "…"
    else:
        assert (outcome.ok, outcome.error) == (True, None)


def test_network_failures_are_outcomes_not_exceptions() -> None:
    closed = _listening("127.0.0.1", socket.AF_INET)
    port = closed.getsockname()[1]
    closed.close()

    async def main() -> list[Attempt]:
        return [
            await deliver(f"http://127.0.0.1:{port}/"),
            await deliver("http://name.invalid/", TargetPolicy()),
            await deliver("http://[::1/"),
        ]

    refused, unknown, invalid = run(main())
    assert refused.status is None and f"Cannot connect to host 127.0.0.1:{port}" in str(
        refused.error
    )
    assert unknown.status is None and "name.invalid" in str(unknown.error)
    assert (invalid.status, invalid.error) == (None, "not a valid URL")


# Bodies.


def make_event(
    state: str = "deploy-failed",
    previous: str | None = "deploy-started",
    details: Details | None = None,
) -> Event:
    record = Record("api", "prod", state, "2024-07-30T14:06:41.000000000Z", details)
    before = (
        None
        if previous is None
        else Record("api", "prod", previous, "2024-07-30T14:02:10.000000000Z")
    )
    return Event(1_722_348_401_500_000_000, record, before)


def test_the_json_body_is_the_events_document() -> None:
    classify = Classifier()
    event = make_event(details=Details(version="1.4.3", link="https://ci.example/1"))
    assert json.loads(json_body(event, classify)) == document(event, classify)
    assert body("json", event, classify) == json_body(event, classify)
    assert b" " not in json_body(make_event(), classify)


def test_the_slack_body_is_one_escaped_line_with_version_and_run_link() -> None:
    details = Details(version="<!channel> & 1.2", link="https://ci.example/run/1?a=1&b=<2>")
    event = make_event(details=details)
    message = json.loads(slack_body(event, Classifier()))
    line = message["text"]
    assert line == (
        ":red_circle: *api* in *prod*: deploy-started (in-progress) → deploy-failed (failed), "
        "version &lt;!channel&gt; &amp; 1.2, <https://ci.example/run/1?a=1&amp;b=&lt;2&gt;|run>"
    )
    section, context = message["blocks"]
    assert section == {"type": "section", "text": {"type": "mrkdwn", "text": line}}
    [note] = context["elements"]
    assert context["type"] == "context" and note["type"] == "mrkdwn"
    assert "2024-07-30T14:06:41.500000000Z" in note["text"] and event.id in note["text"]
    assert "<!channel>" not in slack_body(event, Classifier()).decode()


def test_the_slack_body_drops_a_link_that_is_not_http() -> None:
    details = Details(version="2.0", link="javascript:alert(1)")
    line = json.loads(slack_body(make_event(details=details), Classifier()))["text"]
    assert line.endswith("deploy-failed (failed), version 2.0")
    assert "javascript" not in line


@pytest.mark.parametrize(
    ("state", "emoji"),
    [
        ("deploy-success", ":large_green_circle:"),
        ("deploy-started", ":hourglass_flowing_sand:"),
        ("paused", ":white_circle:"),
    ],
)
def test_the_slack_body_of_a_first_record(state: str, emoji: str) -> None:
    message = json.loads(body("slack", make_event(state, previous=None), Classifier()))
    classified = Classifier()(state)
    assert message["text"] == f"{emoji} *api* in *prod*: first record: {state} ({classified})"


def test_a_state_cannot_mention_anyone() -> None:
    line = json.loads(slack_body(make_event("<!here> failed"), Classifier()))["text"]
    assert "&lt;!here&gt; failed (failed)" in line and "<!here>" not in line


def test_an_unknown_format_is_refused() -> None:
    assert FORMATS == ("json", "slack")
    with pytest.raises(ValueError, match="unknown webhook format 'xml'"):
        body("xml", make_event(), Classifier())
