"""A small HTTP/1.1 client for one endpoint: keep-alive connections, one request at a time
on each, answers parsed by httptools (the parser uvicorn serves with).

The DynamoDB client needs nothing else (``POST /`` of a JSON body, an answer with a status
and a body), and a general-purpose client costs several times the CPU per call: on this
service's hot path that CPU is most of what a request costs.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import httptools

from deploystatus.config import is_loopback_host, proxy_address


class ConnectionFailed(ConnectionError):
    """No complete answer came: refused, reset, closed early or malformed."""


class _Connection(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Kept: asyncio.get_running_loop() is a system call (getpid) on every use.
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None
        self._body: list[bytes] = []
        self._keep_alive = False
        self.open = False
        self.heard = False  # some of the current answer has arrived

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.attach(transport)

    def attach(self, transport: asyncio.BaseTransport) -> None:
        # uvloop calls connection_made only after create_connection has returned; its
        # transports are not asyncio.Transport subclasses, hence the cast.
        if self._transport is None:
            self._transport = cast(asyncio.Transport, transport)
            self.open = True

    def data_received(self, data: bytes) -> None:
        if self._answer is None:  # nothing asked: the server must not speak
            self.close()
            return
        self.heard = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionFailed(f"malformed HTTP answer: {exc}"))

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self._fail(ConnectionFailed(f"connection closed before the answer ended: {exc!r}"))

    # httptools callbacks

    def on_headers_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_result((self._parser.get_status_code(), b"".join(self._body)))
        self._answer = None
        self._body = []
        if not self._keep_alive:
            self.close()

    # Use

    def _fail(self, exc: Exception) -> None:
        answer = self._answer
        self._answer = None
        if answer is not None and not answer.done():
            answer.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.open = False
        if self._transport is not None:
            self._transport.close()

    async def exchange(self, head: bytes, body: bytes, deadline: float) -> tuple[int, bytes]:
        """Send a request, wait for its answer until ``deadline`` (loop time), else
        `TimeoutError` (and the connection is closed: its answer may still come)."""
        assert self._transport is not None and self._answer is None
        if self._transport.is_closing():
            raise ConnectionFailed("the connection was closed")
        self.heard = False
        loop = self._loop
        answer: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        self._answer = answer
        # A timer handle, not asyncio.timeout(): a fraction of the cost, on every call.
        timer = loop.call_at(deadline, self._fail, TimeoutError("no answer in time"))
        try:
            self._transport.write(head + body)
            return await answer
        finally:
            timer.cancel()


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy that HTTPS goes through in a tunnel (``CONNECT``)."""

    host: str
    port: int
    authorization: str | None = None  # the Proxy-Authorization header's value

    @classmethod
    def from_url(cls, url: str) -> Proxy:
        """``http://[user:password@]host[:port]`` (port 80 by default)."""
        address = proxy_address(url)
        authorization = None
        if address.username is not None:
            credentials = f"{address.username}:{address.password}"
            authorization = "Basic " + base64.b64encode(credentials.encode()).decode()
        return cls(address.host, address.port, authorization)


def proxy_for(host: str, port: int, proxy_url: str | None, no_proxy: str | None) -> Proxy | None:
    """The proxy an HTTPS endpoint is reached through, as ``HTTPS_PROXY`` and ``NO_PROXY``
    say, by Go's rules (the reference's AWS SDK followed them): none for a loopback host,
    none for a host that a ``NO_PROXY`` entry names (``*``; a name, which also covers its
    subdomains, a leading dot ignored; an IP address; either with ``:port``, that port
    only)."""
    host = host.lower().strip("[]")
    if not proxy_url or is_loopback_host(host):
        return None
    for entry in (no_proxy or "").lower().replace(",", " ").split():
        if entry == "*":
            return None
        name, entry_port = _split_port(entry)
        name = name.lstrip(".")
        if (host == name or host.endswith("." + name)) and entry_port in (None, str(port)):
            return None
    return Proxy.from_url(proxy_url)


def _split_port(entry: str) -> tuple[str, str | None]:
    """``name``, ``name:port``, ``[v6]:port`` or a bare IPv6 address."""
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        return name, rest.removeprefix(":") or None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        return name, port
    return entry, None


class _TunnelAnswer(asyncio.Protocol):
    """The proxy's answer to ``CONNECT``: its head; after it, the tunnel is the target's."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.head: asyncio.Future[bytes] = loop.create_future()
        self._received = b""

    def data_received(self, data: bytes) -> None:
        if self.head.done():
            return
        self._received += data
        head, end, rest = self._received.partition(b"\r\n\r\n")
        if rest:  # nothing may come before TLS starts
            self.head.set_exception(ConnectionFailed("the proxy spoke after its answer"))
        elif end:
            self.head.set_result(head)
        elif len(self._received) > 16_384:
            self.head.set_exception(ConnectionFailed("the proxy's answer has no end"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.head.done():
            self.head.set_exception(ConnectionFailed(f"the proxy closed the connection: {exc!r}"))


class Endpoint:
    """Requests to one host and port, over a pool of reused connections."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: bool,
        max_idle: int = 64,
        ssl_context: ssl.SSLContext | None = None,
        proxy: Proxy | None = None,
    ) -> None:
        """``tls``: HTTPS, with the system's trusted certificates unless ``ssl_context``
        says otherwise; through ``proxy``'s tunnel when given (HTTPS only)."""
        if proxy is not None and not tls:
            raise ValueError("only HTTPS goes through a proxy")
        self.host = host
        self.port = port
        self._proxy = proxy
        self._ssl: ssl.SSLContext | None = (
            (ssl_context or ssl.create_default_context()) if tls else None
        )
        self._idle: list[_Connection] = []
        self._max_idle = max_idle
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None  # the first request's

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Connection:
        try:
            async with asyncio.timeout_at(deadline):
                if self._proxy is not None:
                    return await self._tunnel(loop, self._proxy)
                transport, connection = await loop.create_connection(
                    lambda: _Connection(loop),
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None,
                )
        except TimeoutError:
            raise
        except OSError as exc:  # ConnectionFailed is one
            proxy = self._proxy
            via = f" through the proxy {proxy.host}:{proxy.port}" if proxy else ""
            message = f"cannot connect to {self.host}:{self.port}{via}: {exc}"
            raise ConnectionFailed(message) from exc
        connection.attach(transport)
        return connection

    async def _tunnel(self, loop: asyncio.AbstractEventLoop, proxy: Proxy) -> _Connection:
        """A connection to the endpoint through ``CONNECT`` on the proxy, TLS inside it."""
        assert self._ssl is not None
        transport, answer = await loop.create_connection(
            lambda: _TunnelAnswer(loop), proxy.host, proxy.port
        )
        try:
            target = f"{self.host}:{self.port}"
            lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
            if proxy.authorization is not None:
                lines.append(f"Proxy-Authorization: {proxy.authorization}")
            transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            status_line = (await answer.head).split(b"\r\n", 1)[0].decode("latin-1")
            if status_line.split(" ", 2)[1:2] != ["200"]:
                raise ConnectionFailed(f"the proxy refused the tunnel: {status_line!r}")
            connection = _Connection(loop)
            secure = await loop.start_tls(
                transport, connection, self._ssl, server_hostname=self.host
            )
        except BaseException:
            transport.close()
            raise
        assert secure is not None
        connection.attach(secure)
        return connection

    def _reusable(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()  # the most recently used: least likely to be stale
            if connection.open:
                return connection
        return None

    async def request(
        self,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        *,
        timeout: float,
    ) -> tuple[int, bytes]:
        """The status and body of the answer, within ``timeout`` seconds (else
        `TimeoutError`). An idle connection the server closed in the meantime (it fails
        before a byte of the answer) is replaced at once, the request sent again on a new
        one: callers send only requests that are safe to repeat."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        lines = [f"{method} {path} HTTP/1.1"]
        lines.extend(f"{name}: {value}" for name, value in headers)
        lines.append(f"Content-Length: {len(body)}\r\n\r\n")
        head = "\r\n".join(lines).encode("latin-1")
        connection = self._reusable()
        if connection is not None:
            try:
                return self._done(connection, await connection.exchange(head, body, deadline))
            except ConnectionFailed:
                if connection.heard:
                    raise
                # It went stale while idle: one more try, on a new connection.
            except BaseException:
                connection.close()  # cancelled mid-answer: the connection is unusable
                raise
        connection = await self._connect(loop, deadline)
        try:
            return self._done(connection, await connection.exchange(head, body, deadline))
        except BaseException:
            connection.close()
            raise

    def _done(self, connection: _Connection, answer: tuple[int, bytes]) -> tuple[int, bytes]:
        if connection.open and not self._closed and len(self._idle) < self._max_idle:
            self._idle.append(connection)
        else:
            connection.close()
        return answer

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()
