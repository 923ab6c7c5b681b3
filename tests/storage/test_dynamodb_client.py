"""The DynamoDB client's own parts: its signatures against botocore's signer, its HTTP/1.1
connections against real loopback servers, and how it reads DynamoDB's error answers.
(Its calls against real engines, with faults injected, are in the rest of the suite.)"""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from deploystatus.storage._http1 import ConnectionFailed, Endpoint, Proxy, proxy_for
from deploystatus.storage._sigv4 import Key, Signer
from deploystatus.storage.dynamodb import (
    ConditionalCheckFailed,
    Credentials,
    DynamoDBError,
    TableNotFound,
    error_from_answer,
)
from tests.support.certificates import self_signed, serving_context
from tests.support.proxies import ConnectProxy

# 2025-11-27T23:59:59.5Z, and one second later: the next day, with a new signing key.
BEFORE_MIDNIGHT = 1_764_287_999.5
AFTER_MIDNIGHT = BEFORE_MIDNIGHT + 1


class _FixedTimeSigV4(SigV4Auth):  # type: ignore[misc]
    """botocore's signer, at a given instant instead of now."""

    def __init__(self, credentials: BotocoreCredentials, region: str, instant: float) -> None:
        super().__init__(credentials, "dynamodb", region)
        self.instant = instant

    def add_auth(self, request: AWSRequest) -> None:
        request.context["timestamp"] = time.strftime(
            "%Y%m%dT%H%M%SZ", time.gmtime(int(self.instant))
        )
        self._modify_request_before_signing(request)
        canonical = self.canonical_request(request)
        signature = self.signature(self.string_to_sign(request, canonical), request)
        self._inject_signature_to_request(request, signature)


@pytest.mark.parametrize("token", [None, "session-token/with+odd=chars"])
@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://dynamodb.eu-west-1.amazonaws.com/", "dynamodb.eu-west-1.amazonaws.com"),
        ("http://127.0.0.1:8000/", "127.0.0.1:8000"),
    ],
)
def test_signatures_match_botocores(token: str | None, url: str, host: str) -> None:
    key = Key("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    now = [BEFORE_MIDNIGHT]
    signer = Signer(host, "eu-west-1", clock=lambda: now[0])
    body = b'{"TableName":"deployment-status","Key":{"PK":{"S":"H#api"}}}'
    for instant in (BEFORE_MIDNIGHT, AFTER_MIDNIGHT):  # the cached key changes with the day
        now[0] = instant
        ours = dict(signer.headers(key, "GetItem", body))
        request = AWSRequest(
            method="POST",
            url=url,
            data=body,
            headers={"Content-Type": ours["Content-Type"], "X-Amz-Target": ours["X-Amz-Target"]},
        )
        _FixedTimeSigV4(
            BotocoreCredentials(key.id, key.secret, key.token), "eu-west-1", instant
        ).add_auth(request)
        assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"]
        assert ours["Authorization"] == request.headers["Authorization"]
        assert ours.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")
        assert ours["Host"] == host


def test_a_new_secret_gets_a_new_signing_key() -> None:
    signer = Signer("localhost:8000", "us-east-1", clock=lambda: BEFORE_MIDNIGHT)
    first = dict(signer.headers(Key("id", "one"), "Query", b"{}"))["Authorization"]
    second = dict(signer.headers(Key("id", "two"), "Query", b"{}"))["Authorization"]
    assert first != second


# HTTP/1.1 connections, against a loopback server that answers as each test says.

Answer = Callable[[int], bytes]  # the n-th request seen on a connection -> raw answer bytes


@asynccontextmanager
async def loopback_server(
    answer: Answer,
    *,
    close_after: int | None = None,
    tls: tuple[ssl.SSLContext, ssl.SSLContext] | None = None,
) -> AsyncIterator[tuple[Endpoint, list[int]]]:
    """A server on a free loopback port; ``connections`` counts accepted connections.
    ``tls``: the server's context and the endpoint's, for HTTPS."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        served = 0
        try:
            while close_after is None or served < close_after:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                served += 1
                writer.write(answer(served))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    served, trusting = tls or (None, None)
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=served)
    port = server.sockets[0].getsockname()[1]
    endpoint = Endpoint("127.0.0.1", port, tls=tls is not None, ssl_context=trusting)
    try:
        yield endpoint, connections
    finally:
        endpoint.close()
        server.close()
        await server.wait_closed()


def ok(body: bytes = b"{}", *extra: bytes) -> bytes:
    headers = b"".join(header + b"\r\n" for header in extra)
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), headers, body)


async def post(endpoint: Endpoint, body: bytes = b"{}", timeout: float = 5) -> tuple[int, bytes]:
    return await endpoint.request("POST", "/", [("Host", "127.0.0.1")], body, timeout=timeout)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 10))


def test_connections_are_kept_alive_and_reused() -> None:
    async def test() -> None:
        async with loopback_server(lambda n: ok(b'{"n":%d}' % n)) as (endpoint, connections):
            answers = [await post(endpoint) for _ in range(3)]
            assert answers == [(200, b'{"n":1}'), (200, b'{"n":2}'), (200, b'{"n":3}')]
            assert len(connections) == 1

    run(test)


def test_an_idle_connection_the_server_closed_is_replaced() -> None:
    async def test() -> None:
        # The server closes each connection after one answer, without saying so.
        async with loopback_server(lambda n: ok(), close_after=1) as (endpoint, connections):
            assert await post(endpoint) == (200, b"{}")
            await asyncio.sleep(0.05)  # the close arrives while the connection is idle
            assert await post(endpoint) == (200, b"{}")
            assert len(connections) == 2

    run(test)


def test_connection_close_is_honoured() -> None:
    async def test() -> None:
        async with loopback_server(lambda n: ok(b"{}", b"Connection: close")) as (
            endpoint,
            connections,
        ):
            await post(endpoint)
            await post(endpoint)
            assert len(connections) == 2

    run(test)


def test_a_chunked_answer_is_read_whole() -> None:
    chunked = (
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n:1}\r\n0\r\n\r\n'
    )

    async def test() -> None:
        async with loopback_server(lambda n: chunked) as (endpoint, _):
            assert await post(endpoint) == (200, b'{"a":1}')
            assert await post(endpoint) == (200, b'{"a":1}')

    run(test)


@pytest.mark.parametrize(
    "answer",
    [
        b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"cut":',  # closed mid-body
        b"NOT HTTP AT ALL\r\n\r\n",  # malformed
    ],
    ids=["cut-off", "malformed"],
)
def test_an_incomplete_answer_is_a_failure_not_an_answer(answer: bytes) -> None:
    async def test() -> None:
        async with loopback_server(lambda n: answer, close_after=1) as (endpoint, connections):
            with pytest.raises(ConnectionFailed):
                await post(endpoint)
            assert len(connections) == 1  # heard from: not silently sent again

    run(test)


def test_an_answer_that_does_not_come_in_time_is_a_time_out_and_the_connection_dropped() -> None:
    async def test() -> None:
        # The first answer comes at once, the second never (the server holds it back).
        async with loopback_server(lambda n: ok() if n == 1 else b"") as (endpoint, connections):
            await post(endpoint)
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await post(endpoint, timeout=0.2)
            assert 0.2 <= time.monotonic() - started < 1
            assert await post(endpoint) == (200, b"{}")  # on a new connection
            assert len(connections) == 2

    run(test)


def test_https_verifies_the_server_and_keeps_the_connection(tmp_path: Path) -> None:
    cert_file, key_file = self_signed(tmp_path)
    served = serving_context(cert_file, key_file)
    trusting = ssl.create_default_context(cafile=str(cert_file))

    async def test() -> None:
        answer: Answer = lambda n: ok(b'{"n":%d}' % n)  # noqa: E731
        async with loopback_server(answer, tls=(served, trusting)) as (endpoint, connections):
            assert await post(endpoint) == (200, b'{"n":1}')
            assert await post(endpoint) == (200, b'{"n":2}')
            assert len(connections) == 1
            # The system's trust store does not know this certificate: no answer is taken.
            untrusting = Endpoint("127.0.0.1", endpoint.port, tls=True)
            with pytest.raises(ConnectionFailed, match="CERTIFICATE_VERIFY_FAILED"):
                await post(untrusting)
            untrusting.close()

    run(test)


# Through an HTTP proxy (HTTPS_PROXY)

NAME = "dynamodb.example.test"  # never resolved here: only the proxy knows where it leads


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "proxied"),
    [
        (NAME, 443, None, True),
        (NAME, 443, "", True),
        ("127.0.0.1", 443, None, False),  # loopback never goes through a proxy
        ("localhost", 8000, None, False),
        ("::1", 443, None, False),
        (NAME, 443, "*", False),
        (NAME, 443, "example.test", False),  # a name covers its subdomains
        (NAME, 443, ".example.test", False),
        (NAME, 443, "other.test, .EXAMPLE.test", False),
        (NAME, 443, "ample.test", True),  # a suffix of a label is not a subdomain
        (NAME, 443, "example.test:443", False),
        (NAME, 443, "example.test:8443", True),
        ("10.0.0.5", 443, "10.0.0.5", False),
        ("10.0.0.5", 443, "10.0.0.50", True),
        ("fd00::5", 443, "[fd00::5]:443", False),
    ],
)
def test_no_proxy_and_loopback_decide_whether_a_proxy_is_used(
    host: str, port: int, no_proxy: str | None, proxied: bool
) -> None:
    proxy = proxy_for(host, port, "http://proxy.internal:3128", no_proxy)
    assert (proxy is not None) == proxied
    assert proxy_for(host, port, None, no_proxy) is None


def test_a_proxy_url_gives_its_address_and_basic_credentials() -> None:
    assert Proxy.from_url("http://proxy.internal") == Proxy("proxy.internal", 80)
    proxy = Proxy.from_url("http://ci%40corp:p%3Ass@10.1.2.3:3128")
    assert (proxy.host, proxy.port) == ("10.1.2.3", 3128)
    assert proxy.authorization == "Basic " + base64.b64encode(b"ci@corp:p:ss").decode()
    for wrong in ("https://proxy:3128", "socks5://proxy:1080", "proxy:3128", "http://:3128"):
        with pytest.raises(ValueError, match="http://"):
            Proxy.from_url(wrong)


def test_https_goes_through_the_proxy_in_one_verified_tunnel_per_connection(
    tmp_path: Path,
) -> None:
    cert_file, key_file = self_signed(tmp_path, NAME)
    served = serving_context(cert_file, key_file)
    trusting = ssl.create_default_context(cafile=str(cert_file))
    credentials = "Basic " + base64.b64encode(b"ci:s3cret").decode()

    async def test() -> None:
        answer: Answer = lambda n: ok(b'{"n":%d}' % n)  # noqa: E731
        async with loopback_server(answer, tls=(served, trusting)) as (server, connections):
            upstream = ("127.0.0.1", server.port)
            with ConnectProxy(upstream, authorization=credentials) as proxy:
                address = ("127.0.0.1", proxy.port)
                endpoint = Endpoint(
                    NAME, 443, tls=True, ssl_context=trusting, proxy=Proxy(*address, credentials)
                )
                assert await post(endpoint) == (200, b'{"n":1}')
                assert await post(endpoint) == (200, b'{"n":2}')
                assert (proxy.tunnels, len(connections)) == ([f"{NAME}:443"], 1)
                endpoint.close()
                # Without the proxy's credentials: refused, and said so.
                refused = Endpoint(NAME, 443, tls=True, ssl_context=trusting, proxy=Proxy(*address))
                with pytest.raises(ConnectionFailed, match=r"refused the tunnel: .*407"):
                    await post(refused)
                refused.close()
                # The tunnel's far end must prove it is the endpoint: TLS is verified inside it.
                untrusting = Endpoint(NAME, 443, tls=True, proxy=Proxy(*address, credentials))
                with pytest.raises(ConnectionFailed, match="CERTIFICATE_VERIFY_FAILED"):
                    await post(untrusting)
                untrusting.close()
                assert proxy.refused == [f"{NAME}:443"]

    run(test)


def test_no_server_is_a_connection_failure() -> None:
    async def test() -> None:
        async with loopback_server(lambda n: ok()) as (endpoint, _):
            pass  # closed: nothing listens on its port any more
        with pytest.raises(ConnectionFailed):
            await post(endpoint)

    run(test)


# DynamoDB's error answers


@pytest.mark.parametrize(
    ("status", "body", "kind", "code", "transient"),
    [
        (
            400,
            b'{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",'
            b'"message":"The conditional request failed"}',
            ConditionalCheckFailed,
            "ConditionalCheckFailedException",
            False,
        ),
        (
            400,
            b'{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"}',
            TableNotFound,
            "ResourceNotFoundException",
            False,
        ),
        (
            400,
            b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException"}',
            DynamoDBError,
            "ThrottlingException",
            True,
        ),
        (400, b'{"__type":"RequestLimitExceeded"}', DynamoDBError, "RequestLimitExceeded", True),
        (
            400,
            b'{"__type":"com.amazon.coral.validate#ValidationException","message":"bad"}',
            DynamoDBError,
            "ValidationException",
            False,
        ),
        (500, b'{"__type":"InternalServerError"}', DynamoDBError, "InternalServerError", True),
        (502, b"<html>Bad Gateway</html>", DynamoDBError, "InternalServerError", True),
        (503, b"", DynamoDBError, "InternalServerError", True),
        (403, b"Forbidden", DynamoDBError, "UnknownError", False),
    ],
)
def test_error_answers_are_read(
    status: int, body: bytes, kind: type[DynamoDBError], code: str, transient: bool
) -> None:
    error = error_from_answer(status, body)
    assert type(error) is kind
    assert (error.status, error.code, error.transient) == (status, code, transient)


# Credentials


def test_expired_credentials_are_resolved_again_from_the_provider_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "credentials"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))

    def rotate(key_id: str) -> None:
        shared.write_text(f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = s\n")

    async def test() -> None:
        credentials = Credentials()
        rotate("FIRST")
        assert (await credentials.key()) == Key("FIRST", "s")
        rotate("SECOND")
        assert (await credentials.key()) == Key("FIRST", "s")  # resolved once, then kept
        credentials.invalidate()  # as after an ExpiredTokenException
        assert (await credentials.key()) == Key("SECOND", "s")

    run(test)
