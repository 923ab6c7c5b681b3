"""Concurrent writers converge: whatever the interleaving, /current is each deployable's
maximum by (instant, state) and /historical the distinct set of records.

Sixteen writers post overlapping, shuffled, out-of-order and duplicated records for the same
deployables to a real ``deploystatus serve`` process; then a hypothesis state machine
interleaves writes (some of them concurrent), resends and reads at random against a model.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx2
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from deploystatus.commands.engines import LocalEngine, free_port
from deploystatus.config import Settings
from tests.support.factories import deployment
from tests.support.live import (
    LiveServer,
    Model,
    Rec,
    WriteStats,
    as_current,
    as_history,
    fresh_table,
    own_dynalite,
    post_until_ok,
    read_json,
)
from tests.support.processes import Launcher, wait_ready
from tests.support.reliability_log import Recorder

WRITERS = 16
COMPONENTS = ("api", "api.v2", "web-front")
ENVIRONMENTS = ("dev", "prod")
STATES = ("deploy-started", "deploy-failed", "deploy-success", "Ok")
# Instants with two spellings each, so that writers disagree on the text of one instant.
INSTANTS = [
    (f"2024-07-30T14:00:{s:02d}Z", f"2024-07-30T16:00:{s:02d}+02:00") for s in range(0, 40, 5)
] + [("2024-07-30T14:00:10.5Z", "2024-07-30T09:00:10.500000000-05:00")]


def _draw(rng: random.Random) -> Rec:
    return {
        "Component": rng.choice(COMPONENTS),
        "Environment": rng.choice(ENVIRONMENTS),
        "State": rng.choice(STATES),
        "Timestamp": rng.choice(rng.choice(INSTANTS)),
    }


@pytest.fixture(scope="module")
def dynalite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEngine]:
    with own_dynalite(tmp_path_factory.mktemp("concurrency")) as engine:
        yield engine


def test_sixteen_writers_converge_to_the_maximum_and_the_distinct_set(
    dynalite: LocalEngine, launcher: Launcher, reliability: Recorder
) -> None:
    with fresh_table(dynalite.url) as table:
        port = free_port()
        env = launcher.env(
            AWS_ENDPOINT_URL_DYNAMODB=dynalite.url,
            AWS_REGION="us-east-1",
            DEPLOYSTATUS_TABLE=table.table,
        )
        cli = launcher.start("serve", "--port", str(port), env=env)
        wait_ready(cli, port)
        url = f"http://127.0.0.1:{port}"

        rng = random.Random(2024)
        plans: list[list[list[Rec]]] = []
        model = Model()
        for _ in range(WRITERS):
            records = [_draw(rng) for _ in range(40)]
            records += rng.sample(records, 8)  # duplicates
            rng.shuffle(records)
            batches: list[list[Rec]] = []
            while records:
                size = rng.randint(1, 8)
                batches.append(records[:size])
                records = records[size:]
            batches.append(rng.choice(batches))  # a whole batch resent
            plans.append(batches)
            for batch in batches:
                model.add(batch)

        stats = [WriteStats() for _ in range(WRITERS)]
        failures: list[BaseException] = []
        start = threading.Barrier(WRITERS)
        deadline = time.monotonic() + 120

        def writer(index: int) -> None:
            try:
                with httpx2.Client(base_url=url, timeout=30, trust_env=False) as client:
                    start.wait(30)
                    for batch in plans[index]:
                        post_until_ok(client, batch, stats=stats[index], deadline=deadline)
            except BaseException as exc:  # reported by the main thread
                failures.append(exc)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(150)
        elapsed = time.monotonic() - started
        assert not failures, failures

        with httpx2.Client(base_url=url, timeout=30, trust_env=False) as client:
            assert as_current(read_json(client, "/current")) == model.current()
            for component in COMPONENTS:
                history = as_history(read_json(client, f"/historical/{component}"))
                assert history == model.history_of(component)
        assert "Traceback" not in cli.stderr

    total = WriteStats()
    for one in stats:
        total.add(one)
    sent = sum(len(batch) for plan in plans for batch in plan)
    distinct = sum(len(entries) for entries in model.history.values())
    reliability.record(
        "Concurrency",
        f"{WRITERS} writers against `deploystatus serve`, overlapping deployables",
        cases=total.requests,
        detail=(
            f"{total.requests} POSTs ({total.unavailable} answered 503 and resent) with "
            f"{sent} records ({distinct} distinct) over {len(model.latest)} deployables in "
            f"{elapsed:.1f}s; /current = per-deployable maximum, /historical = distinct set"
        ),
    )


# Random interleavings against a model

# Each example writes under its own component prefix, so examples share one table.
drawn = st.tuples(
    st.sampled_from(("a", "b")),
    st.sampled_from(ENVIRONMENTS),
    st.sampled_from(STATES),
    st.integers(0, len(INSTANTS) - 1),
    st.integers(0, 1),
)
batches = st.lists(drawn, min_size=1, max_size=6)


class Service(RuleBasedStateMachine):
    """The model: the maximum per deployable and the distinct set, whatever the order."""

    url: ClassVar[str] = ""
    examples: ClassVar[int] = 0
    steps: ClassVar[int] = 0

    def __init__(self) -> None:
        super().__init__()
        self.prefix = f"s{uuid.uuid4().hex[:8]}"
        self.model = Model()
        self.sent: list[list[Rec]] = []
        self.client = httpx2.Client(base_url=self.url, timeout=30, trust_env=False)
        type(self).examples += 1

    def records(self, drawn_batch: list[tuple[str, str, str, int, int]]) -> list[Rec]:
        return [
            deployment(f"{self.prefix}.{name}", environment, state, INSTANTS[instant][spelling])
            for name, environment, state, instant, spelling in drawn_batch
        ]

    def post(self, client: httpx2.Client, batch: list[Rec]) -> None:
        post_until_ok(client, batch, stats=WriteStats(), deadline=time.monotonic() + 30)

    @rule(batch=batches)
    def write(self, batch: list[Any]) -> None:
        records = self.records(batch)
        self.post(self.client, records)
        self.model.add(records)
        self.sent.append(records)
        type(self).steps += 1

    @rule(many=st.lists(batches, min_size=2, max_size=4))
    def write_concurrently(self, many: list[list[Any]]) -> None:
        requests = [self.records(batch) for batch in many]
        errors: list[BaseException] = []

        def send(records: list[Rec]) -> None:
            try:
                with httpx2.Client(base_url=self.url, timeout=30, trust_env=False) as client:
                    self.post(client, records)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(r,)) for r in requests]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        for records in requests:
            self.model.add(records)
            self.sent.append(records)
        type(self).steps += 1

    @rule(data=st.data())
    def resend(self, data: st.DataObject) -> None:
        if self.sent:
            self.post(self.client, data.draw(st.sampled_from(self.sent)))
        type(self).steps += 1

    @rule()
    def read_current(self) -> None:
        mine = [
            r for r in read_json(self.client, "/current") if r["Component"].startswith(self.prefix)
        ]
        assert as_current(mine) == self.model.current()
        type(self).steps += 1

    @rule(component=st.sampled_from(("a", "b")))
    def read_history(self, component: str) -> None:
        name = f"{self.prefix}.{component}"
        assert as_history(read_json(self.client, f"/historical/{name}")) == self.model.history_of(
            name
        )
        type(self).steps += 1

    def teardown(self) -> None:
        try:
            self.read_current()
            for component in ("a", "b"):
                self.read_history(component)
        finally:
            self.client.close()


@pytest.fixture(scope="module")
def table(dynalite: LocalEngine) -> Iterator[Settings]:
    with fresh_table(dynalite.url) as settings:
        yield settings


def test_random_interleavings_of_writes_and_reads_match_the_model(
    table: Settings, tmp_path: Path, reliability: Recorder
) -> None:
    Service.examples = Service.steps = 0
    with LiveServer(table) as served:
        Service.url = served.url
        run_state_machine_as_test(
            Service,
            settings=settings(
                max_examples=10,
                stateful_step_count=8,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    reliability.record(
        "Concurrency",
        "hypothesis state machine: writes, concurrent writes, resends, reads",
        cases=Service.steps,
        detail=(
            f"{Service.examples} examples, {Service.steps} steps (derandomized); every read "
            "equal to the model"
        ),
    )


RACES = 60


def test_a_record_inside_the_streak_races_a_breaker_and_is_still_counted(
    dynalite: LocalEngine,
) -> None:
    """One writer breaks a deployable's streak (its facts are read back from history) while
    another adds a record inside it, for many deployables at once: each ends with the
    ``Since`` that a reading of its whole history gives. A record whose writer found the
    facts needed no change must still be seen by a concurrent reading of the streak."""

    def at(second: int) -> str:
        return f"2024-07-30T14:00:{second:02d}Z"

    with fresh_table(dynalite.url) as table, LiveServer(table) as served:
        names = [f"race-{n:03d}" for n in range(RACES)]
        with served.client() as client:
            # failed 0, success 10, success 30: the streak began at 10.
            base = [
                deployment(name, "prod", state, at(second))
                for name in names
                for state, second in (("deploy-failed", 0), ("deploy-success", 10))
            ]
            post_until_ok(client, base, stats=WriteStats(), deadline=time.monotonic() + 30)
            latest = [deployment(name, "prod", "deploy-success", at(30)) for name in names]
            post_until_ok(client, latest, stats=WriteStats(), deadline=time.monotonic() + 30)

        start = threading.Barrier(2 * RACES)
        failures: list[BaseException] = []

        def post_one(record: Rec) -> None:
            try:
                with served.client() as client:
                    start.wait(30)
                    post_until_ok(
                        client, [record], stats=WriteStats(), deadline=time.monotonic() + 60
                    )
            except BaseException as exc:  # reported by the main thread
                failures.append(exc)

        threads = [
            threading.Thread(target=post_one, args=(record,))
            for name in names
            for record in (
                deployment(name, "prod", "deploy-started", at(12)),  # breaks the streak
                deployment(name, "prod", "deploy-success", at(13)),  # inside the old streak
            )
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        assert not failures, failures

        with served.client() as client:
            since = {
                entry["Component"]: entry["Since"]
                for entry in client.get("/current?details=true").json()["Records"]
            }
        wrong = {name: since[name] for name in names if since[name] != at(13)}
        assert not wrong, f"{len(wrong)} of {RACES} deployables lost the record at 13: {wrong}"
