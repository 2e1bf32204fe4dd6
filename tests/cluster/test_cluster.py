"""A real three-node cluster (4 shards × 2 replicas) behind one gateway: the same answers
as embedded mode, reads of one's own writes, sharding by key, cluster-only errors."""

from __future__ import annotations

import numpy as np
import pytest

import vecfleet
from tests.cluster.conftest import LocalCluster, wait_until
from tests.conftest import shared_data

DIM = 16


def same_top(got: list[dict[str, object]], want: list[vecfleet.Hit]) -> bool:
    """Same ids, and the same score at every rank (ties may come in either order)."""
    return {h["id"] for h in got} == {h.id for h in want} and all(
        abs(float(g["score"]) - w.score) < 1e-5  # type: ignore[arg-type]
        for g, w in zip(got, want, strict=True)
    )


def test_the_cluster_answers_like_embedded_mode_on_the_shared_incidents(
    cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from bench.common import load_corpus

    corpus = load_corpus("incidents", shared_data("incidents").parents[1])
    queries = corpus.queries[:200]
    flt = next(iter(corpus.filters.values()))
    with cluster.client(60) as http:
        r = http.post(
            "/v1/collections",
            json={"name": "incidents", "dim": corpus.dim, "payload_schema": corpus.schema},
        )
        assert r.status_code == 201, r.text
        for start in range(0, len(corpus.ids), 500):
            points = [
                {"id": corpus.ids[i], "vector": corpus.vectors[i].tolist(),
                 "payload": corpus.payloads[i]}
                for i in range(start, min(start + 500, len(corpus.ids)))
            ]  # fmt: skip
            r = http.post("/v1/collections/incidents/points", json={"points": points})
            assert r.status_code == 200, r.text
        seq = r.json()["seq"]

        embedded = vecfleet.connect(tmp_path_factory.mktemp("embedded"))
        col = embedded.create_collection("incidents", corpus.dim, payload_schema=corpus.schema)
        col.upsert(corpus.ids, corpus.vectors, corpus.payloads)
        mismatches = 0
        for query_filter in (None, flt):
            for q in queries:
                body = {"vector": q.tolist(), "limit": 10, "filter": query_filter,
                        "consistency": "session", "seq": seq}  # fmt: skip
                r = http.post("/v1/collections/incidents/search", json=body)
                assert r.status_code == 200, r.text
                got = r.json()["hits"]
                want = col.search(q, 10, query_filter)
                mismatches += not same_top(got, want)
        embedded.close()
    assert mismatches == 0, f"{mismatches} of {2 * len(queries)} top-10 lists differ"


def test_a_client_always_reads_its_own_writes_with_its_seq(cluster: LocalCluster) -> None:
    rng = np.random.default_rng(3)
    with cluster.client() as http:
        r = http.post("/v1/collections", json={"name": "session", "dim": DIM})
        assert r.status_code == 201, r.text
        for i in range(60):
            vector = rng.standard_normal(DIM).tolist()
            r = http.post(
                "/v1/collections/session/points",
                json={"points": [{"id": f"p{i}", "vector": vector, "payload": {"i": i}}]},
            )
            assert r.status_code == 200, r.text
            seq = r.json()["seq"]
            read = {"consistency": "session", "seq": seq}
            got = http.post("/v1/collections/session/points/get", json={"ids": [f"p{i}"], **read})
            assert [p["id"] for p in got.json()["points"]] == [f"p{i}"], got.text
            hits = http.post(
                "/v1/collections/session/search",
                json={"vector": vector, "limit": 1, **read},
            ).json()["hits"]
            assert hits[0]["id"] == f"p{i}"
            count = http.post("/v1/collections/session/points/count", json=read).json()["count"]
            assert count == i + 1
        # Fresh reads never come from a cache: a replica may lag what the cache saw.
        for level in ({"consistency": "strong"}, {"consistency": "session", "seq": seq}):
            for _ in range(2):
                r = http.post("/v1/collections/session/search", json={"vector": vector, **level})
                assert r.headers["x-cache"] == "bypass", (level, r.headers)
        bad = http.post(
            "/v1/collections/session/search",
            json={"vector": [0.0] * DIM, "consistency": "session"},
        )
        assert bad.status_code == 422 and "seq" in bad.text


def test_key_sharding_sends_a_pinned_filter_to_one_shard(cluster: LocalCluster) -> None:
    rng = np.random.default_rng(4)
    industries = ["health", "retail", "finance", "education", "government"]
    with cluster.client() as http:
        r = http.post(
            "/v1/collections",
            json={
                "name": "by_industry",
                "dim": DIM,
                "payload_schema": {"industry": "keyword"},
                "settings": {"sharding": {"kind": "key", "field": "industry"}, "shards": 4},
            },
        )
        assert r.status_code == 201, r.text
        points = [
            {"id": i, "vector": rng.standard_normal(DIM).tolist(),
             "payload": {"industry": industries[i % 5]}}
            for i in range(200)
        ]  # fmt: skip
        r = http.post(
            "/v1/collections/by_industry/points",
            json={"points": points, "consistency": "strong"},
        )
        assert r.status_code == 200, r.text
        body = {"vector": points[7]["vector"], "limit": 3, "filter": {"industry": "finance"}}
        found = http.post("/v1/collections/by_industry/search", json=body).json()
        assert found["hits"][0]["id"] == 7
        assert len({p["shard"] for p in found["plan"]}) == 1  # each segment names its shard
        unpinned = http.post(
            "/v1/collections/by_industry/search", json={"vector": points[7]["vector"]}
        ).json()
        assert {p["shard"] for p in unpinned["plan"]} == {0, 1, 2, 3}
        assert all(p["strategy"] != "scatter" for p in unpinned["plan"])
        missing = http.post(
            "/v1/collections/by_industry/points",
            json={"points": [{"id": "x", "vector": [0.1] * DIM}]},
        )
        assert missing.status_code == 422 and "industry" in missing.text
        info = http.get("/v1/collections/by_industry").json()
        assert info["points"] == 200


def test_cluster_collection_names_and_replicas_are_checked(cluster: LocalCluster) -> None:
    with cluster.client() as http:
        dotted = http.post("/v1/collections", json={"name": "a.b", "dim": DIM})
        assert dotted.status_code == 422 and "cluster mode" in dotted.text
        too_many = http.post(
            "/v1/collections", json={"name": "wide", "dim": DIM, "settings": {"replicas": 9}}
        )
        assert too_many.status_code == 422 and "live nodes" in too_many.text
        missing = http.post("/v1/collections/nope/search", json={"vector": [0.0] * DIM})
        assert missing.status_code == 404


def test_a_dropped_collection_leaves_every_node(cluster: LocalCluster) -> None:
    with cluster.client() as http:
        assert http.post("/v1/collections", json={"name": "gone", "dim": DIM}).status_code == 201
        assert http.delete("/v1/collections/gone").status_code == 200
        assert http.get("/v1/collections/gone").status_code == 404
    wait_until(
        lambda: not any((cluster.state_dir / f"node-{i}" / "gone").exists() for i in range(3)),
        10,
        "replica directories of a dropped collection were not removed",
    )
