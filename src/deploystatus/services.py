"""What request handlers share: opened by the app's lifespan, found on each request."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from .config import Settings
from .rendering import RecordsEncoder
from .store import Store


@dataclass(frozen=True)
class Services:
    """What the handlers need, opened by the app's lifespan and shared by all requests."""

    settings: Settings
    store: Store
    encoder: RecordsEncoder


def services_of(request: Request) -> Services:
    services: Services = request.state.services
    return services
