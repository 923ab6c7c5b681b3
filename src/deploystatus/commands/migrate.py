"""The ``migrate-legacy`` command: copy the reference service's table into this one
(`deploystatus.storage.migrate` does the work)."""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import time

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

from ._target import REMOTE_HELP, confirm_remote


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def _start_key(text: str) -> Item:
    try:
        return start_key_from_json(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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


def cmd_migrate_legacy(args: argparse.Namespace) -> int:
    """Migrate ``args.from_table`` into the table the environment names (same endpoint)."""
    settings = Settings()
    if not args.dry_run:
        confirm_remote(settings, "copy the reference's records into", remote=args.remote)
    source: str = args.from_table
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
            store = Store.from_settings(client, settings)
            return await migrate(
                client,
                source,
                store,
                dry_run=args.dry_run,
                page_size=args.page_size,
                progress=show_progress,
                start_key=args.start_key,
                max_clock_skew_seconds=settings.max_clock_skew_seconds,
            )

    try:
        report = asyncio.run(run())
    except MigrationInterrupted as exc:
        _print_report(exc.report, source, settings.table)
        print(f"deploystatus: interrupted: {exc.message}", file=sys.stderr)
        _print_resume(exc.report, args.start_key)
        return 1
    except DeployStatusError as exc:
        print(f"deploystatus: {exc.message}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C, or SIGTERM through cli.main's handler
        if latest is not None:
            _print_report(latest, source, settings.table)
        print("deploystatus: interrupted", file=sys.stderr)
        _print_resume(latest, args.start_key)
        return 130
    _print_report(report, source, settings.table)
    return 0


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``migrate-legacy`` on the ``deploystatus`` command's subcommands."""
    parser = commands.add_parser(
        "migrate-legacy",
        help="copy the reference service's table into this service's table",
        description=(
            "Copy every valid record of the reference's table into the table "
            "DEPLOYSTATUS_TABLE names, at the same DynamoDB endpoint. Safe to run again; "
            "invalid items are skipped and reported."
        ),
    )
    add = parser.add_argument
    add(
        "--from-table",
        default=LEGACY_TABLE,
        metavar="TABLE",
        help="the reference's table (default %(default)s)",
    )
    add("--dry-run", action="store_true", help="read and check everything, write nothing")
    add("--remote", action="store_true", help=REMOTE_HELP)
    add(
        "--page-size",
        type=_positive,
        default=DEFAULT_PAGE_SIZE,
        metavar="N",
        help="items per Scan page (default %(default)s)",
    )
    add(
        "--start-key",
        type=_start_key,
        default=None,
        metavar="JSON",
        help="resume where an interrupted run stopped (it prints this key)",
    )
    parser.set_defaults(run=cmd_migrate_legacy)
