"""Table chores: ``init-table`` and ``reset`` (``generate``, ``migrate-legacy`` and
``token create`` have modules of their own)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from deploystatus.config import Settings
from deploystatus.errors import StorageError
from deploystatus.storage import Store, open_client

from ._help import examples
from ._target import REMOTE_HELP, confirm, confirm_remote

PANEL = "Table chores"

RemoteOption = Annotated[bool, typer.Option("--remote", help=REMOTE_HELP)]


async def _init_table(settings: Settings) -> bool:
    async with open_client(settings) as client:
        return await Store(client, settings.table).create_table()


def create_table(settings: Settings) -> bool:
    """Create the table unless it exists; on failure, exit with one line saying why."""
    try:
        return asyncio.run(_init_table(settings))
    except StorageError as exc:
        reason = " ".join(str(exc.__cause__ or "").split()) or exc.message
        where = settings.endpoint_url or "AWS"
        raise SystemExit(
            f"deploystatus: cannot create table {settings.table} at {where}: {reason}"
        ) from exc


async def _reset_table(settings: Settings) -> None:
    async with open_client(settings) as dynamodb:
        store = Store(dynamodb, settings.table)
        await store.delete_table()
        await store.create_table()


def init_table() -> None:
    """Create the table if it is missing and wait until it is ACTIVE; safe to run again.

    The table is DEPLOYSTATUS_TABLE at the endpoint the environment names
    (AWS_ENDPOINT_URL_DYNAMODB, else AWS). In production, Terraform creates it.
    """
    settings = Settings()
    created = create_table(settings)
    print(f"deploystatus: table {settings.table} {'created' if created else 'already exists'}")


def reset(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    remote: RemoteOption = False,
) -> None:
    """Delete and recreate the table: every record is gone.

    Asks first on a terminal; elsewhere it needs --yes (make reset YES=1). A table that is
    not on a local engine also needs --remote.
    """
    settings = Settings()
    confirm_remote(settings, "delete every record in", remote=remote)
    where = settings.endpoint_url or "AWS"
    confirm(
        f"Delete every record in {settings.table} at {where}?",
        yes=yes,
        refusal="reset deletes every record; pass --yes to confirm (make reset YES=1)",
    )
    try:
        asyncio.run(_reset_table(settings))
    except StorageError as exc:
        raise SystemExit(f"deploystatus: cannot reset {settings.table} at {where}: {exc}") from exc
    print(f"deploystatus: table {settings.table} at {where} is empty")


_INIT_EXAMPLES = """\
AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:4566 deploystatus init-table
"""
_RESET_EXAMPLES = """\
AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:4566 deploystatus reset --yes
"""


def register(app: typer.Typer) -> None:
    command = app.command
    command("init-table", rich_help_panel=PANEL, epilog=examples(_INIT_EXAMPLES))(init_table)
    command(rich_help_panel=PANEL, epilog=examples(_RESET_EXAMPLES))(reset)
