"""``deploystatus remove-record`` end to end: the real entry point against ``deploystatus
serve`` as a real process (authentication on, JSON logs), on a test table of its own."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from deploystatus import timestamps
from deploystatus.config import Settings
from deploystatus.records import Record
from tests.conftest import run_with_store
from tests.support.processes import Cli, Launcher, http_request
from tests.support.serving import serve_env, start_serve

pytestmark = pytest.mark.parametrize("engine", ["dynalite"], indirect=True)

PINNING = "9999-12-30T23:59:59Z"
REAL = "2024-07-30T14:06:41Z"


@dataclass(frozen=True)
class Served:
    cli: Cli
    url: str
    admin: str
    writer: str


def created_token(launcher: Launcher, name: str, scope: str) -> tuple[str, str]:
    """A new token and its ``DEPLOYSTATUS_TOKENS`` entry, from ``token create``."""
    result = launcher.run("token", "create", "--scope", scope, "--name", name)
    assert result.returncode == 0, result.stderr
    token_line, entry_line = result.stdout.splitlines()
    return token_line.split("=", 1)[1], entry_line.split("=", 1)[1]


@pytest.fixture
def served(launcher: Launcher, settings: Settings) -> Iterator[Served]:
    admin, admin_entry = created_token(launcher, "keeper", "admin")
    writer, writer_entry = created_token(launcher, "ci", "write")
    _, reader_entry = created_token(launcher, "board", "read")
    env = serve_env(
        launcher,
        settings,
        DEPLOYSTATUS_TOKENS=f"{admin_entry};{writer_entry};{reader_entry}",
        DEPLOYSTATUS_LOG_FORMAT="json",
    )
    cli, port = start_serve(launcher, env)
    # The pinned deployable: a far-future record stored before the clock-skew bound, then
    # the real latest one (the bound keeps the first out of POST /records).
    pinning = Record(
        "pay", "prod", "deploy-success", timestamps.canonical(timestamps.parse(PINNING))
    )
    run_with_store(settings, lambda store: store.put([pinning]))
    url = f"http://127.0.0.1:{port}"
    real = {"Component": "pay", "Environment": "prod", "State": "deploy-failed", "Timestamp": REAL}
    body = json.dumps({"Records": [real]}).encode()
    headers = {"Authorization": f"Bearer {writer}"}
    assert http_request(f"{url}/records", data=body, headers=headers) == (200, b"Ok")
    yield Served(cli, url, admin, writer)
    cli.stop(signal.SIGTERM)


def removal_args(served: Served, *extra: str, timestamp: str = PINNING) -> tuple[str, ...]:
    return (
        "remove-record", "--url", served.url, "--component", "pay", "--environment", "prod",
        "--state", "deploy-success", "--timestamp", timestamp, *extra,
    )  # fmt: skip


def current_states(settings: Settings) -> list[tuple[str, str]]:
    records = run_with_store(settings, lambda store: store.current())
    return [(r.state, r.timestamp[:19]) for r in records]


def test_remove_record_removes_the_pinning_record_and_the_real_latest_is_current(
    launcher: Launcher, served: Served, settings: Settings
) -> None:
    assert current_states(settings) == [("deploy-success", "9999-12-30T23:59:59")]
    env = launcher.env(DEPLOYSTATUS_TOKEN=served.admin)

    result = launcher.run(*removal_args(served, "--yes"), env=env)

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        f"removed pay prod 'deploy-success' at {PINNING}; it was the current state; "
        f"now current: 'deploy-failed' at {REAL}\n"
    )
    assert current_states(settings) == [("deploy-failed", REAL[:19])]

    # Again: nothing is there; exit 1, one line, nothing changed.
    again = launcher.run(*removal_args(served, "--yes"), env=env)
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr == (
        f"deploystatus: no record pay prod 'deploy-success' at {PINNING}: nothing was removed "
        "(already removed, or never stored)\n"
    )
    assert current_states(settings) == [("deploy-failed", REAL[:19])]

    # The server's log: one JSON audit line per removal, naming the token, never showing it.
    served.cli.stop(signal.SIGTERM)
    lines = [json.loads(line) for line in served.cli.stderr.splitlines() if line.startswith("{")]
    audit = [line for line in lines if line["logger"] == "deploystatus.audit"]
    assert [(a["outcome"], a["token"]) for a in audit] == [
        ("removed", "keeper"),
        ("not_found", "keeper"),
    ]
    assert audit[0]["was_current"] is True
    assert audit[0]["current_state"] == "deploy-failed"
    assert audit[0]["timestamp"] == "9999-12-30T23:59:59.000000000Z"
    assert audit[0]["level"] == "warning"
    assert audit[0]["request_id"]
    assert served.admin not in served.cli.stderr


def test_remove_record_of_a_record_that_is_not_current_says_so(
    launcher: Launcher, served: Served, settings: Settings
) -> None:
    env = launcher.env(DEPLOYSTATUS_TOKEN=served.admin)
    real = (
        "remove-record", "--url", served.url, "--component", "pay", "--environment", "prod",
        "--state", "deploy-failed", "--timestamp", "2024-07-30T15:06:41+01:00", "--yes",
    )  # fmt: skip
    result = launcher.run(*real, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "removed pay prod 'deploy-failed' at 2024-07-30T14:06:41Z; the current state is unchanged\n"
    )
    # And the last one: no record of the deployable is left.
    result = launcher.run(*removal_args(served, "--yes"), env=env)
    assert result.stdout.endswith("it was the current state; no record of the deployable is left\n")
    assert current_states(settings) == []


def test_remove_record_without_yes_off_a_terminal_refuses_and_changes_nothing(
    launcher: Launcher, served: Served, settings: Settings
) -> None:
    result = launcher.run(*removal_args(served), env=launcher.env(DEPLOYSTATUS_TOKEN=served.admin))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "deploystatus: remove-record deletes a record from the history; pass --yes to confirm\n"
    )
    assert current_states(settings) == [("deploy-success", "9999-12-30T23:59:59")]


def test_remove_record_without_an_admin_token_exits_1_with_the_refusal(
    launcher: Launcher, served: Served, settings: Settings
) -> None:
    anonymous = launcher.run(*removal_args(served, "--yes"))
    assert anonymous.returncode == 1
    assert anonymous.stderr == (
        "deploystatus: 401: the service needs a token: pass --token or set DEPLOYSTATUS_TOKEN "
        "(deploystatus token create makes one)\n"
    )
    writer = launcher.run(
        *removal_args(served, "--yes"), env=launcher.env(DEPLOYSTATUS_TOKEN=served.writer)
    )
    assert writer.returncode == 1
    assert writer.stderr == (
        "deploystatus: 403: the bearer token lacks the 'admin' scope this request needs\n"
    )
    invalid = launcher.run(
        *removal_args(served, "--yes", timestamp="2024-13-01T00:00:00Z"),
        env=launcher.env(DEPLOYSTATUS_TOKEN=served.admin),
    )
    assert invalid.returncode == 1
    assert invalid.stderr.startswith("deploystatus: 400: 1 record is invalid")
    assert "record 0 Timestamp: is not a calendar date" in invalid.stderr
    assert current_states(settings) == [("deploy-success", "9999-12-30T23:59:59")]


def on_a_terminal(
    launcher: Launcher, args: tuple[str, ...], answer: str, token: str = ""
) -> tuple[int, str]:
    return launcher.on_a_terminal(*args, answer=answer, env=launcher.env(DEPLOYSTATUS_TOKEN=token))


def test_remove_record_on_a_terminal_asks_first(
    launcher: Launcher, served: Served, settings: Settings
) -> None:
    question = f"Remove pay prod 'deploy-success' at {PINNING} from the history at {served.url}? "
    status, output = on_a_terminal(launcher, removal_args(served), "no", served.admin)
    assert (status, output) == (1, question + "Type 'yes': deploystatus: nothing changed\n")
    assert current_states(settings) == [("deploy-success", "9999-12-30T23:59:59")]

    status, output = on_a_terminal(launcher, removal_args(served), "yes", served.admin)
    assert status == 0, output
    assert output.startswith(question + "Type 'yes': removed pay prod 'deploy-success'")
    assert current_states(settings) == [("deploy-failed", REAL[:19])]
