"""What every request of an app shares, opened by the app's lifespan: `state_of(request)`."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from deploystatus.config import Settings
from deploystatus.storage import Store

from .cursors import CursorCodec
from .encoding import RecordsEncoder
from .metrics import Metrics
from .readiness import Readiness


@dataclass(frozen=True)
class AppState:
    settings: Settings
    store: Store
    encoder: RecordsEncoder
    cursors: CursorCodec
    metrics: Metrics
    readiness: Readiness


def state_of(request: Request) -> AppState:
    state: AppState = request.state.app
    return state
