"""Cache settings → tiers and epoch bus, and the pipeline's counters on /metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from vecfleet.api.app import build_app
from vecfleet.config import load_settings
from vecfleet.embed import BatchingEmbedder, HashEmbedder
from vecfleet.engine.api import EmbeddedDatabase
from vecfleet.engine.database import DatabaseSettings
from vecfleet.errors import ValidationError
from vecfleet.gateway import Gateway
from vecfleet.gateway.epochs import LocalEpochBus, RedisEpochBus
from vecfleet.runtime import build_cache, cache_namespace, embedded_data_plane


def test_settings_from_the_environment_choose_the_tiers() -> None:
    env = {
        "VECFLEET__CACHE__L2_URL": "redis://127.0.0.1:1/0",
        "VECFLEET__CACHE__L3_URL": "redis://127.0.0.1:2/0",
        "VECFLEET__CACHE__L2_TTL_S": "120",
        "VECFLEET__CACHE__TIMEOUT_MS": "15",
    }
    settings = load_settings(None, env).cache
    cache, epochs = build_cache(settings, "ns")
    assert cache is not None
    assert [(t.name, t.ttl_s, t.timeout_s) for t in cache.tiers] == [
        ("l1", 60.0, None),
        ("l2", 120.0, 0.015),
        ("l3", 3600.0, 0.015),
    ]
    assert all(t.breaker is not None for t in cache.tiers[1:])
    assert isinstance(epochs.bus, LocalEpochBus)  # no bus_url: nobody else writes this data


def test_a_bus_url_makes_epochs_travel_over_redis() -> None:
    settings = load_settings(None, {"VECFLEET__CACHE__BUS_URL": "redis://127.0.0.1:1/0"}).cache
    _, epochs = build_cache(settings, "ns")
    assert isinstance(epochs.bus, RedisEpochBus)


def test_cache_off_and_bad_urls() -> None:
    off = load_settings(None, {"VECFLEET__CACHE__ENABLED": "false"}).cache
    assert build_cache(off, "ns")[0] is None
    assert (
        build_cache(load_settings(None, {"VECFLEET__CACHE__L1_BYTES": "0"}).cache, "n")[0] is None
    )
    with pytest.raises(ValidationError, match=r"cache\.l2_url"):
        load_settings(None, {"VECFLEET__CACHE__L2_URL": "http://cache:6379"})


def test_namespace_names_the_data_unless_configured(tmp_path: Path) -> None:
    settings = load_settings(None, {}).cache
    one = cache_namespace(settings, tmp_path / "a")
    assert one == cache_namespace(settings, tmp_path / "a")
    assert one != cache_namespace(settings, tmp_path / "b")
    fixed = load_settings(None, {"VECFLEET__CACHE__NAMESPACE": "prod"}).cache
    assert cache_namespace(fixed, tmp_path / "a") == "prod"


def test_metrics_show_cache_tiers_and_stages(tmp_path: Path) -> None:
    async def run() -> str:
        db = EmbeddedDatabase(str(tmp_path / "db"), DatabaseSettings(durability="none"))
        cache, epochs = build_cache(load_settings(None, {}).cache, "ns")
        embedder = BatchingEmbedder(HashEmbedder(8))
        gw = Gateway(embedded_data_plane(db), embedder, cache=cache, epochs=epochs)
        await gw.start()
        transport = httpx.ASGITransport(app=build_app(gw))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            await http.post("/v1/collections", json={"name": "c", "dim": 8})
            await http.post("/v1/collections/c/points", json={"points": [{"id": 1, "text": "a"}]})
            for _ in range(2):
                r = await http.post("/v1/collections/c/search", json={"text": "a"})
                assert r.status_code == 200
            text = (await http.get("/metrics")).text
        await gw.close()
        db.close()
        return text

    text = asyncio.run(run())
    for line in (
        'vecfleet_cache_requests_total{result="hit",tier="l1"} 1.0',
        'vecfleet_cache_requests_total{result="miss",tier="l1"} 1.0',
        'vecfleet_cache_latency_seconds_count{tier="l1"} 2.0',
        'vecfleet_search_results_total{source="l1"} 1.0',
        'vecfleet_search_stage_calls_total{stage="search"} 1.0',
        "vecfleet_singleflight_calls_total 1.0",
        "vecfleet_epoch_bus_synced 1.0",
    ):
        assert line in text, line
