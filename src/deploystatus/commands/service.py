"""Running the service: ``serve`` (production), ``dev`` (a local engine, the table and the
API in one command) and ``local-db`` (the local engine alone)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer

from deploystatus.config import Settings
from deploystatus.logs import LogFormat, log_config

from ._help import examples
from .engines import Engine, EngineError, LocalEngine, check_port_free, start_engine
from .table import create_table

PANEL = "Run the service"
# Local engines accept any credentials; these are used only when none are configured.
_LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}

HostOption = Annotated[str, typer.Option("--host", metavar="ADDRESS", help="Listen address.")]
PortOption = Annotated[
    int, typer.Option("--port", "-p", min=1, max=65535, metavar="PORT", help="Listen port.")
]
DbHostOption = Annotated[
    str, typer.Option("--db-host", metavar="ADDRESS", help="The local engine's address.")
]
DbPortOption = Annotated[
    int,
    typer.Option("--db-port", min=1, max=65535, metavar="PORT", help="The local engine's port."),
]
DataDirOption = Annotated[
    Path, typer.Option("--data-dir", metavar="DIR", help="Where dynalite keeps its data.")
]
EngineOption = Annotated[
    Engine,
    typer.Option("--engine", help="dynalite keeps data in --data-dir; moto holds it in memory."),
]


def exit_on_signal(signum: int, frame: FrameType | None) -> NoReturn:
    raise SystemExit(0)


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    pass


def _serve(
    settings: Settings, host: str, port: int, workers: int = 1, log_format: LogFormat = "json"
) -> int:
    # On SIGTERM in-flight requests get shutdown_timeout_seconds to finish while no new
    # connection is accepted; what a connection may send is bounded (web/server.py).
    # Imported here, not at the top: the client commands start without the server's imports.
    import uvicorn

    from deploystatus.app import create_app, freeze_startup_heap
    from deploystatus.web.server import server_options

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


def _start_local(engine: Engine, host: str, port: int, data_dir: Path) -> LocalEngine:
    try:
        return start_engine(engine, port=port, data_dir=data_dir, host=host)
    except EngineError as exc:
        raise SystemExit(f"deploystatus: {exc}") from exc


def _check_listen_port(host: str, port: int) -> None:
    """One clear line, before anything starts or says it serves, when the port is taken."""
    try:
        check_port_free(host, port, "--port (make run PORT=N)")
    except EngineError as exc:
        raise SystemExit(f"deploystatus: {exc}") from exc


def dev(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8080,
    db_host: DbHostOption = "127.0.0.1",
    db_port: DbPortOption = 4566,
    data_dir: DataDirOption = Path(".data"),
    engine: EngineOption = "dynalite",
) -> None:
    """A local engine, the table and the API, for development; Ctrl-C stops them all.

    Authentication is off unless DEPLOYSTATUS_TOKENS is set; logs are text for a terminal.
    The engine stops with the command, however the command ends.
    """
    for name, value in _LOCAL_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    _check_listen_port(host, port)
    with _start_local(engine, db_host, db_port, data_dir) as local:
        settings = Settings(endpoint_url=local.url)
        created = create_table(settings)
        print(
            f"deploystatus: DynamoDB is {local.describe()}, table {settings.table} "
            f"{'created' if created else 'found'}",
            flush=True,
        )
        print(f"deploystatus: serving http://{host}:{port}  (Ctrl-C stops)", flush=True)
        status = _serve(settings, host, port, log_format="text")
    print("deploystatus: stopped", flush=True)
    raise typer.Exit(status)


def serve(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8080,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, metavar="N", help="Worker processes.")
    ] = 1,
) -> None:
    """The API, against the DynamoDB table the environment names (production).

    Settings are environment variables (DEPLOYSTATUS_*, AWS_*: docs/operations.md); logs
    are JSON lines unless DEPLOYSTATUS_LOG_FORMAT=text. SIGTERM drains and exits 0.
    """
    settings = Settings()
    _check_listen_port(host, port)
    raise typer.Exit(_serve(settings, host, port, workers))


def local_db(
    db_host: DbHostOption = "127.0.0.1",
    db_port: DbPortOption = 4566,
    data_dir: DataDirOption = Path(".data"),
    engine: EngineOption = "dynalite",
) -> None:
    """The local DynamoDB-protocol engine alone, until Ctrl-C."""
    with _start_local(engine, db_host, db_port, data_dir) as local:
        print(f"deploystatus: DynamoDB is {local.describe()}  (Ctrl-C stops)", flush=True)
        signal.signal(signal.SIGINT, exit_on_signal)
        try:
            local.process.wait()
        except SystemExit:
            raise typer.Exit(0) from None
    raise typer.Exit(1)  # the engine died on its own


_DEV_EXAMPLES = """\
deploystatus dev

deploystatus dev --port 8081 --db-port 4567 --data-dir /tmp/deploystatus

deploystatus dev --engine moto
"""
_SERVE_EXAMPLES = """\
DEPLOYSTATUS_TABLE=deployment-status AWS_REGION=eu-west-1 deploystatus serve --host 0.0.0.0

deploystatus serve --host 0.0.0.0 --port 8080 --workers 4
"""
_LOCAL_DB_EXAMPLES = """\
deploystatus local-db --db-port 4566 --data-dir .data
"""


def register(app: typer.Typer) -> None:
    command = app.command
    command(rich_help_panel=PANEL, epilog=examples(_SERVE_EXAMPLES))(serve)
    command(rich_help_panel=PANEL, epilog=examples(_DEV_EXAMPLES))(dev)
    command("local-db", rich_help_panel=PANEL, epilog=examples(_LOCAL_DB_EXAMPLES))(local_db)
