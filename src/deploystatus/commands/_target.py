"""The table a command that writes sample data, wipes or fills a table points at, and the rule
that a table not on this machine is touched only when asked for by name: a command meant for
a local engine must never reach a real table by accident (the AWS variables of a shell)."""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import urlsplit

from deploystatus.config import Settings, is_loopback_host
from deploystatus.errors import StorageError
from deploystatus.storage import Store, open_client

REMOTE_HELP = "go on with a table that is not on a local engine (AWS, or a remote endpoint)"


def is_local(settings: Settings) -> bool:
    """True when the endpoint is a loopback address (a local engine); AWS itself is not."""
    if not settings.endpoint_url:
        return False
    return is_loopback_host((urlsplit(settings.endpoint_url).hostname or "").lower())


async def _account(settings: Settings) -> str | None:
    async with open_client(settings) as client:
        arn = await Store(client, settings.table).table_arn()
    # arn:aws:dynamodb:REGION:ACCOUNT:table/NAME
    parts = arn.split(":") if arn else []
    return parts[4] if len(parts) > 5 else None


def describe(settings: Settings) -> str:
    """``table T at URL``, or ``table T in AWS account A (region R)`` when it can be read."""
    if settings.endpoint_url:
        return f"table {settings.table} at {settings.endpoint_url}"
    try:
        account = asyncio.run(_account(settings))
    except StorageError:
        account = None
    region = settings.region or "the default region"
    where = f"AWS account {account}" if account else "AWS (account unknown: no such table yet?)"
    return f"table {settings.table} in {where}, {region}"


def confirm(question: str, *, yes: bool, refusal: str) -> None:
    """Return when a destructive command may go on: ``--yes`` was given, or a person at a
    terminal typed ``yes`` to ``question``. Otherwise exit 1 with one line: ``refusal``
    where nobody can be asked (stdin is not a terminal), "nothing changed" on another
    answer."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise SystemExit(f"deploystatus: {refusal}")
    if input(f"{question} Type 'yes': ").strip() != "yes":
        raise SystemExit("deploystatus: nothing changed")


def confirm_remote(settings: Settings, action: str, *, remote: bool) -> None:
    """Return when ``action`` may go on: the table is local, ``--remote`` was given, or a
    person at a terminal typed the table's name. Otherwise exit with one line saying why."""
    if is_local(settings):
        return
    target = describe(settings)
    if remote:
        print(f"deploystatus: {action} {target}", file=sys.stderr)
        return
    if sys.stdin.isatty():
        answer = input(
            f"{action.capitalize()} {target}, not a local engine. "
            f"Type the table's name ({settings.table}) to go on: "
        )
        if answer.strip() == settings.table:
            return
        raise SystemExit("deploystatus: nothing changed")
    raise SystemExit(
        f"deploystatus: this would {action} {target}, not a local engine; "
        "pass --remote if that is meant"
    )
