"""The ``deploystatus`` command end to end: real subprocesses, real engines, real HTTP.

Every process listens on a free loopback port and keeps its data in the test's own
directory. Whatever a test leaves running (the CLI, or an engine it should have stopped)
is stopped at teardown, with SIGKILL as the last resort; every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deploystatus.local_engine import ENGINES, free_port

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
START_TIMEOUT = 60.0  # an engine plus the API, on a slow machine
STOP_TIMEOUT = 20.0  # uvicorn's graceful shutdown (10 s at most) plus the engine's
STOP_SIGNALS = [
    pytest.param(signal.SIGTERM, id="SIGTERM"),
    pytest.param(signal.SIGINT, id="SIGINT"),
]

# No HTTP proxy from the environment between the tests and loopback.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))

needs_proc = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="finds child processes through /proc"
)


# Processes


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from the state on (field 3), or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def _identity(pid: int) -> tuple[int, str] | None:
    """The pid with its start time, so a reused pid is never mistaken for it."""
    fields = _stat_fields(pid)
    return None if fields is None else (pid, fields[19])


def _exists(identity: tuple[int, str]) -> bool:
    return _identity(identity[0]) == identity


def _children(pid: int) -> list[int]:
    children: list[int] = []
    if not Path("/proc/self/stat").exists():
        return children  # tests that need to know skip themselves: see needs_proc
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                children.append(int(entry.name))
    return children


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout}s")
        time.sleep(0.05)


def _default_sigint() -> None:
    # As in a terminal: a parent shell may have left SIGINT ignored for background jobs.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class Cli:
    """One running ``deploystatus`` process, its output in files."""

    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    # Its children when it was last told to stop: killed at teardown if they outlive it.
    seen_children: set[tuple[int, str]] = field(default_factory=set)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def describe(self) -> str:
        return f"status {self.process.poll()}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running after {timeout}s\n{self.describe()}")

    def stop(self, signum: int, timeout: float = STOP_TIMEOUT) -> int:
        self.seen_children.update(filter(None, map(_identity, _children(self.process.pid))))
        self.process.send_signal(signum)
        return self.wait(timeout)

    def engine(self) -> tuple[int, str]:
        """The engine process: the only child, started by ``local_engine``."""
        children = _children(self.process.pid)
        assert len(children) == 1, [_cmdline(pid) for pid in children]
        (pid,) = children
        assert "dynalite" in _cmdline(pid) or "moto.server" in _cmdline(pid), _cmdline(pid)
        identity = _identity(pid)
        assert identity is not None
        return identity


@dataclass
class Launcher:
    directory: Path
    environment: dict[str, str]
    launched: list[Cli] = field(default_factory=list)
    # Processes the CLI started, stopped at teardown if they outlive it.
    strays: set[tuple[int, str]] = field(default_factory=set)

    def env(self, **overrides: str) -> dict[str, str]:
        return {**self.environment, **overrides}

    def start(self, *args: str, env: dict[str, str] | None = None) -> Cli:
        n = len(self.launched)
        stdout_path = self.directory / f"cli-{n}.out"
        stderr_path = self.directory / f"cli-{n}.err"
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "deploystatus", *args],
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                env=env if env is not None else self.environment,
                cwd=self.directory,
                preexec_fn=_default_sigint,
            )
        cli = Cli(process, stdout_path, stderr_path)
        self.launched.append(cli)
        return cli

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """A command that exits by itself (killed if it does not, within ``timeout``)."""
        return subprocess.run(
            [sys.executable, "-m", "deploystatus", *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env=env if env is not None else self.environment,
            cwd=self.directory,
            timeout=timeout,
        )

    def engine_of(self, cli: Cli) -> tuple[int, str]:
        engine = cli.engine()
        self.strays.add(engine)
        return engine

    def close(self) -> None:
        for cli in self.launched:
            if cli.process.poll() is None:
                cli.seen_children.update(filter(None, map(_identity, _children(cli.process.pid))))
                cli.process.terminate()
                try:
                    cli.process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    cli.process.kill()
                    cli.process.wait()
            self.strays.update(cli.seen_children)
        for identity in self.strays:
            if _exists(identity):
                os.kill(identity[0], signal.SIGKILL)


def _environment() -> dict[str, str]:
    """The test session's environment (fake AWS credentials, no endpoint; see conftest)
    without the service's settings, so that nothing configured outside leaks in."""
    keep = {"DEPLOYSTATUS_DYNALITE"}
    return {
        name: value
        for name, value in os.environ.items()
        if name not in {"TZ", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"}
        and (not name.startswith("DEPLOYSTATUS_") or name in keep)
    }


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path, _environment())
    try:
        yield launcher
    finally:
        launcher.close()


# HTTP


def _request(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with _http.open(request, timeout=10) as response:
            status: int = response.status
            return status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_ready(cli: Cli, port: int, timeout: float = START_TIMEOUT) -> None:
    """Until GET /readyz answers 200; fails at once if the process exits."""
    deadline = time.monotonic() + timeout
    while True:
        if cli.process.poll() is not None:
            pytest.fail(f"exited before it was ready\n{cli.describe()}")
        try:
            if _request(f"http://127.0.0.1:{port}/readyz")[0] == 200:
                return
        except OSError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            pytest.fail(f"/readyz not 200 within {timeout}s\n{cli.describe()}")
        time.sleep(0.1)


def _list_tables(db_port: int) -> object:
    """A DynamoDB ListTables call, signed with fake credentials (local engines accept any)."""
    status, body = _request(
        f"http://127.0.0.1:{db_port}",
        data=b"{}",
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Authorization": (
                "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, "
                "SignedHeaders=host, Signature=0"
            ),
            "X-Amz-Date": "20240101T000000Z",
        },
    )
    assert status == 200, body
    return json.loads(body)


def _wait_engine(cli: Cli, timeout: float = START_TIMEOUT) -> None:
    """Until local-db says the engine answers; fails at once if the process exits."""
    deadline = time.monotonic() + timeout
    while "(Ctrl-C stops)" not in cli.stdout:
        if cli.process.poll() is not None:
            pytest.fail(f"exited before the engine was up\n{cli.describe()}")
        if time.monotonic() > deadline:
            pytest.fail(f"engine not up within {timeout}s\n{cli.describe()}")
        time.sleep(0.05)


def _post_readme(port: int) -> tuple[int, bytes]:
    # What `curl -d` sends: a form content type, with JSON in it.
    return _request(
        f"http://127.0.0.1:{port}/records",
        data=README_POST,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def _views(port: int) -> list[tuple[int, bytes]]:
    return [
        _request(f"http://127.0.0.1:{port}{path}") for path in ("/historical/abc.def", "/current")
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
    _wait_ready(cli, port)
    assert f"deploystatus: serving http://127.0.0.1:{port}" in cli.stdout
    assert f"{engine} at http://127.0.0.1:{db_port}" in cli.stdout
    engine_process = launcher.engine_of(cli)

    assert _post_readme(port) == (200, b"Ok")
    assert _views(port) == [(200, README_LONDON), (200, README_LONDON)]

    assert cli.stop(signum) == 0, cli.describe()
    assert not _exists(engine_process), _cmdline(engine_process[0])
    assert not _listening(db_port)
    assert not _listening(port)
    assert "Traceback" not in cli.stderr
    assert cli.stdout.rstrip().endswith("deploystatus: stopped")


@needs_proc
def test_dev_restarted_on_the_same_data_dir_keeps_the_records(
    launcher: Launcher, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    first, port, _ = _dev(launcher, "dynalite", data_dir)
    _wait_ready(first, port)
    assert _post_readme(port) == (200, b"Ok")
    assert first.stop(signal.SIGTERM) == 0, first.describe()

    second, port, _ = _dev(launcher, "dynalite", data_dir)
    _wait_ready(second, port)
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
        spawned[:] = [p for p in _children(cli.process.pid) if "moto.server" in _cmdline(p)]
        return bool(spawned)

    _wait_until(engine_spawned, START_TIMEOUT, "dev starts moto")
    engine_process = _identity(spawned[0])
    assert engine_process is not None
    launcher.strays.add(engine_process)
    time.sleep(0.2)  # past Popen's return into the wait (moto answers far later)

    cli.stop(signum)
    assert not _exists(engine_process), _cmdline(engine_process[0])
    assert not _listening(db_port)


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
    _wait_engine(cli)
    assert f"DynamoDB is {engine} at http://127.0.0.1:{db_port}" in cli.stdout
    engine_process = launcher.engine_of(cli)
    assert _list_tables(db_port) == {"TableNames": []}

    assert cli.stop(signum) == 0, cli.describe()
    assert not _exists(engine_process), _cmdline(engine_process[0])
    assert not _listening(db_port)
    assert "Traceback" not in cli.stderr


@pytest.fixture
def local_db(launcher: Launcher, tmp_path: Path) -> dict[str, str]:
    """A `deploystatus local-db` (dynalite), and the environment pointing at it."""
    db_port = free_port()
    cli = launcher.start(
        "local-db", "--db-port", str(db_port), "--data-dir", str(tmp_path / "data")
    )
    _wait_engine(cli)
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
    _wait_ready(cli, port)

    assert _post_readme(port) == (200, b"Ok")
    assert _views(port) == [(200, README_UTC), (200, README_UTC)]

    assert cli.stop(signal.SIGTERM) == 0, cli.describe()
    assert not _listening(port)
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
    assert not _listening(port)


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
        f"Cannot connect to host 127.0.0.1:{db_port}"
    ), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert elapsed < 10  # the retries stop after 0.5 s


# Help


@pytest.mark.parametrize("command", [[], ["dev"], ["serve"], ["local-db"], ["init-table"]])
def test_help_exits_0(launcher: Launcher, command: list[str]) -> None:
    result = launcher.run(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(" ".join(["usage: deploystatus", *command]))
    assert result.stderr == ""


def test_console_script_help_exits_0(tmp_path: Path) -> None:
    script = Path(sysconfig.get_path("scripts")) / "deploystatus"
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: deploystatus")
