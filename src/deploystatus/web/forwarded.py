"""Whether a request reached the service over https: said by the connection itself, or by a
proxy the settings trust (``DEPLOYSTATUS_TRUSTED_PROXIES``) in ``X-Forwarded-Proto``. Anyone
else's ``X-Forwarded-*`` is ignored: a client could claim anything."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.requests import Request


def _trusted(host: str, networks: Sequence[str]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # not an address (a Unix socket, a test client): never trusted
    return any(address in ipaddress.ip_network(network) for network in networks)


def over_https(request: Request, trusted_proxies: Sequence[str]) -> bool:
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client is not None else ""
    if not trusted_proxies or not _trusted(peer, trusted_proxies):
        return False
    # The last value is the one the nearest proxy (the trusted one) added or set.
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")
    return forwarded[-1].strip().lower() == "https"
