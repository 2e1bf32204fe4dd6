"""Prometheus metrics for the server.

Lower layers keep plain counters (STYLE 13); this module turns them into metrics: request
counts and latency are observed by the HTTP middleware, everything else (plans chosen,
collection sizes, embedding time, batch sizes) is read from the layers at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from vecfleet.gateway import Gateway
from vecfleet.gateway.cache import LatencyCounts, MemoryCache

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
        backend = self.gateway.backend
        for name in backend.collection_names():
            try:
                info = backend.stats(name)
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


class ServingCollector(Collector):
    """Reads the search pipeline's counters: cache tiers, breakers, single-flight, stages."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def collect(self) -> Iterator[Metric]:
        yield from self._cache()
        flights = self.gateway.flights.stats
        merges = CounterMetricFamily(
            "vecfleet_singleflight_merges", "Searches that joined an identical one in flight"
        )
        merges.add_metric([], flights.merges)
        calls = CounterMetricFamily(
            "vecfleet_singleflight_calls", "Backend calls started by single-flight leaders"
        )
        calls.add_metric([], flights.calls)
        stats = self.gateway.pipeline.stats
        stage_seconds = CounterMetricFamily(
            "vecfleet_search_stage_seconds", "Time spent per pipeline stage", labels=["stage"]
        )
        stage_calls = CounterMetricFamily(
            "vecfleet_search_stage_calls", "Searches that went through each stage", labels=["stage"]
        )
        for stage, count in sorted(stats.calls.items()):
            stage_calls.add_metric([stage], count)
            stage_seconds.add_metric([stage], stats.seconds.get(stage, 0.0))
        sources = CounterMetricFamily(
            "vecfleet_search_results",
            "Searches answered, by where the answer came from",
            labels=["source"],
        )
        for source, count in sorted(stats.sources.items()):
            sources.add_metric([source], count)
        unsynced = CounterMetricFamily(
            "vecfleet_cache_unsynced_skips",
            "Searches that skipped the cache because the epoch bus was not synced",
        )
        unsynced.add_metric([], stats.unsynced)
        synced = GaugeMetricFamily(
            "vecfleet_epoch_bus_synced", "1 while this gateway hears every write's epoch"
        )
        synced.add_metric([], 1 if self.gateway.epochs.synced else 0)
        yield from (merges, calls, stage_seconds, stage_calls, sources, unsynced, synced)

    def _cache(self) -> Iterator[Metric]:
        cache = self.gateway.cache
        if cache is None:
            return
        requests = CounterMetricFamily(
            "vecfleet_cache_requests", "Cache reads by tier and result", labels=["tier", "result"]
        )
        writes = CounterMetricFamily(
            "vecfleet_cache_writes", "Cache writes by tier and result", labels=["tier", "result"]
        )
        latency = HistogramMetricFamily(
            "vecfleet_cache_latency_seconds", "Latency of cache reads", labels=["tier"]
        )
        breaker = GaugeMetricFamily(
            "vecfleet_cache_breaker_state",
            "Circuit breaker per tier: 0 closed, 1 open, 2 half-open",
            labels=["tier"],
        )
        for tier in cache.tiers:
            for result, count in sorted(tier.stats.requests.items()):
                requests.add_metric([tier.name, result], count)
            for result, count in sorted(tier.stats.writes.items()):
                writes.add_metric([tier.name, result], count)
            buckets, total = _buckets(tier.stats.latency)
            latency.add_metric([tier.name], buckets, total)
            if tier.breaker is not None:
                breaker.add_metric([tier.name], tier.breaker.state_code)
        yield from (requests, writes, latency, breaker)
        for tier in cache.tiers:
            if isinstance(tier.cache, MemoryCache):
                size = GaugeMetricFamily("vecfleet_cache_l1_bytes", "Bytes held by the L1 cache")
                size.add_metric([], tier.cache.size_bytes)
                evictions = CounterMetricFamily(
                    "vecfleet_cache_l1_evictions", "L1 entries evicted to stay under its bound"
                )
                evictions.add_metric([], tier.cache.stats.evictions)
                yield from (size, evictions)


def _buckets(counts: LatencyCounts) -> tuple[list[tuple[str, float]], float]:
    out: list[tuple[str, float]] = []
    running = 0.0
    for bound, count in zip(counts.bounds, counts.counts, strict=False):
        running += count
        out.append((repr(bound), running))
    out.append(("+Inf", running + counts.counts[-1]))
    return out, counts.sum_s


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
        self.registry.register(ServingCollector(gateway))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
