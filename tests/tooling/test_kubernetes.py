"""The Kubernetes manifests in ``deploy/kubernetes`` are valid, and agree with the image.

Validity is kubernetes-validate's (a dev dependency): it checks each resource against the
Kubernetes OpenAPI schemas it bundles, strictly (an unknown field is an error), for the
oldest and the newest version the manifests support. A deliberately broken copy must fail
it, so that a validator that passes everything fails here. The rest is what no schema knows:
the probes, the shutdown timing, the user of the Dockerfile, the secrets.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploystatus.config import Settings

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
VALIDATOR = Path(sys.executable).with_name("kubernetes-validate")
# The oldest Kubernetes the manifests are written for (EKS' oldest in standard support
# when they were), and the newest schemas kubernetes-validate bundles.
VERSIONS = ["1.30.0", "1.37.0"]
SECRET_SETTINGS = {"DEPLOYSTATUS_TOKENS", "DEPLOYSTATUS_CURSOR_SECRET"}


def _resource_files() -> list[Path]:
    return sorted(path for path in MANIFESTS.glob("*.yaml") if path.name != "kustomization.yaml")


def _resources() -> dict[str, dict[str, Any]]:
    """Every resource, by kind (one of each)."""
    resources: dict[str, dict[str, Any]] = {}
    for path in _resource_files():
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            assert document["kind"] not in resources, f"a second {document['kind']}"
            resources[document["kind"]] = document
    return resources


def _validate(*paths: Path, version: str) -> subprocess.CompletedProcess[str]:
    command = [str(VALIDATOR), "--strict", "--no-warn", "-k", version, *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def _container() -> dict[str, Any]:
    (container,) = _resources()["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in container["env"]}


@pytest.mark.parametrize("version", VERSIONS)
def test_manifests_validate_against_the_kubernetes_schemas(version: str) -> None:
    result = _validate(*_resource_files(), version=version)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" passed for resource ") == len(_resources())


@pytest.mark.parametrize(
    ("good", "bad", "complaint"),
    [
        ("readinessProbe:", "readinesProbe:", "'readinesProbe' was unexpected"),
        ("replicas: 3", "replicas: three", "'three' is not of type 'integer'"),
    ],
)
def test_the_validator_rejects_a_broken_deployment(
    tmp_path: Path, good: str, bad: str, complaint: str
) -> None:
    text = (MANIFESTS / "deployment.yaml").read_text(encoding="utf-8")
    assert good in text
    broken = tmp_path / "deployment.yaml"
    broken.write_text(text.replace(good, bad), encoding="utf-8")
    result = _validate(broken, version=VERSIONS[0])
    assert result.returncode != 0
    assert complaint in result.stdout + result.stderr


def test_kustomization_lists_every_resource() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text(encoding="utf-8"))
    assert sorted(kustomization["resources"]) == [path.name for path in _resource_files()]
    assert set(_resources()) == {"Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"}
    (image,) = kustomization["images"]
    assert image["name"] == _container()["image"]


def test_probes_liveness_on_healthz_and_readiness_on_readyz() -> None:
    container = _container()
    (port,) = container["ports"]
    assert port["containerPort"] == 8080  # the Dockerfile's EXPOSE and serve --port
    assert container["args"][-2:] == ["--port", "8080"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}


def test_the_grace_period_outlasts_the_prestop_sleep_and_the_shutdown() -> None:
    """docs/operations.md, "Graceful shutdown": deregister first (preStop), then the service's own
    timeout, all within the orchestrator's grace period."""
    container = _container()
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    sleep = int(command[1])
    assert sleep >= 3, "too short for the endpoints to drop the pod"
    shutdown = int(_env(container)["DEPLOYSTATUS_SHUTDOWN_TIMEOUT_SECONDS"]["value"])
    assert shutdown == Settings.model_fields["shutdown_timeout_seconds"].default
    grace = _resources()["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > sleep + shutdown


def test_runs_as_the_images_user_on_a_read_only_filesystem() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "USER 10001:10001" in dockerfile
    pod = _resources()["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["runAsGroup"] == 10001
    container = _container()
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {mount["mountPath"] for mount in container["volumeMounts"]} == {"/tmp"}


def test_resources_are_requested_and_limited() -> None:
    resources = _container()["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"cpu", "memory"}


def test_tokens_and_cursor_secret_come_from_a_secret() -> None:
    env = _env(_container())
    for name in SECRET_SETTINGS:
        assert "value" not in env[name], name
        assert env[name]["valueFrom"]["secretKeyRef"]["key"] == name
    assert env["DEPLOYSTATUS_REQUIRE_AUTH"]["value"] == "true"
    assert {"DEPLOYSTATUS_TABLE", "AWS_REGION", "TZ"} <= env.keys()
    for name in env:
        assert "AWS_ENDPOINT_URL" not in name and "AWS_ACCESS_KEY" not in name, name


def test_the_service_account_carries_the_irsa_role() -> None:
    resources = _resources()
    account = resources["ServiceAccount"]
    role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role.startswith("arn:aws:iam::")
    pod = resources["Deployment"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]


def test_service_and_budget_select_the_pods() -> None:
    resources = _resources()
    deployment = resources["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = resources["Service"]
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == _container()["ports"][0]["name"]
    budget = resources["PodDisruptionBudget"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["maxUnavailable"] < deployment["spec"]["replicas"]
