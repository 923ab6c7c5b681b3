"""One delivery attempt: a POST, its outcome, and never an exception for the network's sake.

A receiver is untrusted: its answer is read up to 1 KB at most, a redirect is not followed
(it could point anywhere, the service's own network included), and what it says goes into
the error only as a short excerpt without control characters, with the delivery's
signature removed should the receiver echo it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from deploystatus.feed._signing import SIGNATURE_HEADER
from deploystatus.feed._targets import TargetRefused

USER_AGENT = "deploystatus-webhooks"
READ_MAX = 1024  # bytes of a response ever read
EXCERPT_MAX = 200  # characters of it kept in an error
ERROR_MAX = 1000  # characters of an error, for a refusal naming several addresses
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]+")


@dataclass(frozen=True, slots=True)
class Attempt:
    status: int | None  # None: no HTTP answer (refused target, timeout, connection error)
    latency_ms: float
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _sensitive(headers: Mapping[str, str]) -> list[str]:
    """The signature header's value and each of its digests, longest first."""
    found: set[str] = set()
    for name, value in headers.items():
        if name.lower() == SIGNATURE_HEADER.lower():
            found.add(value)
            for part in value.split():
                found.update((part, part.partition("=")[2]))
    return sorted((text for text in found if len(text) >= 8), key=len, reverse=True)


def _clean(text: str, sensitive: list[str], limit: int) -> str:
    """``text`` on one line, without control characters or the signature, cut to ``limit``."""
    text = _CONTROL.sub(" ", text)
    for secret in sensitive:
        text = text.replace(secret, "[redacted]")
        # A digest cut short where the read stopped.
        for size in range(len(secret) - 1, 7, -1):
            if text.endswith(secret[:size]):
                text = text[:-size] + "[redacted]"
                break
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _read_some(response: aiohttp.ClientResponse) -> bytes:
    """Up to `READ_MAX` bytes of the body; a short body is read to its end, so that the
    connection can go back to the pool, a longer one is closed with the response."""
    data = b""
    while len(data) < READ_MAX:
        chunk = await response.content.read(READ_MAX - len(data))
        if not chunk:
            break
        data += chunk
    return data


async def attempt(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout_seconds: float,
) -> Attempt:
    """POST ``body`` to ``url`` once. Network failures, timeouts and refused targets are
    an `Attempt` with ``status`` None and an ``error`` saying what happened."""
    sensitive = _sensitive(headers)
    request_headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "identity",
        **headers,
    }
    started = time.perf_counter()

    def outcome(status: int | None, error: str | None) -> Attempt:
        latency_ms = (time.perf_counter() - started) * 1000
        return Attempt(
            status, latency_ms, None if error is None else _clean(error, sensitive, ERROR_MAX)
        )

    status: int | None = None
    location = answer = ""
    failure: str | None = None
    try:
        async with (
            asyncio.timeout(timeout_seconds),
            session.post(
                url,
                data=body,
                headers=request_headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout_seconds),
            ) as response,
        ):
            status = response.status
            location = response.headers.get("Location", "")
            answer = (await _read_some(response)).decode("utf-8", "replace")
    except TimeoutError:
        failure = f"no answer within {timeout_seconds:g} s"
    except TargetRefused as exc:
        failure = str(exc)
    except aiohttp.ClientConnectorError as exc:
        refused = exc.os_error
        failure = str(refused) if isinstance(refused, TargetRefused) else str(exc)
    except aiohttp.InvalidURL:
        failure = "not a valid URL"
    except (aiohttp.ClientError, OSError) as exc:
        failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if status is None:
        return outcome(None, failure)
    # With a status, a failure can only be in reading the body, which the status decides.
    if 200 <= status < 300:
        return outcome(status, None)
    if 300 <= status < 400:
        location = _clean(location, sensitive, EXCERPT_MAX)
        where = f"redirect to {location}" if location else "redirect"
        return outcome(status, f"HTTP {status}: {where} not followed")
    excerpt = _clean(answer, sensitive, EXCERPT_MAX)
    return outcome(status, f"HTTP {status}: {excerpt}" if excerpt else f"HTTP {status}")
