"""Fault injection: the service between writers and a DynamoDB that fails as AWS fails.

A `FaultProxy` sits between the service and a real engine (dynalite). For each fault, the
service must retry with bounded backoff and jitter, answer ``503`` with ``Retry-After`` when
it gives up, and never answer ``Ok`` for records it did not store, nor ``200`` for an error.
Writers resend on 503 as the README tells them; afterwards history and current state must be
byte for byte those of a fault-free table fed the same batches. After every ``Ok`` the table
is read directly (not through the proxy) to prove the batch is there, and current state
never goes back.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx2
import pytest

from deploystatus.commands.engines import LocalEngine
from deploystatus.config import Settings
from tests.support.factories import deployment
from tests.support.live import (
    COMPONENTS,
    LiveServer,
    Model,
    Rec,
    Unexpected,
    WriteStats,
    as_current,
    as_history,
    body,
    check_unavailable,
    fresh_table,
    post_until_ok,
    read_json,
    snapshot,
    workload,
)
from tests.support.proxies import (
    AwsError,
    Delay,
    FaultProxy,
    GatewayError,
    Reset,
    Rule,
    Unprocessed,
    internal_error,
    is_conditional_put,
    request_limit_exceeded,
    throttling,
    throughput_exceeded,
    unavailable,
    validation_error,
)
from tests.support.reliability_log import Recorder

# The proxy works the same in front of any engine: dynalite, which keeps the run short.
pytestmark = pytest.mark.parametrize("engine", ["dynalite"], indirect=True)

# Small limits, so that giving up takes a fraction of a second.
FAULTY = {
    "dynamodb_retry_seconds": 0.3,
    "dynamodb_timeout_seconds": 0.5,
    "retry_after_seconds": 0,
}
WRITE_DEADLINE = 60.0

WORKLOAD = workload()


def current_put(payload: Mapping[str, Any]) -> bool:
    """A ``PutItem`` of a current item (a record also puts its facts item)."""
    return bool(payload["Item"]["PK"]["S"].startswith("CURRENT#"))


@pytest.fixture(scope="module")
def reference(engine: LocalEngine) -> Iterator[dict[str, bytes]]:
    """The workload through a fault-free service: what every faulty run must end up with."""
    with (
        fresh_table(engine.url) as settings,
        LiveServer(settings) as served,
        served.client() as client,
    ):
        stats = WriteStats()
        for batch in WORKLOAD:
            post_until_ok(client, batch, stats=stats, deadline=time.monotonic() + WRITE_DEADLINE)
        assert stats.unavailable == 0
        yield snapshot(client, COMPONENTS)


class Rig:
    """The service behind the proxy, and a second service reading the same table directly."""

    def __init__(self, settings: Settings, proxy: FaultProxy, **overrides: Any) -> None:
        self.proxy = proxy
        self.settings = settings
        faulty = settings.model_copy(update={"endpoint_url": proxy.url, **FAULTY, **overrides})
        self.served = LiveServer(faulty)
        self.direct = LiveServer(settings)
        self.model = Model()
        self.stats = WriteStats()
        self.unavailable_seconds: list[float] = []

    def __enter__(self) -> Rig:
        self.served.start()
        self.direct.start()
        self.client = self.served.client()
        self.reader = self.direct.client()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.close()
        self.reader.close()
        self.served.signal_stop()
        self.direct.signal_stop()
        self.served.stop()
        self.direct.stop()

    def post(self, records: list[Rec]) -> httpx2.Response:
        started = time.monotonic()
        response = self.client.post("/records", content=body(records))
        if response.status_code == 503:
            self.unavailable_seconds.append(time.monotonic() - started)
        return response

    def check_stored(self, components: set[str]) -> None:
        """The table holds exactly what was acknowledged (read around the proxy)."""
        assert as_current(read_json(self.reader, "/current")) == self.model.current()
        for component in sorted(components):
            stored = as_history(read_json(self.reader, f"/historical/{component}"))
            assert stored == self.model.history_of(component), component

    def check_not_behind(self) -> None:
        """After a failed request: every acknowledged record is still there, and each
        current state is at least the acknowledged one (a partial write may be ahead)."""
        current = {(c, e): (n, s) for c, e, n, s in as_current(read_json(self.reader, "/current"))}
        for deployable, rank in self.model.latest.items():
            assert current.get(deployable, (-1, "")) >= rank, deployable
        for component, entries in self.model.history.items():
            stored = set(as_history(read_json(self.reader, f"/historical/{component}")))
            assert entries <= stored, component

    def write(self, batch: list[Rec]) -> None:
        """POST until Ok, resending on 503; verify after each answer."""
        deadline = time.monotonic() + WRITE_DEADLINE
        while True:
            assert time.monotonic() < deadline, f"no Ok in time: {self.stats}"
            self.stats.requests += 1
            response = self.post(batch)
            status = response.status_code
            self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
            if status == 200:
                assert response.content == b"Ok"
                self.stats.ok += 1
                self.model.add(batch)
                self.check_stored({r["Component"] for r in batch})
                return
            check_unavailable(response)
            assert response.headers["retry-after"] == str(FAULTY["retry_after_seconds"])
            self.stats.unavailable += 1
            self.check_not_behind()

    def read_through_faults(self, reference: dict[str, bytes], rounds: int) -> tuple[int, int]:
        """GETs through the proxy: each is the reference body, byte for byte, or a 503."""
        ok = unavailable = 0
        for _ in range(rounds):
            for path, expected in reference.items():
                response = self.client.get(path)
                if response.status_code == 200:
                    assert response.content == expected, path
                    ok += 1
                else:
                    check_unavailable(response)
                    unavailable += 1
        return ok, unavailable


@pytest.fixture
def rig_factory(engine: LocalEngine) -> Iterator[Callable[..., Rig]]:
    opened: list[tuple[Rig, FaultProxy, Any]] = []

    def make(seed: int = 0, **overrides: Any) -> Rig:
        table = fresh_table(engine.url)
        settings = table.__enter__()
        proxy = FaultProxy(engine.url, seed=seed).start()
        rig = Rig(settings, proxy, **overrides).__enter__()
        opened.append((rig, proxy, table))
        return rig

    yield make
    for rig, proxy, table in opened:
        rig.__exit__(None, None, None)
        proxy.stop()
        table.__exit__(None, None, None)


# Random faults on a share of all calls, then convergence


SCENARIOS: dict[str, Callable[[], list[Rule]]] = {
    "400 ProvisionedThroughputExceededException on 20% of calls": lambda: [
        Rule(throughput_exceeded(), fraction=0.2)
    ],
    "400 ThrottlingException on 20% of calls": lambda: [Rule(throttling(), fraction=0.2)],
    "500 InternalServerError on 20% of calls": lambda: [Rule(internal_error(), fraction=0.2)],
    "HTTP 503 on 20% of calls": lambda: [Rule(unavailable(), fraction=0.2)],
    "400 RequestLimitExceeded on 20% of calls": lambda: [
        Rule(request_limit_exceeded(), fraction=0.2)
    ],
    "connection reset before forwarding, 20% of calls": lambda: [
        Rule(Reset(after_forwarding=False), fraction=0.2)
    ],
    "connection reset after the engine applied the call, 20% of calls": lambda: [
        Rule(Reset(after_forwarding=True), fraction=0.2)
    ],
    "latency 20-100 ms on half the calls": lambda: [
        Rule(Delay(0.1), fraction=0.15),
        Rule(Delay(0.02, after_forwarding=True), fraction=0.4),
    ],
    "time-outs (answer later than the client waits), 5% of calls": lambda: [
        Rule(Delay(0.6), fraction=0.025),
        Rule(Delay(0.6, after_forwarding=True), fraction=0.025),
    ],
    "partial BatchWriteItem (UnprocessedItems), half the batch writes": lambda: [
        Rule(Unprocessed(keep=10), action="BatchWriteItem", fraction=0.5)
    ],
    "all of the above mixed, 35% of calls": lambda: [
        Rule(throughput_exceeded(), fraction=0.05),
        Rule(throttling(), fraction=0.05),
        Rule(internal_error(), fraction=0.05),
        Rule(unavailable(), fraction=0.05),
        Rule(Reset(), fraction=0.05),
        Rule(Reset(after_forwarding=True), fraction=0.05),
        Rule(Unprocessed(keep=3), action="BatchWriteItem", fraction=0.3),
        Rule(Delay(0.05), fraction=0.1),
    ],
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_writers_resending_on_503_converge_to_the_fault_free_state(
    rig_factory: Callable[..., Rig],
    reference: dict[str, bytes],
    reliability: Recorder,
    scenario: str,
) -> None:
    rig = rig_factory(seed=sorted(SCENARIOS).index(scenario))
    rules = SCENARIOS[scenario]()
    # Scattered faults are mostly retried away inside a request; an episode of the same
    # fault (from the 30th call, or the 3rd of a chosen action) makes requests give up: both
    # paths run. 1.5 s outlasts every attempt of a call: 0.3 s of retry window plus at
    # most 1 s of jittered pause. (Added first, so that it wins its call.)
    fault = Unprocessed(keep=0) if isinstance(rules[0].fault, Unprocessed) else rules[0].fault
    gives_up = not isinstance(fault, Delay) or fault.seconds > FAULTY["dynamodb_timeout_seconds"]
    start = {30} if rules[0].action is None else {3}
    episode = rig.proxy.add(
        Rule(fault, action=rules[0].action, calls=start, burst=1.5 if gives_up else 0.0)
    )
    for rule in rules:
        rig.proxy.add(rule)

    for batch in WORKLOAD:
        rig.write(batch)
    reads = rig.read_through_faults(reference, rounds=1)

    faults = rig.proxy.count(faulted=True)
    assert faults > 0, "the scenario injected nothing"
    assert episode.fired > 0
    if gives_up:
        assert rig.stats.unavailable > 0, "no request gave up: the 503 path did not run"
    rig.proxy.clear()
    assert snapshot(rig.reader, COMPONENTS) == reference
    # The facts derived per deployable too, and there are some to compare.
    assert b'"Since":"' in reference["/current?details=true"]
    assert b'"Since":null' not in reference["/current?details=true"]
    assert max(rig.unavailable_seconds, default=0.0) < 5.0
    reliability.record(
        "DynamoDB faults (random share of calls)",
        scenario,
        cases=rig.stats.requests + sum(reads),
        detail=(
            f"{rig.proxy.count()} DynamoDB calls, {faults} faulted"
            + (f" ({episode.fired} in one 1.5 s episode); " if gives_up else "; ")
            + f"{len(WORKLOAD)} batches: {rig.stats.requests} POSTs, {rig.stats.unavailable} "
            f"answered 503 and resent, 0 other errors; {reads[0]} GETs 200 = reference, "
            f"{reads[1]} GETs 503; final state = fault-free run"
        ),
    )


# Chosen calls


def test_the_third_batch_write_failing_once_is_retried_inside_the_request(
    rig_factory: Callable[..., Rig], reference: dict[str, bytes], reliability: Recorder
) -> None:
    rig = rig_factory()
    rule = rig.proxy.add(Rule(throughput_exceeded(), action="BatchWriteItem", calls={3}))
    for batch in WORKLOAD:
        rig.write(batch)

    assert rule.fired == 1
    assert rig.stats.unavailable == 0  # the client never saw it
    # Per batch two of history and one of the change feed's events; and the retry.
    assert rig.proxy.count("BatchWriteItem") == 3 * len(WORKLOAD) + 1
    assert snapshot(rig.reader, COMPONENTS) == reference
    reliability.record(
        "DynamoDB faults (chosen calls)",
        "the 3rd BatchWriteItem throttled once",
        cases=len(WORKLOAD),
        detail="retried inside the request: every POST 200 Ok, no 503; state = fault-free run",
    )


def test_a_batch_write_failing_for_good_is_a_503_leaving_a_partial_batch_the_resend_completes(
    rig_factory: Callable[..., Rig], reference: dict[str, bytes], reliability: Recorder
) -> None:
    rig = rig_factory()
    first = WORKLOAD[0]
    # Every BatchWriteItem call after the first: the batch's second half never gets in.
    rig.proxy.add(Rule(internal_error(), action="BatchWriteItem", calls=range(2, 10**6)))
    response = rig.post(first)
    check_unavailable(response)

    # The engine applied the first 25 records and nothing else: no current state yet
    # (history goes first), nothing acknowledged.
    stored = {
        entry
        for component in COMPONENTS
        for entry in as_history(read_json(rig.reader, f"/historical/{component}"))
    }
    expected = Model()
    expected.add(first)
    everything = {e for entries in expected.history.values() for e in entries}
    assert 0 < len(stored) < len(everything)
    assert stored < everything
    assert read_json(rig.reader, "/current") == []

    rig.proxy.clear()
    for batch in WORKLOAD:
        rig.write(batch)
    assert snapshot(rig.reader, COMPONENTS) == reference
    reliability.record(
        "Partial batches",
        "the 2nd BatchWriteItem of a request fails for good (500 each attempt)",
        cases=1 + len(WORKLOAD),
        detail=(
            f"503 + Retry-After; {len(stored)} of {len(everything)} history items applied, "
            "no current state; the resend completed it; state = fault-free run"
        ),
    )


def test_every_conditional_put_failing_leaves_history_and_an_unchanged_current_state(
    rig_factory: Callable[..., Rig], reference: dict[str, bytes], reliability: Recorder
) -> None:
    rig = rig_factory()
    rig.write(WORKLOAD[0])
    before = read_json(rig.reader, "/current")

    rule = rig.proxy.add(Rule(throttling(), action="PutItem", when=is_conditional_put))
    response = rig.post(WORKLOAD[1])
    check_unavailable(response)
    assert rule.fired > len({(r["Component"], r["Environment"]) for r in WORKLOAD[1]})

    # History of the failed batch is all there; current state did not move.
    partial = Model()
    partial.add(WORKLOAD[0] + WORKLOAD[1])
    for component in COMPONENTS:
        stored = as_history(read_json(rig.reader, f"/historical/{component}"))
        assert stored == partial.history_of(component)
    assert read_json(rig.reader, "/current") == before

    rig.proxy.clear()
    for batch in WORKLOAD[1:]:
        rig.write(batch)
    assert snapshot(rig.reader, COMPONENTS) == reference
    reliability.record(
        "Partial batches",
        "every conditional PutItem throttled (400 ThrottlingException)",
        cases=len(WORKLOAD) + 1,
        detail=(
            f"503 + Retry-After after {rule.fired} PutItem attempts; history written, current "
            "state unchanged; the resend completed it; state = fault-free run"
        ),
    )


def test_a_batch_write_the_engine_never_processes_is_a_503_then_completed_by_the_resend(
    rig_factory: Callable[..., Rig], reference: dict[str, bytes], reliability: Recorder
) -> None:
    rig = rig_factory()
    # DynamoDB processes none of the items and hands them all back, for good.
    rule = rig.proxy.add(Rule(Unprocessed(keep=0), action="BatchWriteItem"))
    started = time.monotonic()
    response = rig.post(WORKLOAD[0])
    elapsed = time.monotonic() - started
    check_unavailable(response)
    # Bounded: the service's own UnprocessedItems loop stops after the retry window.
    assert elapsed < 3.0
    assert rule.fired > 2

    rig.proxy.clear()
    for batch in WORKLOAD:
        rig.write(batch)
    assert snapshot(rig.reader, COMPONENTS) == reference
    reliability.record(
        "Partial batches",
        "UnprocessedItems that never drain (no item processed)",
        cases=1 + len(WORKLOAD),
        detail=(
            f"{rule.fired} BatchWriteItem calls with backoff, then 503 after {elapsed:.2f}s; "
            "resend completed it; state = fault-free run"
        ),
    )


# Giving up: bounded, 503 with Retry-After, on every endpoint that touches DynamoDB

PERSISTENT: dict[str, Callable[[], Rule]] = {
    "400 ProvisionedThroughputExceededException": lambda: Rule(throughput_exceeded()),
    "400 ThrottlingException": lambda: Rule(throttling()),
    "400 RequestLimitExceeded": lambda: Rule(request_limit_exceeded()),
    "500 InternalServerError": lambda: Rule(internal_error()),
    "HTTP 503": lambda: Rule(unavailable()),
    "connection reset": lambda: Rule(Reset()),
    "no answer within the time limit": lambda: Rule(Delay(2.0)),
}


@pytest.mark.parametrize("fault", PERSISTENT)
def test_a_fault_that_persists_is_a_bounded_503_with_retry_after_everywhere(
    rig_factory: Callable[..., Rig], reliability: Recorder, fault: str
) -> None:
    rig = rig_factory(retry_after_seconds=7)
    rig.write(WORKLOAD[0])
    rule = rig.proxy.add(PERSISTENT[fault]())

    timings = {}
    for method, path in [
        ("POST", "/records"),
        ("GET", "/current"),
        ("GET", "/historical/api"),
    ]:
        started = time.monotonic()
        content = body(WORKLOAD[1]) if method == "POST" else None
        response = rig.client.request(method, path, content=content)
        timings[path] = time.monotonic() - started
        if method == "POST" and not isinstance(rule.fault, Delay):
            # Two BatchWriteItem calls, each retried before giving up (a time-out takes
            # the whole window in one attempt).
            assert rule.fired > 2, rule
        assert response.status_code == 503, (path, response.status_code, response.text)
        assert response.headers["retry-after"] == "7"
        check_unavailable(response)
        # retry window 0.3 s, one HTTP attempt at most 0.5 s: a few attempts, then give up.
        assert timings[path] < 3.0, (path, timings[path])

    ready = rig.client.get("/readyz")
    assert ready.status_code == 503
    assert rig.client.get("/healthz").status_code == 200
    assert rule.fired >= 5  # at least one attempt per request

    rig.proxy.clear()
    # /readyz answers from a check at most a second old (web/readiness.py): 200 within it.
    cleared = time.monotonic()
    while rig.client.get("/readyz").status_code != 200:
        assert time.monotonic() - cleared < 1.0 + 3.0, "/readyz still 503 after the fault cleared"
        time.sleep(0.05)
    rig.write(WORKLOAD[1])
    reliability.record(
        "Persistent DynamoDB faults",
        fault,
        cases=5,
        detail=(
            "POST /records, GET /current, GET /historical: 503 + Retry-After in "
            f"{min(timings.values()):.2f}-{max(timings.values()):.2f}s; /readyz 503, "
            "/healthz 200; 200 again once the fault clears"
        ),
    )


def test_retries_back_off_with_jitter_within_the_retry_window(
    rig_factory: Callable[..., Rig], reliability: Recorder
) -> None:
    rig = rig_factory(dynamodb_retry_seconds=1.0)
    rig.proxy.add(Rule(throttling(), action="PutItem", when=current_put))
    record = WORKLOAD[0][:1]
    started = time.monotonic()
    check_unavailable(rig.post(record))
    elapsed = time.monotonic() - started

    # The current state's put, throttled each time (the facts' went through at once).
    times = [call.at for call in rig.proxy.log() if call.action == "PutItem" and call.fault]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(times) >= 3
    assert all(gap >= 0.04 for gap in gaps), gaps  # never hammering: at least base delay
    assert all(gap <= 1.2 for gap in gaps), gaps  # each pause at most the 1 s cap
    assert max(gaps) - min(gaps) > 0.02  # jittered, not a fixed beat
    assert 1.0 <= elapsed < 3.0
    reliability.record(
        "Persistent DynamoDB faults",
        "backoff shape (every PutItem throttled, retry window 1 s)",
        cases=len(times),
        detail=(
            f"{len(times)} attempts, pauses {min(gaps):.3f}-{max(gaps):.3f}s (jittered); "
            f"503 after {elapsed:.2f}s"
        ),
    )


@pytest.mark.parametrize("status", [502, 504])
def test_an_intermediarys_gateway_error_is_retried_inside_the_request(
    rig_factory: Callable[..., Rig], reliability: Recorder, status: int
) -> None:
    rig = rig_factory()
    rule = rig.proxy.add(Rule(GatewayError(status), action="PutItem", when=current_put, times=2))
    response = rig.post(WORKLOAD[0][:1])  # one record: its current state's put refused twice
    assert response.status_code == 200 and response.text == "Ok", response.text
    assert rule.fired == 2
    assert rig.proxy.count("PutItem") == 3 + 1  # and its facts' put
    reliability.record(
        "DynamoDB faults (chosen calls)",
        f"an HTML {status} from a proxy in front of DynamoDB, twice on one PutItem",
        cases=1,
        detail="retried inside the request (any 5xx is transient): 200 Ok after 3 attempts",
    )


def test_an_expired_token_answer_is_retried_not_a_500(
    rig_factory: Callable[..., Rig], reliability: Recorder
) -> None:
    rig = rig_factory()
    expired = AwsError(
        400, "ExpiredTokenException", "The security token included in the request is expired"
    )
    rule = rig.proxy.add(Rule(expired, action="PutItem", when=current_put, times=1))
    response = rig.post(WORKLOAD[0][:1])
    assert response.status_code == 200 and response.text == "Ok", response.text
    assert rule.fired == 1
    assert rig.proxy.count("PutItem") == 2 + 1  # and its facts' put
    metrics = rig.client.get("/metrics").text.splitlines()
    assert 'deploystatus_dynamodb_retries_total{action="PutItem"} 1.0' in metrics
    reliability.record(
        "DynamoDB faults (chosen calls)",
        "400 ExpiredTokenException once on a PutItem",
        cases=1,
        detail="the credentials resolved again (a new provider chain), the call retried: 200 Ok",
    )


@pytest.mark.parametrize(
    "error",
    [
        validation_error(),
        AwsError(400, "AccessDeniedException", "not authorized to perform dynamodb:PutItem"),
        AwsError(400, "ResourceNotFoundException", "Requested resource not found"),
    ],
    ids=lambda error: error.type,
)
def test_an_error_retrying_cannot_fix_is_a_500_never_an_ok(
    rig_factory: Callable[..., Rig], reliability: Recorder, error: AwsError
) -> None:
    rig = rig_factory()
    rule = rig.proxy.add(Rule(error, action="PutItem", when=current_put))
    response = rig.post(WORKLOAD[0][:1])  # one record: one PutItem of its current state
    assert response.status_code == 500, response.text
    document = json.loads(response.content)
    assert document["error"] == "storage_error"
    assert error.type not in response.text and error.message not in response.text
    assert rule.fired == 1  # not retried: it would fail the same way
    reliability.record(
        "Non-retryable DynamoDB errors",
        f"{error.status} {error.type} on PutItem",
        cases=1,
        detail="500 storage_error, not retried, no internals in the body",
    )


# Reads: a long history streamed page by page, cut by a fault half-way


def test_a_history_cut_off_mid_stream_is_never_a_complete_200(
    rig_factory: Callable[..., Rig], reliability: Recorder
) -> None:
    rig = rig_factory()
    records = [
        deployment("paged", "prod", f"s{i:03d}", f"2024-07-30T14:00:{i:02d}Z") for i in range(40)
    ]
    rig.write(records)

    # Pages of 5 items (the proxy adds Limit), and the 4th Query call fails for good.
    rig.proxy.page_limit = 5
    rig.proxy.add(Rule(internal_error(), action="Query", calls=range(4, 10**6)))
    with rig.client.stream("GET", "/historical/paged") as response:
        assert response.status_code == 200  # streaming: the status went out with page 1
        with pytest.raises(httpx2.RemoteProtocolError):
            response.read()
    rig.proxy.clear()
    complete = read_json(rig.client, "/historical/paged")
    assert [r["State"] for r in complete] == [r["State"] for r in records]
    reliability.record(
        "DynamoDB faults on reads",
        "a streamed history (8 pages) whose 4th page fails",
        cases=2,
        detail=(
            "the body is cut off before its end (the HTTP message is incomplete, so no "
            "client takes it for an answer); without the fault all 40 records in order"
        ),
    )


def test_faults_never_turn_into_ok_for_unstored_data_under_load(
    rig_factory: Callable[..., Rig], reference: dict[str, bytes], reliability: Recorder
) -> None:
    """Several writers at once through a faulty engine: every Ok'd batch is stored."""
    import threading

    rig = rig_factory(seed=99)
    rig.proxy.add(Rule(throttling(), fraction=0.15))
    rig.proxy.add(Rule(Reset(after_forwarding=True), fraction=0.1))
    rig.proxy.add(Rule(Unprocessed(keep=7), action="BatchWriteItem", fraction=0.3))
    failures: list[BaseException] = []
    stats = [WriteStats() for _ in range(4)]

    def writer(index: int) -> None:
        try:
            with rig.served.client() as client:
                for batch in WORKLOAD[index::4] + WORKLOAD[(index + 1) % 4 :: 4]:
                    post_until_ok(client, batch, stats=stats[index], deadline=time.monotonic() + 60)
        except (AssertionError, Unexpected) as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert not failures, failures
    rig.proxy.clear()
    assert snapshot(rig.reader, COMPONENTS) == reference
    total = WriteStats()
    for one in stats:
        total.add(one)
    reliability.record(
        "DynamoDB faults (random share of calls)",
        "4 concurrent writers, throttling + lost answers + partial batches",
        cases=total.requests,
        detail=(
            f"{total.requests} POSTs, {total.unavailable} answered 503 and resent; "
            "final state = fault-free run"
        ),
    )
