"""The HTTP contract of the happy paths, byte for byte, through the real app on both engines:
what POST /records accepts (as leniently as Go's encoding/json did) and what the GETs answer
(Go's json.Marshal bytes, Go's time.Time rendering in the server's zone)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.support.factories import body, make_record, records_body, response_record

EMPTY = b'{"Records":[]}'
JSON = "application/json"


def post_ok(
    client: TestClient, content: bytes | str, headers: dict[str, str] | None = None
) -> None:
    response = client.post("/records", content=content, headers=headers)
    assert response.status_code == 200, response.text
    assert response.content == b"Ok"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def get_json(client: TestClient, path: str) -> bytes:
    """The body of a successful GET, which must be declared as JSON."""
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    return response.content


def record_json(component: str, environment: str, state: str, timestamp: str) -> str:
    """A record as a writer may send it: JSON text, so that tests can vary names and order."""
    return (
        f'{{"Component":"{component}","Environment":"{environment}",'
        f'"State":"{state}","Timestamp":"{timestamp}"}}'
    )


# POST /records: the answer


def test_post_answers_plain_ok_whatever_the_content_type(client: TestClient) -> None:
    content_types = [
        None,
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
    ]
    environments = ["none", "json", "form", "text"]
    for content_type, environment in zip(content_types, environments, strict=True):
        headers = None if content_type is None else {"Content-Type": content_type}
        response = client.post(
            "/records",
            content=body(make_record(Environment=environment)),
            headers=headers,
        )
        if content_type is None:
            assert "content-type" not in response.request.headers
        assert response.status_code == 200, (content_type, response.text)
        assert response.content == b"Ok"
        assert response.headers["content-type"] == "text/plain; charset=utf-8"

    # Each body was decoded as JSON and stored, whatever it claimed to be.
    expected = records_body(
        *(
            response_record("abc.def", environment, "2024-07-30T14:06:41Z", "Ok")
            for environment in sorted(environments)
        )
    )
    assert get_json(client, "/current") == expected


def test_empty_null_and_recordless_bodies_are_noop_ok(client: TestClient) -> None:
    for content in [
        '{"Records":[]}',
        "null",
        "{}",
        '{"Records":null}',
        ' \n{ "Records" : [ ] }\n',
        '{"records":[]}',
    ]:
        for content_type in (None, "application/json"):
            headers = None if content_type is None else {"Content-Type": content_type}
            post_ok(client, content, headers)
    assert get_json(client, "/current") == EMPTY


# POST /records: lenient decoding, as Go's encoding/json


def test_field_names_match_case_insensitively_at_both_levels(client: TestClient) -> None:
    ts = "2024-07-30T14:06:41Z"
    post_ok(
        client,
        '{"records":[{"component":"lower","environment":"dev","state":"Ok",'
        f'"timestamp":"{ts}"}}]}}',
    )
    post_ok(
        client,
        '{"RECORDS":[{"COMPONENT":"upper","ENVIRONMENT":"dev","STATE":"Ok",'
        f'"TIMESTAMP":"{ts}"}}]}}',
    )
    post_ok(
        client,
        '{"rEcOrDs":[{"cOmPoNeNt":"mixed","eNvIrOnMeNt":"dev","StAtE":"Ok",'
        f'"tImEsTaMp":"{ts}"}}]}}',
    )
    assert get_json(client, "/current") == records_body(
        response_record("lower", "dev", ts, "Ok"),
        response_record("mixed", "dev", ts, "Ok"),
        response_record("upper", "dev", ts, "Ok"),
    )


def test_field_names_fold_character_by_character_as_go_does(client: TestClient) -> None:
    ts = "2024-07-30T14:06:41Z"
    # U+017F (long s) is in the case orbit of "s" for Go's unicode.SimpleFold: it matches.
    post_ok(
        client,
        '{"Records":[{"Component":"longs","Environment":"dev","\u017ftate":"Ok",'
        f'"Time\u017ftamp":"{ts}"}}]}}'.encode(),
    )
    assert get_json(client, "/current") == records_body(response_record("longs", "dev", ts, "Ok"))

    # U+FB06 (the "st" ligature) folds to two letters only under full case folding, which
    # Go does not do: for Go it is an unknown field, so State is missing.
    response = client.post(
        "/records",
        content=(
            '{"Records":[{"Component":"ligature","Environment":"dev","\ufb06ate":"Ok",'
            f'"Timestamp":"{ts}"}}]}}'
        ).encode(),
    )
    assert response.status_code == 400, response.text
    assert [(p["record"], p["field"]) for p in response.json()["problems"]] == [(0, "State")]
    assert get_json(client, "/historical/ligature") == EMPTY


def test_unknown_fields_are_ignored_whatever_they_hold(client: TestClient) -> None:
    huge = "9" * 5000  # more digits than Python converts to an int by default
    content = (
        f'{{"Version":2,"Huge":{huge},"Meta":{{"source":"ci","n":[1,2.5,{{"x":null}}]}},'
        '"Records":[{"Component":"abc.def","Count":12345,'
        f'"Huge":-{huge}.{huge}e-999999,"Float":1e400,"Tiny":-1.5e-400,'
        '"Nested":{"a":[1,{"b":null}],"Records":"not these"},"List":[1,"two",[3]],'
        '"Flag":true,"Nothing":null,"Junk":"\\ud800","Environment":"prod-all",'
        '"State":"Ok","Timestamp":"2024-07-30T14:06:41Z","Comment":"ignored"}],'
        '"Trailer":{"deep":{"deeper":[{}]}}}'
    )
    post_ok(client, content)
    expected = records_body(response_record("abc.def", "prod-all", "2024-07-30T14:06:41Z", "Ok"))
    assert get_json(client, "/current") == expected
    assert get_json(client, "/historical/abc.def") == expected


def test_duplicate_keys_last_one_wins(client: TestClient) -> None:
    ts = "2024-07-30T14:06:41Z"
    # In a record: exact duplicates, differently cased duplicates, and the two interleaved.
    post_ok(
        client,
        '{"Records":[{"Component":"first","component":"dup.last","Environment":"BAD",'
        '"environment":"dev","State":"a","state":"b","State":"c",'
        f'"Timestamp":"not a timestamp","Timestamp":"{ts}"}}]}}',
    )
    assert get_json(client, "/current") == records_body(response_record("dup.last", "dev", ts, "c"))

    # At the top: the last Records is the batch, whatever came before it.
    post_ok(
        client,
        '{"Records":[{"Component":"BAD"}],"records":['
        + record_json("top.last", "dev", "Ok", ts)
        + "]}",
    )
    assert get_json(client, "/historical/top.last") == records_body(
        response_record("top.last", "dev", ts, "Ok")
    )

    # A last Records of null empties the batch (Go sets the slice to nil): nothing is written.
    post_ok(client, '{"Records":[' + record_json("never", "dev", "Ok", ts) + '],"RECORDS":null}')
    assert get_json(client, "/historical/never") == EMPTY


def test_a_null_string_field_leaves_the_earlier_value_as_go_does(client: TestClient) -> None:
    # Go's decoder ignores null for a string field, so a null duplicate changes nothing.
    ts = "2024-07-30T14:06:41Z"
    post_ok(
        client,
        '{"Records":[{"Component":"nulls","Environment":"dev","State":"kept",'
        f'"state":null,"Timestamp":"{ts}","TIMESTAMP":null}}]}}',
    )
    assert get_json(client, "/current") == records_body(response_record("nulls", "dev", ts, "kept"))


# GET: the bodies


def test_get_bodies_are_compact_json_with_keys_in_go_order(client: TestClient) -> None:
    # Written with the keys in another order and spaced out: read back in the reference's.
    post_ok(
        client,
        '{ "Records" : [ { "Timestamp" : "2024-07-30T14:06:41Z" , "State" : "Ok" ,'
        ' "Environment" : "prod-all" , "Component" : "abc.def" } ] }',
    )
    expected = (
        b'{"Records":[{"Component":"abc.def","Environment":"prod-all",'
        b'"Timestamp":"2024-07-30T14:06:41Z","State":"Ok"}]}'
    )
    assert get_json(client, "/current") == expected
    assert get_json(client, "/historical/abc.def") == expected


def test_states_escape_html_characters_and_line_separators_as_go_does(
    client: TestClient,
) -> None:
    state = '<b class="x">&\\</b>\u2028\u2029'
    post_ok(client, body(make_record(State=state)))
    expected = (
        b'{"Records":[{"Component":"abc.def","Environment":"prod-all",'
        b'"Timestamp":"2024-07-30T14:06:41Z",'
        b'"State":"\\u003cb class=\\"x\\"\\u003e\\u0026\\\\\\u003c/b\\u003e\\u2028\\u2029"}]}'
    )
    assert get_json(client, "/current") == expected
    assert get_json(client, "/historical/abc.def") == expected


def test_other_non_ascii_states_are_raw_utf8(client: TestClient) -> None:
    state = "déployé ✓ 🚀 日本"
    post_ok(client, body(make_record(State=state)))  # sent as \u escapes
    expected = (
        '{"Records":[{"Component":"abc.def","Environment":"prod-all",'
        '"Timestamp":"2024-07-30T14:06:41Z","State":"déployé ✓ 🚀 日本"}]}'
    ).encode()
    assert get_json(client, "/current") == expected
    assert get_json(client, "/historical/abc.def") == expected


# GET: timestamps


@pytest.mark.parametrize(
    ("timezone", "cases"),
    [
        pytest.param(
            None,
            [
                ("2024-01-15T09:30:00Z", "2024-01-15T09:30:00Z"),
                ("2024-07-30T15:06:41+01:00", "2024-07-30T14:06:41Z"),
            ],
            id="utc",
        ),
        pytest.param(
            "Europe/London",
            [
                ("2024-01-15T09:30:00Z", "2024-01-15T09:30:00Z"),  # GMT: zero offset is Z
                ("2024-03-31T00:59:59Z", "2024-03-31T00:59:59Z"),  # last second of GMT
                ("2024-03-31T01:00:00Z", "2024-03-31T02:00:00+01:00"),  # first of BST
                ("2024-07-30T14:06:41Z", "2024-07-30T15:06:41+01:00"),
            ],
            id="london",
        ),
        pytest.param(
            "America/New_York",
            [
                ("2024-01-15T03:00:00Z", "2024-01-14T22:00:00-05:00"),
                ("2024-01-15T09:30:00Z", "2024-01-15T04:30:00-05:00"),
                ("2024-07-30T14:06:41Z", "2024-07-30T10:06:41-04:00"),
            ],
            id="new-york",
        ),
        pytest.param(
            "Asia/Kolkata",
            [
                ("2024-01-15T20:00:00Z", "2024-01-16T01:30:00+05:30"),
                ("2024-07-30T14:06:41Z", "2024-07-30T19:36:41+05:30"),
            ],
            id="kolkata",
        ),
    ],
)
def test_timestamps_render_with_the_offset_of_their_date_in_the_server_zone(
    make_client: Callable[..., TestClient],
    timezone: str | None,
    cases: list[tuple[str, str]],
) -> None:
    client = make_client(timezone=timezone)
    # One environment per case, named in time order: history (by time) and current (by
    # environment) then list the same records in the same order.
    environments = ["a", "b", "c", "d"][: len(cases)]
    records = [
        make_record(Component="tz", Environment=environment, Timestamp=sent)
        for environment, (sent, _) in zip(environments, cases, strict=True)
    ]
    post_ok(client, body(*records))
    expected = records_body(
        *(
            response_record("tz", environment, rendered, "Ok")
            for environment, (_, rendered) in zip(environments, cases, strict=True)
        )
    )
    assert get_json(client, "/historical/tz") == expected
    assert get_json(client, "/current") == expected


def test_sub_second_precision_survives_to_the_nanosecond(client: TestClient) -> None:
    cases = [
        ("2024-07-30T14:06:41.000Z", "2024-07-30T14:06:41Z"),
        ("2024-07-30T14:06:41.000000001Z", "2024-07-30T14:06:41.000000001Z"),
        ("2024-07-30T14:06:41.123456789Z", "2024-07-30T14:06:41.123456789Z"),
        ("2024-07-30T15:06:41.25+01:00", "2024-07-30T14:06:41.25Z"),
        ("2024-07-30T14:06:41.500Z", "2024-07-30T14:06:41.5Z"),
        ("2024-07-30T14:06:41.999999999Z", "2024-07-30T14:06:41.999999999Z"),
    ]
    environments = ["a", "b", "c", "d", "e", "f"]
    post_ok(
        client,
        body(
            *(
                make_record(Component="ns", Environment=environment, Timestamp=sent)
                for environment, (sent, _) in zip(environments, cases, strict=True)
            )
        ),
    )
    expected = records_body(
        *(
            response_record("ns", environment, rendered, "Ok")
            for environment, (_, rendered) in zip(environments, cases, strict=True)
        )
    )
    assert get_json(client, "/historical/ns") == expected
    assert get_json(client, "/current") == expected


@pytest.mark.parametrize(
    ("timezone", "rendered"),
    [
        pytest.param(None, "2024-07-30T14:06:41.5Z", id="utc"),
        pytest.param("Europe/London", "2024-07-30T15:06:41.5+01:00", id="london"),
        pytest.param("America/New_York", "2024-07-30T10:06:41.5-04:00", id="new-york"),
    ],
)
def test_input_offsets_read_back_converted_to_the_server_zone(
    make_client: Callable[..., TestClient], timezone: str | None, rendered: str
) -> None:
    client = make_client(timezone=timezone)
    # One instant written with three different offsets, for three environments.
    sent = {
        "a": "2024-07-30T19:36:41.5+05:30",
        "b": "2024-07-30T06:06:41.5-08:00",
        "c": "2024-07-31T00:06:41.5+10:00",
    }
    post_ok(
        client,
        body(*(make_record(Environment=env, Timestamp=ts) for env, ts in sent.items())),
    )
    expected = records_body(*(response_record("abc.def", env, rendered, "Ok") for env in sent))
    assert get_json(client, "/historical/abc.def") == expected
    assert get_json(client, "/current") == expected


# GET: nothing to show


def test_empty_current_view_is_exactly_an_empty_records_list(client: TestClient) -> None:
    assert get_json(client, "/current") == EMPTY


def test_unknown_component_history_is_exactly_an_empty_records_list(client: TestClient) -> None:
    assert get_json(client, "/historical/unknown") == EMPTY
    # Records of other components do not show: not even of one whose name it prefixes.
    post_ok(
        client,
        body(make_record(Component="unknown.other"), make_record(Component="unknownx")),
    )
    assert get_json(client, "/historical/unknown") == EMPTY
    assert get_json(client, "/historical/unknown.other") != EMPTY
