"""The ``deploystatus`` command: run the service, a local engine, and table chores."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import uvicorn
from pydantic import AliasChoices, ValidationError

from deploystatus.app import create_app, freeze_startup_heap
from deploystatus.config import Settings
from deploystatus.errors import StorageError
from deploystatus.logs import LogFormat, log_config
from deploystatus.storage import Store, open_client
from deploystatus.web.server import server_options

from . import generate, migrate, remote
from . import tokens as token_command
from ._target import REMOTE_HELP, confirm_remote
from .engines import ENGINES, Engine, EngineError, LocalEngine, check_port_free, start_engine

# Local engines accept any credentials; these are used only when none are configured.
_LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


def _exit_on_signal(signum: int, frame: FrameType | None) -> NoReturn:
    raise SystemExit(0)


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    pass


async def _init_table(settings: Settings) -> bool:
    async with open_client(settings) as client:
        return await Store(client, settings.table).create_table()


def _create_table(settings: Settings) -> bool:
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


def _serve(
    settings: Settings, host: str, port: int, workers: int = 1, log_format: LogFormat = "json"
) -> int:
    # On SIGTERM in-flight requests get shutdown_timeout_seconds to finish while no new
    # connection is accepted; what a connection may send is bounded (web/server.py).
    logging_config = log_config(settings.log_format or log_format, settings.log_level)
    try:
        bounded = server_options(settings)
    except ValueError as exc:
        raise SystemExit(f"deploystatus: {exc}") from exc
    options: dict[str, Any] = {"host": host, "port": port, "log_config": logging_config, **bounded}
    if workers > 1:
        # Worker processes build their own app from the environment.
        uvicorn.run(
            "deploystatus.app:app_from_environment", factory=True, workers=workers, **options
        )
        return 0
    server = uvicorn.Server(uvicorn.Config(create_app(settings), **options))
    # uvicorn handles SIGINT/SIGTERM itself, then re-raises the signal to the handler it
    # found: make that one harmless so that we exit 0 after a clean shutdown.
    signal.signal(signal.SIGINT, _ignore_signal)
    signal.signal(signal.SIGTERM, _ignore_signal)
    freeze_startup_heap()
    server.run()
    return 0 if server.started else 1


def _start_local(args: argparse.Namespace) -> LocalEngine:
    engine: Engine = args.engine
    try:
        return start_engine(
            engine, port=args.db_port, data_dir=Path(args.data_dir), host=args.db_host
        )
    except EngineError as exc:
        raise SystemExit(f"deploystatus: {exc}") from exc


def _check_listen_port(host: str, port: int) -> None:
    """One clear line, before anything starts or says it serves, when the port is taken."""
    try:
        check_port_free(host, port, "--port (make run PORT=N)")
    except EngineError as exc:
        raise SystemExit(f"deploystatus: {exc}") from exc


def cmd_dev(args: argparse.Namespace) -> int:
    for name, value in _LOCAL_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    _check_listen_port(args.host, args.port)
    with _start_local(args) as engine:
        settings = Settings(endpoint_url=engine.url)
        created = _create_table(settings)
        print(
            f"deploystatus: DynamoDB is {engine.describe()}, table {settings.table} "
            f"{'created' if created else 'found'}",
            flush=True,
        )
        print(f"deploystatus: serving http://{args.host}:{args.port}  (Ctrl-C stops)", flush=True)
        status = _serve(settings, args.host, args.port, log_format="text")
    print("deploystatus: stopped", flush=True)
    return status


def cmd_serve(args: argparse.Namespace) -> int:
    settings = Settings()
    _check_listen_port(args.host, args.port)
    return _serve(settings, args.host, args.port, args.workers)


def cmd_local_db(args: argparse.Namespace) -> int:
    with _start_local(args) as engine:
        print(f"deploystatus: DynamoDB is {engine.describe()}  (Ctrl-C stops)", flush=True)
        signal.signal(signal.SIGINT, _exit_on_signal)
        try:
            engine.process.wait()
        except SystemExit:
            return 0
    return 1  # the engine died on its own


def cmd_init_table(args: argparse.Namespace) -> int:
    settings = Settings()
    created = _create_table(settings)
    print(f"deploystatus: table {settings.table} {'created' if created else 'already exists'}")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    settings = Settings()
    confirm_remote(settings, "delete every record in", remote=args.remote)
    where = settings.endpoint_url or "AWS"
    if not args.yes:
        if not sys.stdin.isatty():
            raise SystemExit("deploystatus: reset deletes every record; pass --yes to confirm")
        answer = input(f"Delete every record in {settings.table} at {where}? Type 'yes': ")
        if answer.strip() != "yes":
            print("deploystatus: nothing changed")
            return 1
    try:
        asyncio.run(_reset_table(settings))
    except StorageError as exc:
        raise SystemExit(f"deploystatus: cannot reset {settings.table} at {where}: {exc}") from exc
    print(f"deploystatus: table {settings.table} at {where} is empty")
    return 0


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--db-host", default="127.0.0.1", help="engine address (default %(default)s)")
    add("--db-port", type=int, default=4566, help="engine port (default %(default)s)")
    add("--data-dir", default=".data", help="where dynalite keeps data (default %(default)s)")
    add("--engine", choices=ENGINES, default="dynalite", help="default %(default)s")


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="listen port (default %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deploystatus", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = commands.add_parser("dev", help="local engine + table + API, for development")
    _add_server_options(dev)
    _add_engine_options(dev)
    dev.set_defaults(run=cmd_dev)

    serve = commands.add_parser("serve", help="the API against the DynamoDB the environment names")
    _add_server_options(serve)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.set_defaults(run=cmd_serve)

    local_db = commands.add_parser("local-db", help="the local engine alone")
    _add_engine_options(local_db)
    local_db.set_defaults(run=cmd_local_db)

    init_table = commands.add_parser("init-table", help="create the table if missing")
    init_table.set_defaults(run=cmd_init_table)

    reset = commands.add_parser("reset", help="delete and recreate the table: all data gone")
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset.add_argument(
        "--remote",
        action="store_true",
        help=REMOTE_HELP,
    )
    reset.set_defaults(run=cmd_reset)

    generate.add_commands(commands)
    remote.add_commands(commands)
    migrate.add_command(commands)
    token_command.add_command(commands)
    return parser


def _settings_problems(error: ValidationError) -> list[str]:
    """One line per invalid setting, naming its variable; never the value (it may be a
    secret pasted in the wrong place)."""
    lines = []
    for problem in error.errors(include_url=False, include_input=False):
        message = str(problem["msg"]).removeprefix("Value error, ")
        if problem["loc"]:
            field = str(problem["loc"][0])
            known = Settings.model_fields.get(field)
            alias = known.validation_alias if known is not None else None
            variable = (
                str(alias.choices[1])
                if isinstance(alias, AliasChoices)
                else f"DEPLOYSTATUS_{field.upper()}"
            )
            if not message.startswith(variable):
                message = f"{variable}: {message}"
        lines.append(f"deploystatus: invalid setting: {message}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Until a server takes over signals, SIGTERM unwinds like Ctrl-C: engines get stopped.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        status: int = args.run(args)
    except remote.ClientError as exc:
        print(f"deploystatus: {exc}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        print("\n".join(_settings_problems(exc)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
