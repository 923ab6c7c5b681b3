"""The command line explains itself: groups, a description and examples in every --help,
--version, suggestions for typos, the subcommand's usage on a bad option, completion."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest

from tests.support.processes import Launcher

COMMANDS = [
    ["serve"], ["dev"], ["local-db"],
    ["init-table"], ["reset"], ["generate"], ["migrate-legacy"], ["derive-facts"],
    ["token", "create"], ["post"], ["current"], ["history"], ["remove-record"],
]  # fmt: skip
GROUPS = {
    "Run the service": ["serve", "dev", "local-db"],
    "Table chores": ["init-table", "reset", "generate", "migrate-legacy", "derive-facts", "token"],
    "Client: post and read records": [
        "post",
        "current",
        "history",
        "remove-record",
        "webhooks",
    ],
}


def wide(launcher: Launcher) -> dict[str, str]:
    """Help laid out on one wide line per option, so that a phrase is never wrapped."""
    return launcher.env(COLUMNS="200")


def test_the_top_help_lists_every_command_in_its_group(launcher: Launcher) -> None:
    result = launcher.run("--help", env=wide(launcher))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Usage: deploystatus [OPTIONS] COMMAND [ARGS]...") == 1
    panels = re.split(r"╭─ ", result.stdout)
    for group, commands in GROUPS.items():
        (panel,) = [text for text in panels if text.startswith(group + " ")]
        listed = re.findall(r"^│ (\S+) ", panel, re.M)
        assert listed == commands, (group, listed)
    assert ".." not in result.stdout.replace("[ARGS]...", "")  # no reStructuredText


def test_without_a_command_it_prints_the_help(launcher: Launcher) -> None:
    result = launcher.run(env=wide(launcher))
    assert "Usage: deploystatus [OPTIONS] COMMAND [ARGS]..." in result.stdout + result.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_help_has_a_description_option_help_and_examples(
    launcher: Launcher, command: list[str]
) -> None:
    result = launcher.run(*command, "--help", env=wide(launcher))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    text = result.stdout
    assert f"Usage: deploystatus {' '.join(command)} [OPTIONS]" in text
    description = text.split("[OPTIONS]", 1)[1].split("╭─", 1)[0].strip()
    assert len(description) > 20, text
    examples = text.split("Examples", 1)[1]
    assert f"deploystatus {command[0]}" in examples or "deploystatus" in examples, text
    # Every option says what it is for: after its name, short name, metavar and range,
    # some words that are not a default.
    options = re.findall(r"^│ \*? *(--[a-z-]+)\s+(?:-\w\s+)?\S+\s+(\S.*?)\s*│$", text, re.M)
    assert options, text
    for option, help_text in options:
        words = re.sub(r"^\[[^]]*\]\s*", "", help_text)
        assert re.match(r"[A-Za-z]", words), (option, help_text)


def test_version_prints_the_package_version(launcher: Launcher) -> None:
    for option in ("--version", "-V"):
        result = launcher.run(option)
        expected = f"deploystatus {version('deploystatus')}\n"
        assert (result.returncode, result.stdout) == (0, expected)


def test_post_version_is_the_record_s_and_the_program_s_version_is_still_the_top_option(
    launcher: Launcher,
) -> None:
    """``post --version`` takes a value (the deployed version); only before a command does
    ``--version`` print the program's."""
    result = launcher.run("post", "--version", env=wide(launcher))
    assert result.returncode == 2
    assert "Option '--version' requires an argument." in result.stderr
    assert result.stdout == ""
    result = launcher.run("--version", "post", "--version", "1.4.2")
    assert (result.returncode, result.stdout) == (0, f"deploystatus {version('deploystatus')}\n")


def test_post_help_names_every_ci_variable_it_reads(launcher: Launcher) -> None:
    result = launcher.run("post", "--help", env=wide(launcher))
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for variable in (
        "GITHUB_ACTIONS=true", "GITHUB_SHA", "GITHUB_ACTOR",
        "$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID",
        "GITLAB_CI=true", "CI_COMMIT_SHA", "GITLAB_USER_LOGIN", "CI_PIPELINE_URL",
        "CI_COMMIT_TIMESTAMP", "CI_COMMIT_TAG", "JENKINS_URL set", "GIT_COMMIT", "BUILD_URL",
    ):  # fmt: skip
        assert variable in text, variable
    assert "--no-ci" in text


def test_a_mistyped_command_is_answered_with_the_closest_one(launcher: Launcher) -> None:
    result = launcher.run("curent", env=wide(launcher))
    assert result.returncode == 2
    assert "No such command 'curent'. Did you mean 'current'?" in result.stderr


def test_a_bad_option_shows_the_subcommand_usage_and_the_closest_option(
    launcher: Launcher,
) -> None:
    result = launcher.run("history", "abc.def", "--ordr", "asc", env=wide(launcher))
    assert result.returncode == 2
    assert result.stderr.startswith("Usage: deploystatus history [OPTIONS]")
    assert "Try 'deploystatus history -h' for help." in result.stderr
    assert "No such option: --ordr" in result.stderr
    assert "--order" in result.stderr


def test_a_bad_value_names_the_option_and_the_choices(launcher: Launcher) -> None:
    result = launcher.run("current", "-o", "xml", env=wide(launcher))
    assert result.returncode == 2
    assert "Usage: deploystatus current [OPTIONS]" in result.stderr
    assert "'xml' is not one of 'table', 'json', 'tsv'" in result.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_a_completion_script_is_printed_for_each_shell(launcher: Launcher, shell: str) -> None:
    result = launcher.run(
        "--show-completion",
        shell,
        env=launcher.env(_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1"),
    )
    assert result.returncode == 0, result.stderr
    assert "_DEPLOYSTATUS_COMPLETE" in result.stdout, result.stdout


def test_completion_offers_the_commands_that_start_with_what_was_typed(
    launcher: Launcher,
) -> None:
    result = launcher.run(
        env=launcher.env(
            _DEPLOYSTATUS_COMPLETE="complete_bash", COMP_WORDS="deploystatus hi", COMP_CWORD="1"
        )
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["history"], result.stdout


@pytest.mark.parametrize("command", ["current", "history"])
def test_the_output_help_names_the_tsv_columns_in_order(launcher: Launcher, command: str) -> None:
    result = launcher.run(command, "--help", env=wide(launcher))
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "tsv: a header (component, environment, state, timestamp, version, actor)" in text
