"""Prometheus metrics, one registry per app (no global state: two apps never share counts).

HTTP requests are counted by the observability middleware, DynamoDB attempts by a
``CallObserver`` on the client, written records by ``POST /records`` once the store holds
them, and rejected ones by the error handler (problems.py). ``GET /metrics`` serves them in
Prometheus' text format.

The counts are plain numbers, turned into metric families only when scraped: counting costs
a dictionary look-up and an addition per request, not prometheus_client's locks. They are
updated from the app's event loop only (one thread), so they need none.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from starlette.requests import Request
from starlette.responses import Response

from deploystatus.feed.dispatch import DeliveryStats
from deploystatus.storage import call_outcome, retried

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# Seconds. The service answers most requests in milliseconds; DynamoDB retries take seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_BUCKET_NAMES = [*(str(float(bound)) for bound in LATENCY_BUCKETS), "+Inf"]
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"

# The action of the last attempt of this task, when it failed in a way the client retries.
_FAILED_ACTION: ContextVar[str | None] = ContextVar("deploystatus_failed_action", default=None)


@dataclass
class _Latencies:
    """One histogram's counts: per bucket (not cumulative), total and sum."""

    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    count: int = 0
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.count += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        running = 0
        samples = []
        for name, count in zip(_BUCKET_NAMES, self.buckets, strict=True):
            running += count
            samples.append((name, float(running)))
        return samples


class Metrics:
    def __init__(self) -> None:
        self.in_progress = 0
        self.records_written = 0
        self.records_rejected = 0
        self.events_recorded = 0  # transitions whose event a write put in the log first
        self.streams_open = 0
        self.stream_events_sent = 0
        self.deliveries = DeliveryStats()  # the app's dispatcher's, once it runs
        self._delivery_latency = _Latencies()
        self._requests: dict[tuple[str, str, int], int] = {}
        self._request_latency: dict[tuple[str, str], _Latencies] = {}
        self._calls: dict[tuple[str, str], int] = {}
        self._call_latency: dict[str, _Latencies] = {}
        self._retries: dict[str, int] = {}
        self._throttles: dict[str, int] = {}
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        registry.register(self)

    # Counting

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in HTTP_METHODS:
            method = "other"  # any token is a method: keep the label's values bounded
        key = (method, route, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        latencies = self._request_latency.get((method, route))
        if latencies is None:
            latencies = self._request_latency[(method, route)] = _Latencies()
        latencies.observe(seconds)

    def observe_dynamodb(
        self, action: str, status: int | None, error: str | None, seconds: float
    ) -> None:
        """A ``CallObserver``: told of every DynamoDB HTTP attempt."""
        outcome = call_outcome(status, error)
        key = (action, outcome)
        self._calls[key] = self._calls.get(key, 0) + 1
        latencies = self._call_latency.get(action)
        if latencies is None:
            latencies = self._call_latency[action] = _Latencies()
        latencies.observe(seconds)
        if outcome == "throttled":
            self._throttles[action] = self._throttles.get(action, 0) + 1
        # The client retries in the task that made the call: a failure of this action just
        # before, in this task, makes this attempt a retry.
        if _FAILED_ACTION.get() == action:
            self._retries[action] = self._retries.get(action, 0) + 1
        _FAILED_ACTION.set(action if retried(status, error) else None)

    # Exposition

    def collect(self) -> Iterator[Metric]:
        """The metric families, for the registry (``prometheus_client.Collector``)."""
        requests = CounterMetricFamily(
            "deploystatus_http_requests",
            "HTTP requests answered, by method, route template and status",
            labels=["method", "route", "status"],
        )
        for (method, route, status), count in self._requests.items():
            requests.add_metric([method, route, str(status)], count)
        yield requests
        request_latency = HistogramMetricFamily(
            "deploystatus_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by method and route",
            labels=["method", "route"],
        )
        for (method, route), latencies in self._request_latency.items():
            request_latency.add_metric([method, route], latencies.cumulative(), latencies.total)
        yield request_latency
        yield GaugeMetricFamily(
            "deploystatus_http_requests_in_progress",
            "HTTP requests being served now",
            value=self.in_progress,
        )
        calls = CounterMetricFamily(
            "deploystatus_dynamodb_calls",
            "DynamoDB HTTP attempts (retries included), by action and outcome "
            "(ok, condition_failed, throttled, client_error, server_error, no_answer)",
            labels=["action", "outcome"],
        )
        for (action, outcome), count in self._calls.items():
            calls.add_metric([action, outcome], count)
        yield calls
        call_latency = HistogramMetricFamily(
            "deploystatus_dynamodb_call_duration_seconds",
            "Duration of DynamoDB HTTP attempts, by action",
            labels=["action"],
        )
        for action, latencies in self._call_latency.items():
            call_latency.add_metric([action], latencies.cumulative(), latencies.total)
        yield call_latency
        yield self._per_action(
            "deploystatus_dynamodb_retries",
            "DynamoDB attempts repeating one that was throttled, failed with a 5xx, got no "
            "answer or found its credentials expired, by action",
            self._retries,
        )
        yield self._per_action(
            "deploystatus_dynamodb_throttles",
            "DynamoDB attempts refused with a throttling error, by action",
            self._throttles,
        )
        yield CounterMetricFamily(
            "deploystatus_records_written",
            "Records stored by POST /records (each record of each successful request)",
            value=self.records_written,
        )
        yield CounterMetricFamily(
            "deploystatus_records_rejected",
            "Invalid records refused by POST /records (400 invalid_records)",
            value=self.records_rejected,
        )
        yield CounterMetricFamily(
            "deploystatus_events_recorded",
            "Transitions whose event POST /records wrote to the change feed's log",
            value=self.events_recorded,
        )
        stats = self.deliveries
        outcomes = CounterMetricFamily(
            "deploystatus_webhook_deliveries",
            "Webhook delivery attempts by this process, by outcome",
            labels=["outcome"],
        )
        for outcome, count in stats.outcomes.items():
            outcomes.add_metric([outcome], count)
        yield outcomes
        for milliseconds in stats.take_latencies():
            self._delivery_latency.observe(milliseconds / 1000)
        yield HistogramMetricFamily(
            "deploystatus_webhook_delivery_seconds",
            "How long a webhook delivery attempt took, until its answer or its failure",
            buckets=self._delivery_latency.cumulative(),
            sum_value=self._delivery_latency.total,
        )
        yield GaugeMetricFamily(
            "deploystatus_webhook_queue_depth",
            "Events waiting for delivery to the webhooks this process delivers (read ahead, "
            "at most 500 each)",
            value=sum(stats.waiting.values()),
        )
        oldest = min(stats.oldest_ns.values(), default=None)
        yield GaugeMetricFamily(
            "deploystatus_webhook_oldest_undelivered_seconds",
            "Age of the oldest event not yet delivered to a webhook this process delivers "
            "(0: none waiting)",
            value=0.0 if oldest is None else max(0.0, (time.time_ns() - oldest) / 1e9),
        )
        yield GaugeMetricFamily(
            "deploystatus_event_streams_open",
            "GET /events streams this process serves",
            value=self.streams_open,
        )
        yield CounterMetricFamily(
            "deploystatus_event_stream_messages",
            "Events sent to GET /events streams (one per stream)",
            value=self.stream_events_sent,
        )

    @staticmethod
    def _per_action(name: str, documentation: str, counts: dict[str, int]) -> Metric:
        family = CounterMetricFamily(name, documentation, labels=["action"])
        for action, count in counts.items():
            family.add_metric([action], count)
        return family

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    async def endpoint(self, request: Request) -> Response:
        """``GET /metrics``."""
        return Response(self.exposition(), media_type=CONTENT_TYPE)
