"""Three `deploystatus serve` processes on one table deliver one subscription's webhooks
while writers write and a replica is killed (SIGKILL) at random points, then started
again. Afterwards the receiver holds every stored transition; any event it got twice came
from a window a killed replica had in flight, and carries the same event id."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx2
import pytest

from deploystatus.commands.engines import LocalEngine, free_port
from tests.support.factories import deployment
from tests.support.live import WriteStats, fresh_table, own_dynalite, post_until_ok
from tests.support.processes import Cli, Launcher, wait_ready
from tests.support.receiver import Receiver
from tests.support.reliability_log import Recorder
from tests.support.tokens import Tokens, bearer

REPLICAS = 3
WRITERS = 3
RECORDS_PER_WRITER = 60
KILLS = 4
WINDOW = 8


@pytest.fixture(scope="module")
def dynalite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEngine]:
    engine = own_dynalite(tmp_path_factory.mktemp("replicas"))
    try:
        yield engine
    finally:
        engine.stop()


def test_killed_replicas_lose_no_delivery_and_duplicate_only_in_flight(
    dynalite: LocalEngine, launcher: Launcher, reliability: Recorder
) -> None:
    tokens = Tokens()
    rng = random.Random(18)
    with fresh_table(dynalite.url) as table, Receiver() as receiver:
        receiver.delay = 0.02  # deliveries stay in flight long enough to be cut
        env = launcher.env(
            AWS_ENDPOINT_URL_DYNAMODB=dynalite.url,
            AWS_REGION="us-east-1",
            DEPLOYSTATUS_TABLE=table.table,
            DEPLOYSTATUS_TOKENS=tokens.setting,
            DEPLOYSTATUS_WEBHOOK_ALLOW_PRIVATE="127.0.0.0/8",
            DEPLOYSTATUS_WEBHOOK_LEASE_SECONDS="2",
            DEPLOYSTATUS_WEBHOOK_WINDOW=str(WINDOW),
            DEPLOYSTATUS_EVENTS_POLL_SECONDS="0.1",
            DEPLOYSTATUS_EVENTS_HOLD_SECONDS="0.2",
        )
        ports = [free_port() for _ in range(REPLICAS)]
        replicas: list[Cli] = []
        for port in ports:
            cli = launcher.start("serve", "--port", str(port), env=env)
            wait_ready(cli, port)
            replicas.append(cli)
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        with httpx2.Client(base_url=urls[0], trust_env=False, headers=bearer(tokens.admin)) as c:
            created = c.post("/admin/webhooks", json={"Url": receiver.url})
        assert created.status_code == 201, created.text

        failures: list[BaseException] = []

        def write(index: int) -> None:
            try:
                for n in range(RECORDS_PER_WRITER):
                    record = deployment(
                        f"svc-{index}-{n % 4}", "prod", ("deploy-started", "deploy-success")[n % 2],
                        f"2024-07-30T14:{n // 60:02d}:{n % 60:02d}Z",
                    )  # fmt: skip
                    # Any live replica: a killed one refuses the connection.
                    for attempt in range(100):
                        url = urls[(index + attempt) % REPLICAS]
                        try:
                            with httpx2.Client(
                                base_url=url, trust_env=False, headers=bearer(tokens.both),
                                timeout=10,
                            ) as client:  # fmt: skip
                                post_until_ok(
                                    client, [record], stats=WriteStats(),
                                    deadline=time.monotonic() + 2,
                                )  # fmt: skip
                            break
                        except (httpx2.HTTPError, AssertionError):
                            time.sleep(0.05)
                    else:
                        raise AssertionError(f"record {n} of writer {index} never accepted")
                    time.sleep(rng.uniform(0, 0.03))
            except BaseException as exc:  # reported by the main thread
                failures.append(exc)

        writers = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
        for thread in writers:
            thread.start()
        killed: list[int] = []
        holders = 0
        hook = created.json()["Id"]

        def holder() -> int | None:
            """Which replica delivers the webhook now, by the pid in its Holder."""
            with httpx2.Client(
                base_url=urls[0], trust_env=False, headers=bearer(tokens.admin)
            ) as c:
                for _ in range(20):
                    try:
                        name = c.get(f"/admin/webhooks/{hook}").json()["Holder"]
                    except (httpx2.HTTPError, ValueError):
                        name = None
                    if name:
                        pid = int(name.split(":")[1])
                        for index, cli in enumerate(replicas):
                            if cli.process.pid == pid:
                                return index
                    time.sleep(0.1)
            return None

        for _ in range(KILLS):
            time.sleep(rng.uniform(0.5, 1.5))
            # The holder, mid-delivery (the receiver answers slowly), three times in four.
            found = holder() if rng.random() < 0.75 else None
            victim = found if found is not None else rng.randrange(REPLICAS)
            replicas[victim].process.send_signal(signal.SIGKILL)
            replicas[victim].process.wait(10)
            killed.append(victim)
            holders += found is not None and found == victim
            cli = launcher.start("serve", "--port", str(ports[victim]), env=env)
            wait_ready(cli, ports[victim])
            replicas[victim] = cli
        for thread in writers:
            thread.join(120)
        assert not failures, failures

        time.sleep(0.5)  # the newest events are older than the hold
        with httpx2.Client(base_url=urls[0], trust_env=False, headers=bearer(tokens.read)) as c:
            stored: list[str] = []
            after = ""
            while True:
                page = c.get("/events/log", params={"after": after, "limit": "1000"}).json()
                stored.extend(e["Id"] for e in page["Events"])
                if not page["Events"]:
                    break
                after = page["Next"]
        deadline = time.monotonic() + 60
        while not set(stored) <= {r.event_id for r in receiver.snapshot()}:
            assert time.monotonic() < deadline, (
                f"{len(set(stored) - {r.event_id for r in receiver.snapshot()})} "
                f"of {len(stored)} events never delivered"
            )
            time.sleep(0.1)
        time.sleep(1.0)
        got = receiver.snapshot()

    counts = Counter(r.event_id for r in got)
    duplicates = sum(n - 1 for n in counts.values())
    assert set(counts) == set(stored)  # nothing lost, nothing that is not an event
    # A killed holder's window in flight is the only source of a second delivery.
    assert duplicates <= KILLS * WINDOW, (duplicates, killed)
    reliability.record(
        "Webhooks across replicas",
        f"{REPLICAS} serve processes on one table; a replica SIGKILLed {KILLS} times",
        cases=len(stored),
        detail=(
            f"{WRITERS} writers, {len(stored)} transitions; receiver got every one: "
            f"{len(got)} deliveries, {duplicates} duplicates (same event id; bound "
            f"{KILLS} kills x window {WINDOW}); replicas killed: {killed}, of which the "
            f"webhook's holder {holders} times"
        ),
    )
