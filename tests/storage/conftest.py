"""What the storage tests share."""

from __future__ import annotations

import pytest

from deploystatus.config import Settings


@pytest.fixture
def environment(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The environment a command reads its settings from: the test's engine and table."""
    assert settings.endpoint_url is not None
    monkeypatch.setenv("DEPLOYSTATUS_TABLE", settings.table)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", settings.endpoint_url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return settings
