"""Client commands for pipelines and people: ``post``, ``current``, ``history`` and
``remove-record`` talk to a running service over HTTP (``--url`` or ``DEPLOYSTATUS_URL``),
like any other client."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deploystatus.states import state_class

DEFAULT_URL = "http://127.0.0.1:8080"
_STYLES = {"success": "green", "failed": "bold red", "in-progress": "yellow", "other": ""}
# Worth sending again: the service or something in front of it could not take it now.
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Characters that move or hide text on a terminal (bidi embeddings, overrides and isolates,
# zero-width ones): shown as escapes in tables, so a state reads as what it is.
_INVISIBLE = str.maketrans(
    {
        code: f"\\u{code:04x}"
        for code in (
            0x061C,
            *range(0x200B, 0x2010),
            *range(0x202A, 0x202F),
            *range(0x2060, 0x2065),
            *range(0x2066, 0x206A),
            0xFEFF,
        )
    }
)


class ClientError(Exception):
    """Ends a command with a one-line message and a non-zero status."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    retry_after: float | None = None


def base_url(text: str) -> str:
    """The service's base URL; ``host:port`` alone means ``http://host:port``."""
    text = text.strip().rstrip("/")
    return text if "://" in text else f"http://{text}"


def _request(
    method: str, url: str, body: bytes | None = None, timeout: float = 30, token: str | None = None
) -> Response:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    token = token or os.environ.get("DEPLOYSTATUS_TOKEN")
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


def _error_text(response: Response) -> str:
    if response.status == 401:
        return (
            "the service needs a token: pass --token or set DEPLOYSTATUS_TOKEN "
            "(deploystatus token create makes one)"
        )
    return _message(response)


def _message(response: Response) -> str:
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


def send_with_retries(
    method: str,
    url: str,
    body: bytes | None,
    *,
    attempts: int,
    max_delay: float = 8.0,
    token: str | None = None,
) -> Response:
    """Send, retrying connection failures and 429/502/503/504 with backoff and jitter.

    Safe for ``POST /records``: the service stores a record once however often it is sent.
    """
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            response = _request(method, url, body, token=token)
        except ValueError as error:  # urllib: no scheme, bad port...
            raise ClientError(f"invalid URL {url!r}: {error}") from error
        except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out
            reason = getattr(error, "reason", error)
            if attempt == attempts:
                raise ClientError(f"cannot reach {url}: {reason}") from error
            wait = random.uniform(0, delay)
        else:
            if response.status not in _RETRY_STATUSES or attempt == attempts:
                return response
            wait = max(random.uniform(0, delay), response.retry_after or 0)
        time.sleep(min(wait, max_delay))
        delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable")


def _get(
    args: argparse.Namespace, path: str, options: dict[str, str | None] | None = None
) -> bytes:
    query = urllib.parse.urlencode({k: v for k, v in (options or {}).items() if v is not None})
    url = base_url(args.url) + path + (f"?{query}" if query else "")
    response = send_with_retries("GET", url, None, attempts=3, token=args.token)
    if response.status != 200:
        raise ClientError(f"{response.status}: {_error_text(response)}")
    return response.body


def _records_table(records: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in ("Component", "Environment", "State"):
        table.add_column(column)
    table.add_column("Timestamp", no_wrap=True, min_width=20)
    for record in records:
        state = str(record["State"])
        style = _STYLES[state_class(state)]
        state = state.translate(_INVISIBLE)
        table.add_row(
            record["Component"],
            record["Environment"],
            # States are free text: "[...]" in one is text, not rich markup.
            f"[{style}]{escape(state)}[/]" if style else escape(state),
            record["Timestamp"],
        )
    return table


def cmd_post(args: argparse.Namespace) -> int:
    timestamp = args.timestamp or datetime.now(UTC).isoformat().replace("+00:00", "Z")
    record = {
        "Component": args.component,
        "Environment": args.environment,
        "State": args.state,
        "Timestamp": timestamp,
    }
    body = json.dumps({"Records": [record]}).encode()
    url = base_url(args.url) + "/records"
    response = send_with_retries("POST", url, body, attempts=args.retries, token=args.token)
    if response.status != 200:
        raise ClientError(f"{response.status}: {_error_text(response)}")
    print(f"posted {args.component} {args.environment} {args.state} {timestamp}")
    return 0


def cmd_current(args: argparse.Namespace) -> int:
    # The service filters (GET /current's options): what is printed is what it answered.
    body = _get(
        args, "/current",
        {"environment": args.environment, "component": args.component, "state": args.state},
    )  # fmt: skip
    if args.json:
        sys.stdout.write(body.decode() + "\n")  # the API body, byte for byte
        return 0
    records: list[dict[str, Any]] = json.loads(body)["Records"]
    noun = "deployable" if len(records) == 1 else "deployables"
    Console().print(_records_table(records, f"Current state ({len(records)} {noun})"))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    path = "/historical/" + urllib.parse.quote(args.component, safe="")
    options: dict[str, str | None] = {
        "environment": args.environment,
        "since": args.since,
        "until": args.until,
        "order": args.order,
        "limit": None if args.limit is None else str(args.limit),
    }
    body = _get(args, path, options)
    if args.json:
        sys.stdout.write(body.decode() + "\n")  # the API body, byte for byte
        return 0
    records: list[dict[str, Any]] = json.loads(body)["Records"]
    Console().print(_records_table(records, f"History of {args.component} ({len(records)})"))
    return 0


def _shown(record: dict[str, Any]) -> str:
    """A record on one line; the state quoted, with what is invisible on a terminal escaped."""
    deployable = f"{record['Component']} {record['Environment']}"
    return f"{deployable} {record['State']!r} at {record['Timestamp']}"


def cmd_remove_record(args: argparse.Namespace) -> int:
    record = {
        "Component": args.component,
        "Environment": args.environment,
        "State": args.state,
        "Timestamp": args.timestamp,
    }
    named = _shown(record)
    if not args.yes:
        if not sys.stdin.isatty():
            raise ClientError(
                "remove-record deletes a record from the history; pass --yes to confirm"
            )
        answer = input(f"Remove {named} from the history at {args.url}? Type 'yes': ")
        if answer.strip() != "yes":
            print("deploystatus: nothing changed")
            return 1
    url = base_url(args.url) + "/admin/remove-record"
    # Safe to resend: once removed, the record is a 404 and nothing changes.
    response = send_with_retries(
        "POST", url, json.dumps(record).encode(), attempts=args.retries, token=args.token
    )
    if response.status == 404 and _error_code(response) == "record_not_found":
        raise ClientError(
            f"no record {named}: nothing was removed (already removed, or never stored)"
        )
    if response.status != 200:
        raise ClientError(f"{response.status}: {_error_text(response)}")
    removal: dict[str, Any] = json.loads(response.body)
    current: dict[str, Any] | None = removal["Current"]
    if not removal["WasCurrent"]:
        after = "the current state is unchanged"
    elif current is None:
        after = "it was the current state; no record of the deployable is left"
    else:
        after = (
            f"it was the current state; now current: {current['State']!r} at {current['Timestamp']}"
        )
    print(f"removed {_shown(removal['Removed'])}; {after}")
    return 0


def _error_code(response: Response) -> str | None:
    try:
        code = json.loads(response.body).get("error")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) else None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def with_url(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument(
            "--url",
            default=os.environ.get("DEPLOYSTATUS_URL", DEFAULT_URL),
            help="the service, as a URL or host:port (default $DEPLOYSTATUS_URL or %(default)s)",
        )
        parser.add_argument(
            "--token",
            default=None,
            help="the bearer token when the service needs one (default $DEPLOYSTATUS_TOKEN)",
        )
        return parser

    post = with_url(commands.add_parser("post", help="post one record (retries until stored)"))
    post.add_argument("--component", required=True)
    post.add_argument("--environment", required=True)
    post.add_argument("--state", required=True)
    post.add_argument("--timestamp", help="RFC 3339 (default: now)")
    post.add_argument("--retries", type=_positive, default=8, help="attempts in all (default 8)")
    post.set_defaults(run=cmd_post)

    current = with_url(commands.add_parser("current", help="the current state of every deployable"))
    current.add_argument("--environment", help="only this environment")
    current.add_argument("--component", metavar="PREFIX", help="only components starting so")
    current.add_argument("--state", help="only deployables whose current state is exactly this")
    current.add_argument("--json", action="store_true", help="print the API body")
    current.set_defaults(run=cmd_current)

    history = with_url(commands.add_parser("history", help="the history of one component"))
    history.add_argument("component")
    history.add_argument("--environment", help="only this environment")
    history.add_argument("--since", metavar="T", help="records at or after T (RFC 3339)")
    history.add_argument("--until", metavar="T", help="records at or before T (RFC 3339)")
    history.add_argument(
        "--order", choices=("asc", "desc"), help="asc: oldest first (the default), desc: newest"
    )
    history.add_argument("--limit", type=_positive, metavar="N", help="at most N records")
    history.add_argument("--json", action="store_true", help="print the API body")
    history.set_defaults(run=cmd_history)

    remove = with_url(
        commands.add_parser(
            "remove-record",
            help="remove one record from the history (an admin token); current state follows",
        )
    )
    remove.add_argument("--component", required=True)
    remove.add_argument("--environment", required=True)
    remove.add_argument("--state", required=True)
    remove.add_argument(
        "--timestamp", required=True, help="RFC 3339, the record's instant (any offset)"
    )
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    remove.add_argument("--retries", type=_positive, default=3, help="attempts in all (default 3)")
    remove.set_defaults(run=cmd_remove_record)
