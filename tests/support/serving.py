"""``deploystatus serve`` as a real process against a test's table
(tests/support/processes.py runs and stops it)."""

from __future__ import annotations

from deploystatus.commands.engines import free_port
from deploystatus.config import Settings
from tests.support.processes import Cli, Launcher, wait_ready


def serve_env(
    launcher: Launcher, settings: Settings, endpoint_url: str | None = None, **overrides: str
) -> dict[str, str]:
    """The environment of a server on ``settings``' table (through ``endpoint_url``, e.g. a
    proxy, when given); ``overrides`` are more variables."""
    variables = {
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint_url or str(settings.endpoint_url),
        "AWS_REGION": "us-east-1",
        "DEPLOYSTATUS_TABLE": settings.table,
    }
    return launcher.env(**{**variables, **overrides})


def start_serve(launcher: Launcher, env: dict[str, str], *, ready: bool = True) -> tuple[Cli, int]:
    """``deploystatus serve`` on a free port; waits for /readyz unless ``ready`` is False."""
    port = free_port()
    cli = launcher.start("serve", "--port", str(port), env=env)
    if ready:
        wait_ready(cli, port)
    return cli, port
