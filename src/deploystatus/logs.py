"""Logs: one JSON object a line (or plain text for a terminal), with the request id.

The request id of the request being served lives in a context variable, so every line
logged while serving it (the access line, an error, a warning deep in the store) carries
it without being passed around. ``log_config`` is the ``logging.config.dictConfig``
document the server runs with, uvicorn's own loggers included.
"""

from __future__ import annotations

import json
import logging
import time
from contextvars import ContextVar
from typing import Any, Literal

LogFormat = Literal["json", "text"]
LogLevel = Literal["debug", "info", "warning", "error"]

REQUEST_ID: ContextVar[str | None] = ContextVar("deploystatus_request_id", default=None)

ACCESS_LOGGER = "deploystatus.access"
# One line per removal of a record (who, which, what became current): see web/api.py.
AUDIT_LOGGER = "deploystatus.audit"


_second: tuple[int, str] = (-1, "")  # the last second formatted, and how


# Line breaks that json.dumps leaves as they are (ensure_ascii=False): a reader that splits
# lines on them (Python's str.splitlines, some log shippers) would cut a line in two.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _json(value: object) -> str:
    """Compact JSON, non-ASCII as is but for the line breaks above."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    # Every access line passes here: look for the rare characters (0.1 us) before rewriting
    # the line for them (7 us).
    if "\x85" in text or "\u2028" in text or "\u2029" in text:
        text = text.translate(_LINE_BREAKS)
    return text


def _time(record: logging.LogRecord) -> str:
    """ISO 8601 in UTC with milliseconds: ``2024-07-30T14:06:41.123Z``."""
    global _second
    whole = int(record.created)
    if whole != _second[0]:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int(record.msecs):03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's structured fields: ``extra={"fields": {...}}``, then the request id."""
    fields: dict[str, Any] = dict(getattr(record, "fields", None) or {})
    if "request_id" not in fields:
        request_id = REQUEST_ID.get()
        if request_id is not None:
            fields["request_id"] = request_id
    return fields


class JsonFormatter(logging.Formatter):
    """``{"time": ..., "level": ..., "logger": ..., "message": ..., <fields>}``, one a line."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        document.update(_fields(record))
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        return _json(document)


def _text_value(value: object) -> str:
    text = str(value)
    if text and text.isprintable() and " " not in text and '"' not in text:
        return text
    return _json(text)  # quoted, control characters escaped


class TextFormatter(logging.Formatter):
    """``TIME LEVEL LOGGER MESSAGE key=value ...``: for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if not message.isprintable():
            message = _json(message)[1:-1]
        line = f"{_time(record)} {record.levelname:<7} {record.name} {message}"
        fields = _fields(record)
        if fields:
            line += " " + " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _WithoutUvicornParseWarning(logging.Filter):
    """uvicorn's "Invalid HTTP request received." says less than the line the service logs
    for the same refusal (logger ``deploystatus.http``: status and cause): keep only that."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "Invalid HTTP request received."


def log_config(log_format: LogFormat, level: LogLevel = "info") -> dict[str, Any]:
    """The logging setup of a server process: everything to stderr in ``log_format``.

    uvicorn's access log is off (the service writes its own, ``deploystatus.access``);
    uvicorn's lifecycle lines ("Started server process", ...) go through the same formatter.
    """
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "filters": {"parse_warning": {"()": f"{__name__}._WithoutUvicornParseWarning"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "deploystatus": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper, "filters": ["parse_warning"]},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }
