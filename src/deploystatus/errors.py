"""Errors the service raises on purpose. No HTTP here: `app.py` maps each class to a status.

    DeployStatusError
    ├── InvalidRequest           the request cannot be accepted as sent
    │   └── InvalidRecords       records break the rules; ``problems`` says which and why
    ├── Forbidden                the service will not do this, whoever asks (no admin
    │                            token can be presented while authentication is off)
    ├── RecordNotFound           no such record to remove: nothing was changed
    ├── DeployableNotFound       no record of that component in that environment
    ├── WebhookNotFound          no webhook subscription of that id
    ├── RequestTooLarge          body or record count over the configured limit
    ├── RequestTimeout           the body did not arrive within the configured time
    └── StorageError             DynamoDB failed in a way that retrying will not fix
        └── StorageUnavailable   DynamoDB throttled or unreachable, even after retries

Anything else escaping a handler is a bug and becomes a plain 500.
"""

from __future__ import annotations

from dataclasses import dataclass


class DeployStatusError(Exception):
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(DeployStatusError):
    code = "invalid_request"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field of one record (``record`` is its index in the batch)."""

    record: int
    field: str
    message: str


class InvalidRecords(InvalidRequest):
    code = "invalid_records"

    def __init__(self, problems: list[Problem]) -> None:
        count = len({problem.record for problem in problems})
        noun = "record is" if count == 1 else "records are"
        super().__init__(f"{count} {noun} invalid; nothing was written")
        self.problems = problems


class Forbidden(DeployStatusError):
    code = "forbidden"


class RecordNotFound(DeployStatusError):
    code = "record_not_found"


class WebhookNotFound(DeployStatusError):
    code = "webhook_not_found"


class DeployableNotFound(DeployStatusError):
    code = "deployable_not_found"


class RequestTooLarge(DeployStatusError):
    code = "request_too_large"


class RequestTimeout(DeployStatusError):
    code = "request_timeout"


class StorageError(DeployStatusError):
    code = "storage_error"


class StorageUnavailable(StorageError):
    code = "storage_unavailable"
