"""The OpenAPI description of the real contract, as FastAPI route metadata for routes.py.

The handlers read raw bodies and raise domain errors (no pydantic models), so FastAPI cannot
infer the contract: the request body, the plain-text ``Ok``, the GET bodies and every error
status with its JSON body are spelt out here. ``/openapi.json`` is what clients and
schemathesis (tests/api/test_openapi.py) read; the rules come from records.py, so the two cannot
drift apart.
"""

from __future__ import annotations

import warnings
from typing import Any

from fastapi import FastAPI

from deploystatus.records import (
    COMPONENT_MAX,
    COMPONENT_RULE,
    DETAIL_MAX,
    ENVIRONMENT_MAX,
    ENVIRONMENT_RULE,
    LINK_RULE,
    STATE_MAX,
)

from .options import COMPONENT_PREFIX_RULE, MAX_LIMIT

# The shape of an RFC 3339 timestamp with an offset. Calendar validity and the accepted
# range (0000-01-02 to 9999-12-30 in UTC) are checked by the service: 400 when broken.
TIMESTAMP_IN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
# As rendered, Go style, in the server's zone: fractions without trailing zeros.
TIMESTAMP_OUT = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]*[1-9])?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
# No C0 or C1 control characters, no lone surrogates.
STATE_RULE = "^[^\\u0000-\\u001f\\u007f-\\u009f\\ud800-\\udfff]*$"

_COMPONENT = {
    "type": "string",
    "pattern": COMPONENT_RULE,
    "minLength": 1,
    "maxLength": COMPONENT_MAX,
    "examples": ["abc.def"],
}
_ENVIRONMENT = {
    "type": "string",
    "pattern": ENVIRONMENT_RULE,
    "minLength": 1,
    "maxLength": ENVIRONMENT_MAX,
    "examples": ["prod-all"],
}
_STATE = {
    "type": "string",
    "pattern": STATE_RULE,
    "minLength": 1,
    "maxLength": STATE_MAX,
    "examples": ["Ok"],
}


def _detail(description: str, name: str, example: str) -> dict[str, Any]:
    return {
        "type": ["string", "null"],
        "maxLength": DETAIL_MAX[name],
        "pattern": STATE_RULE,
        "description": description,
        "examples": [example],
    }


_DETAILS_IN: dict[str, Any] = {
    "Version": _detail("What was deployed: release, image tag, chart version", "Version", "1.4.2"),
    "Revision": _detail("The VCS revision (commit)", "Revision", "9fceb02d0ae598e95dc9"),
    "Actor": _detail("Who or what deployed", "Actor", "jdoe"),
    "Link": {
        **_detail("The run or its logs: an absolute http(s) URL", "Link",
                  "https://github.com/acme/api/actions/runs/1234"),
        "pattern": f"^$|{LINK_RULE}",  # and, as every detail, no control character:
        "not": {"pattern": "[\\u0000-\\u001f\\u007f-\\u009f\\ud800-\\udfff]"},
    },
    "Message": _detail("A short message", "Message", "hotfix for INC-42"),
    "CommitTimestamp": {
        "type": ["string", "null"],
        "pattern": f"^$|{TIMESTAMP_IN}",
        "description": "When the revision was committed (RFC 3339)",
        "examples": ["2024-07-30T13:58:02+00:00"],
    },
}  # fmt: skip

RECORD_IN: dict[str, Any] = {
    "type": "object",
    "description": (
        "One deployment event. Field names match case-insensitively (the last of duplicate "
        "keys wins) and unknown fields are ignored. The details (Version to "
        "CommitTimestamp) are optional; null or an empty string is the same as leaving one "
        "out. Of two records with one identity (component, environment, state, instant) "
        "and different details, the one with details is kept over the one without, and "
        "between two with details the one whose details' digest is greater (docs/api.md)."
    ),
    "required": ["Component", "Environment", "State", "Timestamp"],
    "properties": {
        "Component": _COMPONENT,
        "Environment": _ENVIRONMENT,
        "State": _STATE,
        "Timestamp": {
            "type": "string",
            "pattern": TIMESTAMP_IN,
            "description": "RFC 3339 with an offset, 0-9 fractional digits",
            "examples": ["2024-07-30T14:06:41+00:00"],
        },
        **_DETAILS_IN,
    },
}

RECORDS_IN: dict[str, Any] = {
    "type": ["object", "null"],
    "description": (
        "A batch, all or nothing. null, {} and a null or empty Records write nothing. The "
        "body is read as JSON whatever the Content-Type, up to DEPLOYSTATUS_MAX_BODY_BYTES."
    ),
    "properties": {
        "Records": {
            "type": ["array", "null"],
            "maxItems": 1000,
            "description": "At most DEPLOYSTATUS_MAX_RECORDS (default 1000) records",
            "items": RECORD_IN,
        }
    },
}

RECORD_OUT: dict[str, Any] = {
    "type": "object",
    "required": ["Component", "Environment", "Timestamp", "State"],
    "additionalProperties": False,
    "properties": {
        "Component": _COMPONENT,
        "Environment": _ENVIRONMENT,
        "Timestamp": {"type": "string", "pattern": TIMESTAMP_OUT},
        "State": {"type": "string", "minLength": 1, "maxLength": STATE_MAX},
    },
}

_DETAILS_OUT: dict[str, Any] = {
    name: {**schema, "type": "string"} for name, schema in _DETAILS_IN.items()
}
_DETAILS_OUT["CommitTimestamp"] = {"type": "string", "pattern": TIMESTAMP_OUT}

DETAILED_RECORD_OUT: dict[str, Any] = {
    **RECORD_OUT,
    "description": "With details=true: a record and the details it has (absent ones left out)",
    "properties": {**RECORD_OUT["properties"], **_DETAILS_OUT},
}

DEPLOYABLE_OUT: dict[str, Any] = {
    "type": "object",
    "description": (
        "A deployable's current record with its details and the facts derived from its "
        "records (GET /current?details=true, GET /deployables/{component}/{environment})"
    ),
    "required": [*RECORD_OUT["required"], "Class", "Since", "Stuck", "LastSuccess"],
    "additionalProperties": False,
    "properties": {
        **DETAILED_RECORD_OUT["properties"],
        "Class": {
            "type": "string",
            "enum": ["success", "failed", "in-progress", "other"],
            "description": "The state's class (DEPLOYSTATUS_STATE_CLASSES)",
        },
        "Since": {
            "type": ["string", "null"],
            "pattern": TIMESTAMP_OUT,
            "description": (
                "When the deployable entered its class: the first record of its current "
                "streak of that class; null until derived (deploystatus derive-facts)"
            ),
        },
        "Stuck": {
            "type": "boolean",
            "description": "In progress for longer than DEPLOYSTATUS_STUCK_AFTER_SECONDS",
        },
        "LastSuccess": {
            "description": "The newest record of class success, with its details; or null",
            "anyOf": [
                {
                    "type": "object",
                    "required": ["Timestamp", "State"],
                    "additionalProperties": False,
                    "properties": {
                        "Timestamp": RECORD_OUT["properties"]["Timestamp"],
                        "State": RECORD_OUT["properties"]["State"],
                        **_DETAILS_OUT,
                    },
                },
                {"type": "null"},
            ],
        },
    },
}

RECORDS_OUT: dict[str, Any] = {
    "type": "object",
    "required": ["Records"],
    "additionalProperties": False,
    "properties": {
        "Records": {
            "type": "array",
            "items": {"anyOf": [RECORD_OUT, DETAILED_RECORD_OUT, DEPLOYABLE_OUT]},
        }
    },
}


def _error_body(*codes: str) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "required": ["error", "message"],
        "additionalProperties": False,
        "properties": {
            "error": {"type": "string", "enum": list(codes)},
            "message": {"type": "string", "minLength": 1},
        },
    }
    if "invalid_records" in codes:
        schema["properties"]["problems"] = {
            "type": "array",
            "minItems": 1,
            "description": "With invalid_records: each problem of each record",
            "items": {
                "type": "object",
                "required": ["record", "field", "message"],
                "additionalProperties": False,
                "properties": {
                    "record": {"type": "integer", "minimum": 0},
                    "field": {
                        "type": "string",
                        "enum": [
                            "",
                            "Component",
                            "Environment",
                            "State",
                            "Timestamp",
                            *DETAIL_MAX,
                            "CommitTimestamp",
                        ],
                    },
                    "message": {"type": "string", "minLength": 1},
                },
            },
        }
    return schema


def _json(description: str, schema: dict[str, Any], **headers: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = {
            name: {"description": text, "required": True, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return response


_400 = _json(
    "The request cannot be accepted as sent (invalid_request), or records break the rules "
    "(invalid_records, with problems); nothing was written",
    _error_body("invalid_request", "invalid_records"),
)
_404 = _json("No such path", _error_body("not_found"))
_405 = _json(
    "Wrong method",
    _error_body("method_not_allowed"),
    Allow="The methods this path accepts",
)
_408 = _json(
    "The body did not arrive within DEPLOYSTATUS_BODY_TIMEOUT_SECONDS; the connection is closed",
    _error_body("request_timeout"),
)
_413 = _json(
    "Body over DEPLOYSTATUS_MAX_BODY_BYTES or more than DEPLOYSTATUS_MAX_RECORDS records; "
    "refused before the body is read whole, and the connection is closed",
    _error_body("request_too_large"),
)
_500 = _json(
    "The storage failed in a way retrying will not fix, or a bug; details are in the "
    "server's log only",
    _error_body("storage_error", "internal_error"),
)
_503 = _json(
    "DynamoDB throttled or unreachable after retries with backoff, or the server stopped "
    "mid-request; nothing acknowledged was lost: resend the same request after Retry-After",
    _error_body("storage_unavailable", "shutting_down"),
    **{"Retry-After": "Seconds to wait before resending"},
)
_ERRORS = {404: _404, 405: _405, 500: _500}

COMPONENT_PARAMETER: dict[str, Any] = {
    "name": "component",
    "in": "path",
    "required": True,
    "description": "A component; anything else is a 400 invalid_request",
    "schema": _COMPONENT,
}

POST_RECORDS: dict[str, Any] = {
    "summary": "Store a batch of deployment records",
    "response_description": "Every record of the batch is durably stored",
    "responses": {
        200: {"content": {"text/plain": {"schema": {"type": "string", "enum": ["Ok"]}}}},
        400: _400,
        408: _408,
        413: _413,
        503: _503,
        **_ERRORS,
    },
    "openapi_extra": {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": RECORDS_IN}},
        }
    },
}


_401 = _json(
    "No bearer token, or one the server does not know (authentication is on)",
    _error_body("unauthorized"),
    **{"WWW-Authenticate": 'Bearer realm="deploystatus" (error="invalid_token": unknown token)'},
)
_ADMIN_403 = _json(
    "The token lacks the admin scope; or authentication is off, and no one may remove records",
    _error_body("forbidden"),
)

REMOVAL_OUT: dict[str, Any] = {
    "type": "object",
    "required": ["Removed", "WasCurrent", "Current"],
    "additionalProperties": False,
    "properties": {
        "Removed": RECORD_OUT,
        "WasCurrent": {
            "type": "boolean",
            "description": "Whether the removed record was its deployable's current state",
        },
        "Current": {
            "description": "The deployable's current state now; null when no record is left",
            "anyOf": [RECORD_OUT, {"type": "null"}],
        },
    },
}

REMOVE_RECORD: dict[str, Any] = {
    "summary": "Remove one record from history (scope admin); current state is recomputed",
    "description": (
        "The record is named by its identity: component, environment, state and instant "
        "(any offset naming the same instant names it). If it was its deployable's current "
        "state, the newest record left becomes current, or the deployable leaves /current "
        "when none is left. Safe to send again: a record that is not there is a 404 "
        "record_not_found, and nothing changes. Refused (403) while authentication is off."
    ),
    "response_description": "The record is removed; what is current now",
    "responses": {
        200: _json("The record is removed; what is current now", REMOVAL_OUT),
        400: _json(
            "The body is not one record (invalid_request), or the record breaks the rules "
            "(invalid_records, with problems); nothing was changed",
            _error_body("invalid_request", "invalid_records"),
        ),
        401: _401,
        403: _ADMIN_403,
        404: _json(
            "No such record (record_not_found): nothing was changed; or no such path",
            _error_body("record_not_found", "not_found"),
        ),
        408: _408,
        413: _413,
        503: _503,
        405: _405,
        500: _500,
    },
    "openapi_extra": {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": RECORD_IN}},
        }
    },
}


def _status_body(status: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["status"],
        "additionalProperties": False,
        "properties": {"status": {"type": "string", "enum": [status]}},
    }


def _records_read(description: str) -> dict[Any, Any]:
    """The answers of a read of records: the records, or a bad option, or no storage."""
    return {
        200: _json(description, RECORDS_OUT),
        400: _400,
        503: _503,
        **_ERRORS,
    }


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """An optional query option; every one may be given at most once (else a 400)."""
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}  # fmt: skip


_ENVIRONMENT_OPTION = _query(
    "environment", "Only this environment's records", {**_ENVIRONMENT, "examples": ["dev"]}
)

_DETAILS_OPTION = _query(
    "details",
    "true: each record with its details (and, for current states, the facts derived per "
    "deployable); false, or absent: the records as the reference service wrote them",
    {"type": "string", "enum": ["true", "false"]},
)

CURRENT: dict[str, Any] = {
    "summary": "The latest record of every deployable, by component then environment",
    "description": (
        "Without options, every deployable, byte for byte as the reference service answered; "
        "the options filter, combined. With details=true each record carries its details, "
        "Class, Since, Stuck and LastSuccess."
    ),
    "responses": _records_read("The current state"),
    "openapi_extra": {
        "parameters": [
            _DETAILS_OPTION,
            _ENVIRONMENT_OPTION,
            _query(
                "component",
                "Only components whose name starts with this",
                {
                    "type": "string",
                    "pattern": COMPONENT_PREFIX_RULE,
                    "minLength": 1,
                    "maxLength": COMPONENT_MAX,
                    "examples": ["abc."],
                },
            ),
            _query("state", "Only deployables whose current state is exactly this", _STATE),
        ]
    },
}

HISTORY_OUT: dict[str, Any] = {
    **RECORDS_OUT,
    "properties": {
        **RECORDS_OUT["properties"],
        "NextCursor": {
            "type": "string",
            "minLength": 1,
            "description": "With limit, when more records follow: the cursor of the next page",
        },
    },
}

HISTORICAL: dict[str, Any] = {
    "summary": "Every record of one component, all environments, oldest first",
    "description": (
        "Without options, the whole history oldest first, byte for byte as the reference "
        "service answered; the options narrow it, order it and page it."
    ),
    "responses": {
        **_records_read("The history (streamed when long)"),
        200: _json("The history (streamed when long)", HISTORY_OUT),
    },
    "openapi_extra": {
        "parameters": [
            COMPONENT_PARAMETER,
            _DETAILS_OPTION,
            _ENVIRONMENT_OPTION,
            _query(
                "since",
                "Only records at or after this instant (RFC 3339; '+' as %2B in a URL)",
                {"type": "string", "pattern": TIMESTAMP_IN, "examples": ["2024-07-30T00:00:00Z"]},
            ),
            _query(
                "until",
                "Only records at or before this instant (RFC 3339; '+' as %2B in a URL)",
                {"type": "string", "pattern": TIMESTAMP_IN, "examples": ["2024-07-31T00:00:00Z"]},
            ),
            _query(
                "order",
                "asc: oldest first (the default); desc: newest first",
                {"type": "string", "enum": ["asc", "desc"]},
            ),
            _query(
                "limit",
                "At most this many records, and NextCursor when more follow",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            ),
            _query(
                "cursor",
                "The NextCursor of the previous page (with the same other options)",
                {"type": "string"},
            ),
        ]
    },
}

DEPLOYABLE: dict[str, Any] = {
    "summary": "One deployable: its current record, details and derived facts",
    "responses": {
        200: _json("The deployable", DEPLOYABLE_OUT),
        400: _400,
        404: _json(
            "No record of that component in that environment (deployable_not_found); or no "
            "such path",
            _error_body("deployable_not_found", "not_found"),
        ),
        503: _503,
        405: _405,
        500: _500,
    },
    "openapi_extra": {
        "parameters": [
            COMPONENT_PARAMETER,
            {
                "name": "environment",
                "in": "path",
                "required": True,
                "description": "An environment; anything else is a 400 invalid_request",
                "schema": _ENVIRONMENT,
            },
        ]
    },
}

HEALTHZ: dict[str, Any] = {
    "summary": "Liveness: the process serves HTTP (never touches DynamoDB)",
    "responses": {
        200: _json("Alive", _status_body("ok")),
        **_ERRORS,
    },
}

READYZ: dict[str, Any] = {
    "summary": "Readiness: the table is reachable and ACTIVE",
    "responses": {
        200: _json("Ready", _status_body("ready")),
        503: _json("Not ready", _error_body("not_ready", "shutting_down")),
        **_ERRORS,
    },
}


_METHODS = {"get", "head", "post", "put", "patch", "delete", "options", "trace"}


def serve_unique_operation_ids(app: FastAPI) -> None:
    """Make ``app.openapi()`` give each method its own operation id. FastAPI gives a
    GET + HEAD route one id for both (and warns), which OpenAPI forbids."""
    build = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Duplicate Operation ID", UserWarning)
                schema = build()
            for operations in schema.get("paths", {}).values():
                for method, operation in operations.items():
                    # FastAPI's ids end with the first of the route's methods: make it this one.
                    prefix, _, suffix = str(operation.get("operationId", "")).rpartition("_")
                    if prefix and suffix in _METHODS:
                        operation["operationId"] = f"{prefix}_{method}"
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


# The change feed (docs/api.md, "The change feed"). The stream itself, GET /events, is
# Server-Sent Events, which OpenAPI 3.1 does not describe: it is documented in api.md.

_EVENT_RECORD: dict[str, Any] = {
    "type": "object",
    "required": ["Timestamp", "State", "Class"],
    "properties": {
        "Timestamp": {"type": "string"},
        "State": {"type": "string"},
        "Class": {"type": "string", "enum": ["failed", "in-progress", "success", "other"]},
    },
    "additionalProperties": {"type": "string"},
}
EVENT_OUT: dict[str, Any] = {
    "type": "object",
    "required": [
        "Id", "Position", "Accepted", "Component", "Environment", "Record", "Previous",
    ],
    "additionalProperties": False,
    "properties": {
        "Id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "Position": {"type": "string", "pattern": "^[0-9]{19}-[0-9a-f]{32}$"},
        "Accepted": {"type": "string"},
        "Component": {"type": "string"},
        "Environment": {"type": "string"},
        "Record": _EVENT_RECORD,
        "Previous": {"anyOf": [_EVENT_RECORD, {"type": "null"}]},
    },
}  # fmt: skip
_CLASS = "(failed|in-progress|success|other)"
_FEED_OPTIONS = [
    _query("component", "Only components whose name starts with this", {"type": "string"}),
    _query(
        "environment", "Only these environments (comma-separated, or repeated)",
        {"type": "string"},
    ),
    _query(
        "class", "Only events whose new record is of these classes (comma-separated)",
        {"type": "string", "pattern": f"^({_CLASS}(,{_CLASS})*)?$", "examples": ["failed"]},
    ),
    _query(
        "after", "Only events after this position (an event's Position; empty: from the "
        "oldest kept)",
        {"type": "string", "pattern": "^([0-9]{19}-[0-9a-f]{32})?$"},
    ),
]  # fmt: skip
EVENT_LOG: dict[str, Any] = {
    "summary": "The change feed's log: events after a position, in acceptance order",
    "responses": {
        200: _json(
            "A page of events; Next is the last one's position (null: none)",
            {
                "type": "object",
                "required": ["Events", "Next"],
                "additionalProperties": False,
                "properties": {
                    "Events": {"type": "array", "items": EVENT_OUT},
                    "Next": {"type": ["string", "null"]},
                },
            },
        ),
        400: _400,
        503: _503,
        **_ERRORS,
    },
    "openapi_extra": {
        "parameters": [
            *_FEED_OPTIONS,
            _query(
                "limit", "At most this many events (default 100)",
                {"type": "integer", "minimum": 1, "maximum": 1000},
            ),
        ]
    },
}  # fmt: skip
