"""The engine dies in the middle of a stream of batches and comes back (dynalite keeps its
data on disk). Writers resend on 503 as told; /readyz says 503 while the engine is down and
200 once it is back; afterwards history and current state are byte for byte those of a
table fed the same batches without a crash."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest

from deploystatus.commands.engines import LocalEngine
from tests.support.live import (
    COMPONENTS,
    LiveServer,
    WriteStats,
    fresh_table,
    own_dynalite,
    post_until_ok,
    restart,
    snapshot,
    workload,
)
from tests.support.reliability_log import Recorder

WRITERS = 4
BATCHES = workload(seed=7, batches=24, size=30)


def _wait_for(condition: object, what: str, timeout: float = 20.0) -> float:
    assert callable(condition)
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout}s"
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_engine_killed_mid_stream_and_restarted_loses_and_duplicates_nothing(
    tmp_path: Path, reliability: Recorder, signum: int
) -> None:
    engine: LocalEngine = own_dynalite(tmp_path / "engine")
    try:
        with (
            fresh_table(
                engine.url, dynamodb_retry_seconds=0.5, dynamodb_timeout_seconds=1.0
            ) as settings,
            LiveServer(settings) as served,
            served.client() as probe,
        ):
            stats = [WriteStats() for _ in range(WRITERS)]
            failures: list[BaseException] = []
            deadline = time.monotonic() + 60

            def writer(index: int) -> None:
                try:
                    with served.client() as client:
                        for batch in BATCHES[index::WRITERS]:
                            post_until_ok(
                                client, batch, stats=stats[index], deadline=deadline, pause=0.05
                            )
                except BaseException as exc:  # reported by the main thread
                    failures.append(exc)

            threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
            for thread in threads:
                thread.start()

            # Kill it once a third of the batches are in, with writes in flight.
            _wait_for(lambda: sum(s.ok for s in stats) >= len(BATCHES) // 3, "first batches")
            acknowledged_before = sum(s.ok for s in stats)
            engine.process.send_signal(signum)
            engine.process.wait(10)
            down_for = _wait_for(lambda: probe.get("/readyz").status_code == 503, "readyz 503")
            time.sleep(0.5)  # writers get 503s meanwhile
            unavailable_while_down = sum(s.unavailable for s in stats)

            engine = restart(engine)
            back_after = _wait_for(lambda: probe.get("/readyz").status_code == 200, "readyz 200")
            for thread in threads:
                thread.join(60)
            assert not failures, failures
            assert sum(s.ok for s in stats) == len(BATCHES)
            assert unavailable_while_down > 0  # the outage was seen, and answered 503
            crashed = snapshot(probe, COMPONENTS)

        # The same batches, one by one, into a table that never saw a crash.
        with (
            fresh_table(engine.url) as settings,
            LiveServer(settings) as served,
            served.client() as client,
        ):
            for batch in BATCHES:
                post_until_ok(client, batch, stats=WriteStats(), deadline=time.monotonic() + 30)
            assert snapshot(client, COMPONENTS) == crashed
    finally:
        engine.stop()

    total = WriteStats()
    for one in stats:
        total.add(one)
    reliability.record(
        "Engine death and restart",
        f"dynalite killed with {signal.Signals(signum).name} mid-stream, restarted on its data",
        cases=total.requests,
        detail=(
            f"{WRITERS} writers, {len(BATCHES)} batches; killed after {acknowledged_before} Ok; "
            f"/readyz 503 within {down_for:.2f}s, 200 again {back_after:.2f}s after the "
            f"restart; {total.unavailable} POSTs answered 503 and resent, other statuses: "
            f"{sorted(set(total.statuses) - {200, 503}) or 'none'}; final state = no-crash run"
        ),
    )
