"""A TCP proxy between the service and its DynamoDB engine, to make DynamoDB slow or
throttling at the network boundary, with no change to the code under test.

It listens on a free loopback port and forwards each HTTP request to the engine. It can
hold each answer for ``delay`` seconds, answer the next ``throttle`` requests itself with
DynamoDB's ``ThrottlingException``, and counts requests (in flight, at most in flight).
It runs its own event loop in a thread; ``with`` stops it, and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from dataclasses import dataclass
from types import TracebackType

START_TIMEOUT = 10.0
_THROTTLED = json.dumps(
    {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate exceeded"}
).encode()


@dataclass
class _Connection:
    pending: bool = False  # a request went to the engine and its answer is not back yet


class DelayingProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay = 0.0  # seconds each answer of the engine is held
        self.throttle = 0  # the next this-many requests are answered "throttled" by the proxy
        self.forwarded = 0  # requests sent to the engine
        self.throttled = 0  # requests answered "throttled"
        self.in_flight = 0  # requests sent to the engine, not yet answered
        self.max_in_flight = 0
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="delaying-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> DelayingProxy:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT) or self._failure is not None:
            raise RuntimeError(f"the proxy did not start: {self._failure!r}")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(START_TIMEOUT)

    # In the proxy's thread

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by __enter__, or lost at teardown
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        handlers: set[asyncio.Task[None]] = set()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            handlers.add(task)
            try:
                await self._serve(reader, writer)
            finally:
                handlers.discard(task)
                writer.close()

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            for task in list(handlers):
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

    def _begin(self, connection: _Connection) -> None:
        connection.pending = True
        self.forwarded += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _end(self, connection: _Connection) -> None:
        if connection.pending:
            connection.pending = False
            self.in_flight -= 1

    async def _serve(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        engine, to_engine = await asyncio.open_connection(*self.upstream)
        connection = _Connection()
        answers = asyncio.ensure_future(self._answers(connection, engine, to_client))
        try:
            while True:
                request = await _read_request(client)
                if request is None:
                    return  # the client closed the connection
                if self.throttle > 0:
                    self.throttle -= 1
                    self.throttled += 1
                    to_client.write(
                        b"HTTP/1.1 400 Bad Request\r\n"
                        b"Content-Type: application/x-amz-json-1.0\r\n"
                        + f"Content-Length: {len(_THROTTLED)}\r\n\r\n".encode()
                        + _THROTTLED
                    )
                    await to_client.drain()
                    continue
                self._begin(connection)
                to_engine.write(request)
                await to_engine.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._end(connection)  # a client that gave up no longer waits for an answer
            answers.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await answers
            to_engine.close()

    async def _answers(
        self, connection: _Connection, engine: asyncio.StreamReader, to_client: asyncio.StreamWriter
    ) -> None:
        """The engine's bytes to the client, each answer held for ``delay`` first."""
        while data := await engine.read(65536):
            if connection.pending and self.delay > 0:
                await asyncio.sleep(self.delay)
            self._end(connection)
            to_client.write(data)
            await to_client.drain()
        to_client.close()


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One HTTP/1.1 request with a Content-Length body (as aiohttp sends them), or None at
    the end of the stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return head + (await reader.readexactly(length) if length else b"")
