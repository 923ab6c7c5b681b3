"""The data and client commands end to end, through the real entry point: ``generate`` and
``reset`` against real engines, ``post``, ``current`` and ``history`` against a real service
over HTTP, retries through a fault proxy at the network boundary, and the Makefile workflow.

Nothing is mocked. Every process and server listens on a free loopback port; every wait has
a deadline; everything started is stopped at teardown (tests/support/processes.py).
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploystatus import timestamps
from deploystatus.commands._output import age
from deploystatus.commands.engines import LocalEngine, free_port
from deploystatus.commands.generate import ENVIRONMENTS, component_names
from deploystatus.config import Settings
from deploystatus.records import Record, component_problem, environment_problem, state_problem
from deploystatus.states import state_class
from deploystatus.storage.store import Store
from deploystatus.tokens import new_token
from tests.commands.test_ci import GITHUB
from tests.conftest import run_with_store
from tests.support.factories import deployment, history_of
from tests.support.processes import (
    START_TIMEOUT,
    STOP_TIMEOUT,
    Identity,
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
    wait_ready,
    wait_until,
)
from tests.support.proxies import FaultProxy, Rule, ServiceError
from tests.support.tokens import entry

REPO_ROOT = Path(__file__).resolve().parents[2]
END = "2024-07-30T14:06:41Z"
END_NS = timestamps.parse(END)
WINDOW_NS = 7 * 86_400 * 1_000_000_000  # generate's default --days 7
GENERATE = (
    "generate", "--end", END, "--records", "500", "--components", "5", "--environments", "3",
)  # fmt: skip
OUTCOMES = {"deploy-success", "deploy-failed"}
# Free text as writers send it: rich markup brackets, Go-escaped characters, non-ASCII.
AWKWARD_STATE = "rollback [v2] <canary> & café"

# Parametrize the session's engine fixture to one engine, where the engine does not matter.
dynalite_only = pytest.mark.parametrize("engine", ["dynalite"], indirect=True)


def unique_component() -> str:
    return f"c-{uuid.uuid4().hex[:12]}"


def unique_environment() -> str:
    """Environments are letters (and dashes) only."""
    return uuid.uuid4().hex[:12].translate(str.maketrans("0123456789", "ghijklmnop"))


def command_env(launcher: Launcher, **overrides: str) -> dict[str, str]:
    """The clean environment, with a wide UTF-8 output and no HTTP proxy to loopback."""
    return launcher.env(
        **{"COLUMNS": "200", "PYTHONIOENCODING": "utf-8", "no_proxy": "*", **overrides}
    )


def one_line(text: str) -> bool:
    return text.endswith("\n") and text.count("\n") == 1


def squeezed(text: str) -> str:
    """Whitespace collapsed, so that assertions do not depend on where rich wraps."""
    return " ".join(text.split())


# Tables and their contents


def fresh_settings(endpoint_url: str, table: str | None = None) -> Settings:
    return Settings(
        endpoint_url=endpoint_url,
        region="us-east-1",
        table=table or f"test-{uuid.uuid4().hex[:12]}",
        timezone=None,
    )


@dataclass(frozen=True)
class Contents:
    """Everything in a table: the current states, and the history of each component."""

    current: list[Record]
    histories: dict[str, list[Record]]

    @property
    def records(self) -> list[Record]:
        return [record for history in self.histories.values() for record in history]


def read_contents(settings: Settings) -> Contents:
    async def read(store: Store) -> Contents:
        current = await store.current()
        components = sorted({record.component for record in current})
        return Contents(list(current), {c: await history_of(store, c) for c in components})

    return run_with_store(settings, read)


def table_env(launcher: Launcher, settings: Settings) -> dict[str, str]:
    assert settings.endpoint_url is not None
    return command_env(
        launcher, AWS_ENDPOINT_URL_DYNAMODB=settings.endpoint_url, DEPLOYSTATUS_TABLE=settings.table
    )


@pytest.fixture
def make_table(engine: LocalEngine) -> Iterator[Callable[[], Settings]]:
    """Creates fresh, empty tables on the test's engine; deletes them at teardown."""
    made: list[Settings] = []

    def make() -> Settings:
        settings = fresh_settings(engine.url)
        run_with_store(settings, lambda store: store.create_table())
        made.append(settings)
        return settings

    yield make
    for settings in made:
        run_with_store(settings, lambda store: store.delete_table())


def generate(launcher: Launcher, settings: Settings, *args: str) -> str:
    """Run ``deploystatus generate`` into the table; its output, once it exited 0."""
    result = launcher.run(*GENERATE, *args, env=table_env(launcher, settings))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


# generate


@dataclass(frozen=True)
class Generated:
    settings: Settings
    output: str
    contents: Contents


@pytest.fixture(scope="module")
def generated(engine: LocalEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    """``generate --seed 7`` run once per engine into a table of its own, read back; the
    tests that use it only read."""
    launcher = Launcher(tmp_path_factory.mktemp("generated"), clean_environment())
    settings = fresh_settings(engine.url)
    run_with_store(settings, lambda store: store.create_table())
    try:
        output = generate(launcher, settings, "--seed", "7")
        yield Generated(settings, output, read_contents(settings))
    finally:
        launcher.close()
        run_with_store(settings, lambda store: store.delete_table())


def test_generate_same_seed_and_end_into_a_second_table_writes_identical_histories_and_current(
    launcher: Launcher, generated: Generated, make_table: Callable[[], Settings]
) -> None:
    again = make_table()
    generate(launcher, again, "--seed", "7")

    contents = read_contents(again)
    assert len(contents.current) == 5 * 3
    assert contents.current == generated.contents.current
    assert contents.histories == generated.contents.histories


@dynalite_only
def test_generate_with_a_different_seed_writes_different_records(
    launcher: Launcher, generated: Generated, make_table: Callable[[], Settings]
) -> None:
    other = make_table()
    generate(launcher, other, "--seed", "8")

    contents = read_contents(other)
    assert contents.histories.keys() == generated.contents.histories.keys()
    assert contents.histories != generated.contents.histories
    assert contents.current != generated.contents.current


def test_generate_writes_valid_records_of_the_requested_deployables_within_the_window_to_end(
    generated: Generated,
) -> None:
    records = generated.contents.records
    # 250 deployments, each a start and a finish, but the last one of a deployable may be
    # still running at --end: at most one record short per deployable.
    assert 500 - 15 <= len(records) <= 500
    assert {record.deployable for record in records} == {
        (component, environment)
        for component in component_names(5)
        for environment in ENVIRONMENTS[:3]
    }
    for record in records:
        assert component_problem(record.component) is None, record
        assert environment_problem(record.environment) is None, record
        assert state_problem(record.state) is None, record
        assert END_NS - WINDOW_NS <= timestamps.parse(record.timestamp) <= END_NS, record


def test_generate_deployments_start_then_finish_before_the_next_start_on_each_deployable(
    generated: Generated,
) -> None:
    by_deployable: dict[tuple[str, str], list[Record]] = {}
    for record in generated.contents.records:  # each history is oldest first
        by_deployable.setdefault(record.deployable, []).append(record)
    for deployable, records in by_deployable.items():
        states = [record.state for record in records]
        assert set(states[0::2]) == {"deploy-started"}, deployable
        assert set(states[1::2]) <= OUTCOMES, deployable
        instants = [timestamps.parse(record.timestamp) for record in records]
        assert instants == sorted(set(instants)), deployable  # strictly increasing


def test_generate_current_state_of_each_deployable_is_the_last_record_of_its_history(
    generated: Generated,
) -> None:
    last: dict[tuple[str, str], Record] = {}
    for record in generated.contents.records:  # each history is oldest first
        last[record.deployable] = record.without_details()  # current state is read plain
    assert generated.contents.current == sorted(last.values(), key=lambda r: r.deployable)
    # Every record carries a version, an actor and a run link, as a CI would post them.
    assert all(
        r.details and r.details.version and r.details.actor and r.details.link
        for r in generated.contents.records
    )


@dynalite_only
@pytest.mark.parametrize(
    ("rate", "absent", "present"),
    [("0", "deploy-failed", "deploy-success"), ("1", "deploy-success", "deploy-failed")],
)
def test_generate_failure_rate_0_writes_no_failures_and_1_no_successes(
    launcher: Launcher, settings: Settings, rate: str, absent: str, present: str
) -> None:
    generate(launcher, settings, "--seed", "7", "--failure-rate", rate)

    states = Counter(record.state for record in read_contents(settings).records)
    assert states[absent] == 0
    assert states[present] > 0
    assert states[present] + states["deploy-started"] == states.total()


def test_generate_prints_records_written_with_rate_and_current_state_summary_title(
    generated: Generated,
) -> None:
    output = squeezed(generated.output)
    match = re.search(r"wrote (\d+) records in (\d+\.\d) s \(([\d,]+) records/s\) to (\S+)", output)
    assert match is not None, generated.output
    written, _, rate, table = match.groups()
    assert int(written) == len(generated.contents.records)
    assert int(rate.replace(",", "")) > 0
    assert table == generated.settings.table

    current = generated.contents.current
    classes = Counter(state_class(record.state) for record in current)
    counts = ", ".join(f"{count} {name}" for name, count in sorted(classes.items()))
    assert f"Current state: {len(current)} deployables ({counts})" in output


# reset


def store_records(settings: Settings, records: list[Record]) -> None:
    run_with_store(settings, lambda store: store.put(records))


def some_records(component: str) -> list[Record]:
    return [
        Record(component, "dev", "deploy-started", timestamps.canonical(END_NS - 60_000_000_000)),
        Record(component, "dev", "deploy-success", timestamps.canonical(END_NS)),
        Record(component, "prod", "Ok", timestamps.canonical(END_NS)),
    ]


def test_reset_yes_empties_the_table_and_leaves_it_there_and_usable(
    launcher: Launcher, settings: Settings
) -> None:
    store_records(settings, some_records("abc.def"))
    assert len(read_contents(settings).records) == 3

    result = launcher.run("reset", "--yes", env=table_env(launcher, settings))

    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"deploystatus: table {settings.table} at {settings.endpoint_url} is empty\n",
        "",
    )
    assert read_contents(settings) == Contents([], {})
    assert run_with_store(settings, lambda store: history_of(store, "abc.def")) == []
    run_with_store(settings, lambda store: store.check())  # there, and ACTIVE
    record = Record("abc.def", "dev", "Ok", timestamps.canonical(END_NS))
    store_records(settings, [record])
    assert read_contents(settings) == Contents([record], {"abc.def": [record]})


@dynalite_only
def test_reset_without_yes_and_stdin_not_a_terminal_exits_1_with_one_line_and_changes_nothing(
    launcher: Launcher, settings: Settings
) -> None:
    store_records(settings, some_records("abc.def"))
    before = read_contents(settings)

    result = launcher.run("reset", env=table_env(launcher, settings))  # stdin: /dev/null

    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr == (
        "deploystatus: reset deletes every record; pass --yes to confirm (make reset YES=1)\n"
    )
    assert read_contents(settings) == before


# The client commands, against a real service


@dataclass(frozen=True)
class Service:
    port: int
    db_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> bytes:
        status, body = http_request(self.url + path)
        assert status == 200, body
        return body

    def post(self, *records: dict[str, str]) -> None:
        body = json.dumps({"Records": list(records)}).encode()
        assert http_request(self.url + "/records", data=body) == (200, b"Ok")

    def history(self, component: str) -> list[dict[str, str]]:
        records: list[dict[str, str]] = json.loads(self.get("/historical/" + component))["Records"]
        return records


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``deploystatus dev`` (dynalite) on free ports, shared by the client tests, which keep
    apart by using components and environments of their own."""
    directory = tmp_path_factory.mktemp("service")
    launcher = Launcher(directory, clean_environment())
    try:
        port, db_port = free_port(), free_port()
        while db_port == port:
            db_port = free_port()
        cli = launcher.start(
            "dev", "--port", str(port), "--db-port", str(db_port),
            "--data-dir", str(directory / "data"), "--engine", "dynalite",
        )  # fmt: skip
        wait_ready(cli, port)
        yield Service(port, db_port)
    finally:
        launcher.close()


def test_post_stores_the_record_with_the_given_timestamp(
    launcher: Launcher, service: Service
) -> None:
    component = unique_component()
    result = launcher.run(
        "post", "--url", service.url, "--component", component, "--environment", "prod-all",
        "--state", "deploy-success", "--timestamp", "2024-07-30T15:06:41.5+01:00",
        env=command_env(launcher),
    )  # fmt: skip

    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"posted {component} prod-all deploy-success 2024-07-30T15:06:41.5+01:00\n",
        "",
    )
    assert service.history(component) == [
        deployment(component, "prod-all", "deploy-success", "2024-07-30T14:06:41.5Z")
    ]


def test_post_sends_the_details_given_as_options(launcher: Launcher, service: Service) -> None:
    component = unique_component()
    result = launcher.run(
        "post", "-u", service.url, "-c", component, "-e", "prod", "-s", "deploy-success",
        "--timestamp", "2024-07-30T14:06:41Z", "--version", "1.4.2", "--revision", "9fceb02",
        "--actor", "jdoe", "--link", "https://ci.example.com/runs/7", "--message", "hotfix",
        "--commit-time", "2024-07-30T13:58:02Z", "--no-ci",
        env=command_env(launcher, GITHUB_ACTIONS="true", GITHUB_ACTOR="someone-else"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (stored,) = json.loads(service.get(f"/historical/{component}?details=true"))["Records"]
    assert stored == {
        **deployment(component, "prod", "deploy-success", "2024-07-30T14:06:41Z"),
        "Version": "1.4.2",
        "Revision": "9fceb02",
        "Actor": "jdoe",
        "Link": "https://ci.example.com/runs/7",
        "Message": "hotfix",
        "CommitTimestamp": "2024-07-30T13:58:02Z",
    }


def test_post_in_github_actions_fills_the_details_and_options_win(
    launcher: Launcher, service: Service
) -> None:
    component = unique_component()
    github = GITHUB  # a GitHub Actions run's variables
    for state, extra in (("deploy-started", []), ("deploy-success", ["--actor", "release-bot"])):
        result = launcher.run(
            "post", "-u", service.url, "-c", component, "-e", "prod", "-s", state, *extra,
            env=command_env(launcher, **github),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    started, succeeded = json.loads(service.get(f"/historical/{component}?details=true"))["Records"]
    link = "https://github.com/acme/payments-api/actions/runs/10176543210"
    assert (started["Revision"], started["Actor"], started["Link"]) == (
        github["GITHUB_SHA"],
        "octocat",
        link,
    )
    assert (succeeded["Actor"], succeeded["Link"]) == ("release-bot", link)
    assert "Version" not in succeeded


def test_post_with_no_ci_sends_no_detail_from_the_environment(
    launcher: Launcher, service: Service
) -> None:
    component = unique_component()
    github = GITHUB  # a GitHub Actions run's variables
    result = launcher.run(
        "post", "-u", service.url, "-c", component, "-e", "prod", "-s", "deploy-success",
        "--timestamp", "2024-07-30T14:06:41Z", "--version", "1.4.2", "--no-ci",
        env=command_env(launcher, **github),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (stored,) = json.loads(service.get(f"/historical/{component}?details=true"))["Records"]
    assert stored == {
        **deployment(component, "prod", "deploy-success", "2024-07-30T14:06:41Z"),
        "Version": "1.4.2",
    }


def test_post_without_timestamp_stores_the_current_time(
    launcher: Launcher, service: Service
) -> None:
    component = unique_component()
    before = time.time_ns()
    result = launcher.run(
        "post", "--url", service.url, "--component", component, "--environment", "dev",
        "--state", "Ok", env=command_env(launcher),
    )  # fmt: skip
    after = time.time_ns()

    assert result.returncode == 0, result.stderr
    (stored,) = service.history(component)
    assert (stored["Component"], stored["Environment"], stored["State"]) == (component, "dev", "Ok")
    instant = timestamps.parse(stored["Timestamp"])
    assert before - 1_000_000_000 <= instant <= after + 1_000_000_000
    printed = result.stdout.split()[-1]  # "posted C E S TIMESTAMP"
    assert timestamps.parse(printed) == instant


def test_post_invalid_record_exits_1_with_one_400_line_on_stderr_and_stores_nothing(
    launcher: Launcher, service: Service
) -> None:
    component = unique_component()
    result = launcher.run(
        "post", "--url", service.url, "--component", component, "--environment", "dev-rev0",
        "--state", "Ok", "--timestamp", END, env=command_env(launcher),
    )  # fmt: skip

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("deploystatus: 400"), result.stderr
    assert one_line(result.stderr), result.stderr
    assert "Environment" in result.stderr
    assert service.history(component) == []


CURRENT_HEADER = ["COMPONENT", "ENVIRONMENT", "STATE", "VERSION", "ACTOR", "AGE"]
HISTORY_HEADER = ["TIMESTAMP", "ENVIRONMENT", "STATE", "VERSION", "ACTOR"]
BOX_DRAWING = re.compile("[\u2500-\u257f]")


def table_rows(output: str, header: list[str]) -> list[list[str]]:
    """The rows of the table a client command printed; fails unless it is plain aligned
    columns under ``header``: every cell starts where its column's title does, no line ends
    in blanks, no box drawing, no colour."""
    assert not BOX_DRAWING.search(output) and "\x1b" not in output, output
    lines = output.rstrip("\n").split("\n")
    assert lines[0].split() == header, output
    starts = [lines[0].index(title) for title in header]
    rows = []
    for line in lines[1:]:
        assert line == line.rstrip(), output
        for start in starts[1:]:
            assert line[start - 1] == " " and line[start] != " ", output
        rows.append([line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)])
    return rows


def shortened(text: str | None) -> str:
    """A version or an actor as a table shows it: at most 10 characters, else an ellipsis."""
    if not text:
        return "-"
    return text if len(text) <= 10 else text[:9] + "…"


def current_rows(records: list[dict[str, str]]) -> list[list[str]]:
    return [
        [r["Component"], r["Environment"], r["State"], shortened(r.get("Version")),
         shortened(r.get("Actor")), age(r["Timestamp"])]
        for r in records
    ]  # fmt: skip


def history_rows(records: list[dict[str, str]]) -> list[list[str]]:
    return [
        [r["Timestamp"], r["Environment"], r["State"], shortened(r.get("Version")),
         shortened(r.get("Actor"))]
        for r in records
    ]  # fmt: skip


@pytest.fixture
def posted(service: Service) -> tuple[str, str, list[dict[str, str]]]:
    """Three current states of the test's own, in two environments of its own."""
    here, there = unique_environment(), unique_environment()
    first, second = unique_component(), unique_component()
    records = [
        deployment(first, here, "deploy-started", "2024-07-30T14:06:41Z"),
        deployment(second, here, "deploy-failed", "2024-07-30T14:06:42.25Z"),
        deployment(first, there, AWKWARD_STATE, "2024-07-30T14:06:43Z"),
    ]
    service.post(*records)
    return here, there, records


def test_current_prints_an_aligned_table_of_the_current_state_of_every_deployable(
    launcher: Launcher, service: Service, posted: tuple[str, str, list[dict[str, str]]]
) -> None:
    result = launcher.run("current", "--url", service.url, env=command_env(launcher))

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    current = json.loads(service.get("/current"))["Records"]
    rows = table_rows(result.stdout, CURRENT_HEADER)
    # Ages of records other tests post "now" move on between the two reads: compared where
    # they cannot, on the test's own records.
    assert [row[:3] for row in rows] == [row[:3] for row in current_rows(current)]
    for mine in current_rows(posted[2]):
        assert mine in rows


def test_current_environment_option_shows_only_that_environment(
    launcher: Launcher, service: Service, posted: tuple[str, str, list[dict[str, str]]]
) -> None:
    here, _, records = posted
    result = launcher.run(
        "current", "--url", service.url, "--environment", here, env=command_env(launcher)
    )

    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout, CURRENT_HEADER)
    assert sorted(rows) == sorted(current_rows(records[:2]))


def test_current_json_prints_exactly_the_api_body_of_current(
    launcher: Launcher, service: Service, posted: tuple[str, str, list[dict[str, str]]]
) -> None:
    result = launcher.run("current", "--url", service.url, "--json", env=command_env(launcher))

    assert result.returncode == 0, result.stderr
    # Everything the API tells: each record's details and derived facts.
    assert result.stdout.encode() == service.get("/current?details=true") + b"\n"


def test_current_json_with_environment_prints_the_api_records_of_that_environment(
    launcher: Launcher, service: Service, posted: tuple[str, str, list[dict[str, str]]]
) -> None:
    _, there, records = posted
    result = launcher.run(
        "current", "--url", service.url, "--json", "--environment", there,
        env=command_env(launcher),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    component = records[2]["Component"]
    assert result.stdout == (
        f'{{"Records":[{{"Component":"{component}","Environment":"{there}",'
        '"Timestamp":"2024-07-30T14:06:43Z",'
        '"State":"rollback [v2] \\u003ccanary\\u003e \\u0026 café",'
        '"Class":"failed","Since":"2024-07-30T14:06:43Z","Stuck":false,"LastSuccess":null}]}\n'
    )


def test_history_json_prints_exactly_the_api_body_of_historical(
    launcher: Launcher, service: Service, posted: tuple[str, str, list[dict[str, str]]]
) -> None:
    component = posted[2][2]["Component"]  # with a record in the awkward state
    result = launcher.run(
        "history", component, "--url", service.url, "--json", env=command_env(launcher)
    )

    assert result.returncode == 0, result.stderr
    # For people: newest first, 20 at a time, by default.
    body = service.get(f"/historical/{component}?order=desc&limit=20&details=true")
    assert "\\u003ccanary\\u003e \\u0026 café".encode() in body  # as Go escapes it
    assert result.stdout.encode() == body + b"\n"


def test_history_prints_an_aligned_table_of_the_component_history(
    launcher: Launcher, service: Service, posted: tuple[str, str, list[dict[str, str]]]
) -> None:
    component = posted[2][0]["Component"]
    result = launcher.run("history", component, "--url", service.url, env=command_env(launcher))

    assert result.returncode == 0, result.stderr
    assert table_rows(result.stdout, HISTORY_HEADER) == history_rows([posted[2][2], posted[2][0]])


def test_details_posted_from_github_actions_come_back_in_current_json_and_both_tables(
    launcher: Launcher, service: Service
) -> None:
    """From a pipeline to a person: post fills the details in, current -o json carries them
    with the derived facts, and the tables show the version and the actor."""
    component, environment = unique_component(), unique_environment()
    github = command_env(launcher, **GITHUB)
    for state, timestamp in (
        ("deploy-success", "2024-07-30T14:00:00Z"),
        ("deploy-failed", "2024-07-30T14:06:41Z"),
    ):
        result = launcher.run(
            "post", "-u", service.url, "-c", component, "-e", environment, "-s", state,
            "--timestamp", timestamp, "--version", "2024.07.30-1432", "--message", "canary",
            env=github,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    details = {
        "Version": "2024.07.30-1432",
        "Revision": "9fceb02d0ae598e95dc970b74767f19372d61af8",
        "Actor": "octocat",
        "Link": "https://github.com/acme/payments-api/actions/runs/10176543210",
        "Message": "canary",
    }
    reading = ("-u", service.url, "-e", environment)

    result = launcher.run("current", *reading, "-c", component, "-o", "json", env=github)
    assert result.returncode == 0, result.stderr
    (record,) = json.loads(result.stdout)["Records"]
    assert record == {
        **deployment(component, environment, "deploy-failed", "2024-07-30T14:06:41Z"),
        **details,
        "Class": "failed",
        "Since": "2024-07-30T14:06:41Z",
        "Stuck": False,
        "LastSuccess": {
            "Timestamp": "2024-07-30T14:00:00Z",
            "State": "deploy-success",
            **details,
        },
    }
    assert list(record)[4:9] == list(details)  # in the API's order

    result = launcher.run("current", *reading, "-c", component, env=github)
    assert result.returncode == 0, result.stderr
    age_now = age("2024-07-30T14:06:41Z")
    assert table_rows(result.stdout, CURRENT_HEADER) == [
        [component, environment, "deploy-failed", "2024.07.3…", "octocat", age_now]
    ]
    result = launcher.run("history", component, *reading, env=github)
    assert result.returncode == 0, result.stderr
    assert table_rows(result.stdout, HISTORY_HEADER) == [
        ["2024-07-30T14:06:41Z", environment, "deploy-failed", "2024.07.3…", "octocat"],
        ["2024-07-30T14:00:00Z", environment, "deploy-success", "2024.07.3…", "octocat"],
    ]
    assert "9fceb02d" not in result.stdout


def test_deploystatus_url_is_used_when_url_is_absent(launcher: Launcher, service: Service) -> None:
    component = unique_component()
    env = command_env(launcher, DEPLOYSTATUS_URL=service.url)
    posted = launcher.run(
        "post", "--component", component, "--environment", "dev", "--state", "Ok",
        "--timestamp", END, env=env,
    )  # fmt: skip
    shown = launcher.run("history", component, "--order", "asc", "--json", env=env)

    assert posted.returncode == 0, posted.stderr
    assert service.history(component) == [deployment(component, "dev", "Ok", END)]
    assert shown.returncode == 0, shown.stderr
    expected = service.get(f"/historical/{component}?order=asc&limit=20")
    assert shown.stdout.encode() == expected + b"\n"


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound (so nobody else takes it) on which nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port: int = placeholder.getsockname()[1]
        yield port


@pytest.mark.parametrize(
    ("command", "path"),
    [
        (("post", "--component", "abc.def", "--environment", "dev", "--state", "Ok",
          "--retries", "2"), "/records"),
        (("current",), "/current?details=true"),
        (("history", "abc.def"), "/historical/abc.def?order=desc&limit=20&details=true"),
    ],
    ids=["post", "current", "history"],
)  # fmt: skip
def test_unreachable_url_exits_1_with_one_cannot_reach_line(
    launcher: Launcher, closed_port: int, command: tuple[str, ...], path: str
) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    started = time.monotonic()
    result = launcher.run(*command, "--url", url, env=command_env(launcher), timeout=30)

    assert result.returncode == 1
    assert result.stdout == ""
    *retries, last = result.stderr.splitlines()
    assert last.startswith(f"deploystatus: cannot reach {url}{path}: "), result.stderr
    # Each retry says so, on one line.
    assert len(retries) == (1 if command[0] == "post" else 2), result.stderr
    for attempt, line in enumerate(retries, start=2):
        assert line.startswith(f"deploystatus: cannot reach {url}{path}: "), result.stderr
        assert re.search(rf"; retrying in \d+\.\d s \(attempt {attempt} of \d\)$", line), line
    assert time.monotonic() - started < 15  # 3 attempts at most, backoff under 2 s


# Retries, at the network boundary


def failing_first(service: Service, failures: int, *, lose_replies: bool = False) -> FaultProxy:
    """A proxy in front of the service: the first ``failures`` requests are answered ``503``
    with ``Retry-After: 0`` and a JSON error body naming the request's number; later ones
    are forwarded. With ``lose_replies`` the failing requests are forwarded too, and only
    the service's replies are lost."""
    proxy = FaultProxy(service.url)
    proxy.add(Rule(ServiceError(after_forwarding=lose_replies), times=failures))
    return proxy


def requests(proxy: FaultProxy) -> list[tuple[str, str]]:
    """(method, path) of each request, as received."""
    return [(call.method, call.path) for call in proxy.log()]


def upstream_statuses(proxy: FaultProxy) -> list[int]:
    """What the service answered to each forwarded request."""
    return [call.upstream for call in proxy.log() if call.upstream is not None]


def post_args(url: str, component: str, retries: int) -> tuple[str, ...]:
    return (
        "post", "--url", url, "--component", component, "--environment", "dev",
        "--state", "Ok", "--timestamp", END, "--retries", str(retries),
    )  # fmt: skip


def test_post_through_503s_succeeds_after_retries_and_stores_the_record_once(
    launcher: Launcher, service: Service
) -> None:
    component = unique_component()
    with failing_first(service, 2) as proxy:
        result = launcher.run(*post_args(proxy.url, component, 5), env=command_env(launcher))

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"posted {component} dev Ok {END}\n"
    assert requests(proxy) == [("POST", "/records")] * 3
    assert upstream_statuses(proxy) == [200]
    assert service.history(component) == [deployment(component, "dev", "Ok", END)]


def test_post_resent_after_lost_replies_stores_the_record_once(
    launcher: Launcher, service: Service
) -> None:
    component = unique_component()
    with failing_first(service, 2, lose_replies=True) as proxy:
        result = launcher.run(*post_args(proxy.url, component, 5), env=command_env(launcher))

    assert result.returncode == 0, result.stderr
    assert upstream_statuses(proxy) == [200, 200, 200]  # the service stored it three times
    assert service.history(component) == [deployment(component, "dev", "Ok", END)]


def test_post_exits_1_with_the_last_error_when_503s_outlast_its_retries(
    launcher: Launcher, service: Service
) -> None:
    component = unique_component()
    with failing_first(service, 10) as proxy:
        result = launcher.run(*post_args(proxy.url, component, 3), env=command_env(launcher))

    assert result.returncode == 1
    assert result.stdout == ""
    *retries, last = result.stderr.splitlines()
    assert last == "deploystatus: 503: unavailable (request 3)"
    assert len(retries) == 2, result.stderr
    for attempt, line in enumerate(retries, start=2):
        retrying = rf"; retrying in \d+\.\d s \(attempt {attempt} of 3\)"
        said = re.escape(f"deploystatus: 503 from {proxy.url}/records")
        assert re.fullmatch(said + retrying, line), line
    assert requests(proxy) == [("POST", "/records")] * 3
    assert upstream_statuses(proxy) == []
    assert service.history(component) == []


def _sleeping(pid: int) -> bool:
    """Whether the process sleeps in time.sleep (the client does only between attempts).
    Where the kernel hides wait channels, after two seconds (imports take well under one)."""
    try:
        channel = Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False
    if channel in ("", "0"):
        time.sleep(2)
        return True
    return "nanosleep" in channel


@needs_proc
def test_post_retries_connection_errors_until_a_service_starts_on_its_port(
    launcher: Launcher, service: Service
) -> None:
    component = unique_component()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as placeholder:
        placeholder.bind(("127.0.0.1", 0))  # nothing listens, and nobody else takes the port
        port: int = placeholder.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        # Enough attempts that the backoff outlasts the service's start.
        post = launcher.start(*post_args(url, component, 12), env=command_env(launcher))
        # Refused at least once: waiting before its next attempt.
        wait_until(lambda: _sleeping(post.process.pid), 30, "post backs off after a refusal")
        assert post.process.poll() is None, post.describe()
    serve = launcher.start(
        "serve", "--port", str(port),
        env=command_env(launcher, AWS_ENDPOINT_URL_DYNAMODB=f"http://127.0.0.1:{service.db_port}"),
    )  # fmt: skip

    assert post.wait(START_TIMEOUT) == 0, post.describe() + serve.describe()
    assert post.stdout == f"posted {component} dev Ok {END}\n"
    assert service.history(component) == [deployment(component, "dev", "Ok", END)]


# The Makefile workflow


def make(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``make`` in the repository, in a clean environment; killed if it runs over ``timeout``.

    The install stamp is taken as up to date (``--assume-old``): the workflow is under test,
    not a reinstall of the virtualenv and node_modules the tests themselves run from.
    """
    environment = {
        name: value
        for name, value in clean_environment().items()
        if name not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "YES", "RECORDS"}
    }
    return subprocess.run(
        ["make", "--no-print-directory", "--assume-old=.venv/.installed", *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


@pytest.fixture
def background() -> Iterator[set[Identity]]:
    """Processes a test started in the background (not its children): at teardown, those
    still running get SIGTERM, then SIGKILL if they do not stop in time."""
    started: set[Identity] = set()
    yield started
    alive = [identity for identity in started if process_exists(identity)]
    for pid, _ in alive:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while any(map(process_exists, alive)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for identity in alive:
        if process_exists(identity):
            os.kill(identity[0], signal.SIGKILL)


@needs_proc
def test_make_dev_env_data_reset_delete_dev_env_workflow(
    tmp_path: Path, background: set[Identity]
) -> None:
    db_port, data_dir = free_port(), tmp_path / "data"
    where = (f"DB_PORT={db_port}", f"DATA_DIR={data_dir}")
    settings = fresh_settings(f"http://127.0.0.1:{db_port}", table="deployment-status")

    # dev-env: the engine in the background, and the table.
    result = make("dev-env", *where)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "deploystatus: table deployment-status created" in result.stdout
    local_db = process_identity(int((data_dir / "local-db.pid").read_text()))
    assert local_db is not None
    background.add(local_db)
    assert "deploystatus local-db" in cmdline(local_db[0]), cmdline(local_db[0])
    engines = [identity for identity in map(process_identity, child_pids(local_db[0])) if identity]
    background.update(engines)
    assert len(engines) == 1
    assert list_tables(db_port) == {"TableNames": ["deployment-status"]}

    # data: generated records in that table.
    result = make("data", "RECORDS=200", *where)
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"wrote (\d+) records", result.stdout)
    assert match is not None, result.stdout
    assert 0 < int(match.group(1)) == len(read_contents(settings).records)

    # reset: no records, the table still there.
    result = make("reset", "YES=1", *where)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"table deployment-status at {settings.endpoint_url} is empty" in result.stdout
    assert read_contents(settings) == Contents([], {})
    assert list_tables(db_port) == {"TableNames": ["deployment-status"]}

    # delete-dev-env: the engine stopped, the data dir gone.
    result = make("delete-dev-env", *where)
    assert result.returncode == 0, result.stdout + result.stderr
    # Gone (a moment for the init process to reap the orphaned local-db).
    wait_until(lambda: not process_exists(local_db), 5, "local-db exits")
    assert not any(map(process_exists, engines)), [cmdline(pid) for pid, _ in engines]
    assert not listening(db_port)
    assert not data_dir.exists()


# The API's query options, host:port and --token


def test_history_options_go_to_the_api_and_print_what_it_answered(
    launcher: Launcher, service: Service, posted: tuple[str, str, list[dict[str, str]]]
) -> None:
    here, there, records = posted
    component = records[0]["Component"]
    host_port = service.url.removeprefix("http://")
    result = launcher.run(
        "history", component, "--url", host_port, "--order", "desc", "--limit", "1", "--json",
        env=command_env(launcher),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    expected = service.get(f"/historical/{component}?order=desc&limit=1")
    assert result.stdout.encode() == expected + b"\n"
    assert json.loads(expected)["Records"] == [records[2]]  # the newest of the two

    only_here = launcher.run(
        "history", component, "--url", service.url, "--environment", here,
        "--since", "2024-07-30T14:06:41Z", "--until", "2024-07-30T14:06:41Z",
        env=command_env(launcher),
    )  # fmt: skip
    assert only_here.returncode == 0, only_here.stderr
    rows = table_rows(only_here.stdout, HISTORY_HEADER)
    assert rows == history_rows([records[0]])
    assert there not in only_here.stdout


def test_current_filters_go_to_the_api(
    launcher: Launcher, service: Service, posted: tuple[str, str, list[dict[str, str]]]
) -> None:
    here, _, records = posted
    result = launcher.run(
        "current", "--url", service.url, "--environment", here, "--state", "deploy-failed",
        "--component", records[1]["Component"][:6], env=command_env(launcher),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert table_rows(result.stdout, CURRENT_HEADER) == current_rows([records[1]])


def test_a_401_names_the_token_option_and_variable(
    launcher: Launcher, tmp_path_factory: pytest.TempPathFactory
) -> None:
    token = new_token()
    directory = tmp_path_factory.mktemp("secured")
    secured = Launcher(directory, clean_environment())
    try:
        port = free_port()
        setting = entry("ci", token, "read")
        cli = secured.start(
            "dev", "--port", str(port), "--db-port", str(free_port()),
            "--data-dir", str(directory / "data"),
            env=secured.env(DEPLOYSTATUS_TOKENS=setting),
        )  # fmt: skip
        wait_ready(cli, port)
        url = f"http://127.0.0.1:{port}"
        refused = launcher.run("current", "--url", url, env=command_env(launcher))
        assert refused.returncode == 1
        assert refused.stderr == (
            "deploystatus: 401: the service needs a token: pass --token or set "
            "DEPLOYSTATUS_TOKEN (deploystatus token create makes one)\n"
        )
        allowed = launcher.run("current", "--url", url, "--token", token, env=command_env(launcher))
        assert allowed.returncode == 0, allowed.stderr
        empty = "deploystatus: no deployable has a record yet\n"
        assert (allowed.stdout, allowed.stderr) == ("", empty)
    finally:
        secured.close()


# Output formats, the terminal, and paging


def on_a_terminal(launcher: Launcher, *args: str, columns: int) -> str:
    """What a command prints with a terminal of ``columns`` as its stdout, colour included."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "deploystatus", *args],
            stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal, cwd=launcher.directory,
            env=command_env(launcher, COLUMNS=str(columns), TERM="xterm-256color"),
        )  # fmt: skip
        os.close(terminal)
        printed = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal's other end closed: the command is done
                break
            if not chunk:
                break
            printed += chunk
        assert process.wait(60) == 0, printed
    finally:
        os.close(controller)
    return printed.decode()


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_current_fits_an_80_column_terminal_with_states_whole_and_coloured(
    launcher: Launcher, service: Service
) -> None:
    environment = unique_environment()
    component = "payments-api-" + uuid.uuid4().hex[:6]
    records = [
        {
            **deployment(component, environment, "deploy-success", "2024-07-30T14:06:41.1Z"),
            "Version": "2024.07.30-1432-9fceb02",  # shortened, with an ellipsis
            "Actor": "github-actions[bot]",
            "Revision": "9fceb02d0ae598e95dc970b74767f19372d61af8",  # never in the table
        },
        deployment(component + "-x", environment, "deploy-failed", "2024-07-30T14:06:42Z"),
    ]
    service.post(*records)

    printed = on_a_terminal(
        launcher, "current", "--url", service.url, "-e", environment, columns=80
    )

    assert "\x1b[" in printed  # coloured, on a terminal
    lines = ANSI.sub("", printed).replace("\r\n", "\n").rstrip("\n").split("\n")
    assert all(len(line) <= 80 for line in lines), lines
    assert table_rows("\n".join(lines), CURRENT_HEADER) == current_rows(records)
    assert not BOX_DRAWING.search(printed)
    assert "9fceb02d" not in printed


def test_current_tsv_is_a_header_then_one_record_a_line_with_exact_timestamps(
    launcher: Launcher, service: Service, posted: tuple[str, str, list[dict[str, str]]]
) -> None:
    here, _, records = posted
    result = launcher.run(
        "current", "-u", service.url, "-e", here, "-o", "tsv", env=command_env(launcher)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "".join(
        "\t".join(fields) + "\n"
        for fields in [
            ("component", "environment", "state", "timestamp", "version", "actor"),
            *sorted(
                (r["Component"], r["Environment"], r["State"], r["Timestamp"], "", "")
                for r in records[:2]
            ),
        ]
    )


@pytest.fixture
def long_history(service: Service) -> tuple[str, list[dict[str, str]]]:
    """A component with 25 records, oldest first."""
    component = unique_component()
    records = [
        deployment(component, "dev", f"step-{i:02d}", f"2024-07-30T14:{i:02d}:00Z")
        for i in range(25)
    ]
    service.post(*records)
    return component, records


def test_history_shows_the_newest_twenty_first_and_how_to_get_the_next_page(
    launcher: Launcher, service: Service, long_history: tuple[str, list[dict[str, str]]]
) -> None:
    component, records = long_history
    newest_first = records[::-1]

    first = launcher.run("history", component, "-u", service.url, env=command_env(launcher))
    assert first.returncode == 0, first.stderr
    assert table_rows(first.stdout, HISTORY_HEADER) == history_rows(newest_first[:20])
    hint = re.fullmatch(
        r"deploystatus: more records: --cursor (\S+) for the next page, --all for every page\n",
        first.stderr,
    )
    assert hint is not None, first.stderr

    rest = launcher.run(
        "history", component, "-u", service.url, "--cursor", hint.group(1),
        env=command_env(launcher),
    )  # fmt: skip
    assert rest.returncode == 0, rest.stderr
    assert table_rows(rest.stdout, HISTORY_HEADER) == history_rows(newest_first[20:])
    assert rest.stderr == ""  # the last page


def test_history_all_reads_every_page_in_the_order_asked_for(
    launcher: Launcher, service: Service, long_history: tuple[str, list[dict[str, str]]]
) -> None:
    component, records = long_history
    result = launcher.run(
        "history", component, "-u", service.url, "--all", "--order", "asc", "-o", "tsv",
        env=command_env(launcher),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "component\tenvironment\tstate\ttimestamp\tversion\tactor"
    assert lines[1:] == [
        "\t".join((r["Component"], r["Environment"], r["State"], r["Timestamp"], "", ""))
        for r in records
    ]
    assert result.stderr == ""


def test_history_limit_pages_json_carries_the_api_cursor(
    launcher: Launcher, service: Service, long_history: tuple[str, list[dict[str, str]]]
) -> None:
    component, _ = long_history
    result = launcher.run(
        "history", component, "-u", service.url, "-n", "3", "-o", "json",
        env=command_env(launcher),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert len(body["Records"]) == 3
    assert "NextCursor" in body
    assert result.stderr == ""  # the cursor is in the body
