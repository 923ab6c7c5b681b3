"""Webhook subscriptions over HTTP, under ``/admin/webhooks`` (the admin scope; refused
while authentication is off, like every administration route). See docs/api.md,
"Webhooks". The secret is in the answer that creates a subscription, and nowhere else."""

from __future__ import annotations

import json
import logging
import time
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deploystatus.errors import Forbidden, InvalidRequest, WebhookNotFound
from deploystatus.events import CLASSES, EventFilter, document, parse_position
from deploystatus.feed import check_url, new_secret
from deploystatus.logs import AUDIT_LOGGER
from deploystatus.records import environment_problem
from deploystatus.states import StateClass
from deploystatus.subscriptions import FORMATS, Cursor, Delivery, Subscription, new_id
from deploystatus.timestamps import canonical

from .auth import TOKEN_NAME_KEY
from .bodies import read_body
from .options import is_component_prefix
from .state import AppState, state_of

router = APIRouter()
audit_logger = logging.getLogger(AUDIT_LOGGER)
JSON = "application/json"
_FIELDS = frozenset({"Url", "Format", "Component", "Environments", "Classes"})
_MAX_SUBSCRIPTIONS = 100
_MAX_ENVIRONMENTS = 50


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False).encode(), status, media_type=JSON)


def _admin(request: Request, action: str) -> str:
    token: str | None = request.scope.get(TOKEN_NAME_KEY)
    if token is None:
        raise Forbidden(
            "webhooks need an admin token, and authentication is off on this service: "
            "configure DEPLOYSTATUS_TOKENS with a token of scope admin"
        )
    # Who changed or read which webhook: the token's name, never a secret.
    fields = {"action": f"webhooks.{action}", "token": token}
    audit_logger.warning("webhook administration", extra={"fields": fields})
    return token


def _view(subscription: Subscription, cursor: Cursor | None) -> dict[str, Any]:
    wanted = subscription.wanted
    view: dict[str, Any] = {
        "Id": subscription.id,
        "Url": subscription.url,
        "Format": subscription.format,
        "Component": wanted.component_prefix,
        "Environments": sorted(wanted.environments),
        "Classes": sorted(wanted.classes),
        "Created": canonical(subscription.created_ns),
        "Paused": subscription.paused,
        "Reason": subscription.reason,
        "Delivered": cursor.position if cursor is not None else None,
        # The process delivering it now (host:pid:...), while its lease runs.
        "Holder": cursor.owner
        if cursor is not None and cursor.lease_until_ns > time.time_ns()
        else None,
        "Failing": None,
    }
    if cursor is not None and cursor.failing_since_ns is not None:
        view["Failing"] = {
            "Since": canonical(cursor.failing_since_ns),
            "Attempts": cursor.attempts,
            "NextAttempt": canonical(cursor.next_ns),
            "Error": cursor.last_error,
        }
    return view


def _delivery(delivery: Delivery) -> dict[str, Any]:
    return {
        "At": canonical(delivery.at_ns),
        "EventId": delivery.event_id,
        "Position": delivery.position,
        "Attempt": delivery.attempt,
        "Status": delivery.status,
        "LatencyMs": delivery.latency_ms,
        "Error": delivery.error,
    }


def _parse_new(body: bytes) -> tuple[str, str, EventFilter]:
    try:
        document_ = json.loads(body)
    except ValueError as exc:
        raise InvalidRequest("the body is not JSON") from exc
    if not isinstance(document_, dict):
        raise InvalidRequest('the body is a JSON object: {"Url": ..., "Format": ...}')
    unknown = sorted(set(document_) - _FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r}")
    url = document_.get("Url")
    if not isinstance(url, str):
        raise InvalidRequest("Url: the target, an http or https URL")
    problem = check_url(url)
    if problem is not None:
        raise InvalidRequest(f"Url: {problem}")
    fmt = document_.get("Format", "json")
    if fmt not in FORMATS:
        raise InvalidRequest(f"Format: one of {', '.join(FORMATS)}")
    component = document_.get("Component", "")
    if not isinstance(component, str) or (component and not is_component_prefix(component)):
        raise InvalidRequest("Component: a component name or its beginning")
    environments = document_.get("Environments", [])
    if (
        not isinstance(environments, list)
        or len(environments) > _MAX_ENVIRONMENTS
        or any(not isinstance(e, str) or environment_problem(e) for e in environments)
    ):
        raise InvalidRequest(f"Environments: a list of at most {_MAX_ENVIRONMENTS} names")
    classes = document_.get("Classes", [])
    if not isinstance(classes, list) or any(c not in CLASSES for c in classes):
        raise InvalidRequest(f"Classes: a list of {', '.join(CLASSES)}")
    wanted = EventFilter(
        component, frozenset(environments), cast(frozenset[StateClass], frozenset(classes))
    )
    return url, fmt, wanted


async def _found(state: AppState, identifier: str) -> Subscription:
    subscription = await state.hooks.subscription(identifier)
    if subscription is None:
        raise WebhookNotFound(f"no webhook {identifier!r}")
    return subscription


@router.post("/admin/webhooks", include_in_schema=False)
async def create_webhook(request: Request) -> Response:
    state = state_of(request)
    _admin(request, "create")
    settings = state.settings
    body = await read_body(request, 16 * 1024, settings.body_timeout_seconds)
    url, fmt, wanted = _parse_new(body)
    if len(await state.hooks.subscriptions()) >= _MAX_SUBSCRIPTIONS:
        raise InvalidRequest(f"this service keeps at most {_MAX_SUBSCRIPTIONS} webhooks")
    subscription = Subscription(
        id=new_id(),
        url=url,
        format=fmt,
        wanted=wanted,
        secret=new_secret(),
        created_ns=time.time_ns(),
    )
    await state.hooks.create(subscription)  # and its cursor, at its creation
    # The only time the secret is shown: keep it to verify deliveries.
    return _json({**_view(subscription, None), "Secret": subscription.secret}, 201)


@router.get("/admin/webhooks", include_in_schema=False)
async def list_webhooks(request: Request) -> Response:
    state = state_of(request)
    _admin(request, "list")
    subscriptions = sorted(await state.hooks.subscriptions(), key=lambda s: s.created_ns)
    views = [_view(s, await state.hooks.cursor(s.id)) for s in subscriptions]
    return _json({"Webhooks": views})


@router.get("/admin/webhooks/{identifier}", include_in_schema=False)
async def show_webhook(request: Request, identifier: str) -> Response:
    state = state_of(request)
    _admin(request, "show")
    subscription = await _found(state, identifier)
    return _json(_view(subscription, await state.hooks.cursor(identifier)))


@router.post("/admin/webhooks/{identifier}/pause", include_in_schema=False)
async def pause_webhook(request: Request, identifier: str) -> Response:
    return await _set_paused(request, identifier, True)


@router.post("/admin/webhooks/{identifier}/resume", include_in_schema=False)
async def resume_webhook(request: Request, identifier: str) -> Response:
    return await _set_paused(request, identifier, False)


async def _set_paused(request: Request, identifier: str, paused: bool) -> Response:
    state = state_of(request)
    _admin(request, "pause" if paused else "resume")
    reason = "paused by an administrator" if paused else None
    if not await state.hooks.set_paused(identifier, paused, reason):
        raise WebhookNotFound(f"no webhook {identifier!r}")
    subscription = await _found(state, identifier)
    return _json(_view(subscription, await state.hooks.cursor(identifier)))


@router.delete("/admin/webhooks/{identifier}", include_in_schema=False)
async def delete_webhook(request: Request, identifier: str) -> Response:
    state = state_of(request)
    _admin(request, "delete")
    if not await state.hooks.delete(identifier):
        raise WebhookNotFound(f"no webhook {identifier!r}")
    return Response(status_code=204)


@router.get("/admin/webhooks/{identifier}/deliveries", include_in_schema=False)
async def webhook_deliveries(request: Request, identifier: str) -> Response:
    state = state_of(request)
    _admin(request, "deliveries")
    await _found(state, identifier)
    limit_text = request.query_params.get("limit", "50")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
        raise InvalidRequest("limit is a whole number from 1 to 1000")
    deliveries = await state.hooks.deliveries(identifier, int(limit_text))
    return _json({"Deliveries": [_delivery(d) for d in deliveries]})


@router.post("/admin/webhooks/{identifier}/redeliver", include_in_schema=False)
async def redeliver(request: Request, identifier: str) -> Response:
    """Send one event of the log to the webhook again, now, and answer how it went."""
    state = state_of(request)
    _admin(request, "redeliver")
    subscription = await _found(state, identifier)
    body = await read_body(request, 4 * 1024, state.settings.body_timeout_seconds)
    try:
        wanted = json.loads(body)
        position = parse_position(wanted["Position"])
    except (ValueError, KeyError, TypeError):
        position = None
    if position is None:
        raise InvalidRequest('the body is {"Position": "<an event\'s Position>"}')
    accepted, event_id = position
    events = await state.store.read_events((accepted - 1, "f" * 32), until_ns=accepted, limit=50)
    found = [e for e in events if e.id == event_id]
    if not found:
        raise InvalidRequest("no event at that position (it may have expired)")
    outcome = await state.dispatcher.redeliver(subscription, found[0])
    return _json(
        {
            "Event": document(found[0], state.store.classify),
            "Status": outcome.status,
            "LatencyMs": outcome.latency_ms,
            "Error": outcome.error,
        }
    )
