"""The ECS Fargate service in ``infra/terraform`` (``ecs.tf`` and ``modules/ecs_service``)
parses, and wires what the service needs: the task role holds the table's least-privilege
policy, the load balancer checks ``/readyz``, the container ``/healthz``, the logs go to a
CloudWatch log group, the tokens and the cursor secret come from Secrets Manager or SSM.

Terraform itself cannot be installed from the registries this project installs from, so the
parsing is python-hcl2's (a dev dependency), which reads HCL as Terraform does but knows no
provider schema: ``terraform fmt -check`` runs only where terraform is on PATH (here and in
``make lint``), and ``terraform validate``, which also needs the AWS provider downloaded, by
hand (docs/deploy.md says how).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from lark.exceptions import LarkError

from deploystatus.config import Settings
from tests.support import terraform

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "infra" / "terraform"
MODULE = TERRAFORM / "modules" / "ecs_service"
SECRET_SETTINGS = {"DEPLOYSTATUS_TOKENS", "DEPLOYSTATUS_CURSOR_SECRET"}


def _resource(*labels: str) -> dict[str, Any]:
    return terraform.one(MODULE, "resource", *labels)


def _container() -> dict[str, Any]:
    (locals_,) = [block for block in terraform.blocks(MODULE)["locals"] if "container" in block]
    container: dict[str, Any] = locals_["container"]
    return container


@pytest.mark.parametrize(
    "path",
    [*sorted(TERRAFORM.rglob("*.tf")), TERRAFORM / "backend.tf.example"],
    ids=lambda path: str(path.relative_to(TERRAFORM)),
)
def test_every_terraform_file_parses(path: Path) -> None:
    assert terraform.parse(path.read_text(encoding="utf-8"))


def test_the_parser_rejects_a_broken_file() -> None:
    text = (MODULE / "alb.tf").read_text(encoding="utf-8")
    with pytest.raises(LarkError):
        terraform.parse(text.replace('path                = "/readyz"', 'path = "/readyz" "/x"'))
    with pytest.raises(LarkError):
        terraform.parse(text.rstrip().removesuffix("}"))


def test_the_root_module_passes_the_table_and_its_policy() -> None:
    call = terraform.one(TERRAFORM, "module", "ecs_service")
    assert call["source"] == "./modules/ecs_service"
    assert call["policy_arn"] == "${aws_iam_policy.service.arn}"
    assert call["table_name"] == "${aws_dynamodb_table.deployment_status.name}"
    variables = {
        name: body for block in terraform.blocks(MODULE)["variable"] for name, body in block.items()
    }
    given = call.keys() - {"source", "count"}
    assert given <= variables.keys(), given - variables.keys()
    required = {name for name, body in variables.items() if "default" not in body}
    assert required <= given, required - given


def test_the_task_role_holds_only_the_tables_policy() -> None:
    task_definition = _resource("aws_ecs_task_definition", "this")
    assert task_definition["task_role_arn"] == "${aws_iam_role.task.arn}"
    assert task_definition["requires_compatibilities"] == ["FARGATE"]
    attachment = _resource("aws_iam_role_policy_attachment", "task")
    assert attachment == {"role": "${aws_iam_role.task.name}", "policy_arn": "${var.policy_arn}"}
    text = "\n".join(path.read_text(encoding="utf-8") for path in MODULE.glob("*.tf"))
    assert len(re.findall(r"aws_iam_role\.task\.(?:name|id)", text)) == 1, "another task policy"


def test_readiness_on_readyz_and_liveness_on_healthz() -> None:
    target_group = _resource("aws_lb_target_group", "this")
    (check,) = target_group["health_check"]
    assert check["path"] == "/readyz"
    assert str(check["matcher"]) == "200"
    assert target_group["port"] == "${local.port}"
    command = _container()["healthCheck"]["command"]
    assert command[:3] == ["CMD", "python", "-c"]
    assert "http://127.0.0.1:8080/healthz" in command[3]  # the Dockerfile's HEALTHCHECK
    assert _container()["command"][-2:] == ["--port", "8080"]


def test_the_logs_go_to_the_log_group() -> None:
    log_group = _resource("aws_cloudwatch_log_group", "this")
    assert "retention_in_days" in log_group
    logs = _container()["logConfiguration"]
    assert logs["logDriver"] == "awslogs"
    assert logs["options"]["awslogs-group"] == "${aws_cloudwatch_log_group.this.name}"


def test_secrets_come_from_the_secret_stores() -> None:
    container = _container()
    secrets = {secret["name"]: secret["valueFrom"] for secret in container["secrets"]}
    assert secrets == {
        "DEPLOYSTATUS_TOKENS": "${var.tokens_secret_arn}",
        "DEPLOYSTATUS_CURSOR_SECRET": "${var.cursor_secret_arn}",
    }
    environment = {variable["name"]: variable["value"] for variable in container["environment"]}
    assert not SECRET_SETTINGS & environment.keys()
    assert environment["DEPLOYSTATUS_REQUIRE_AUTH"] == "true"
    assert {"DEPLOYSTATUS_TABLE", "AWS_REGION", "TZ"} <= environment.keys()
    (statement,) = terraform.one(MODULE, "data", "aws_iam_policy_document", "read_secrets")[
        "statement"
    ]
    assert sorted(statement["resources"]) == sorted(secrets.values())
    assert set(statement["actions"]) == {"secretsmanager:GetSecretValue", "ssm:GetParameters"}


def test_shutdown_fits_in_the_stop_timeout_and_the_alb_idle_timeout_fits() -> None:
    container = _container()
    variables = {
        name: body for block in terraform.blocks(MODULE)["variable"] for name, body in block.items()
    }
    shutdown = variables["shutdown_timeout_seconds"]["default"]
    assert shutdown == Settings.model_fields["shutdown_timeout_seconds"].default
    assert container["stopTimeout"] > shutdown
    assert container["user"] == "10001:10001"
    assert container["readonlyRootFilesystem"] is True
    idle = _resource("aws_lb", "this")["idle_timeout"]
    assert idle < Settings.model_fields["http_idle_timeout_seconds"].default


def test_https_in_and_the_tasks_reachable_only_from_the_load_balancer() -> None:
    https = _resource("aws_lb_listener", "https")
    assert https["protocol"] == "HTTPS"
    (action,) = https["default_action"]
    assert action["target_group_arn"] == "${aws_lb_target_group.this.arn}"
    (redirect,) = _resource("aws_lb_listener", "http")["default_action"]
    assert redirect["type"] == "redirect"
    rules = [
        body
        for block in terraform.blocks(MODULE)["resource"]
        for kind, bodies in block.items()
        if kind == "aws_vpc_security_group_ingress_rule"
        for body in bodies.values()
    ]
    into_service = [
        r for r in rules if r["security_group_id"] == "${aws_security_group.service.id}"
    ]
    assert [r.get("referenced_security_group_id") for r in into_service] == [
        "${aws_security_group.alb.id}"
    ]
    service = _resource("aws_ecs_service", "this")
    (network,) = service["network_configuration"]
    assert network["assign_public_ip"] is False


def test_the_backend_example_locks_remote_state() -> None:
    text = (TERRAFORM / "backend.tf.example").read_text(encoding="utf-8")
    ((backend,),) = [block["backend"] for block in terraform.parse(text)["terraform"]]
    s3 = backend["s3"]
    assert s3["encrypt"] is True
    assert s3["dynamodb_table"]
    assert not (TERRAFORM / "backend.tf").exists(), "the example is copied by each deployer"


def test_terraform_fmt(tmp_path: Path) -> None:
    """Only where terraform is installed (no registry this project uses ships it)."""
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH: `terraform fmt -check` of infra/terraform skipped")

    def fmt_check(directory: Path) -> subprocess.CompletedProcess[str]:
        command = [terraform, "fmt", "-check", "-diff", "-recursive", str(directory)]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    result = fmt_check(TERRAFORM)
    assert result.returncode == 0, result.stdout + result.stderr
    misaligned = (
        (TERRAFORM / "outputs.tf").read_text(encoding="utf-8").replace("value       =", "value =")
    )
    (tmp_path / "outputs.tf").write_text(misaligned, encoding="utf-8")
    assert fmt_check(tmp_path).returncode != 0


def test_the_container_definitions_are_the_local() -> None:
    task_definition = _resource("aws_ecs_task_definition", "this")
    assert task_definition["container_definitions"] == "${jsonencode([local.container])}"
    assert json.dumps(_container())  # a plain object, as the ECS API takes it
