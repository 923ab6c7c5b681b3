"""Record details: accepted, bounded, stored with the record, read only when asked for."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deploystatus.records import Details
from tests.support.factories import body, deployment

DETAILS = {
    "Version": "1.4.2",
    "Revision": "9fceb02d0ae598e95dc970b74767f19372d61af8",
    "Actor": "jdoe",
    "Link": "https://ci.example.com/acme/api/runs/1234",
    "Message": "hotfix for INC-42 <&>",
    "CommitTimestamp": "2024-07-30T15:58:02+01:00",
}


def detailed(component: str, environment: str, state: str, at: str, **details: Any) -> Any:
    return {**deployment(component, environment, state, at), **details}


def post(client: TestClient, *records: Any) -> None:
    response = client.post("/records", content=body(*records))
    assert (response.status_code, response.text) == (200, "Ok")


def test_details_are_stored_and_read_only_when_asked_for(client: TestClient) -> None:
    plain = deployment("api", "prod", "deploy-success", "2024-07-30T14:06:41Z")
    post(client, {**plain, **DETAILS})
    expected_plain = (
        b'{"Records":[{"Component":"api","Environment":"prod",'
        b'"Timestamp":"2024-07-30T14:06:41Z","State":"deploy-success"}]}'
    )
    assert client.get("/current").content == expected_plain
    assert client.get("/historical/api").content == expected_plain
    assert client.get("/current?details=false").content == expected_plain
    details_out = (
        '"Version":"1.4.2","Revision":"9fceb02d0ae598e95dc970b74767f19372d61af8",'
        '"Actor":"jdoe","Link":"https://ci.example.com/acme/api/runs/1234",'
        '"Message":"hotfix for INC-42 \\u003c\\u0026\\u003e",'
        '"CommitTimestamp":"2024-07-30T14:58:02Z"'
    )
    record_out = (
        '{"Component":"api","Environment":"prod","Timestamp":"2024-07-30T14:06:41Z",'
        '"State":"deploy-success",' + details_out
    )
    assert client.get("/historical/api?details=true").text == ('{"Records":[' + record_out + "}]}")
    facts_out = (
        ',"Class":"success","Since":"2024-07-30T14:06:41Z","Stuck":false,"LastSuccess":'
        '{"Timestamp":"2024-07-30T14:06:41Z","State":"deploy-success",' + details_out + "}}"
    )
    assert (
        client.get("/current?details=true").text == '{"Records":[' + record_out + facts_out + "]}"
    )
    assert client.get("/deployables/api/prod").text == record_out + facts_out
    assert client.get("/historical/api?details=true&limit=1").json()["Records"][0]["Version"] == (
        "1.4.2"
    )


def test_a_record_without_details_reads_as_before_with_the_opt_in(client: TestClient) -> None:
    post(client, deployment("api", "prod", "Ok", "2024-07-30T14:06:41Z"))
    (record,) = client.get("/current?details=true").json()["Records"]
    assert record == {
        "Component": "api",
        "Environment": "prod",
        "Timestamp": "2024-07-30T14:06:41Z",
        "State": "Ok",
        "Class": "success",
        "Since": "2024-07-30T14:06:41Z",
        "Stuck": False,
        "LastSuccess": {"Timestamp": "2024-07-30T14:06:41Z", "State": "Ok"},
    }


def test_empty_and_null_details_are_no_details(client: TestClient) -> None:
    record = deployment("api", "prod", "Ok", "2024-07-30T14:06:41Z")
    post(client, {**record, "Version": "", "actor": None})
    (stored,) = client.get("/historical/api?details=true").json()["Records"]
    assert "Version" not in stored and "Actor" not in stored


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("Link", "ftp://example.com/x", "must be an absolute http:// or https:// URL"),
        ("Link", "javascript:alert(1)", "must be an absolute http:// or https:// URL"),
        ("Link", "https://example.com/a b", "must be an absolute http:// or https:// URL"),
        ("Version", "v" * 129, "must be at most 128 characters (it is 129)"),
        ("Message", "m" * 513, "must be at most 512 characters (it is 513)"),
        ("Actor", "a\nb", "must not contain control characters (found U+000A)"),
        ("Revision", 40, "must be a string"),
        ("CommitTimestamp", "yesterday", "must be an RFC 3339 timestamp"),
    ],
)
def test_bad_details_are_refused_per_record(
    client: TestClient, field: str, value: object, message: str
) -> None:
    good = deployment("api", "prod", "Ok", "2024-07-30T14:06:41Z")
    response = client.post("/records", content=body(good, {**good, field: value}))
    assert response.status_code == 400
    (problem,) = response.json()["problems"]
    assert problem["record"] == 1 and problem["field"] == field
    assert problem["message"].startswith(message)
    assert client.get("/current").json() == {"Records": []}


def test_the_opt_in_must_be_true_or_false(client: TestClient) -> None:
    for path in ("/current?details=yes", "/historical/api?details=1"):
        response = client.get(path)
        assert response.status_code == 400
        assert response.json()["message"] == "details must be true or false"


def test_an_unknown_deployable_is_a_404(client: TestClient) -> None:
    response = client.get("/deployables/api/prod")
    assert response.status_code == 404
    assert response.json()["error"] == "deployable_not_found"
    assert client.get("/deployables/API/prod").status_code == 400


def one_identity(version: str) -> Any:
    return detailed("api", "prod", "Ok", "2024-07-30T14:06:41Z", Version=version)


@pytest.mark.parametrize("how", ["one by one", "reversed", "one batch", "batch reversed"])
def test_one_record_with_different_details_is_kept_whatever_the_order(
    client: TestClient, how: str
) -> None:
    variants = [
        deployment("api", "prod", "Ok", "2024-07-30T14:06:41Z"),
        one_identity("1.0"),
        one_identity("2.0"),
        one_identity("3.0"),
    ]
    if "reversed" in how:
        variants.reverse()
    if "batch" in how:
        post(client, *variants)
    else:
        for variant in variants:
            post(client, variant)
    history = client.get("/historical/api?details=true").json()["Records"]
    current = client.get("/current?details=true").json()["Records"]
    # The rule: details over none, then the greatest digest of the details.
    kept = max(("1.0", "2.0", "3.0"), key=lambda version: Details(version=version).digest)
    assert [record["Version"] for record in history] == [kept]
    assert current[0]["Version"] == kept
    assert client.get("/historical/api").json()["Records"] == [
        deployment("api", "prod", "Ok", "2024-07-30T14:06:41Z")
    ]
    pages = client.get("/historical/api?details=true&limit=1").json()
    assert [r["Version"] for r in pages["Records"]] == [kept] and "NextCursor" not in pages


def test_variants_do_not_split_pages(client: TestClient) -> None:
    records = []
    for second in range(5):
        at = f"2024-07-30T14:06:4{second}Z"
        records += [deployment("api", "prod", "Ok", at)] + [
            detailed("api", "prod", "Ok", at, Version=f"{second}.{n}") for n in range(3)
        ]
    post(client, *records)
    whole = client.get("/historical/api?details=true").json()["Records"]
    assert len(whole) == 5
    for order in ("asc", "desc"):
        seen: list[Any] = []
        cursor = ""
        while True:
            page = client.get(f"/historical/api?details=true&limit=2&order={order}{cursor}").json()
            seen += page["Records"]
            if "NextCursor" not in page:
                break
            cursor = "&cursor=" + page["NextCursor"]
        assert seen == (whole if order == "asc" else whole[::-1])


def test_details_fit_the_body_limits(client: TestClient) -> None:
    longest = {
        "Version": "v" * 128,
        "Revision": "r" * 128,
        "Actor": "a" * 128,
        "Link": "https://example.com/" + "l" * 2028,
        "Message": "m" * 512,
        "CommitTimestamp": "2024-07-30T13:58:02.123456789+14:00",
    }
    records = [
        detailed(f"svc-{i}", "prod", "Ok", "2024-07-30T14:06:41Z", **longest) for i in range(25)
    ]
    post(client, *records)
    current = client.get("/current?details=true").json()["Records"]
    assert len(current) == 25 and current[0]["Link"] == longest["Link"]
    assert len(json.dumps(current[0])) > 3000


def test_the_api_docs_example_answers_as_shown(client: TestClient) -> None:
    api_docs = (Path(__file__).resolve().parents[2] / "docs/api.md").read_text(encoding="utf-8")
    section = api_docs.split("## Record details and derived facts", 1)[1].split("\n## ", 1)[0]
    (sent,) = re.findall(r"-d '(.*?)' localhost:8080/records", section)
    (shown,) = re.findall(r"```json\n(.*?)\n```", section, re.DOTALL)
    assert client.post("/records", content=sent).text == "Ok"
    assert client.get("/deployables/pay.api/prod-all").json() == json.loads(shown)
