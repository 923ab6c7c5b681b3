"""Local DynamoDB-protocol engines for development and tests: dynalite (Node.js, persistent
on disk) or moto (Python, in memory), each run as a child process on a loopback port."""

from __future__ import annotations

import ctypes
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Engine = Literal["dynalite", "moto"]
ENGINES: tuple[Engine, ...] = ("dynalite", "moto")
_PROJECT_ROOT = Path(__file__).resolve().parents[3]


class EngineError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _dynalite_script() -> Path:
    """dynalite as installed by ``npm ci`` (package.json), here or in the working directory."""
    override = os.environ.get("DEPLOYSTATUS_DYNALITE")
    candidates = [
        Path(override) if override else None,
        Path.cwd() / "node_modules" / "dynalite" / "cli.js",
        _PROJECT_ROOT / "node_modules" / "dynalite" / "cli.js",
    ]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return candidate
    raise EngineError("dynalite is not installed: run `make install` (it runs `npm ci`)")


def _command(engine: Engine, host: str, port: int, data_dir: Path) -> list[str]:
    if engine == "dynalite":
        node = shutil.which("node")
        if node is None:
            raise EngineError("dynalite needs Node.js (node) on PATH")
        return [
            node,
            str(_dynalite_script()),
            "--host", host,
            "--port", str(port),
            "--path", str(data_dir / "dynalite"),
            # Tables take no time to create or delete locally.
            "--createTableMs", "0",
            "--deleteTableMs", "0",
        ]  # fmt: skip
    return [sys.executable, "-m", "moto.server", "--host", host, "--port", str(port)]


def _die_with_parent(parent: int) -> None:
    """In the engine's process, before it runs: on Linux, be sent SIGKILL when the command
    that started it dies, however it dies (SIGKILL included), so that the engine never
    outlives it holding the port and the data directory."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def check_port_free(host: str, port: int, option: str = "--db-port") -> None:
    """Fail clearly, before starting anything, if another program holds the port (a server
    would die with a stack trace, or we might talk to someone else's engine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Like the servers' own listeners: connections in TIME_WAIT do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise EngineError(
                f"cannot listen on {host}:{port} ({exc.strerror}): another program uses it; "
                f"stop it or choose another {option}"
            ) from exc


def _answers(url: str) -> bool:
    request = urllib.request.Request(
        url,
        data=b"{}",
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Authorization": (
                "AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/aws4_request, "
                "SignedHeaders=host, Signature=0"
            ),
            "X-Amz-Date": "20240101T000000Z",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return "TableNames" in json.loads(response.read())
    except (OSError, ValueError):
        return False


@dataclass
class LocalEngine:
    engine: Engine
    host: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def describe(self) -> str:
        where = f"data in {self.data_dir}" if self.engine == "dynalite" else "in memory"
        return f"{self.engine} at {self.url} ({where})"

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_engine(
    engine: Engine,
    *,
    port: int,
    data_dir: Path,
    host: str = "127.0.0.1",
    timeout: float = 30.0,
) -> LocalEngine:
    """Start the engine and return once it answers DynamoDB requests."""
    command = _command(engine, host, port, data_dir)
    check_port_free(host, port)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"{engine}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: Ctrl-C in a terminal reaches only us, and we stop it in order.
            start_new_session=True,
            preexec_fn=functools.partial(_die_with_parent, os.getpid()),
        )
    local = LocalEngine(engine, host, port, data_dir, process)
    deadline = time.monotonic() + timeout
    try:
        while not _answers(local.url):
            if process.poll() is not None:
                output = log_path.read_text(errors="replace").strip()[-2000:]
                raise EngineError(f"{engine} exited with status {process.returncode}: {output}")
            if time.monotonic() > deadline:
                raise EngineError(f"{engine} did not answer on {local.url} within {timeout}s")
            time.sleep(0.05)
    except BaseException:
        # Also on SIGTERM or Ctrl-C while waiting: in its own session, nobody else stops it.
        local.stop()
        raise
    return local
