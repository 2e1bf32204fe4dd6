"""Embedded and cluster mode answer the same requests the same way: one path, two transports.

Each case runs against a real ``vecfleet serve`` (embedded: one in-process node) and a real
``vecfleet cluster up`` (node processes, JetStream), through REST v1. Exact search
(``params.exact``) makes every answer deterministic, so both modes must agree with a
brute-force oracle computed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from tests.cluster.conftest import LocalCluster
from tests.live_server import LiveServer

DIM = 384
N = 300
NAME = "one_path"


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with LiveServer(tmp_path_factory.mktemp("embedded")) as server:
        yield server.url


@pytest.fixture(scope="module", params=["embedded", "cluster"])
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "embedded":
        return str(request.getfixturevalue("embedded"))
    cluster: LocalCluster = request.getfixturevalue("cluster")
    return cluster.url


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


DATA = unit(np.random.default_rng(3).standard_normal((N, DIM)))
QUERIES = unit(np.random.default_rng(4).standard_normal((5, DIM)))
GROUPS = [i % 3 for i in range(N)]


def truth(query: np.ndarray, group: int | None = None) -> list[tuple[str, float]]:
    scores = DATA @ query
    order = np.argsort(-scores, kind="stable")
    return [(f"p{i}", float(scores[i])) for i in order if group is None or GROUPS[i] == group]


def load(client: httpx.Client) -> None:
    client.delete(f"/v1/collections/{NAME}")
    r = client.post(
        "/v1/collections",
        json={"name": NAME, "dim": DIM, "payload_schema": {"group": "integer"}},
    )
    assert r.status_code == 201, r.text
    points = [
        {"id": f"p{i}", "vector": DATA[i].tolist(), "payload": {"group": GROUPS[i]}}
        for i in range(N)
    ]
    r = client.post(
        f"/v1/collections/{NAME}/points", json={"points": points, "consistency": "strong"}
    )
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as c:
        load(c)
        yield c


def search(client: httpx.Client, query: np.ndarray, **options: Any) -> httpx.Response:
    body = {"vector": query.tolist(), "params": {"exact": True}, "consistency": "strong"}
    return client.post(f"/v1/collections/{NAME}/search", json={**body, **options})


def hits(response: httpx.Response) -> list[tuple[str, float]]:
    assert response.status_code == 200, response.text
    return [(h["id"], h["score"]) for h in response.json()["hits"]]


def same(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [i for i, _ in got] == [i for i, _ in want]
    assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)


CASES: list[dict[str, Any]] = [
    {"limit": 10},
    {"limit": 10, "offset": 0},
    {"limit": 10, "offset": 10},
    {"limit": 7, "offset": 33},
    {"limit": 10, "offset": 5, "filter": {"group": 1}},
    {"limit": 20, "score_threshold": 0.2},
    {"limit": 20, "offset": 3, "score_threshold": 0.1},
    {"limit": 20, "score_threshold": 2.0},  # above every score: nothing
]


@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
def test_offset_and_score_threshold_match_brute_force(
    client: httpx.Client, case: dict[str, Any]
) -> None:
    for query in QUERIES:
        group = case.get("filter", {}).get("group")
        ranked = truth(query, group)
        threshold = case.get("score_threshold", -np.inf)
        offset = case.get("offset", 0)
        want = [h for h in ranked[offset : offset + case["limit"]] if h[1] >= threshold]
        same(hits(search(client, query, **case)), want)


def test_batch_search_pages_like_single_searches(client: httpx.Client) -> None:
    searches = [
        {"vector": q.tolist(), "params": {"exact": True}, "consistency": "strong", **case}
        for q in QUERIES
        for case in CASES
    ]
    r = client.post(f"/v1/collections/{NAME}/search/batch", json={"searches": searches})
    assert r.status_code == 200, r.text
    for body, result in zip(searches, r.json()["results"], strict=True):
        single = search(
            client,
            np.asarray(body["vector"], dtype=np.float32),
            **{k: v for k, v in body.items() if k not in ("vector", "params", "consistency")},
        )
        assert [h["id"] for h in result["hits"]] == [i for i, _ in hits(single)]


def test_get_search_takes_offset_and_score_threshold(client: httpx.Client) -> None:
    path = f"/v1/collections/{NAME}/search"
    page = client.get(path, params={"q": "anything", "limit": "5", "offset": "5"})
    whole = client.get(path, params={"q": "anything", "limit": "10"})
    assert page.status_code == whole.status_code == 200, page.text
    assert [h["id"] for h in page.json()["hits"]] == [h["id"] for h in whole.json()["hits"]][5:]
    bad = client.get(path, params={"q": "x", "score_threshold": "high"})
    assert bad.status_code == 422 and "score_threshold" in bad.text


@pytest.mark.parametrize(
    "bad",
    [
        {"offset": -1},
        {"offset": "3"},
        {"offset": 1.5},
        {"score_threshold": "x"},
        {"score_threshold": True},
        {"offset": 10_000, "limit": 10},
    ],
)
def test_bad_offset_or_threshold_is_a_4xx_naming_the_field(
    client: httpx.Client, bad: dict[str, Any]
) -> None:
    r = search(client, QUERIES[0], **bad)
    assert 400 <= r.status_code < 500, r.text
    assert next(iter(bad)) in r.text


def test_drop_create_again_and_upsert(url: str) -> None:
    """A collection dropped and made again under its name takes writes at once: nothing
    still routes by the dropped one's placement."""
    name = "again"
    with httpx.Client(base_url=url, timeout=30) as c:
        for round_ in range(3):
            c.delete(f"/v1/collections/{name}")
            r = c.post("/v1/collections", json={"name": name, "dim": DIM})
            assert r.status_code == 201, f"round {round_}: {r.text}"
            point = {"id": f"r{round_}", "vector": DATA[round_].tolist()}
            r = c.post(
                f"/v1/collections/{name}/points",
                json={"points": [point], "consistency": "strong"},
            )
            assert r.status_code == 200, f"round {round_}: {r.text}"
            r = c.post(f"/v1/collections/{name}/points/count", json={"consistency": "strong"})
            assert r.status_code == 200 and r.json()["count"] == 1, r.text
        c.delete(f"/v1/collections/{name}")


def test_cluster_plans_name_each_shards_strategy(client: httpx.Client) -> None:
    r = search(client, QUERIES[0], limit=5)
    plan = r.json().get("plan") or []
    assert plan, r.text
    assert all("strategy" in p and "shard" in p for p in plan)
    assert all(p["strategy"] != "scatter" for p in plan)
