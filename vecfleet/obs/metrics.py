"""Prometheus metrics for the server.

Lower layers keep plain counters (STYLE 13); this module turns them into metrics: request
counts and latency are observed by the HTTP middleware, everything else (plans chosen,
collection sizes, embedding time, batch sizes) is read from the layers at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vecfleet.gateway import Gateway

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class EngineCollector(Collector):
    """Reads collection sizes, plan counts and embedding stats when Prometheus scrapes."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def collect(self) -> Iterator[Metric]:
        points = GaugeMetricFamily(
            "vecfleet_collection_points", "Live points per collection", labels=["collection"]
        )
        segments = GaugeMetricFamily(
            "vecfleet_collection_segments", "Segments per collection", labels=["collection"]
        )
        plans = CounterMetricFamily(
            "vecfleet_search_plans",
            "Per-segment search plans chosen",
            labels=["collection", "strategy"],
        )
        db = self.gateway.db
        for name in db.list_collections():
            try:
                info = db.collection(name).info()
            except Exception:  # dropped between listing and reading
                continue
            points.add_metric([name], info["points"])
            segments.add_metric([name], len(info["segments"]))
            for strategy, count in info["plans"].items():
                plans.add_metric([name, strategy], count)
        yield points
        yield segments
        yield plans
        embed = CounterMetricFamily("vecfleet_embedding_seconds", "Time spent embedding text")
        embed.add_metric([], self.gateway.embed_seconds_total)
        yield embed
        calls = CounterMetricFamily("vecfleet_embedding_requests", "Embedding requests")
        calls.add_metric([], self.gateway.embed_calls)
        yield calls
        embedder = self.gateway.embedder
        if embedder is not None:
            batches = CounterMetricFamily(
                "vecfleet_embedding_batches", "Model calls by batch size bucket", labels=["size"]
            )
            for size, count in sorted(embedder.stats.sizes.items()):
                batches.add_metric([str(size)], count)
            yield batches


class Metrics:
    def __init__(self, gateway: Gateway) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "vecfleet_http_requests",
            "HTTP requests",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vecfleet_http_request_seconds",
            "HTTP request latency",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(EngineCollector(gateway))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
