"""The deployment artefacts agree with the code.

- ``infra/terraform`` declares the very table ``store.table_definition()`` creates, protected
  (point-in-time recovery, deletion protection, encryption), and an IAM policy granting
  exactly the DynamoDB actions the Store calls at run time: derived from store.py, so a new
  call fails here until the policy (and docs/operations.md's copy of it) grants it.
- ``docker-compose.yaml`` points the API at its DynamoDB service and creates the table first.
- ``Dockerfile`` runs as a non-root user with a health check on ``/healthz``.

Static checks only: no Docker engine, Terraform or AWS is needed.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import deploystatus
from deploystatus.config import Settings
from deploystatus.storage import store
from deploystatus.storage.store import EXPIRES, table_definition
from tests.support import terraform

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "infra" / "terraform"
PACKAGE = Path(deploystatus.__file__).resolve().parent

# Store calls that administer the table: Terraform does that in production (and
# `deploystatus init-table` or the tests do it locally), so the service is never granted them.
ADMIN_ACTIONS = frozenset({"CreateTable", "DeleteTable"})

# Modules that call DynamoDB without going through the Store, and are not part of the
# running service (so the service's policy need not cover them).
OUTSIDE_THE_SERVICE = {
    "storage/migrate.py": "migrate-legacy, a one-off job reading the reference's table",
}

TABLE = ("aws_dynamodb_table", "deployment_status")
POLICY_DOCUMENT = ("aws_iam_policy_document", "service")
TABLE_ARN = "${aws_dynamodb_table.deployment_status.arn}"


# Terraform, parsed


def _labelled(kind: str, *labels: str) -> dict[str, Any]:
    return terraform.one(TERRAFORM, kind, *labels)


def _variable_default(reference: str) -> Any:
    match = re.fullmatch(r"\$\{var\.(\w+)\}", reference)
    assert match, f"expected a variable reference, got {reference!r}"
    return _labelled("variable", match[1]).get("default")


def _key_schema(block: dict[str, Any]) -> list[dict[str, str]]:
    schema = [{"AttributeName": block["hash_key"], "KeyType": "HASH"}]
    if "range_key" in block:
        schema.append({"AttributeName": block["range_key"], "KeyType": "RANGE"})
    return schema


def _index(block: dict[str, Any]) -> dict[str, Any]:
    projection: dict[str, Any] = {"ProjectionType": block["projection_type"]}
    if "non_key_attributes" in block:
        projection["NonKeyAttributes"] = block["non_key_attributes"]
    return {"IndexName": block["name"], "KeySchema": _key_schema(block), "Projection": projection}


def _create_table_request(table: dict[str, Any]) -> dict[str, Any]:
    """The Terraform table as the CreateTable request it stands for."""
    request: dict[str, Any] = {
        "TableName": _variable_default(table["name"]),
        "AttributeDefinitions": [
            {"AttributeName": attribute["name"], "AttributeType": attribute["type"]}
            for attribute in table.get("attribute", [])
        ],
        "KeySchema": _key_schema(table),
        "BillingMode": table["billing_mode"],
    }
    for block, field in [
        ("global_secondary_index", "GlobalSecondaryIndexes"),
        ("local_secondary_index", "LocalSecondaryIndexes"),
    ]:
        if block in table:
            request[field] = [_index(index) for index in table[block]]
    return request


def _by_name(definitions: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(definitions, key=lambda definition: definition["AttributeName"])


# The actions the Store calls, from its source


# Storage's modules that call through the store (``_call``; hooks.py through ``Store.call``,
# whose own body passes its caller's action on).
CALLERS = (Path(store.__file__), Path(store.__file__).with_name("hooks.py"))


def _store_actions() -> set[str]:
    """Every action passed to ``_call`` in those modules; each must be a string literal."""
    actions: set[str] = set()
    for path in CALLERS:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        passing_on = {
            id(node)
            for function in ast.walk(tree)
            if isinstance(function, ast.AsyncFunctionDef) and function.name == "call"
            for node in ast.walk(function)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "_call"
                and id(node) not in passing_on
            ):
                action = node.args[0] if node.args else None
                assert isinstance(action, ast.Constant) and isinstance(action.value, str), (
                    f"{path.name} line {node.lineno}: _call's action must be a string "
                    "literal, so that the IAM policy can be checked against it"
                )
                actions.add(action.value)
    return actions


def runtime_actions() -> set[str]:
    return _store_actions() - ADMIN_ACTIONS


def test_the_service_calls_dynamodb_only_through_the_store() -> None:
    """The actions read from store.py are all the service calls only if no other module of
    the service sends requests: a new caller must be checked here (and granted in the IAM
    policy if the service runs it, or listed in OUTSIDE_THE_SERVICE if it does not)."""
    # dynamodb.send is the one wrapper around the client's send_request: a module that
    # imports the one or touches the other sends requests.
    callers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if (isinstance(node, ast.Attribute) and node.attr == "send_request")
        or (
            isinstance(node, ast.ImportFrom)
            and node.module == "dynamodb"
            and any(alias.name == "send" for alias in node.names)
        )
    }
    assert callers - OUTSIDE_THE_SERVICE.keys() == {"storage/store.py", "storage/dynamodb.py"}
    actions = _store_actions()
    assert actions >= ADMIN_ACTIONS, "ADMIN_ACTIONS names an action the Store no longer calls"
    assert runtime_actions() >= {"BatchWriteItem", "PutItem", "Query"}


# The table


def test_terraform_table_is_the_table_the_service_creates() -> None:
    table = _labelled("resource", *TABLE)
    request = _create_table_request(table)
    expected = table_definition(request["TableName"])
    assert _by_name(request.pop("AttributeDefinitions")) == _by_name(
        expected.pop("AttributeDefinitions")
    )
    assert request == expected
    assert "GlobalSecondaryIndexes" not in request
    assert "LocalSecondaryIndexes" not in request


def test_terraform_variables() -> None:
    variables = {
        name for block in terraform.blocks(TERRAFORM).get("variable", []) for name in block
    }
    assert variables >= {"table_name", "region"}
    assert _variable_default("${var.table_name}") == Settings.model_fields["table"].default


def test_terraform_expires_history_on_the_attribute_the_store_writes() -> None:
    table = _labelled("resource", *TABLE)
    assert table["ttl"] == [{"attribute_name": EXPIRES, "enabled": True}]


def test_terraform_table_is_protected() -> None:
    table = _labelled("resource", *TABLE)
    assert table["point_in_time_recovery"] == [{"enabled": True}]
    assert table["deletion_protection_enabled"] is True
    assert [block["enabled"] for block in table["server_side_encryption"]] == [True]


def test_terraform_pins_the_aws_provider_major_version() -> None:
    (settings,) = terraform.blocks(TERRAFORM)["terraform"]
    (providers,) = settings["required_providers"]
    assert providers["aws"] == {"source": "hashicorp/aws", "version": "~> 5.0"}


def test_terraform_outputs() -> None:
    outputs = {name for block in terraform.blocks(TERRAFORM).get("output", []) for name in block}
    assert outputs >= {"table_name", "table_arn", "policy_arn"}


# The IAM policy


def test_iam_policy_grants_exactly_the_runtime_actions_on_the_table() -> None:
    document = _labelled("data", *POLICY_DOCUMENT)
    statements = document["statement"]
    assert all(statement.get("effect", "Allow") == "Allow" for statement in statements)
    granted = {action for statement in statements for action in statement["actions"]}
    assert granted == {f"dynamodb:{action}" for action in runtime_actions()}
    for statement in statements:
        assert sorted(statement["resources"]) == sorted([TABLE_ARN, f"{TABLE_ARN}/index/*"])
        assert not {"not_actions", "not_resources", "condition"} & statement.keys()
    policy = _labelled("resource", "aws_iam_policy", "service")
    assert policy["policy"] == "${data.aws_iam_policy_document.service.json}"


def test_operations_docs_iam_policy_matches() -> None:
    operations = (ROOT / "docs/operations.md").read_text(encoding="utf-8")
    section = operations.split("## IAM policy", 1)[-1].split("\n## ", 1)[0]
    blocks = re.findall(r"```json\n(.*?)```", section, re.DOTALL)
    policies = [json.loads(block) for block in blocks if '"2012-10-17"' in block]
    assert len(policies) == 1, "docs/operations.md's 'IAM policy' shows one policy"
    (statement,) = policies[0]["Statement"]
    assert statement["Effect"] == "Allow"
    assert set(statement["Action"]) == {f"dynamodb:{action}" for action in runtime_actions()}
    arn = "arn:aws:dynamodb:REGION:ACCOUNT:table/deployment-status"
    assert statement["Resource"] == [arn, f"{arn}/index/*"]


# docker-compose.yaml


def _compose_services() -> dict[str, dict[str, Any]]:
    with (ROOT / "docker-compose.yaml").open(encoding="utf-8") as file:
        compose = yaml.safe_load(file)
    assert isinstance(compose, dict)
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {name: str(value) for name, value in environment.items()}


def _command(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def test_compose_runs_the_api_against_dynamodb_local() -> None:
    services = _compose_services()
    (dynamodb,) = [
        name
        for name, service in services.items()
        if str(service.get("image", "")).startswith("amazon/dynamodb-local")
    ]
    assert {"-inMemory", "-sharedDb"} <= set(_command(services[dynamodb]).split())
    (init,) = [name for name, service in services.items() if "init-table" in _command(service)]
    api = services["api"]
    assert api["build"] == "."
    assert "8080:8080" in api["ports"]
    assert api["depends_on"][init] == {"condition": "service_completed_successfully"}
    assert services[init]["build"] == "."
    assert dynamodb in services[init]["depends_on"]
    for name in ("api", init):
        environment = _environment(services[name])
        assert environment["AWS_ENDPOINT_URL_DYNAMODB"] == f"http://{dynamodb}:8000", name
        assert environment["AWS_ACCESS_KEY_ID"].isalnum(), name  # DynamoDB Local's rule
        assert environment["AWS_SECRET_ACCESS_KEY"], name
        assert environment["AWS_REGION"], name


# Dockerfile


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += " " + stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            keyword, _, arguments = pending.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
            pending = ""
    assert not pending, "the Dockerfile ends in a continuation line"
    return instructions


def _final_stage() -> list[tuple[str, str]]:
    instructions = _dockerfile()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def test_dockerfile_builds_a_venv_from_the_lock_and_copies_it() -> None:
    instructions = _dockerfile()
    stages = [arguments for keyword, arguments in instructions if keyword == "FROM"]
    assert stages == ["python:3.11-slim AS builder", "python:3.11-slim"]
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]
    assert "pip install --require-hashes -r requirements.lock" in runs
    assert "pip install --no-deps --no-build-isolation ." in runs
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in _final_stage()


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = [arguments for keyword, arguments in _final_stage() if keyword == "USER"]
    assert users, "the image must set USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_dockerfile_serves_on_8080_with_a_healthz_check() -> None:
    final = dict(_final_stage())
    assert final["EXPOSE"] == "8080"
    assert json.loads(final["CMD"]) == [
        "deploystatus",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
    ]
    healthcheck = final["HEALTHCHECK"]
    command = json.loads(healthcheck[healthcheck.index("CMD ") + len("CMD ") :])
    assert command[:2] == ["python", "-c"]
    assert "urllib.request" in command[2]
    assert "http://127.0.0.1:8080/healthz" in command[2]


def test_the_image_requires_authentication_and_only_compose_opts_out() -> None:
    environment = " ".join(arguments for keyword, arguments in _final_stage() if keyword == "ENV")
    assert "DEPLOYSTATUS_REQUIRE_AUTH=true" in environment.split()
    api = _compose_services()["api"]["environment"]
    assert api["DEPLOYSTATUS_REQUIRE_AUTH"] == "false"
    assert api["AWS_ENDPOINT_URL_DYNAMODB"] == "http://dynamodb:8000"  # the anchor's, merged


@pytest.mark.parametrize(
    "excluded", [".venv", "node_modules", ".data", ".git", "tests", ".mypy_cache"]
)
def test_dockerignore_excludes(excluded: str) -> None:
    patterns = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert excluded in patterns


def test_dockerignore_keeps_what_the_build_copies() -> None:
    """Every source of a COPY in the builder exists and is not ignored."""
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for keyword, arguments in _dockerfile():
        if keyword != "COPY" or arguments.startswith("--from"):
            continue
        for source in arguments.split()[:-1]:
            assert (ROOT / source).exists(), source
            assert source not in patterns, source
