"""Running the ``deploystatus`` command as real processes, for the tests that do.

Every process listens on a free loopback port and keeps its data in the test's own
directory. Whatever a test leaves running (the CLI, or an engine it should have stopped)
is stopped at teardown, with SIGKILL as the last resort; every wait has a deadline.
"""

from __future__ import annotations

import functools
import json
import os
import pty
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

START_TIMEOUT = 60.0  # an engine plus the API, on a slow machine
STOP_TIMEOUT = 20.0  # uvicorn's graceful shutdown (10 s at most) plus the engine's

# No HTTP proxy from the environment between the tests and loopback.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))

needs_proc = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="finds child processes through /proc"
)


# Processes

Identity = tuple[int, str]


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from the state on (field 3), or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def process_identity(pid: int) -> Identity | None:
    """The pid with its start time, so a reused pid is never mistaken for it."""
    fields = _stat_fields(pid)
    return None if fields is None else (pid, fields[19])


def process_exists(identity: Identity) -> bool:
    return process_identity(identity[0]) == identity


def child_pids(pid: int) -> list[int]:
    children: list[int] = []
    if not Path("/proc/self/stat").exists():
        return children  # tests that need to know skip themselves: see needs_proc
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                children.append(int(entry.name))
    return children


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout}s")
        time.sleep(0.05)


def _prepare_child(open_files: int | None) -> None:
    # As in a terminal: a parent shell may have left SIGINT ignored for background jobs.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if open_files is not None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))


@dataclass
class Cli:
    """One running ``deploystatus`` process, its output in files."""

    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    # Its children when it was last told to stop: killed at teardown if they outlive it.
    seen_children: set[Identity] = field(default_factory=set)

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
        self.seen_children.update(filter(None, map(process_identity, child_pids(self.process.pid))))
        self.process.send_signal(signum)
        return self.wait(timeout)

    def engine(self) -> Identity:
        """The engine process: the only child, started by ``local_engine``."""
        children = child_pids(self.process.pid)
        assert len(children) == 1, [cmdline(pid) for pid in children]
        (pid,) = children
        assert "dynalite" in cmdline(pid) or "moto.server" in cmdline(pid), cmdline(pid)
        identity = process_identity(pid)
        assert identity is not None
        return identity


@dataclass
class Launcher:
    directory: Path
    environment: dict[str, str]
    launched: list[Cli] = field(default_factory=list)
    # Processes the CLI started, stopped at teardown if they outlive it.
    strays: set[Identity] = field(default_factory=set)

    def env(self, **overrides: str) -> dict[str, str]:
        return {**self.environment, **overrides}

    def start(
        self, *args: str, env: dict[str, str] | None = None, open_files: int | None = None
    ) -> Cli:
        """``open_files``: the process's RLIMIT_NOFILE (soft and hard), when given."""
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
                preexec_fn=functools.partial(_prepare_child, open_files),
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

    def on_a_terminal(
        self, *args: str, answer: str, env: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """Run a command with a terminal as its stdin holding ``answer``: its status and its
        output (stdout, then stderr)."""
        controller, terminal = pty.openpty()
        try:
            # The terminal keeps the line until the command reads it.
            os.write(controller, answer.encode() + b"\n")
            process = subprocess.run(
                [sys.executable, "-m", "deploystatus", *args],
                stdin=terminal,
                capture_output=True,
                env=env if env is not None else self.environment,
                cwd=self.directory,
                timeout=60,
            )
        finally:
            os.close(controller)
            os.close(terminal)
        return process.returncode, process.stdout.decode() + process.stderr.decode()

    def engine_of(self, cli: Cli) -> Identity:
        engine = cli.engine()
        self.strays.add(engine)
        return engine

    def close(self) -> None:
        for cli in self.launched:
            if cli.process.poll() is None:
                cli.seen_children.update(
                    filter(None, map(process_identity, child_pids(cli.process.pid)))
                )
                cli.process.terminate()
                try:
                    cli.process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    cli.process.kill()
                    cli.process.wait()
            self.strays.update(cli.seen_children)
        for identity in self.strays:
            if process_exists(identity):
                os.kill(identity[0], signal.SIGKILL)


# What tells `deploystatus post` it runs in a CI (commands/_ci.py): the suite's own CI run
# must not lend its commit, actor and run link to the records the tests post.
_CI_MARKERS = {"GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL"}


def clean_environment() -> dict[str, str]:
    """The test session's environment (fake AWS credentials, no endpoint; see conftest)
    without the service's settings or a CI's markers, so that nothing configured outside
    leaks in."""
    keep = {"DEPLOYSTATUS_DYNALITE"}
    return {
        name: value
        for name, value in os.environ.items()
        if name not in {"TZ", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", *_CI_MARKERS}
        and (not name.startswith("DEPLOYSTATUS_") or name in keep)
    }


# HTTP


def http_request(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with _http.open(request, timeout=10) as response:
            status: int = response.status
            return status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_ready(cli: Cli, port: int, timeout: float = START_TIMEOUT) -> None:
    """Until GET /readyz answers 200; fails at once if the process exits."""
    deadline = time.monotonic() + timeout
    while True:
        if cli.process.poll() is not None:
            pytest.fail(f"exited before it was ready\n{cli.describe()}")
        try:
            if http_request(f"http://127.0.0.1:{port}/readyz")[0] == 200:
                return
        except OSError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            pytest.fail(f"/readyz not 200 within {timeout}s\n{cli.describe()}")
        time.sleep(0.1)


def list_tables(db_port: int) -> object:
    """A DynamoDB ListTables call, signed with fake credentials (local engines accept any)."""
    status, body = http_request(
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


def wait_engine(cli: Cli, timeout: float = START_TIMEOUT) -> None:
    """Until local-db says the engine answers; fails at once if the process exits."""
    deadline = time.monotonic() + timeout
    while "(Ctrl-C stops)" not in cli.stdout:
        if cli.process.poll() is not None:
            pytest.fail(f"exited before the engine was up\n{cli.describe()}")
        if time.monotonic() > deadline:
            pytest.fail(f"engine not up within {timeout}s\n{cli.describe()}")
        time.sleep(0.05)
