"""What every request of an app shares, opened by the app's lifespan: `state_of(request)`."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.requests import Request

from deploystatus import facts
from deploystatus.config import Settings
from deploystatus.feed.dispatch import Dispatcher
from deploystatus.feed.tail import Tail
from deploystatus.storage import Store
from deploystatus.storage.hooks import Hooks
from deploystatus.storage.store import Known

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
    tail: Tail  # the change feed's reader, shared by this process's streams
    dispatcher: Dispatcher  # webhook deliveries (running when settings.webhooks)

    @property
    def hooks(self) -> Hooks:
        return self.dispatcher.hooks

    def views(self, currents: Iterable[Known], now_ns: int | None = None) -> list[facts.Deployable]:
        """Deployables as the reads with details show them: class, since, stuck (at
        ``now_ns``, by default now) and last success."""
        now = time.time_ns() if now_ns is None else now_ns
        stuck_after = self.settings.stuck_after_seconds * 1_000_000_000
        classify = self.store.classify
        return [
            facts.view(c.record, c.facts, classify, now_ns=now, stuck_after_ns=stuck_after)
            for c in currents
        ]


def state_of(request: Request) -> AppState:
    state: AppState = request.state.app
    return state
