"""The README's first session, command by command, against ``make run``.

A newcomer types what the README shows and must see what it shows: every ``$`` line of
the session's console blocks is run in order with bash, from the repository's root,
against ``make run`` on free ports and an empty data directory, and its output is
compared with the lines under it. Only the address changes (the README's
``localhost:8080`` is the test's port). The block that starts ``make run`` shows a
``...`` for its install and engine lines; its last line is checked as the others.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploystatus.commands.engines import free_port
from tests.support.processes import (
    START_TIMEOUT,
    STOP_TIMEOUT,
    clean_environment,
    listening,
    needs_proc,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
_SESSION = re.compile(r"<!-- first-session\b.*?-->(.*?)<!-- /first-session -->", re.S)
_CONSOLE = re.compile(r"^```console\n(.*?)^```", re.S | re.M)


@dataclass
class Step:
    command: str
    expected: list[str]


def session_blocks() -> list[list[Step]]:
    """Each console block of the session as its commands and the lines shown under each."""
    found = _SESSION.search(README.read_text(encoding="utf-8"))
    assert found is not None, "README.md has no <!-- first-session --> section"
    blocks = []
    for block in _CONSOLE.findall(found.group(1)):
        steps: list[Step] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append(Step(line[2:], []))
            else:
                assert steps, f"output before any command in:\n{block}"
                steps[-1].expected.append(line.rstrip())
        blocks.append(steps)
    return blocks


def test_the_session_starts_with_make_run_and_shows_commands_with_their_outputs() -> None:
    blocks = session_blocks()
    assert blocks[0][0].command == "make run", "the session starts the service first"
    rest = [step for block in blocks[1:] for step in block]
    assert len(rest) >= 8, [step.command for step in rest]
    assert all(step.expected for step in rest), "every command shows what it prints"
    assert any("deploystatus " in step.command for step in rest), "the command line too"


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """``make run`` on free ports with an empty data directory; its last line read."""
    port, db_port = free_port(), free_port()
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}", f"DB_PORT={db_port}",
         f"DATA_DIR={tmp_path / 'data'}"],
        cwd=ROOT, env=clean_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while not any("serving http://" in line for line in lines):
            line = process.stdout.readline()
            if not line or time.monotonic() > deadline:
                pytest.fail("make run did not serve:\n" + "".join(lines))
            lines.append(line)
        # The line comes as the server starts: a newcomer types slower than it binds.
        wait_until(lambda: listening(port), START_TIMEOUT, "make run listens")
        yield port, lines[-1].rstrip()
    finally:
        process.stdout.close()
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT)


@needs_proc
def test_every_command_of_the_readme_first_session_prints_what_the_readme_shows(
    make_run: tuple[int, str],
) -> None:
    port, serving = make_run
    first, *blocks = session_blocks()
    shown = first[0].expected[-1].replace("8080", str(port))
    assert serving == shown

    env = clean_environment() | {"DEPLOYSTATUS_URL": f"http://127.0.0.1:{port}", "COLUMNS": "80"}
    for step in (step for block in blocks for step in block):
        command = step.command.replace("localhost:8080", f"localhost:{port}")
        result = subprocess.run(
            ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        printed = [line.rstrip() for line in (result.stdout + result.stderr).splitlines()]
        assert (step.command, printed) == (step.command, step.expected), result.returncode
