"""The processes the bench starts, and what it reads about them and the machine from /proc.

Every process listens on a free 127.0.0.1 port with its data in the run's temporary
directory; every wait has a deadline; every process started is stopped (SIGTERM, then
SIGKILL of exactly the processes it started: the ``deploystatus`` command and its engine
or workers, found by pid through /proc).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploystatus.commands.engines import free_port

HOST = "127.0.0.1"
TABLE = "bench"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
_ROOT = Path(__file__).resolve().parents[1]
# No proxy from the environment between the bench and loopback.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BenchError(RuntimeError):
    pass


# Service settings for every service the run starts (``python -m bench --env NAME=VALUE``).
SERVICE_ENV: dict[str, str] = {}


def child_environment(**extra: str) -> dict[str, str]:
    """The environment for everything the bench starts: fake credentials for the local engine
    (a developer's real ones are never used), no endpoint or service setting from outside."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "DEPLOYSTATUS_")) or name == "DEPLOYSTATUS_DYNALITE"
    }
    env.update(SERVICE_ENV)
    env.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
        DEPLOYSTATUS_TABLE=TABLE,
        NO_PROXY="127.0.0.1",
    )
    env.update(extra)
    return env


def use_local_credentials() -> None:
    """The bench's own DynamoDB client (the engine ceiling) uses the same fake credentials."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1"
    )


# /proc


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _identity(pid: int) -> tuple[int, str] | None:
    fields = _stat_fields(pid)
    return None if fields is None else (pid, fields[19])


def descendants(pid: int) -> list[int]:
    """Children, grandchildren... of ``pid`` (those that have not been re-parented)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                parents[int(entry.name)] = int(fields[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KiB."""
    values: dict[str, int] = {}
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    return values


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0, same user); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def cpu_seconds(pid: int) -> float:
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, Any]:
    model = ""
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = 0
    with suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu": model or platform.processor(),
        "memory_bytes": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def engine_version() -> dict[str, str]:
    version = "?"
    with suppress(OSError, ValueError):
        package = json.loads((_ROOT / "node_modules" / "dynalite" / "package.json").read_text())
        version = str(package["version"])
    node = "?"
    with suppress(OSError, subprocess.SubprocessError):
        node = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    return {"name": "dynalite", "version": version, "node": node}


# HTTP to loopback, for readiness


def _get_status(url: str) -> int:
    try:
        with _http.open(url, timeout=5) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


# Processes


@dataclass
class Started:
    """A started ``deploystatus`` command; ``pid`` serves HTTP unless it has workers."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    port: int = 0
    db_port: int = 0
    seen: set[tuple[int, str]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def engine_url(self) -> str:
        return f"http://{HOST}:{self.db_port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def remember_children(self) -> None:
        self.seen.update(filter(None, map(_identity, descendants(self.pid))))

    def tail(self) -> str:
        with suppress(OSError):
            return self.log.read_text(errors="replace")[-3000:]
        return ""

    def wait_ready(self, path: str = "/readyz", timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.tail()}"
                )
            with suppress(OSError):
                if _get_status(self.url + path) == 200:
                    self.remember_children()
                    return
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name}: {path} not 200 within {timeout}s:\n{self.tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.remember_children()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        for pid, started in self.seen:
            if _identity(pid) == (pid, started):  # still the very process we saw
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _launch(
    name: str, args: list[str], directory: Path, env: Mapping[str, str], log_name: str
) -> Started:
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / log_name
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "deploystatus", *args],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=directory,
        )
    return Started(name, process, log)


@contextmanager
def dev_service(directory: Path, name: str) -> Iterator[Started]:
    """``deploystatus dev``: dynalite (data under ``directory``), the table, the API."""
    port, db_port = free_port(), free_port()
    while db_port == port:
        db_port = free_port()
    args = [
        "dev",
        "--host", HOST,
        "--port", str(port),
        "--db-host", HOST,
        "--db-port", str(db_port),
        "--data-dir", str(directory / "data"),
        "--engine", "dynalite",
    ]  # fmt: skip
    started = _launch(name, args, directory, child_environment(), "dev.log")
    started.port, started.db_port = port, db_port
    try:
        started.wait_ready()
        yield started
    finally:
        started.stop()


@contextmanager
def local_db(directory: Path) -> Iterator[Started]:
    """``deploystatus local-db``: the engine alone (dynalite), data under ``directory``."""
    db_port = free_port()
    engine = _launch(
        "local-db",
        ["local-db", "--db-host", HOST, "--db-port", str(db_port), "--data-dir", str(directory)],
        directory,
        child_environment(),
        "local-db.log",
    )
    engine.db_port = db_port
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "Ctrl-C stops" not in engine.tail():
            if engine.process.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"local-db did not start:\n{engine.tail()}")
            time.sleep(0.1)
        engine.remember_children()
        yield engine
    finally:
        engine.stop()


@contextmanager
def serve_table(
    directory: Path,
    engine: Started,
    table: str = TABLE,
    workers: int | None = None,
    role: str = "serve",
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Started]:
    """``deploystatus init-table`` + ``serve`` (production's way) on ``engine``'s ``table``;
    ``role`` names its log, for two services of one table; ``extra_env`` adds variables
    (``PYTHONPATH``: another release's code)."""
    port = free_port()
    env = child_environment(
        AWS_ENDPOINT_URL_DYNAMODB=engine.engine_url, DEPLOYSTATUS_TABLE=table, **(extra_env or {})
    )
    subprocess.run(
        [sys.executable, "-m", "deploystatus", "init-table"],
        env=env,
        cwd=directory,
        check=True,
        capture_output=True,
        timeout=START_TIMEOUT,
    )
    args = ["serve", "--host", HOST, "--port", str(port)]
    if workers is not None:
        args += ["--workers", str(workers)]
    log = f"{role}-{table}-{workers or 1}.log"
    server = _launch(f"{role} {table}", args, directory, env, log)
    server.port, server.db_port = port, engine.db_port
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@contextmanager
def serve_with_workers(directory: Path, workers: int) -> Iterator[Started]:
    """``deploystatus local-db`` + ``init-table`` + ``serve --workers N`` (production's way)."""
    with local_db(directory) as engine, serve_table(directory, engine, workers=workers) as server:
        yield server


def previous_release(ref: str) -> Path:
    """A git worktree of ``ref`` under ``build/`` (made once), whose ``src`` another release
    runs from with this virtualenv (``PYTHONPATH``), to measure the two side by side."""
    path = _ROOT / "build" / f"bench-previous-{ref}"
    if not (path / "src").is_dir():
        subprocess.run(
            ["git", "-C", str(_ROOT), "worktree", "add", "--detach", "--force", str(path), ref],
            check=True,
            capture_output=True,
        )
    return path
