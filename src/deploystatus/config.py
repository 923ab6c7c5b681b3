"""Settings, read once from the environment and passed down; never a module-level global."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting is an environment variable: ``DEPLOYSTATUS_<FIELD>`` unless an AWS or
    POSIX name is standard for it (``AWS_ENDPOINT_URL_DYNAMODB``, ``AWS_REGION``, ``TZ``).
    AWS credentials are not settings: botocore's provider chain finds them."""

    model_config = SettingsConfigDict(
        env_prefix="DEPLOYSTATUS_", frozen=True, extra="ignore", populate_by_name=True
    )

    table: str = "deployment-status"
    endpoint_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "endpoint_url", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"
        ),
    )
    region: str | None = Field(
        default=None, validation_alias=AliasChoices("region", "AWS_REGION", "AWS_DEFAULT_REGION")
    )
    timezone: str | None = Field(default=None, validation_alias=AliasChoices("timezone", "TZ"))
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    max_records: int = Field(default=1000, gt=0)
    dynamodb_retry_seconds: float = Field(default=5.0, gt=0)
    dynamodb_timeout_seconds: float = Field(default=10.0, gt=0)
    max_concurrent_calls: int = Field(default=64, gt=0)
    retry_after_seconds: int = Field(default=1, ge=0)
