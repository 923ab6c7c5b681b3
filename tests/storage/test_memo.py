"""Current states read again and again are built and rendered once (memo.py): the memo
never changes an answer, stays within its bound, and a changed state is read as changed."""

from __future__ import annotations

from fastapi.testclient import TestClient

from deploystatus.memo import Memo
from deploystatus.records import Record
from deploystatus.timestamps import Renderer, load_zone
from deploystatus.web.encoding import RecordsEncoder
from tests.support.factories import deployment, post_ok, read_records


def test_each_key_is_computed_once() -> None:
    computed: list[int] = []

    def square(key: int) -> int:
        computed.append(key)
        return key * key

    memo = Memo(square, limit=10)
    assert [memo.get(k) for k in (3, 4, 3, 3, 4)] == [9, 16, 9, 9, 16]
    assert computed == [3, 4]


def test_a_full_memo_forgets_every_key_and_stays_within_its_limit() -> None:
    computed: list[int] = []

    def double(key: int) -> int:
        computed.append(key)
        return 2 * key

    memo = Memo(double, limit=3)
    for key in (1, 2, 3):
        memo.get(key)
    assert len(memo) == 3
    assert memo.get(4) == 8  # the fourth key: the first three are forgotten
    assert len(memo) == 1
    assert memo.get(1) == 2
    assert computed == [1, 2, 3, 4, 1]


def test_remembered_states_render_byte_for_byte_as_any_records_do() -> None:
    records = [
        Record(
            "abc.def", "prod-all", '<b class="x">&\\</b>\u2028', "2024-07-30T14:06:41.500000000"
        ),
        Record("abc.def", "prod-all", "déployé ✓ 🚀", "2024-07-30T14:06:41.000000001"),
        Record("b", "test", "Ok", "1999-12-31T23:59:59.000000000"),
    ]
    for zone in (None, "Europe/Paris", "America/St_Johns"):
        encoder = RecordsEncoder(Renderer(load_zone(zone)))
        first = encoder.states_body(records)
        assert first == encoder.body(records)
        assert encoder.states_body(records) == first  # from the memo this time
        assert encoder.states_body(reversed(records)) == encoder.body(reversed(records))


def test_a_state_read_before_is_read_as_changed_after_a_later_record(
    client: TestClient,
) -> None:
    post_ok(client, [deployment("svc", "prod", "deploying", "2024-07-30T14:00:00Z")])
    for _ in range(2):
        assert [r["State"] for r in read_records(client, "/current")] == ["deploying"]
    post_ok(client, [deployment("svc", "prod", "deployed", "2024-07-30T14:05:00Z")])
    newest = {
        "Component": "svc",
        "Environment": "prod",
        "Timestamp": "2024-07-30T14:05:00Z",
        "State": "deployed",
    }
    assert read_records(client, "/current") == [newest]
    # A late record (earlier instant) changes nothing, however often the state was read.
    post_ok(client, [deployment("svc", "prod", "failed", "2024-07-30T13:00:00Z")])
    assert read_records(client, "/current") == [newest]
    assert read_records(client, "/current?environment=prod") == [newest]
