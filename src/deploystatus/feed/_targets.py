"""Where a webhook may be delivered: never to the service's own network (SSRF).

A subscriber chooses the URL, so without a check it could make the service POST to its own
loopback, the cloud metadata address or any private host. The check is made on the
address a connection is actually opened to, after resolution: a name that resolves to a
public address when a subscription is made and to 127.0.0.1 later (DNS rebinding) is
refused when it matters. `make_session` builds the only client deliveries should use:
its connector resolves through `GuardedResolver` and checks IP-literal hosts itself.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

if TYPE_CHECKING:
    from aiohttp.connector import Connection
    from aiohttp.tracing import Trace

ALLOW_VARIABLE = "DEPLOYSTATUS_WEBHOOK_ALLOW_PRIVATE"
URL_MAX = 2048

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Blocks that are never a webhook's home, with the reason given for them, first match wins.
_V4_REFUSED: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(block), reason)
    for block, reason in (
        ("0.0.0.0/32", "unspecified"),
        ("0.0.0.0/8", "reserved"),  # "this network"
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "private"),  # shared address space (carrier-grade NAT)
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),  # cloud metadata lives at 169.254.169.254
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "reserved"),
        ("192.88.99.0/24", "reserved"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "reserved"),
        ("198.51.100.0/24", "reserved"),
        ("203.0.113.0/24", "reserved"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),  # includes the broadcast address
    )
)
_V6_REFUSED: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(block), reason)
    for block, reason in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fe80::/10", "link-local"),
        ("fc00::/7", "private"),
        ("fec0::/10", "reserved"),  # the deprecated site-local
        ("ff00::/8", "multicast"),
        ("2001::/23", "reserved"),  # IETF protocol assignments, Teredo among them
        ("2001:db8::/32", "reserved"),
        ("64:ff9b:1::/48", "reserved"),  # local-use NAT64
    )
)
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class TargetRefused(OSError):
    """A webhook target that the policy refuses, saying which address and why.

    An `OSError`, as aiohttp requires of a resolver's failure: its connector then raises
    `aiohttp.ClientConnectorError` with this as ``os_error`` and this text in its own."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.strerror = message  # what aiohttp's ClientConnectorError shows

    def __str__(self) -> str:
        return str(self.args[0])


def check_url(url: str) -> str | None:
    """Why ``url`` can never be a webhook target, None if it may be one (whether its
    address is allowed is only known when connecting)."""
    if len(url) > URL_MAX:
        return f"is longer than {URL_MAX} characters"
    if any(c.isspace() or not c.isprintable() for c in url):
        return "must not contain spaces or control characters"
    if "#" in url:
        return "must not have a fragment (#...)"
    try:
        parsed = URL(url)  # as aiohttp will parse it
        authority = urlsplit(url).netloc
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parsed.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parsed.raw_host:
        return "has no host"
    if "@" in authority:
        return "must not contain user information (user:password@)"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form stands for: mapped, compatible, NAT64 or 6to4."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """Which addresses a webhook may be delivered to: public unicast ones, and any address
    inside ``allowed`` (``DEPLOYSTATUS_WEBHOOK_ALLOW_PRIVATE``), whatever its kind."""

    allowed: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> TargetPolicy:
        """From comma-separated networks and addresses, e.g. ``127.0.0.0/8,::1``."""
        allowed: list[Network] = []
        for entry in (text or "").split(","):
            entry = entry.strip()
            if not entry:
                continue
            try:
                allowed.append(ipaddress.ip_network(entry))
            except ValueError as exc:
                raise ValueError(
                    f"{ALLOW_VARIABLE}: {entry!r} is not an IP address or network "
                    f"(give CIDRs such as 10.0.0.0/8 or fd00::/8, comma-separated): {exc}"
                ) from None
        return cls(tuple(allowed))

    def classify(self, address: str) -> str | None:
        """None if ``address`` may be connected to, else why not: loopback, link-local,
        private, multicast, unspecified or reserved. An IPv6 form of an IPv4 address
        (``::ffff:127.0.0.1``, NAT64 ``64:ff9b::7f00:1``) is judged as that address.
        ``ValueError`` if ``address`` is not an IP address."""
        verdict = self._verdict(ipaddress.ip_address(address))
        return None if verdict is None else verdict[0]

    def refusal(self, address: str) -> str | None:
        """What `TargetRefused` says about ``address``, None if it is allowed."""
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return f"{address} is not an IP address: not allowed as a webhook target"
        verdict = self._verdict(parsed)
        if verdict is None:
            return None
        reason, block = verdict
        if isinstance(parsed, ipaddress.IPv6Address):
            embedded = _embedded_ipv4(parsed)
            if embedded is not None:
                address = f"{address} ({embedded})"
        return (
            f"{address} is {reason}: not allowed as a webhook target; "
            f"allow it with {ALLOW_VARIABLE}={block}"
        )

    def _verdict(self, address: Address) -> tuple[str, str] | None:
        """(reason, the block to allow) or None."""
        if any(address in network for network in self.allowed):
            return None
        if isinstance(address, ipaddress.IPv4Address):
            for network, reason in _V4_REFUSED:
                if address in network:
                    return reason, str(network)
            return None
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return self._verdict(embedded)
        for network6, reason in _V6_REFUSED:
            if address in network6:
                return reason, str(network6)
        if address not in _GLOBAL_UNICAST:
            return "reserved", str(ipaddress.IPv6Network((int(address), 128)))
        return None


class GuardedResolver(AbstractResolver):
    """Resolves with aiohttp's threaded resolver (the system's getaddrinfo) or ``inner``,
    and keeps only the addresses ``policy`` allows; `TargetRefused` if none is left.

    aiohttp connects to exactly the addresses a resolver returns, so what is checked here
    is what is connected to. Create it inside a running event loop."""

    def __init__(self, policy: TargetPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = aiohttp.ThreadedResolver() if inner is None else inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        kept: list[ResolveResult] = []
        refusals: list[str] = []
        for result in results:
            refusal = self.policy.refusal(result["host"])
            if refusal is None:
                kept.append(result)
            else:
                refusals.append(refusal)
        if kept:
            return kept
        raise TargetRefused(f"{host}: {'; '.join(refusals) or 'resolves to no address'}")

    async def close(self) -> None:
        await self._inner.close()


class _GuardedConnector(aiohttp.TCPConnector):
    """Resolves through `GuardedResolver`, and checks IP-literal hosts itself: aiohttp
    does not pass those to the resolver."""

    def __init__(self, policy: TargetPolicy) -> None:
        super().__init__(
            resolver=GuardedResolver(policy),
            # Each new connection resolves afresh and is checked on that very answer; the
            # pool's keep-alive makes new connections, and so lookups, rare.
            use_dns_cache=False,
            # ~500 deliveries/s at ~100 ms each is ~50 requests in flight to one receiver.
            limit=256,
            limit_per_host=64,
            keepalive_timeout=30,
        )
        self.policy = policy

    async def connect(
        self, req: aiohttp.ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> Connection:
        host = req.url.raw_host or ""
        # aiohttp's own test for "an IP literal, not a name" (helpers.is_ip_address).
        if ":" in host or host.replace(".", "").isdigit():
            refusal = self.policy.refusal(host)
            if refusal is not None:
                raise aiohttp.ClientConnectorError(req.connection_key, TargetRefused(refusal))
        return await super().connect(req, traces, timeout)


def make_session(policy: TargetPolicy, *, timeout_seconds: float) -> aiohttp.ClientSession:
    """The client for deliveries; create it inside a running event loop, close it when done.

    Only addresses ``policy`` allows are connected to. No cookies kept (a receiver must
    not steer later deliveries), no proxy or netrc taken from the environment, responses
    left compressed (only a short excerpt of one is ever read).
    """
    return aiohttp.ClientSession(
        connector=_GuardedConnector(policy),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        auto_decompress=False,
        timeout=aiohttp.ClientTimeout(total=timeout_seconds),
    )
