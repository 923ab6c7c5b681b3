"""Facts derived per deployable (class, since when, last success, stuck), and the order of
states at one instant: whatever the arrival order, repetition or engine, the same answer.

Through the real app on both engines; the model is `expected_facts`, which sorts the
distinct records and walks them, as a person would read the history."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from deploystatus import timestamps
from deploystatus.config import Settings
from deploystatus.records import Details
from deploystatus.states import state_class
from tests.conftest import client_of_its_own
from tests.support.factories import deployment, post_ok


def current_of(client: TestClient, component: str = "api") -> dict[str, Any]:
    (record,) = client.get(f"/current?details=true&component={component}").json()["Records"]
    assert client.get(f"/deployables/{component}/prod").json() == record
    return dict(record)


def at(second: int) -> str:
    return f"2024-07-30T14:06:{second:02d}Z"


def test_since_and_last_success_follow_the_streak(client: TestClient) -> None:
    post_ok(client, [{**deployment("api", "prod", "deploy-success", at(1)), "Version": "1.0"}])
    post_ok(client, [deployment("api", "prod", "deploy-started", at(2))])
    post_ok(client, [deployment("api", "prod", "deploy-failed", at(3))])
    post_ok(client, [deployment("api", "prod", "deploy-failed", at(5))])
    fact = current_of(client)
    assert (fact["Class"], fact["Since"]) == ("failed", at(3))
    assert fact["LastSuccess"] == {"Timestamp": at(1), "State": "deploy-success", "Version": "1.0"}
    # A late failure just before the streak, after the start: the streak began earlier.
    post_ok(client, [deployment("api", "prod", "error", "2024-07-30T14:06:02.5Z")])
    assert current_of(client)["Since"] == "2024-07-30T14:06:02.5Z"
    # A late success inside the streak breaks it: it starts again after the success.
    post_ok(client, [{**deployment("api", "prod", "ok", at(4)), "Version": "1.1"}])
    fact = current_of(client)
    assert (fact["Class"], fact["Since"]) == ("failed", at(5))
    assert fact["LastSuccess"] == {"Timestamp": at(4), "State": "ok", "Version": "1.1"}
    # A newer record of another class starts a streak of its own.
    post_ok(client, [deployment("api", "prod", "deploy-started", at(6))])
    fact = current_of(client)
    assert (fact["Class"], fact["Since"]) == ("in-progress", at(6))


def test_in_progress_too_long_is_stuck(make_client: Any) -> None:
    client = make_client(stuck_after_seconds=60)
    post_ok(client, [deployment("api", "prod", "deploy-started", "2024-07-30T14:06:41Z")])
    post_ok(client, [deployment("api", "prod", "deploy-in-progress", "2024-07-30T14:07:41Z")])
    fact = current_of(client)
    assert (fact["Class"], fact["Since"], fact["Stuck"]) == (
        "in-progress",
        "2024-07-30T14:06:41Z",
        True,
    )
    # Started a second ago: in progress, not stuck.
    now = timestamps.canonical(time.time_ns() - 1_000_000_000)
    post_ok(client, [deployment("web", "prod", "deploy-started", now)])
    fact = current_of(client, "web")
    assert (fact["Class"], fact["Stuck"]) == ("in-progress", False)


# The order of states at one instant: the same on every engine (storage/_keys.py).
FULLWIDTH_A = "\uff21-deployed"  # U+FF21: above the surrogates in UTF-16, below U+1F600 in UTF-8
EMOJI = "\U0001f600-deployed"
PRIVATE = "\ue000-deployed"  # private use, basic plane
PRIVATE_SUPPLEMENTARY = "\U000f0000-deployed"
HANGUL_LAST = "\ud7ff-deployed"  # U+D7FF, the escape mark itself
SAME_INSTANT = (FULLWIDTH_A, EMOJI, PRIVATE, PRIVATE_SUPPLEMENTARY, HANGUL_LAST, "Ok", "ok-\uffff")


def test_states_at_one_instant_are_ordered_by_code_point_in_any_arrival(client: TestClient) -> None:
    expected = max(SAME_INSTANT)  # code-point order: U+F0000 first of them all
    arrivals = [
        [[state] for state in SAME_INSTANT],
        [[state] for state in reversed(SAME_INSTANT)],
        [list(SAME_INSTANT)],
        [list(reversed(SAME_INSTANT))],
    ]
    for number, requests in enumerate(arrivals):
        component = f"svc-{number}"
        for states in requests:
            post_ok(client, [deployment(component, "prod", s, at(1)) for s in states])
        (current,) = client.get(f"/current?component={component}").json()["Records"]
        assert current["State"] == expected, (number, current["State"])


def test_two_states_whose_utf8_and_utf16_orders_differ(client: TestClient) -> None:
    for number, states in enumerate(([FULLWIDTH_A, EMOJI], [EMOJI, FULLWIDTH_A])):
        component = f"pair-{number}"
        for state in states:
            post_ok(client, [deployment(component, "prod", state, at(1))])
        post_ok(client, [deployment(f"batch-{number}", "prod", s, at(1)) for s in states])
        for name in (component, f"batch-{number}"):
            (current,) = client.get(f"/current?component={name}").json()["Records"]
            assert current["State"] == EMOJI


# Any arrival order, any repetition: the facts of the model.
STATES = ("deploy-started", "deploy-success", "deploy-failed", "noted")
INSTANTS = 6
# (state, instant, version or None)
Drawn = tuple[str, int, str | None]

drawn_records = st.tuples(
    st.sampled_from(STATES), st.integers(0, INSTANTS - 1), st.sampled_from([None, "1", "2"])
)


@st.composite
def deliveries(draw: st.DrawFn) -> list[list[Drawn]]:
    records = draw(st.lists(drawn_records, min_size=1, max_size=10))
    resent = draw(st.lists(st.sampled_from(records), max_size=4))
    arriving = draw(st.permutations(records + resent))
    if draw(st.booleans()):
        return [[record] for record in arriving]
    batches: list[list[Drawn]] = []
    while arriving:
        size = draw(st.integers(1, len(arriving)))
        batches.append(arriving[:size])
        arriving = arriving[size:]
    return batches


def precedence(record: Drawn) -> tuple[int, str, str]:
    state, instant, version = record
    return instant, state, "" if version is None else Details(version=version).digest


def expected_facts(records: Sequence[Drawn]) -> dict[str, Any]:
    kept: dict[tuple[int, str], Drawn] = {}
    for record in records:
        known = kept.get((record[1], record[0]))
        if known is None or precedence(record) > precedence(known):
            kept[record[1], record[0]] = record
    ordered = sorted(kept.values(), key=precedence)
    current = ordered[-1]
    kind = state_class(current[0])
    since = current
    for record in reversed(ordered):
        if state_class(record[0]) != kind:
            break
        since = record
    successes = [record for record in ordered if state_class(record[0]) == "success"]
    return {
        "State": current[0],
        "Timestamp": at(current[1]),
        "Version": current[2],
        "Class": kind,
        "Since": at(since[1]),
        "LastSuccess": None
        if not successes
        else {
            "State": successes[-1][0],
            "Timestamp": at(successes[-1][1]),
            "Version": successes[-1][2],
        },
    }


def sent(record: Drawn) -> dict[str, str]:
    state, instant, version = record
    sent = deployment("api", "prod", state, at(instant))
    return sent if version is None else {**sent, "Version": version}


def read_facts(client: TestClient) -> dict[str, Any]:
    record = current_of(client)
    success = record["LastSuccess"]
    return {
        "State": record["State"],
        "Timestamp": record["Timestamp"],
        "Version": record.get("Version"),
        "Class": record["Class"],
        "Since": record["Since"],
        "LastSuccess": None
        if success is None
        else {
            "State": success["State"],
            "Timestamp": success["Timestamp"],
            "Version": success.get("Version"),
        },
    }


@hypothesis_settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(requests=deliveries())
def test_any_arrival_order_gives_the_modelled_facts(
    settings: Settings, requests: list[list[Drawn]]
) -> None:
    with client_of_its_own(settings, "facts") as client:
        for request in requests:
            post_ok(client, [sent(record) for record in request])
        every = [record for request in requests for record in request]
        assert read_facts(client) == expected_facts(every)
