"""Recommend and discover on vecfleet's own API: search by example points."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.live_server import LiveServer

ROWS = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 1, 0, 0], [0, 0, 1, 1]]


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with LiveServer(tmp_path_factory.mktemp("v1_examples")) as live:
        live.wait_until(lambda: live.get("/health/ready").status_code == 200, 30, "ready")
        with httpx.Client(base_url=f"{live.url}/v1/collections/ex", timeout=10) as client:
            created = client.post(f"{live.url}/v1/collections", json={"name": "ex", "dim": 4})
            assert created.status_code == 201, created.text
            points = [{"id": i, "vector": v, "payload": {"n": i}} for i, v in enumerate(ROWS)]
            assert client.post("/points", json={"points": points}).status_code == 200
            yield client


def ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [h["id"] for h in response.json()["hits"]]


def test_recommend(http: httpx.Client) -> None:
    assert ids(http.post("/points/recommend", json={"positive": [0, 1], "limit": 2}))[0] == 4
    away = {"positive": [4], "negative": [1], "limit": 1}
    assert ids(http.post("/points/recommend", json=away)) == [0]
    paged = {"positive": [0, 1], "limit": 1, "offset": 1, "filter": {"n": {"$gte": 2}}}
    assert ids(http.post("/points/recommend", json=paged)) != [4]
    missing = http.post("/points/recommend", json={"positive": [99]})
    assert missing.status_code == 422 and "99" in missing.json()["error"]["message"]
    assert http.post("/points/recommend", json={"positive": []}).status_code == 422


def test_discover(http: httpx.Client) -> None:
    moved = {"target": [0, 0, 1, 0], "context": [{"positive": 3, "negative": 0}], "limit": 1}
    assert ids(http.post("/points/discover", json=moved)) == [5]
    assert ids(http.post("/points/discover", json={"target": 2, "limit": 1})) == [5]
    short = http.post(
        "/points/discover", json={"target": [1, 0], "context": [{"positive": 3, "negative": 0}]}
    )
    assert short.status_code == 422 and "4 numbers" in short.text
