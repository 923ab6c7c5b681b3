"""HTTP for the client commands: one request, retries that say so on stderr, and the one-line
message a failure ends with. A running service is reached like any other client reaches it."""

from __future__ import annotations

import http.client
import json
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

DEFAULT_URL = "http://127.0.0.1:8080"
# Worth sending again: the service or something in front of it could not take it now.
_RETRY_STATUSES = frozenset({429, 502, 503, 504})


class ClientError(Exception):
    """Ends a command with a one-line message and a non-zero status."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    retry_after: float | None = None


@dataclass(frozen=True)
class Service:
    """Where the service is and what to show it."""

    url: str
    token: str | None = None

    def endpoint(self, path: str, options: dict[str, str | None] | None = None) -> str:
        query = urllib.parse.urlencode({k: v for k, v in (options or {}).items() if v is not None})
        return base_url(self.url) + path + (f"?{query}" if query else "")


def base_url(text: str) -> str:
    """The service's base URL; ``host:port`` alone means ``http://host:port``."""
    text = text.strip().rstrip("/")
    return text if "://" in text else f"http://{text}"


def _request(
    method: str, url: str, body: bytes | None = None, timeout: float = 30, token: str | None = None
) -> Response:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Response(response.status, response.read())
    except urllib.error.HTTPError as error:
        retry_after = error.headers.get("Retry-After", "")
        seconds = float(retry_after) if retry_after.isdigit() else None
        return Response(error.code, error.read(), seconds)


def error_text(response: Response) -> str:
    """What a failed answer means, in one line."""
    if response.status == 401:
        return (
            "the service needs a token: pass --token or set DEPLOYSTATUS_TOKEN "
            "(deploystatus token create makes one)"
        )
    try:
        document = json.loads(response.body)
        text = str(document.get("message", ""))
        problems = document.get("problems") or []
        details = "; ".join(
            f"record {p['record']} {p['field']}: {p['message']}" for p in problems[:5]
        )
        return f"{text} ({details})" if details else text
    except (ValueError, AttributeError, KeyError, TypeError):
        return response.body.decode(errors="replace")[:200]


def error_code(response: Response) -> str | None:
    try:
        code = json.loads(response.body).get("error")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) else None


def _say_retry(problem: str, wait: float, attempt: int, attempts: int) -> None:
    print(
        f"deploystatus: {problem}; retrying in {wait:.1f} s (attempt {attempt + 1} of {attempts})",
        file=sys.stderr,
        flush=True,
    )


def send_with_retries(
    service: Service,
    method: str,
    path: str,
    body: bytes | None,
    *,
    attempts: int,
    options: dict[str, str | None] | None = None,
    max_delay: float = 8.0,
) -> Response:
    """Send, retrying connection failures and 429/502/503/504 with backoff and jitter; each
    retry is one line on stderr, so that a pipeline never waits in silence.

    Safe for ``POST /records``: the service stores a record once however often it is sent.
    """
    url = service.endpoint(path, options)
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            response = _request(method, url, body, token=service.token)
        except ValueError as error:  # urllib: no scheme, bad port...
            raise ClientError(f"invalid URL {url!r}: {error}") from error
        except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out
            reason = getattr(error, "reason", error)
            if attempt == attempts:
                raise ClientError(f"cannot reach {url}: {reason}") from error
            wait = min(random.uniform(0, delay), max_delay)
            _say_retry(f"cannot reach {url}: {reason}", wait, attempt, attempts)
        else:
            if response.status not in _RETRY_STATUSES or attempt == attempts:
                return response
            wait = min(max(random.uniform(0, delay), response.retry_after or 0), max_delay)
            _say_retry(f"{response.status} from {url}", wait, attempt, attempts)
        time.sleep(wait)
        delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable")


def get(service: Service, path: str, options: dict[str, str | None] | None = None) -> bytes:
    """A read: the body of a ``200``, or the command ends with the service's message."""
    response = send_with_retries(service, "GET", path, None, attempts=3, options=options)
    if response.status != 200:
        raise ClientError(f"{response.status}: {error_text(response)}")
    return response.body
