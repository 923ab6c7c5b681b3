"""Commands that write sample data, wipe a table or fill it (``generate``, ``reset``,
``migrate-legacy``) touch a table that is not on a local engine only when asked for by name:
``--remote``, or the table's name typed at a terminal. Nothing here reaches beyond loopback:
the remote endpoint is a name that does not resolve, so a command let through fails to
connect, which is how the tests tell "let through" from "refused"."""

from __future__ import annotations

import pytest

from tests.support.processes import Launcher

REMOTE = "http://dynamodb.example.test:8000"
COMMANDS = {
    "generate": ("generate", "--records", "10"),
    "reset": ("reset", "--yes"),
    "migrate-legacy": ("migrate-legacy",),
}


def remote_env(launcher: Launcher) -> dict[str, str]:
    return launcher.env(
        AWS_ENDPOINT_URL_DYNAMODB=REMOTE,
        AWS_REGION="us-east-1",
        DEPLOYSTATUS_TABLE="team-table",
        DEPLOYSTATUS_DYNAMODB_RETRY_SECONDS="0.2",
        DEPLOYSTATUS_DYNAMODB_TIMEOUT_SECONDS="1",
    )


@pytest.mark.parametrize("args", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_remote_table_is_refused_off_a_terminal_without_remote(
    launcher: Launcher, args: tuple[str, ...]
) -> None:
    result = launcher.run(*args, env=remote_env(launcher))
    assert result.returncode == 1, result
    assert result.stderr.strip().endswith(
        f"table team-table at {REMOTE}, not a local engine; pass --remote if that is meant"
    ), result.stderr
    assert "cannot" not in result.stderr  # refused before any call


@pytest.mark.parametrize("args", COMMANDS.values(), ids=COMMANDS.keys())
def test_remote_lets_the_command_go_on_and_says_where(
    launcher: Launcher, args: tuple[str, ...]
) -> None:
    result = launcher.run(*args, "--remote", env=remote_env(launcher))
    assert f"table team-table at {REMOTE}" in result.stderr
    assert "pass --remote" not in result.stderr
    # It went on: it tried the endpoint, which no one answers.
    assert result.returncode != 0
    assert "dynamodb.example.test:8000" in result.stderr.splitlines()[-1], result.stderr


def test_at_a_terminal_the_tables_name_is_asked_for(launcher: Launcher) -> None:
    env = remote_env(launcher)
    status, output = launcher.on_a_terminal("generate", "--records", "10", answer="y", env=env)
    assert status == 1
    assert output == (
        f"Write sample records to table team-table at {REMOTE}, not a local engine. "
        "Type the table's name (team-table) to go on: deploystatus: nothing changed\n"
    )
    status, output = launcher.on_a_terminal(
        "generate", "--records", "10", answer="team-table", env=env
    )
    assert status == 1 and "cannot write to table team-table" in output, output


def test_a_local_engine_is_never_asked_about(launcher: Launcher) -> None:
    # 127.0.0.1 and localhost are local: refused only because no engine listens there.
    for endpoint in ("http://127.0.0.1:9", "http://localhost:9"):
        env = launcher.env(
            AWS_ENDPOINT_URL_DYNAMODB=endpoint,
            AWS_REGION="us-east-1",
            DEPLOYSTATUS_DYNAMODB_RETRY_SECONDS="0.2",
        )
        result = launcher.run("generate", "--records", "10", env=env)
        assert result.returncode == 1
        assert "not a local engine" not in result.stderr
        assert "cannot write to table" in result.stderr, result.stderr
