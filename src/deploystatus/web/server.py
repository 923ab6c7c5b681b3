"""The HTTP server the service runs in: uvicorn with httptools, bounded (_bounded_http.py).

Chosen by measurement against uvicorn's h11 mode, Hypercorn and Granian, on the hostile list
and on write and read throughput (docs/reliability.md, "The HTTP layer"; ``python -m
bench.servers`` reproduces it).
"""

from __future__ import annotations

import functools
import resource
from typing import Any

from deploystatus.config import Settings

from ._bounded_http import BoundedHttpToolsProtocol, HttpLimits

# Open files a process needs besides HTTP clients: DynamoDB connections (max_concurrent_calls
# of them at most), refused connections held for a moment (16 at most, _bounded_http.py),
# logs, the listening socket, the interpreter's own.
_RESERVED_FILES = 32

__all__ = ["HttpLimits", "connection_ceiling", "http_limits", "server_options"]


def connection_ceiling(max_concurrent_calls: int) -> int:
    """The most client connections this process can hold under its open-file limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1_000_000
    return soft - max_concurrent_calls - _RESERVED_FILES


def http_limits(settings: Settings) -> HttpLimits:
    """The limits from the settings; the connection cap defaults to what the open-file limit
    allows (at most 1,000), and a configured cap above it is refused (ValueError)."""
    ceiling = connection_ceiling(settings.max_concurrent_calls)
    cap = settings.http_max_connections
    if cap is None:
        cap = min(1000, ceiling)
    elif cap > ceiling:
        raise ValueError(
            f"DEPLOYSTATUS_HTTP_MAX_CONNECTIONS={cap} is more than this process's open-file "
            f"limit allows ({ceiling}); lower it or raise the limit (ulimit -n)"
        )
    if cap < 1:
        raise ValueError(
            f"the open-file limit leaves no room for client connections (ulimit -n {ceiling})"
        )
    return HttpLimits(
        max_header_bytes=settings.http_max_header_bytes,
        max_headers=settings.http_max_headers,
        header_timeout=settings.http_header_timeout_seconds,
        idle_timeout=settings.http_idle_timeout_seconds,
        max_connections=cap,
    )


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for serving the app: the bounded protocol, no banner."""
    limits = http_limits(settings)
    return {
        "loop": "uvloop",
        "http": functools.partial(BoundedHttpToolsProtocol, limits=limits),
        "timeout_keep_alive": limits.idle_timeout,
        "server_header": False,  # no "Server: uvicorn": nothing to fingerprint
        "access_log": False,  # the service logs each request itself (observability.py)
        "timeout_graceful_shutdown": settings.shutdown_timeout_seconds,
    }
