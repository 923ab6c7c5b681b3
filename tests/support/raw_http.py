"""HTTP/1.1 at the socket: what a hostile or broken client sends, byte for byte, and what came
back (every answer on the connection, and whether the server then closed it).

Used by the hostile-HTTP tests and by ``python -m bench.servers``. Loopback only."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

HOST = "127.0.0.1"
CHUNK = 64 * 1024


@dataclass
class Replies:
    """What the server sent on one connection: its answers in order, then how it ended."""

    statuses: list[int] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    ended: str = "open"  # "closed" (FIN), "reset" (RST) or "open" (still open at the deadline)
    seconds: float = 0.0  # from the first byte sent to the end of reading

    @property
    def first(self) -> int:
        return self.statuses[0] if self.statuses else 0


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection((HOST, port), timeout=timeout)


def send_all(sock: socket.socket, data: bytes) -> int:
    """Send ``data`` in chunks, stopping when the server refuses more; the bytes sent."""
    sent = 0
    try:
        while sent < len(data):
            sent += sock.send(data[sent : sent + CHUNK])
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    return sent


def stream(sock: socket.socket, head: bytes, filler: bytes, size: int, tail: bytes) -> int:
    """Send ``head``, then ``size`` bytes of ``filler`` repeated, then ``tail``, stopping as
    soon as the server stops taking them; the bytes sent."""
    sent = send_all(sock, head)
    block = filler * max(1, CHUNK // len(filler))
    try:
        while sent < size:
            sent += sock.send(block)
        sock.sendall(tail)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    return sent


def read_replies(sock: socket.socket, timeout: float, started: float | None = None) -> Replies:
    """Read answers until the server closes the connection or ``timeout`` has passed since
    ``started`` (by default, now)."""
    started = time.monotonic() if started is None else started
    deadline = started + timeout
    replies, buffer = Replies(), b""
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                data = sock.recv(CHUNK)
            except TimeoutError:
                break
            if not data:
                replies.ended = "closed"
                break
            buffer += data
            buffer = _take_answers(buffer, replies)
    except ConnectionResetError:
        replies.ended = "reset"
    replies.seconds = time.monotonic() - started
    return replies


def _take_answers(buffer: bytes, replies: Replies) -> bytes:
    while b"\r\n\r\n" in buffer:
        head, rest = buffer.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(rest) < length:
            return buffer
        replies.statuses.append(int(lines[0].split()[1]))
        replies.bodies.append(rest[:length])
        buffer = rest[length:]
    return buffer


def exchange(port: int, data: bytes, timeout: float = 5.0) -> Replies:
    """Send ``data`` at once on a new connection and read what comes back."""
    with connect(port) as sock:
        started = time.monotonic()
        send_all(sock, data)
        return read_replies(sock, timeout, started)


def get(path: str = "/healthz", *headers: bytes) -> bytes:
    """A GET request's bytes, with ``headers`` (``b"Name: value"``)."""
    return b"\r\n".join([f"GET {path} HTTP/1.1".encode(), b"Host: t", *headers, b"", b""])


def healthz_seconds(port: int, timeout: float = 10.0) -> float:
    """How long a well-behaved client waits for ``/healthz`` (a new connection);
    ``timeout`` + 1 when no 200 came."""
    started = time.monotonic()
    try:
        replies = exchange(port, get("/healthz", b"Connection: close"), timeout)
    except OSError:
        return timeout + 1
    return time.monotonic() - started if replies.first == 200 else timeout + 1


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
