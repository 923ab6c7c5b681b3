"""``/openapi.json`` describes the real contract, and schemathesis, generating requests from
it (valid ones and ones that break it), finds no 500 and no answer that breaks it: status,
content type, headers (``Retry-After``, ``Allow``) and body schemas, against the real app
served by uvicorn on a real engine. Bounded and derandomized: the same cases every run."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from deploystatus.app import create_app
from deploystatus.config import Settings
from deploystatus.records import COMPONENT_RULE, ENVIRONMENT_RULE
from deploystatus.tokens import ApiToken, hash_token, new_token
from deploystatus.web.options import CURRENT_OPTIONS, HISTORY_OPTIONS
from tests.support.live import LiveServer, fresh_table, own_dynalite
from tests.support.reliability_log import Recorder

EXAMPLES_PER_OPERATION = 50
# What an answer must satisfy. Not `positive_data_acceptance`: the schema gives the shape of
# a timestamp, not the calendar (2024-02-30 fits the pattern and is refused with a 400, as
# documented), so schema-valid bodies may rightly be refused.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
SEED = [
    {"Component": "abc.def", "Environment": "prod-all", "State": "Ok", "Timestamp": t}
    for t in ("2024-07-30T14:06:41Z", "2024-07-30T15:06:41.5+01:00")
] + [
    {"Component": "x", "Environment": "dev", "State": s, "Timestamp": "2024-07-30T14:06:41Z"}
    for s in ('<"&">', "\u2028 déployé 🚀", "a#b")
]


# Every request carries a token with every scope the document's operations need, so that
# each is served as with authentication off, and removing a record (admin only, refused
# while authentication is off) is served too.
TOKEN = new_token()
ALL_SCOPES = ApiToken("schemathesis", hash_token(TOKEN), frozenset({"read", "write", "admin"}))
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with (
        own_dynalite(tmp_path_factory.mktemp("openapi")) as engine,
        fresh_table(engine.url, tokens=(ALL_SCOPES,)) as settings,
        LiveServer(settings) as server,
    ):
        with server.client() as client:
            client.headers.update(HEADERS)
            response = client.post("/records", content=json.dumps({"Records": SEED}))
            assert (response.status_code, response.content) == (200, b"Ok")
        yield server


@pytest.fixture(scope="module")
def document(served: LiveServer) -> dict[str, Any]:
    with served.client() as client:
        response = client.get("/openapi.json", headers=HEADERS)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


# The document itself


def _json_schema(responses: dict[str, Any], status: str) -> dict[str, Any]:
    schema: dict[str, Any] = responses[status]["content"]["application/json"]["schema"]
    return schema


def test_post_records_documents_its_body_its_ok_and_every_error(document: dict[str, Any]) -> None:
    operation = document["paths"]["/records"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    record = body["properties"]["Records"]["items"]
    assert record["required"] == ["Component", "Environment", "State", "Timestamp"]
    details = ("Version", "Revision", "Actor", "Link", "Message", "CommitTimestamp")
    assert {name: field["type"] for name, field in record["properties"].items()} == {
        "Component": "string",
        "Environment": "string",
        "State": "string",
        "Timestamp": "string",
        **{name: ["string", "null"] for name in details},
    }
    assert [record["properties"][name].get("maxLength") for name in details] == [
        128,
        128,
        128,
        2048,
        512,
        None,
    ]
    assert record["properties"]["Component"]["pattern"] == COMPONENT_RULE
    assert record["properties"]["Environment"]["pattern"] == ENVIRONMENT_RULE

    responses = operation["responses"]
    assert responses["200"]["content"] == {
        "text/plain": {"schema": {"type": "string", "enum": ["Ok"]}}
    }
    assert {"400", "404", "405", "408", "413", "500", "503"} <= set(responses)
    assert "422" not in responses  # FastAPI's default: this service never answers it
    for status in ("400", "404", "405", "408", "413", "500", "503"):
        error = _json_schema(responses, status)
        assert error["required"] == ["error", "message"]
        assert set(error["properties"]) <= {"error", "message", "problems"}
    assert "problems" in _json_schema(responses, "400")["properties"]
    assert responses["503"]["headers"]["Retry-After"]["required"] is True
    assert responses["405"]["headers"]["Allow"]["required"] is True


def test_removing_a_record_documents_its_body_its_answer_and_its_refusals(
    document: dict[str, Any],
) -> None:
    operation = document["paths"]["/admin/remove-record"]["post"]
    record = operation["requestBody"]["content"]["application/json"]["schema"]
    assert record["required"] == ["Component", "Environment", "State", "Timestamp"]
    responses = operation["responses"]
    removal = _json_schema(responses, "200")
    assert removal["required"] == ["Removed", "WasCurrent", "Current"]
    assert removal["properties"]["Current"]["anyOf"][1] == {"type": "null"}
    assert {"400", "401", "403", "404", "405", "408", "413", "500", "503"} <= set(responses)
    assert _json_schema(responses, "404")["properties"]["error"]["enum"] == [
        "record_not_found",
        "not_found",
    ]
    assert "422" not in responses


def test_get_bodies_and_the_component_parameter_are_documented(document: dict[str, Any]) -> None:
    for path in ("/current", "/historical/{component}"):
        responses = document["paths"][path]["get"]["responses"]
        records = _json_schema(responses, "200")["properties"]["Records"]
        plain, detailed, deployable = records["items"]["anyOf"]
        assert plain["required"] == ["Component", "Environment", "Timestamp", "State"]
        assert set(detailed["properties"]) - set(plain["properties"]) == {
            "Version",
            "Revision",
            "Actor",
            "Link",
            "Message",
            "CommitTimestamp",
        }
        assert set(deployable["properties"]) - set(detailed["properties"]) == {
            "Class",
            "Since",
            "Stuck",
            "LastSuccess",
        }
        assert {"400", "404", "405", "500", "503"} <= set(responses)
    parameter, *options = document["paths"]["/historical/{component}"]["get"]["parameters"]
    assert parameter["in"] == "path"
    assert parameter["schema"]["pattern"] == COMPONENT_RULE
    assert parameter["schema"]["maxLength"] == 255
    # Every query option the service reads is documented, for GET and HEAD alike, so that
    # schemathesis sends them too.
    assert [o["name"] for o in options] == list(HISTORY_OPTIONS)
    current = document["paths"]["/current"]
    for method in ("get", "head"):
        assert [o["name"] for o in current[method]["parameters"]] == list(CURRENT_OPTIONS)
    assert all(o["in"] == "query" and not o["required"] for o in options)
    history = _json_schema(document["paths"]["/historical/{component}"]["get"]["responses"], "200")
    assert set(history["properties"]) == {"Records", "NextCursor"}
    # The document schemathesis is given below is the one served.
    assert document == create_app(Settings()).openapi()
    identifiers = [
        operation["operationId"]
        for operations in document["paths"].values()
        for operation in operations.values()
    ]
    assert len(identifiers) == len(set(identifiers))


# Schemathesis against it


def _schema() -> Any:
    """The app's own document (served as /openapi.json: see the test above), loaded at
    collection. (Schemathesis' lazy fixture loader does not work with pytest 9.)"""
    loaded = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=EXAMPLES_PER_OPERATION,
        deterministic=True,
    )
    loaded.config.phases.update(phases=["examples", "coverage", "fuzzing"])
    # Too many records is refused with this service's 413 (documented), a rejection too.
    rejection = loaded.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return loaded


schema = _schema()
_counts: dict[str, dict[int, int]] = {}


@schema.parametrize()  # type: ignore[untyped-decorator]
@hypothesis_settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_schemathesis_finds_no_server_error_and_no_answer_breaking_the_schema(
    case: Any, served: LiveServer
) -> None:
    response = case.call_and_validate(base_url=served.url, checks=CHECKS, headers=HEADERS)
    # Per documented operation; cases sent with another method (405 probes) apart.
    label = case.operation.label
    if case.method.upper() != case.operation.method.upper():
        label = f"{case.operation.path}, undocumented methods"
    statuses = _counts.setdefault(label, {})
    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1


def test_schemathesis_ran_every_operation(reliability: Recorder) -> None:
    """Runs after the schemathesis test (file order): records what it sent."""
    if not _counts:
        pytest.skip("the schemathesis test did not run in this session")
    undocumented: dict[int, int] = {}
    for operation, statuses in sorted(_counts.items()):
        if operation.endswith("undocumented methods"):
            for status, n in statuses.items():
                undocumented[status] = undocumented.get(status, 0) + n
            continue
        reliability.record(
            "OpenAPI contract (schemathesis)",
            operation,
            cases=sum(statuses.values()),
            detail="statuses: "
            + ", ".join(f"{status} x{n}" for status, n in sorted(statuses.items())),
        )
    reliability.record(
        "OpenAPI contract (schemathesis)",
        "every path with methods it does not document",
        cases=sum(undocumented.values()),
        detail="statuses: "
        + ", ".join(f"{status} x{n}" for status, n in sorted(undocumented.items())),
    )
    assert all(500 not in statuses for statuses in _counts.values())


def test_the_swagger_page_loading_third_party_code_is_off_unless_asked_for(
    make_client: Callable[..., TestClient],
) -> None:
    default = make_client()
    assert default.get("/docs").status_code == 404
    assert default.get("/redoc").status_code == 404
    assert default.get("/openapi.json").status_code == 200
    asked = make_client(api_docs=True)
    page = asked.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert asked.get("/redoc").status_code == 404
