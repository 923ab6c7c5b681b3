"""The ``migrate-legacy`` command: copy the reference service's table into this one
(`deploystatus.storage.migrate` does the work)."""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
import time
from typing import Annotated

import typer

from deploystatus.config import Settings
from deploystatus.errors import DeployStatusError
from deploystatus.storage import Store, open_client
from deploystatus.storage.migrate import (
    DEFAULT_PAGE_SIZE,
    LEGACY_TABLE,
    Item,
    MigrationInterrupted,
    MigrationReport,
    migrate,
    start_key_from_json,
)

from ._help import examples
from ._target import confirm_remote
from .table import PANEL, RemoteOption


def _start_key(text: str | None) -> Item | None:
    return None if text is None else start_key_from_json(text)


def _check_start_key(text: str | None) -> str | None:
    """Refused as a usage error naming --start-key, before anything is read."""
    try:
        _start_key(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return text


def _key_argument(key: Item) -> str:
    return shlex.quote(json.dumps(key, separators=(",", ":"), ensure_ascii=False))


def _print_report(report: MigrationReport, source: str, target: str) -> None:
    print(f"deploystatus: migration from {source} to {target}" + (" (dry run)" * report.dry_run))
    print(f"read     {report.read}")
    print(f"written  {report.written}" + (" (dry run: nothing written)" * report.dry_run))
    print(f"repeated {report.duplicates}  (records already seen in this run)")
    print(f"skipped  {report.skipped}")
    for reason, count in sorted(report.skipped_by_reason.items()):
        print(f"  {reason}: {count}")
    if report.examples:
        print("examples of skipped items:")
        for example in report.examples:
            key = " ".join(f"{name}={value!r}" for name, value in example.key.items())
            print(f"  {example.reason}: {key}: {example.detail}")


def _print_resume(report: MigrationReport | None, start_key: Item | None) -> None:
    key = report.last_evaluated_key if report is not None else start_key
    if key is None:
        print("deploystatus: nothing was completed; run the same command again", file=sys.stderr)
    else:
        print(f"deploystatus: resume with --start-key {_key_argument(key)}", file=sys.stderr)


def migrate_legacy(
    from_table: Annotated[
        str, typer.Option("--from-table", metavar="TABLE", help="The reference's table.")
    ] = LEGACY_TABLE,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read and check everything, write nothing.")
    ] = False,
    remote: RemoteOption = False,
    page_size: Annotated[
        int, typer.Option("--page-size", min=1, metavar="N", help="Items per Scan page.")
    ] = DEFAULT_PAGE_SIZE,
    start_key_text: Annotated[
        str | None,
        typer.Option(
            "--start-key",
            metavar="JSON",
            callback=_check_start_key,
            help="Resume where an interrupted run stopped (it prints this key).",
        ),
    ] = None,
) -> None:
    """Copy the reference service's table into this service's table.

    Every valid record of the reference's table goes into the table DEPLOYSTATUS_TABLE
    names, at the same DynamoDB endpoint. Safe to run again; invalid items are skipped and
    reported. docs/migrating.md says how to move a table.
    """
    start_key = _start_key(start_key_text)
    raise typer.Exit(_migrate(from_table, dry_run, remote, page_size, start_key))


def _migrate(
    source: str, dry_run: bool, remote: bool, page_size: int, start_key: Item | None
) -> int:
    settings = Settings()
    if not dry_run:
        confirm_remote(settings, "copy the reference's records into", remote=remote)
    latest: MigrationReport | None = None
    last_shown = time.monotonic()

    def show_progress(report: MigrationReport) -> None:
        nonlocal latest, last_shown
        latest = report
        if time.monotonic() - last_shown >= 5:
            last_shown = time.monotonic()
            print(
                f"deploystatus: read {report.read}, written {report.written}, "
                f"skipped {report.skipped} ...",
                file=sys.stderr,
                flush=True,
            )

    async def run() -> MigrationReport:
        async with open_client(settings) as client:
            # Records moved from the old table are not news: no event, so no webhook fires
            # for each deployable migrated (docs/migrating.md).
            store = Store.from_settings(client, settings.model_copy(update={"events": False}))
            return await migrate(
                client,
                source,
                store,
                dry_run=dry_run,
                page_size=page_size,
                progress=show_progress,
                start_key=start_key,
                max_clock_skew_seconds=settings.max_clock_skew_seconds,
            )

    try:
        report = asyncio.run(run())
    except MigrationInterrupted as exc:
        _print_report(exc.report, source, settings.table)
        print(f"deploystatus: interrupted: {exc.message}", file=sys.stderr)
        _print_resume(exc.report, start_key)
        return 1
    except DeployStatusError as exc:
        print(f"deploystatus: {exc.message}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C, or SIGTERM through cli.main's handler
        if latest is not None:
            _print_report(latest, source, settings.table)
        print("deploystatus: interrupted", file=sys.stderr)
        _print_resume(latest, start_key)
        return 130
    _print_report(report, source, settings.table)
    return 0


_EXAMPLES = """\
deploystatus migrate-legacy --from-table cicd-audit --dry-run

deploystatus migrate-legacy --from-table cicd-audit --remote
"""


def register(app: typer.Typer) -> None:
    app.command("migrate-legacy", rich_help_panel=PANEL, epilog=examples(_EXAMPLES))(migrate_legacy)
