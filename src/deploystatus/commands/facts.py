"""The ``derive-facts`` command: derive each deployable's facts again from its history,
after the state-class rules changed, or for items written before facts were kept."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer

from deploystatus.config import Settings
from deploystatus.errors import DeployStatusError
from deploystatus.storage import Store, open_client

from ._help import examples
from ._target import confirm_remote
from .table import PANEL, RemoteOption

_CONCURRENCY = 16  # deployables derived at once


async def _derive(settings: Settings, *, every: bool) -> tuple[int, int]:
    async with open_client(settings) as client:
        store = Store.from_settings(client, settings)
        deployables = await store.deployables()
        wanted = [d.record.deployable for d in deployables if every or d.facts is None]
        gate = asyncio.Semaphore(_CONCURRENCY)
        done = 0
        last_report = time.monotonic()

        async def derive(component: str, environment: str) -> None:
            nonlocal done, last_report
            async with gate:
                await store.derive_again(component, environment)
            done += 1
            if time.monotonic() - last_report > 5:
                last_report = time.monotonic()
                print(f"deploystatus: {done} of {len(wanted)} deployables derived", flush=True)

        async with asyncio.TaskGroup() as group:
            for component, environment in wanted:
                group.create_task(derive(component, environment))
        return len(wanted), len(deployables)


def derive_facts(
    every: Annotated[
        bool,
        typer.Option(
            "--all", "-a", help="Every deployable, not only those whose facts are missing or stale."
        ),
    ] = False,
    remote: RemoteOption = False,
) -> None:
    """Derive each deployable's facts (since when, last success) again from its history.

    Needed after DEPLOYSTATUS_STATE_CLASSES changes, and once after upgrading a table written
    before facts were kept (until then a deployable's facts are derived at its next write,
    and read as null). Only deployables whose facts are missing or were derived with other
    rules are done, unless --all. Safe to stop and run again: each deployable is written on
    condition that it did not change meanwhile, and what is done is not done twice.
    """
    settings = Settings()
    confirm_remote(settings, "derive the facts of", remote=remote)
    started = time.monotonic()
    try:
        derived, total = asyncio.run(_derive(settings, every=every))
    except DeployStatusError as exc:
        raise SystemExit(f"deploystatus: derive-facts stopped: {exc}; run it again") from exc
    print(
        f"deploystatus: derived the facts of {derived} of {total} deployables "
        f"in {time.monotonic() - started:.1f} s"
    )


_EXAMPLES = """\
DEPLOYSTATUS_STATE_CLASSES='failed=fail,error;success=ok,done' deploystatus derive-facts
deploystatus derive-facts --all
"""


def register(app: typer.Typer) -> None:
    app.command("derive-facts", rich_help_panel=PANEL, epilog=examples(_EXAMPLES))(derive_facts)
