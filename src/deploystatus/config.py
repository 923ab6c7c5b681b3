"""Settings, read once from the environment and passed down; never a module-level global."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import unquote, urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .logs import LogFormat, LogLevel
from .states import DEFAULT_RULES, Rules, parse_rules
from .tokens import ApiToken, parse_tokens

MIN_CURSOR_SECRET_BYTES = 32


@dataclass(frozen=True)
class ProxyAddress:
    """An HTTP proxy's address, as ``HTTPS_PROXY`` gives it."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None


def is_loopback_host(host: str) -> bool:
    """``host`` (lower case, without brackets) names this machine: ``localhost`` or a
    loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def proxy_address(url: str) -> ProxyAddress:
    """``http://[user:password@]host[:port]`` (port 80 by default)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError("a proxy is an http://[user:password@]host[:port] URL")
    try:
        port = parts.port or 80
    except ValueError as exc:  # a port out of range or not a number
        raise ValueError("a proxy's port is a number from 1 to 65535") from exc
    if parts.username is None:
        return ProxyAddress(parts.hostname, port)
    return ProxyAddress(
        parts.hostname, port, unquote(parts.username), unquote(parts.password or "")
    )


class Settings(BaseSettings):
    """Every setting is an environment variable: ``DEPLOYSTATUS_<FIELD>`` unless an AWS or
    POSIX name is standard for it (``AWS_ENDPOINT_URL_DYNAMODB``, ``AWS_REGION``, ``TZ``).
    AWS credentials are not settings: botocore's provider chain finds them."""

    model_config = SettingsConfigDict(
        env_prefix="DEPLOYSTATUS_", frozen=True, extra="ignore", populate_by_name=True
    )

    table: str = "deployment-status"
    endpoint_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "endpoint_url", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"
        ),
    )
    region: str | None = Field(
        default=None, validation_alias=AliasChoices("region", "AWS_REGION", "AWS_DEFAULT_REGION")
    )
    # PEM certificates to trust for an https endpoint instead of the system's, as AWS SDKs do.
    ca_bundle: str | None = Field(
        default=None, validation_alias=AliasChoices("ca_bundle", "AWS_CA_BUNDLE")
    )
    # An https endpoint is reached through this HTTP proxy unless NO_PROXY names it.
    https_proxy: str | None = Field(
        default=None, validation_alias=AliasChoices("https_proxy", "HTTPS_PROXY")
    )
    no_proxy: str | None = Field(
        default=None, validation_alias=AliasChoices("no_proxy", "NO_PROXY")
    )
    timezone: str | None = Field(default=None, validation_alias=AliasChoices("timezone", "TZ"))
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    max_records: int = Field(default=1000, gt=0)
    dynamodb_retry_seconds: float = Field(default=5.0, gt=0)
    dynamodb_timeout_seconds: float = Field(default=10.0, gt=0)
    max_concurrent_calls: int = Field(default=64, gt=0)
    retry_after_seconds: int = Field(default=1, ge=0)
    # A record more than this far ahead of the server's clock is refused (records.py).
    max_clock_skew_seconds: int = Field(default=300, gt=0)
    # A request body must arrive within this time: uvicorn bounds no body read by itself.
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    # The HTTP layer (web/server.py): a request's line and headers, their count, the time
    # they may take, how long an idle keep-alive connection stays open (above a load
    # balancer's usual 60 s, so that it never reuses a connection the service has closed),
    # and open connections per process (None: what the open-file limit allows, <= 1000).
    http_max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    http_max_headers: int = Field(default=100, ge=8)
    http_header_timeout_seconds: float = Field(default=10.0, gt=0)
    http_idle_timeout_seconds: float = Field(default=65.0, gt=0)
    http_max_connections: int | None = Field(default=None, gt=0)
    # Authentication: NAME:SHA256:SCOPES entries (see tokens.py); none means it is off.
    tokens: Annotated[tuple[ApiToken, ...], NoDecode] = ()
    require_auth: bool = False
    # Proxies whose X-Forwarded-Proto is believed (IP addresses or networks, comma-separated),
    # e.g. the load balancer that terminates TLS; everyone else's is ignored.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    # Logs: None is the command's default (json for serve, text for dev).
    log_format: LogFormat | None = None
    log_level: LogLevel = "info"
    shutdown_timeout_seconds: int = Field(default=10, ge=0)
    # Query options and the status board (queries.py, cursors.py, board.py).
    cursor_secret: SecretStr | None = None  # unset: random per process (see cursors.py)
    state_classes: str | None = None  # CLASS=KEYWORD,...;... (states.parse_rules)
    board_refresh_seconds: float = Field(default=5.0, gt=0)
    # The board's environment columns: comma-separated patterns (fnmatch: dev,staging,prod-*)
    # in the order the columns come, the rest alphabetical after them; and the columns to
    # mark as key environments (prod-*). See board/matrix.py, Layout.
    board_environments: str | None = None
    board_emphasis: str | None = None
    # A deployable in progress for longer than this is stuck (facts.py).
    stuck_after_seconds: int = Field(default=3600, gt=0)
    # History items expire this many days after their record's time (a DynamoDB TTL on the
    # Expires attribute; reads leave expired items out at once). None: kept for ever.
    history_retention_days: int | None = Field(default=None, gt=0, le=36_500)
    # The change feed (docs/design.md, "The change feed"): each transition's event is kept
    # this many days (a TTL on Expires; reads skip expired events at once).
    events: bool = True
    event_retention_days: int = Field(default=7, gt=0, le=365)
    # How often a process reads the log for its stream clients and webhooks, how long an
    # event must be old before it is sent (so that events go out in position order), and
    # how often an idle stream gets a heartbeat comment.
    events_poll_seconds: float = Field(default=0.25, gt=0, le=60)
    events_hold_seconds: float = Field(default=0.5, ge=0, le=60)
    events_heartbeat_seconds: float = Field(default=15.0, gt=0, le=3600)
    # Stream clients one process serves at most (each holds a connection); beyond, 503.
    events_max_streams: int = Field(default=2000, gt=0)
    # Webhooks (docs/design.md, "Webhooks"): whether this process delivers them; the
    # networks a target may be in besides public addresses (comma-separated CIDRs; none by
    # default: loopback, link-local, private and multicast targets are refused); one
    # attempt's time limit; how long a failing delivery is retried before the subscription
    # is paused; the longest wait between two attempts; a process's hold on a
    # subscription it delivers; deliveries of one subscription in flight at once.
    webhooks: bool = True
    webhook_allow_private: str | None = None
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    webhook_retry_hours: float = Field(default=8.0, gt=0, le=24 * 7)
    webhook_backoff_max_seconds: float = Field(default=600.0, gt=0, le=86_400)
    webhook_lease_seconds: float = Field(default=15.0, ge=1, le=3600)
    webhook_window: int = Field(default=32, ge=1, le=256)
    # /docs, the Swagger UI page: its script and stylesheet come from a third-party CDN, on the
    # board's origin, so it is off unless asked for (/openapi.json is always served).
    api_docs: bool = False

    @field_validator("ca_bundle")
    @classmethod
    def _check_ca_bundle(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            ssl.create_default_context(cafile=value)
        except OSError as exc:  # SSLError too: stop at start, not at the first call
            raise ValueError(
                f"AWS_CA_BUNDLE: not a readable file of PEM certificates ({exc.strerror})"
            ) from exc
        return value

    @field_validator("https_proxy")
    @classmethod
    def _check_https_proxy(cls, value: str | None) -> str | None:
        if not value:
            return None
        proxy_address(value)  # its ValueError says what is wrong, never the value
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_trusted_proxies(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        networks = []
        for entry in value.replace(",", " ").split():
            try:
                networks.append(str(ipaddress.ip_network(entry, strict=False)))
            except ValueError as exc:
                raise ValueError(
                    f"DEPLOYSTATUS_TRUSTED_PROXIES: {entry!r} is not an IP address or network"
                ) from exc
        return tuple(networks)

    @field_validator("cursor_secret")
    @classmethod
    def _check_cursor_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None  # unset: a random secret per process (cursors.py)
        if len(value.get_secret_value().encode()) < MIN_CURSOR_SECRET_BYTES:
            # A short secret can be guessed, and with it a cursor forged for any component.
            raise ValueError(
                f"DEPLOYSTATUS_CURSOR_SECRET: at least {MIN_CURSOR_SECRET_BYTES} bytes, random "
                "(e.g. the output of `openssl rand -base64 32`)"
            )
        return value

    @field_validator("webhook_allow_private")
    @classmethod
    def _check_webhook_allow_private(cls, value: str | None) -> str | None:
        for entry in (value or "").split(","):
            if entry.strip():
                try:
                    ipaddress.ip_network(entry.strip())
                except ValueError as exc:
                    raise ValueError(
                        f"DEPLOYSTATUS_WEBHOOK_ALLOW_PRIVATE: {entry.strip()!r} is not an IP "
                        "address or network (e.g. 10.0.0.0/8,127.0.0.1)"
                    ) from exc
        return value or None

    @field_validator("state_classes")
    @classmethod
    def _check_state_classes(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            parse_rules(value)  # a bad value stops the service at start, saying why
        return value

    @property
    def state_rules(self) -> Rules:
        """The state-class rules: ``DEPLOYSTATUS_STATE_CLASSES``, else the defaults."""
        text = self.state_classes
        return parse_rules(text) if text is not None and text.strip() else DEFAULT_RULES

    @field_validator("tokens", mode="before")
    @classmethod
    def _parse_tokens(cls, value: object) -> object:
        return parse_tokens(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _auth_when_required(self) -> Settings:
        if self.require_auth and not self.tokens:
            raise ValueError(
                "DEPLOYSTATUS_REQUIRE_AUTH is on but DEPLOYSTATUS_TOKENS lists no token"
            )
        return self
