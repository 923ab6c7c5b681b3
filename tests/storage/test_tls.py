"""DynamoDB over HTTPS: ``deploystatus serve`` verifies the endpoint's certificate against
the system's trust store, or against ``AWS_CA_BUNDLE`` when it is set (as AWS SDKs do, for
a VPC endpoint or a proxy that re-signs TLS with a private CA), and reaches it through
``HTTPS_PROXY`` unless ``NO_PROXY`` names it.

The https endpoint is a `FaultProxy` terminating TLS in front of a real engine, with a
certificate made for the test; the egress proxy is a `ConnectProxy` (both in
tests/support/proxies.py); the service is the real command.
"""

from __future__ import annotations

import base64
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploystatus.config import Settings
from tests.support.certificates import self_signed, serving_context
from tests.support.factories import README_RECORD, body
from tests.support.processes import START_TIMEOUT, Launcher, http_request, listening, wait_until
from tests.support.proxies import ConnectProxy, FaultProxy
from tests.support.serving import serve_env, start_serve

NAME = "dynamodb.example.test"  # never resolved here: only the egress proxy knows it


@pytest.fixture
def https_engine(settings: Settings, tmp_path: Path) -> Iterator[tuple[FaultProxy, Path]]:
    """An https endpoint in front of the test's engine, and the PEM file of its certificate."""
    cert_file, key_file = self_signed(tmp_path)
    with FaultProxy(str(settings.endpoint_url), tls=serving_context(cert_file, key_file)) as proxy:
        yield proxy, cert_file


def test_serve_trusts_an_https_endpoint_whose_certificate_is_in_aws_ca_bundle(
    launcher: Launcher, settings: Settings, https_engine: tuple[FaultProxy, Path]
) -> None:
    proxy, cert_file = https_engine
    assert proxy.url.startswith("https://")
    env = serve_env(launcher, settings, proxy.url, AWS_CA_BUNDLE=str(cert_file))
    cli, port = start_serve(launcher, env)
    url = f"http://127.0.0.1:{port}"
    assert http_request(f"{url}/records", body(README_RECORD)) == (200, b"Ok")
    status, answer = http_request(f"{url}/current")
    assert status == 200
    assert json.loads(answer)["Records"][0]["Component"] == README_RECORD["Component"]
    assert proxy.count("PutItem") == 2 and proxy.count("Query") >= 1  # all through TLS
    assert cli.stop(signal.SIGTERM) == 0


def test_serve_reaches_an_https_endpoint_through_https_proxy_but_loopback_directly(
    launcher: Launcher, settings: Settings, tmp_path: Path
) -> None:
    cert_file, key_file = self_signed(tmp_path, NAME)
    credentials = "Basic " + base64.b64encode(b"ci:s3cret").decode()
    with (
        FaultProxy(str(settings.endpoint_url), tls=serving_context(cert_file, key_file)) as https,
        ConnectProxy(("127.0.0.1", https.port), authorization=credentials) as egress,
    ):
        proxy_url = f"http://ci:s3cret@127.0.0.1:{egress.port}"
        env = serve_env(
            launcher,
            settings,
            f"https://{NAME}",
            AWS_CA_BUNDLE=str(cert_file),
            HTTPS_PROXY=proxy_url,
        )
        cli, port = start_serve(launcher, env)
        url = f"http://127.0.0.1:{port}"
        assert http_request(f"{url}/records", body(README_RECORD)) == (200, b"Ok")
        status, answer = http_request(f"{url}/current")
        assert status == 200 and json.loads(answer)["Records"][0]["State"] == "Ok"
        assert egress.tunnels and set(egress.tunnels) == {f"{NAME}:443"}
        assert egress.refused == [] and https.count("PutItem") == 2
        assert cli.stop(signal.SIGTERM) == 0
        assert "s3cret" not in cli.stderr + cli.stdout

        # A loopback endpoint is reached directly, whatever HTTPS_PROXY says.
        tunnels = len(egress.tunnels)
        (tmp_path / "loopback").mkdir()
        loopback = self_signed(tmp_path / "loopback")
        with FaultProxy(str(settings.endpoint_url), tls=serving_context(*loopback)) as direct:
            env = serve_env(
                launcher,
                settings,
                direct.url,
                AWS_CA_BUNDLE=str(loopback[0]),
                HTTPS_PROXY=proxy_url,
            )
            cli, port = start_serve(launcher, env)
            status, answer = http_request(f"http://127.0.0.1:{port}/current")
            assert status == 200 and len(json.loads(answer)["Records"]) == 1
            assert direct.count("Query") >= 1 and len(egress.tunnels) == tunnels
            assert cli.stop(signal.SIGTERM) == 0


def test_proxy_settings_are_read_in_either_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("https_proxy", "http://proxy.internal:3128")
    monkeypatch.setenv("no_proxy", ".internal")
    settings = Settings()
    assert (settings.https_proxy, settings.no_proxy) == ("http://proxy.internal:3128", ".internal")
    monkeypatch.delenv("https_proxy")
    monkeypatch.setenv("HTTPS_PROXY", "http://other.internal:8080")
    assert Settings().https_proxy == "http://other.internal:8080"


def test_without_aws_ca_bundle_an_unknown_certificate_is_refused_and_said(
    launcher: Launcher, settings: Settings, https_engine: tuple[FaultProxy, Path]
) -> None:
    proxy, _ = https_engine
    env = serve_env(launcher, settings, proxy.url, DEPLOYSTATUS_DYNAMODB_RETRY_SECONDS="0.2")
    cli, port = start_serve(launcher, env, ready=False)
    wait_until(lambda: listening(port), START_TIMEOUT, "serve listening")
    url = f"http://127.0.0.1:{port}"
    status, answer = http_request(f"{url}/readyz")
    assert (status, json.loads(answer)["error"]) == (503, "not_ready")
    status, answer = http_request(f"{url}/records", body(README_RECORD))
    assert status == 503 and json.loads(answer)["error"] != "", answer
    assert proxy.count() == 0  # no call got through: nothing was sent to an unverified peer
    cli.stop(signal.SIGTERM)
    assert "CERTIFICATE_VERIFY_FAILED" in cli.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("socks5://ci:s3cret@proxy:1080", "a proxy is an http://[user:password@]host[:port] URL"),
        ("http://ci:s3cret@proxy:99999", "a proxy's port is a number from 1 to 65535"),
    ],
)
def test_an_unusable_https_proxy_stops_serve_at_start(
    launcher: Launcher, value: str, message: str
) -> None:
    result = launcher.run("serve", "--port", "1", env=launcher.env(HTTPS_PROXY=value), timeout=30)
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"deploystatus: invalid setting: HTTPS_PROXY: {message}\n"


@pytest.mark.parametrize("content", [None, b"", b"not a certificate\n"])
def test_an_unreadable_aws_ca_bundle_stops_serve_at_start(
    launcher: Launcher, tmp_path: Path, content: bytes | None
) -> None:
    bundle = tmp_path / "ca.pem"
    if content is not None:
        bundle.write_bytes(content)
    env = launcher.env(AWS_CA_BUNDLE=str(bundle))
    result = launcher.run("serve", "--port", "1", env=env, timeout=30)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        "deploystatus: invalid setting: AWS_CA_BUNDLE: not a readable file of PEM certificates"
    )
    assert str(bundle) not in result.stderr  # a setting's value is never echoed
    assert "Traceback" not in result.stderr
