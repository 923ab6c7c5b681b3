"""Arrival order does not matter: any order of a set of records, one by one or in batches,
gives the same current state and history as a model of the rules."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from deploystatus.config import Settings
from tests.conftest import client_of_its_own
from tests.support.factories import deployment, post_ok, read_records

COMPONENTS = ("a", "a-b", "a.b")
ENVIRONMENTS = ("dev", "dev-a")
STATES = ("Deploying", "Failed", "Ok", "ok")
# A small pool of instants, oldest first, so that ties are common. Each may be written
# in several ways; all read back (in UTC) as the last item.
INSTANTS = (
    (("2024-07-30T14:06:41Z", "2024-07-30T15:06:41+01:00"), "2024-07-30T14:06:41Z"),
    (("2024-07-30T14:06:41.5Z", "2024-07-30T09:06:41.500-05:00"), "2024-07-30T14:06:41.5Z"),
    (("2024-07-30T14:07:00Z", "2024-07-31T00:07:00.000000000+10:00"), "2024-07-30T14:07:00Z"),
)

# (component, environment, state, instant, spelling): indexes into the pools above.
Drawn = tuple[str, str, str, int, int]

drawn_records = st.tuples(
    st.sampled_from(COMPONENTS),
    st.sampled_from(ENVIRONMENTS),
    st.sampled_from(STATES),
    st.integers(0, len(INSTANTS) - 1),
    st.integers(0, 1),
)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Drawn], list[list[Drawn]]]:
    """Some records, and the requests that deliver them: any order, some sent twice."""
    records = draw(st.lists(drawn_records, min_size=1, max_size=10))
    resent = draw(st.lists(st.sampled_from(records), max_size=4))
    arriving = draw(st.permutations(records + resent))
    if draw(st.booleans()):
        return records, [[record] for record in arriving]
    batches: list[list[Drawn]] = []
    while arriving:
        size = draw(st.integers(1, len(arriving)))
        batches.append(arriving[:size])
        arriving = arriving[size:]
    return records, batches


def sent(record: Drawn) -> dict[str, str]:
    component, environment, state, instant, spelling = record
    return deployment(component, environment, state, INSTANTS[instant][0][spelling])


def read_back(component: str, environment: str, state: str, instant: int) -> dict[str, str]:
    return deployment(component, environment, state, INSTANTS[instant][1])


def expected_current(records: Sequence[Drawn]) -> list[dict[str, str]]:
    latest: dict[tuple[str, str], tuple[int, str]] = {}
    for component, environment, state, instant, _ in records:
        known = latest.get((component, environment))
        if known is None or (instant, state) > known:
            latest[component, environment] = (instant, state)
    return [
        read_back(component, environment, state, instant)
        for (component, environment), (instant, state) in sorted(latest.items())
    ]


def expected_history(records: Sequence[Drawn], component: str) -> list[dict[str, str]]:
    distinct = {
        (instant, environment, state)
        for c, environment, state, instant, _ in records
        if c == component
    }
    return [
        read_back(component, environment, state, instant)
        for instant, environment, state in sorted(distinct)
    ]


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(delivery=deliveries())
def test_any_arrival_order_gives_the_modelled_current_state_and_history(
    settings: Settings, delivery: tuple[list[Drawn], list[list[Drawn]]]
) -> None:
    records, requests = delivery
    with client_of_its_own(settings, "prop") as client:
        for request in requests:
            post_ok(client, [sent(record) for record in request])

        assert read_records(client, "/current") == expected_current(records)
        for component in COMPONENTS:
            assert read_records(client, f"/historical/{component}") == expected_history(
                records, component
            )
