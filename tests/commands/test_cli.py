"""The ``deploystatus`` command end to end: real subprocesses, real engines, real HTTP.

Every process listens on a free loopback port and keeps its data in the test's own
directory; tests/support/processes.py runs them and stops whatever is left at teardown.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sysconfig
import time
from pathlib import Path

import pytest

from deploystatus.commands.engines import ENGINES, free_port
from tests.support.processes import (
    START_TIMEOUT,
    Cli,
    Launcher,
    child_pids,
    clean_environment,
    cmdline,
    http_request,
    list_tables,
    listening,
    needs_proc,
    process_exists,
    process_identity,
    wait_engine,
    wait_ready,
    wait_until,
)

README_POST = (
    b'{"Records":[{"Component":"abc.def","Environment":"prod-all","State":"Ok",'
    b'"Timestamp":"2024-07-30T14:06:41+00:00"}]}'
)
README_LONDON = (
    b'{"Records":[{"Component":"abc.def","Environment":"prod-all",'
    b'"Timestamp":"2024-07-30T15:06:41+01:00","State":"Ok"}]}'
)
README_UTC = (
    b'{"Records":[{"Component":"abc.def","Environment":"prod-all",'
    b'"Timestamp":"2024-07-30T14:06:41Z","State":"Ok"}]}'
)
STOP_SIGNALS = [
    pytest.param(signal.SIGTERM, id="SIGTERM"),
    pytest.param(signal.SIGINT, id="SIGINT"),
]


def _post_readme(port: int) -> tuple[int, bytes]:
    # What `curl -d` sends: a form content type, with JSON in it.
    return http_request(
        f"http://127.0.0.1:{port}/records",
        data=README_POST,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def _views(port: int) -> list[tuple[int, bytes]]:
    return [
        http_request(f"http://127.0.0.1:{port}{path}")
        for path in ("/historical/abc.def", "/current")
    ]


def _dev(launcher: Launcher, engine: str, data_dir: Path) -> tuple[Cli, int, int]:
    port, db_port = free_port(), free_port()
    while db_port == port:
        db_port = free_port()
    cli = launcher.start(
        "dev",
        "--port", str(port),
        "--db-port", str(db_port),
        "--data-dir", str(data_dir),
        "--engine", engine,
        env=launcher.env(TZ="Europe/London"),
    )  # fmt: skip
    return cli, port, db_port


# dev


@needs_proc
@pytest.mark.parametrize("signum", STOP_SIGNALS)
@pytest.mark.parametrize("engine", ENGINES)
def test_dev_serves_readme_example_and_signal_stops_it_and_its_engine_with_status_0(
    launcher: Launcher, tmp_path: Path, engine: str, signum: int
) -> None:
    cli, port, db_port = _dev(launcher, engine, tmp_path / "data")
    wait_ready(cli, port)
    assert f"deploystatus: serving http://127.0.0.1:{port}" in cli.stdout
    assert f"{engine} at http://127.0.0.1:{db_port}" in cli.stdout
    engine_process = launcher.engine_of(cli)

    assert _post_readme(port) == (200, b"Ok")
    assert _views(port) == [(200, README_LONDON), (200, README_LONDON)]

    assert cli.stop(signum) == 0, cli.describe()
    assert not process_exists(engine_process), cmdline(engine_process[0])
    assert not listening(db_port)
    assert not listening(port)
    assert "Traceback" not in cli.stderr
    assert cli.stdout.rstrip().endswith("deploystatus: stopped")


@needs_proc
def test_dev_restarted_on_the_same_data_dir_keeps_the_records(
    launcher: Launcher, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    first, port, _ = _dev(launcher, "dynalite", data_dir)
    wait_ready(first, port)
    assert _post_readme(port) == (200, b"Ok")
    assert first.stop(signal.SIGTERM) == 0, first.describe()

    second, port, _ = _dev(launcher, "dynalite", data_dir)
    wait_ready(second, port)
    assert "table deployment-status found" in second.stdout
    assert _views(port) == [(200, README_LONDON), (200, README_LONDON)]


@needs_proc
@pytest.mark.parametrize("signum", STOP_SIGNALS)
def test_signal_while_dev_waits_for_its_engine_stops_the_engine(
    launcher: Launcher, tmp_path: Path, signum: int
) -> None:
    # moto takes a second or more to answer: signal dev while it waits for that.
    cli, _, db_port = _dev(launcher, "moto", tmp_path / "data")
    spawned: list[int] = []

    def engine_spawned() -> bool:
        spawned[:] = [p for p in child_pids(cli.process.pid) if "moto.server" in cmdline(p)]
        return bool(spawned)

    wait_until(engine_spawned, START_TIMEOUT, "dev starts moto")
    engine_process = process_identity(spawned[0])
    assert engine_process is not None
    launcher.strays.add(engine_process)
    time.sleep(0.2)  # past Popen's return into the wait (moto answers far later)

    cli.stop(signum)
    assert not process_exists(engine_process), cmdline(engine_process[0])
    assert not listening(db_port)


# local-db, init-table, serve


@needs_proc
@pytest.mark.parametrize("signum", STOP_SIGNALS)
@pytest.mark.parametrize("engine", ENGINES)
def test_local_db_serves_dynamodb_until_signal_then_stops_its_engine_with_status_0(
    launcher: Launcher, tmp_path: Path, engine: str, signum: int
) -> None:
    db_port = free_port()
    cli = launcher.start(
        "local-db", "--db-port", str(db_port), "--data-dir", str(tmp_path / "data"),
        "--engine", engine,
    )  # fmt: skip
    wait_engine(cli)
    assert f"DynamoDB is {engine} at http://127.0.0.1:{db_port}" in cli.stdout
    engine_process = launcher.engine_of(cli)
    assert list_tables(db_port) == {"TableNames": []}

    assert cli.stop(signum) == 0, cli.describe()
    assert not process_exists(engine_process), cmdline(engine_process[0])
    assert not listening(db_port)
    assert "Traceback" not in cli.stderr


@pytest.fixture
def local_db(launcher: Launcher, tmp_path: Path) -> dict[str, str]:
    """A `deploystatus local-db` (dynalite), and the environment pointing at it."""
    db_port = free_port()
    cli = launcher.start(
        "local-db", "--db-port", str(db_port), "--data-dir", str(tmp_path / "data")
    )
    wait_engine(cli)
    return launcher.env(
        AWS_ENDPOINT_URL_DYNAMODB=f"http://127.0.0.1:{db_port}",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_REGION="us-east-1",
        DEPLOYSTATUS_TABLE="cli-t1",
    )


def test_init_table_creates_the_table_then_finds_it_on_a_second_run(
    launcher: Launcher, local_db: dict[str, str]
) -> None:
    first = launcher.run("init-table", env=local_db)
    assert (first.returncode, first.stdout, first.stderr) == (
        0,
        "deploystatus: table cli-t1 created\n",
        "",
    )
    second = launcher.run("init-table", env=local_db)
    assert (second.returncode, second.stdout, second.stderr) == (
        0,
        "deploystatus: table cli-t1 already exists\n",
        "",
    )


def test_serve_against_local_db_serves_the_api_and_sigterm_stops_it_with_status_0(
    launcher: Launcher, local_db: dict[str, str]
) -> None:
    assert launcher.run("init-table", env=local_db).returncode == 0
    port = free_port()
    cli = launcher.start("serve", "--port", str(port), env=local_db)  # no TZ: UTC
    wait_ready(cli, port)

    assert _post_readme(port) == (200, b"Ok")
    assert _views(port) == [(200, README_UTC), (200, README_UTC)]

    assert cli.stop(signal.SIGTERM) == 0, cli.describe()
    assert not listening(port)
    assert "Traceback" not in cli.stderr


# Failures: one line on stderr, a non-zero status, no traceback


@pytest.mark.parametrize("listen", [True, False], ids=["listening", "bound"])
@pytest.mark.parametrize("engine", ENGINES)
def test_dev_with_db_port_taken_exits_1_with_one_line_error(
    launcher: Launcher, tmp_path: Path, engine: str, listen: bool
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        if listen:
            taken.listen()
        db_port: int = taken.getsockname()[1]
        port = free_port()
        cli = launcher.start(
            "dev", "--port", str(port), "--db-port", str(db_port),
            "--data-dir", str(tmp_path / "data"), "--engine", engine,
        )  # fmt: skip
        status = cli.wait(START_TIMEOUT)

    assert status == 1, cli.describe()
    assert cli.stderr == (
        f"deploystatus: cannot listen on 127.0.0.1:{db_port} (Address already in use): "
        "another program uses it; stop it or choose another --db-port\n"
    )
    assert not listening(port)


def test_init_table_with_invalid_table_name_exits_1_with_one_line_error(
    launcher: Launcher, local_db: dict[str, str]
) -> None:
    # DynamoDB table names have 3 to 255 characters.
    result = launcher.run("init-table", env={**local_db, "DEPLOYSTATUS_TABLE": "t1"})

    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("deploystatus: cannot create table t1 at http://127.0.0.1:")
    assert "TableName must be at least 3 characters long" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


def test_init_table_with_unreachable_endpoint_exits_1_in_seconds_with_one_line_error(
    launcher: Launcher,
) -> None:
    db_port = free_port()  # nothing listens there
    env = launcher.env(
        AWS_ENDPOINT_URL_DYNAMODB=f"http://127.0.0.1:{db_port}",
        DEPLOYSTATUS_TABLE="t1",
        DEPLOYSTATUS_DYNAMODB_RETRY_SECONDS="0.5",
    )
    started = time.monotonic()
    result = launcher.run("init-table", env=env, timeout=30)
    elapsed = time.monotonic() - started

    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"deploystatus: cannot create table t1 at http://127.0.0.1:{db_port}: "
        f"cannot connect to 127.0.0.1:{db_port}"
    ), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert elapsed < 10  # the retries stop after 0.5 s


# Help (every command's: tests/commands/test_help.py)


def test_console_script_help_exits_0(tmp_path: Path) -> None:
    script = Path(sysconfig.get_path("scripts")) / "deploystatus"
    # The clean environment: under GitHub Actions, Typer would force a terminal's colours.
    result = subprocess.run(
        [str(script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=clean_environment(),
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: deploystatus [OPTIONS] COMMAND [ARGS]..." in result.stdout


# The engine never outlives the command that started it


@needs_proc
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("command", ["local-db", "dev"])
def test_the_engine_dies_with_its_command_even_on_sigkill(
    launcher: Launcher, tmp_path: Path, engine: str, command: str
) -> None:
    db_port = free_port()
    args = [command, "--db-port", str(db_port), "--data-dir", str(tmp_path / "data")]
    if command == "dev":
        args += ["--port", str(free_port())]
    cli = launcher.start(*args, "--engine", engine)
    wait_engine(cli)
    engine_process = launcher.engine_of(cli)

    cli.process.kill()  # no handler runs: the kernel ends the engine (PR_SET_PDEATHSIG)
    cli.process.wait()
    wait_until(lambda: not process_exists(engine_process), 10, "the engine is gone")
    wait_until(lambda: not listening(db_port), 10, "its port is free")


@pytest.mark.parametrize("command", ["dev", "serve"])
def test_a_taken_port_is_one_line_before_anything_starts(
    launcher: Launcher, tmp_path: Path, command: str
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port: int = taken.getsockname()[1]
        db_port = free_port()
        args = [command, "--port", str(port)]
        if command == "dev":
            args += ["--db-port", str(db_port), "--data-dir", str(tmp_path / "data")]
        cli = launcher.start(*args)
        status = cli.wait(START_TIMEOUT)

    assert status == 1, cli.describe()
    assert cli.stderr == (
        f"deploystatus: cannot listen on 127.0.0.1:{port} (Address already in use): another "
        "program uses it; stop it or choose another --port (make run PORT=N)\n"
    )
    assert cli.stdout == ""  # nothing claimed to be serving
    assert not listening(db_port)  # no engine was started
