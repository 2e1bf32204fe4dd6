"""The unmodified d-vecDB Python client (``d-vecdb`` on PyPI) against a real vecfleet server.

vecfleet answers as d-vecDB does: 200 for every success, ``200 {success: false}`` for a
missing or existing collection, ``200 {success: true, data: null}`` for a missing vector.
Input that d-vecDB's own parsing refuses answers 400/422, which the client maps to its
exception classes. The status and envelope of each case are checked on the raw response.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from vectordb_client import VectorDBClient
from vectordb_client.exceptions import ValidationError as DvecValidationError
from vectordb_client.exceptions import VectorDBError
from vectordb_client.types import CollectionConfig, DistanceMetric, IndexConfig, Vector

from tests.helpers import unit_rows
from tests.live_server import LiveServer

DIM = 16
N = 40
CLIENT_ERRORS = (VectorDBError, TypeError)  # see the module docstring


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("dvecdb")) as live:
        live.wait_until(lambda: live.get("/health/ready").status_code == 200, 30, "ready")
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[VectorDBClient]:
    with VectorDBClient(host="127.0.0.1", port=server.port) as c:
        yield c


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


@pytest.fixture
def loaded(client: VectorDBClient) -> Iterator[tuple[str, list[str], np.ndarray]]:
    """A fresh cosine collection holding N unit vectors; metadata kind a/b and n = row."""
    name = f"dvec_{uuid.uuid4().hex[:10]}"
    client.create_collection_simple(name, DIM, "cosine")
    data = unit_rows(np.random.default_rng(5), N, DIM)
    vectors = [
        Vector(id=f"user-{i}", data=data[i].tolist(), metadata={"kind": "ab"[i % 2], "n": i})
        for i in range(N)
    ]
    ids = client.insert_vectors(name, vectors).vector_ids
    yield name, ids, data
    with contextlib.suppress(*CLIENT_ERRORS):
        client.delete_collection(name)


def envelope_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The failure body; a 200 one is d-vecDB's exact envelope, its code in a header."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["data"] is None
    assert isinstance(body["error"], str) and body["error"]
    if status == 200:
        assert set(body) == {"success", "data", "error"}
    assert body.get("code", response.headers["x-vecfleet-error-code"])
    return {"code": response.headers["x-vecfleet-error-code"], **body}


def test_health_and_ping(client: VectorDBClient) -> None:
    health = client.health_check()
    assert health.healthy
    assert health.status == "OK"
    assert client.ping()


def test_create_list_get_and_delete_collection(client: VectorDBClient, http: httpx.Client) -> None:
    name = f"dvec_{uuid.uuid4().hex[:10]}"
    config = CollectionConfig(
        name=name,
        dimension=8,
        distance_metric=DistanceMetric.EUCLIDEAN,
        index_config=IndexConfig(max_connections=24, ef_construction=100, ef_search=40),
    )
    assert client.create_collection(config).success
    assert name in client.list_collections().collections
    info, stats = client.get_collection(name).data
    assert info["name"] == name
    assert info["dimension"] == 8
    assert info["distance_metric"] == "Euclidean"
    assert info["vector_type"] == "Float32"
    assert info["index_config"] == {
        "max_connections": 24,
        "ef_construction": 100,
        "ef_search": 40,
        "max_layer": 16,
    }
    assert stats["vector_count"] == 0

    again = client.create_collection(config)  # as d-vecDB: answered, not raised
    assert not again.success
    assert again.error is not None and name in again.error
    body = envelope_error(http.post("/collections", json={"name": name, "dimension": 8}), 200)
    assert body["code"] == "collection_exists"

    assert client.delete_collection(name).success
    assert name not in client.list_collections().collections
    envelope_error(http.delete(f"/collections/{name}"), 200)


def test_insert_single_returns_a_uuid_the_server_can_get(client: VectorDBClient) -> None:
    name = f"dvec_{uuid.uuid4().hex[:10]}"
    client.create_collection_simple(name, DIM, "cosine")
    vector = unit_rows(np.random.default_rng(1), 1, DIM)[0]
    response = client.insert_simple(name, "mine", vector, {"kind": "a", "n": 7})
    server_id = response.generated_id
    assert isinstance(server_id, str)
    assert str(uuid.UUID(server_id)) == server_id
    got = client.get_vector(name, server_id)  # not in the client's id map: asks the server
    assert got.id == server_id
    assert got.metadata == {"kind": "a", "n": 7}
    np.testing.assert_allclose(got.data, vector, atol=1e-6)
    client.delete_collection(name)


def test_batch_insert_and_stats(
    client: VectorDBClient, loaded: tuple[str, list[str], np.ndarray]
) -> None:
    name, ids, _ = loaded
    assert len(ids) == N
    assert len(set(ids)) == N
    stats = client.get_collection_stats(name)
    assert stats.name == name
    assert stats.vector_count == N
    assert stats.dimension == DIM
    assert stats.memory_usage > 0
    server = client.get_server_stats()
    assert server.total_collections >= 1
    assert server.total_vectors >= N
    assert server.disk_usage > 0


def test_search_finds_each_vector_first(
    client: VectorDBClient, loaded: tuple[str, list[str], np.ndarray]
) -> None:
    name, ids, data = loaded
    for row in (0, 13, 39):
        results = client.search(name, data[row], limit=5).results
        assert len(results) == 5
        assert results[0].id == ids[row]
        assert results[0].distance == pytest.approx(0.0, abs=1e-5)
        assert results[0].metadata == {"kind": "ab"[row % 2], "n": row}
        distances = [r.distance for r in results]
        assert distances == sorted(distances)


def test_search_honours_metadata_filters(
    client: VectorDBClient, loaded: tuple[str, list[str], np.ndarray]
) -> None:
    name, ids, data = loaded
    query = data[2]  # kind "a": the filter below must exclude it
    hits = client.search(name, query, limit=10, filter={"kind": "b"}).results
    assert len(hits) == 10
    assert all(h.metadata is not None and h.metadata["kind"] == "b" for h in hits)
    assert ids[2] not in [h.id for h in hits]
    ranged = client.search(name, query, limit=N, filter={"n": {"$gte": 30}}).results
    assert sorted(h.metadata["n"] for h in ranged if h.metadata) == list(range(30, N))


def test_update_with_put_replaces_vector_and_metadata(
    client: VectorDBClient, loaded: tuple[str, list[str], np.ndarray]
) -> None:
    name, ids, _ = loaded
    target = ids[4]
    fresh = unit_rows(np.random.default_rng(99), 1, DIM)[0]
    client.update_vector(name, Vector(id=target, data=fresh.tolist(), metadata={"kind": "z"}))
    got = client.get_vector(name, target)
    assert got.metadata == {"kind": "z"}
    np.testing.assert_allclose(got.data, fresh, atol=1e-6)
    assert client.search(name, fresh, limit=1).results[0].id == target
    assert client.get_collection_stats(name).vector_count == N  # replaced, not added


def test_put_rejects_a_body_id_other_than_the_path(
    http: httpx.Client, loaded: tuple[str, list[str], np.ndarray]
) -> None:
    name, ids, data = loaded
    body = {"id": "someone-else", "data": data[0].tolist()}
    envelope_error(http.put(f"/collections/{name}/vectors/{ids[0]}", json=body), 422)


def test_delete_vector(
    client: VectorDBClient, http: httpx.Client, loaded: tuple[str, list[str], np.ndarray]
) -> None:
    name, ids, data = loaded
    assert client.delete_vector(name, ids[9]).data is True
    assert client.delete_vector(name, ids[9]).data is False
    assert ids[9] not in [r.id for r in client.search(name, data[9], limit=5).results]
    assert client.get_collection_stats(name).vector_count == N - 1
    gone = http.get(f"/collections/{name}/vectors/{ids[9]}")
    assert gone.status_code == 200
    assert gone.json() == {"success": True, "data": None, "error": None}


def test_invalid_input_gets_4xx_and_client_errors(
    client: VectorDBClient, http: httpx.Client, loaded: tuple[str, list[str], np.ndarray]
) -> None:
    name, _, _ = loaded
    with pytest.raises(DvecValidationError, match="shape"):
        client.search(name, [0.1, 0.2, 0.3], limit=3)
    with pytest.raises(DvecValidationError):
        client.insert_simple(name, "short", [1.0, 2.0])
    hamming = {
        "name": f"dvec_{uuid.uuid4().hex[:10]}",
        "dimension": 4,
        "distance_metric": "Hamming",
    }
    assert "not supported" in envelope_error(http.post("/collections", json=hamming), 422)["error"]
    with pytest.raises(DvecValidationError, match="unknown operator"):
        client.search(name, [0.1] * DIM, limit=3, filter={"n": {"$near": 3}})
    malformed = http.post(
        f"/collections/{name}/search",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert envelope_error(malformed, 400)["code"] == "malformed_request"
    unknown_field = http.post(f"/collections/{name}/search", json={"vector": [0.1] * DIM, "k": 3})
    envelope_error(unknown_field, 422)


def test_unknown_collection_is_200_success_false_everywhere(
    client: VectorDBClient, http: httpx.Client
) -> None:
    missing = "no_such_collection"
    vector = [0.1] * DIM
    calls = [
        http.get(f"/collections/{missing}"),
        http.get(f"/collections/{missing}/stats"),
        http.delete(f"/collections/{missing}"),
        http.post(f"/collections/{missing}/vectors", json={"data": vector}),
        http.post(f"/collections/{missing}/vectors/batch", json={"vectors": [{"data": vector}]}),
        http.post(f"/collections/{missing}/search", json={"vector": vector}),
        http.get(f"/collections/{missing}/vectors/x"),
        http.put(f"/collections/{missing}/vectors/x", json={"data": vector}),
        http.delete(f"/collections/{missing}/vectors/x"),
    ]
    for response in calls:
        body = envelope_error(response, 200)
        assert body["code"] == "collection_not_found"
        assert missing in body["error"]
    with pytest.raises(CLIENT_ERRORS):
        client.search(missing, vector, limit=1)
    with pytest.raises(CLIENT_ERRORS):
        client.get_collection_stats(missing)


def test_euclidean_and_dot_distances(client: VectorDBClient) -> None:
    a, b = np.array([1.0, 0.0, 0.0, 0.0]), np.array([0.0, 3.0, 4.0, 0.0])
    for metric, expected in (("euclidean", float(np.linalg.norm(a - b))), ("dot_product", 1.0)):
        name = f"dvec_{uuid.uuid4().hex[:10]}"
        client.create_collection_simple(name, 4, metric)
        ids = client.insert_vectors(
            name, [Vector(id="a", data=a.tolist()), Vector(id="b", data=b.tolist())]
        ).vector_ids
        hits = client.search(name, a, limit=2).results
        assert [h.id for h in hits] == ids
        assert hits[1].distance == pytest.approx(expected, abs=1e-5)
        assert all(h.distance >= 0 for h in hits)
        client.delete_collection(name)


# ---------------------------------------------------------------- d-vecDB's own answers
def new_collection(http: httpx.Client, **config: Any) -> str:
    name = f"dvec_{uuid.uuid4().hex[:10]}"
    body = {"name": name, "dimension": 4, "distance_metric": "Cosine", "vector_type": "Float32"}
    response = http.post("/collections", json={**body, **config})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "success": True,
        "data": {"name": name, "message": "Collection created successfully"},
        "error": None,
    }
    return name


def test_writes_answer_200_with_d_vecdb_data(http: httpx.Client) -> None:
    name = new_collection(http)
    one = http.post(f"/collections/{name}/vectors", json={"id": "a", "data": [1, 0, 0, 0]})
    assert (one.status_code, one.json()["data"]) == (200, "a")
    batch = http.post(
        f"/collections/{name}/vectors/batch", json={"vectors": [{"id": "b", "data": [0, 1, 0, 0]}]}
    )
    assert (batch.status_code, batch.json()["data"]) == (200, ["b"])
    put = http.put(f"/collections/{name}/vectors/a", json={"data": [1, 1, 0, 0]})
    assert put.status_code == 200
    assert put.json()["data"] == {"id": "a", "message": "Vector updated successfully"}
    dropped = http.delete(f"/collections/{name}").json()["data"]
    assert dropped == {"name": name, "message": "Collection deleted successfully"}


def test_duplicate_collection_is_200_success_false(http: httpx.Client) -> None:
    name = new_collection(http)
    body = {"name": name, "dimension": 4, "distance_metric": "Cosine", "vector_type": "Float32"}
    again = envelope_error(http.post("/collections", json=body), 200)
    assert name in again["error"]


def test_search_limit_0_and_query_vector_alias(http: httpx.Client) -> None:
    name = new_collection(http)
    http.post(f"/collections/{name}/vectors", json={"id": "a", "data": [1, 0, 0, 0]})
    empty = http.post(f"/collections/{name}/search", json={"vector": [1, 0, 0, 0], "limit": 0})
    assert (empty.status_code, empty.json()["data"]) == (200, [])
    alias = http.post(f"/collections/{name}/search", json={"query_vector": [1, 0, 0, 0]})
    assert [h["id"] for h in alias.json()["data"]] == ["a"]
    neither = http.post(f"/collections/{name}/search", json={"limit": 1})
    assert "vector" in envelope_error(neither, 422)["error"]


@pytest.mark.parametrize(
    ("config", "metric", "vector_type"),
    [
        ({"distance_metric": "Manhattan"}, "Euclidean", "Float32"),
        ({"vector_type": "Float16"}, "Cosine", "Float32"),
        ({"quantization": {"type": "scalar", "quantization_type": "int8"}}, "Cosine", "Int8"),
        ({"quantization": {"type": "product", "num_subvectors": 2}}, "Cosine", "Float32"),
    ],
)
def test_manhattan_float16_and_quantization_are_accepted(
    http: httpx.Client, config: dict[str, Any], metric: str, vector_type: str
) -> None:
    name = new_collection(http, **config)
    rows = {"a": [1.0, 0.0, 0.0, 0.0], "b": [0.0, 1.0, 0.0, 0.0]}
    vectors = [{"id": k, "data": v} for k, v in rows.items()]
    http.post(f"/collections/{name}/vectors/batch", json={"vectors": vectors})
    hits = http.post(f"/collections/{name}/search", json={"vector": rows["b"]}).json()["data"]
    assert [h["id"] for h in hits] == ["b", "a"]
    info = http.get(f"/collections/{name}").json()["data"][0]
    assert (info["distance_metric"], info["vector_type"]) == (metric, vector_type)


def test_bad_quantization_type_is_422(http: httpx.Client) -> None:
    body = {"name": "dvec_q", "dimension": 4, "quantization": {"type": "magic"}}
    envelope_error(http.post("/collections", json=body), 422)


def test_health_bodies(http: httpx.Client) -> None:
    live = http.get("/health/live").json()
    assert live["alive"] is True and live["status"] == "ok" and live["timestamp"] > 0
    for path in ("/health/ready", "/ready"):
        ready = http.get(path)
        assert ready.status_code == 200
        body = ready.json()
        assert body["ready"] is True and body["timestamp"] > 0
        assert [c["status"] for c in body["checks"]] == ["healthy"]
    check = http.get("/health/check")
    assert check.status_code == 200
    body = check.json()
    assert body["status"] == "healthy"
    assert {"timestamp", "version", "uptime_seconds"} <= set(body)


# ---------------------------------------------------------------- d-vecDB's point routes
@pytest.fixture
def points(http: httpx.Client) -> tuple[str, list[list[float]]]:
    """A 4-d cosine collection: p0..p5 along distinct directions, metadata n = row."""
    name = new_collection(http)
    rows = [*np.eye(4).tolist(), [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]
    vectors = [{"id": f"p{i}", "data": v, "metadata": {"n": i}} for i, v in enumerate(rows)]
    assert http.post(f"/collections/{name}/vectors/batch", json={"vectors": vectors}).is_success
    return name, rows


def data_of(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


def test_upsert_and_batch_delete(http: httpx.Client, points: tuple[str, list]) -> None:
    name, _ = points
    upsert = {"vectors": [{"id": "p0", "data": [0, 0, 0, 1]}, {"id": "new", "data": [1, 0, 1, 0]}]}
    assert data_of(http.post(f"/collections/{name}/vectors/upsert", json=upsert)) == {
        "upserted_count": 2,
        "ids": ["p0", "new"],
    }
    assert data_of(http.get(f"/collections/{name}/vectors/p0"))["data"] == [0, 0, 0, 1]
    gone = http.post(f"/collections/{name}/vectors/batch-delete", json={"ids": ["p1", "nope"]})
    assert data_of(gone) == {"deleted_count": 1}
    assert data_of(http.post(f"/collections/{name}/points/count", json={})) == {"count": 6}


def test_scroll_pages_and_count_with_a_filter(http: httpx.Client, points: tuple[str, list]) -> None:
    name, rows = points
    seen: list[str] = []
    offset = None
    while True:
        page = data_of(
            http.post(f"/collections/{name}/points/scroll", json={"limit": 4, "offset": offset})
        )
        for p in page["points"]:
            row = np.array(rows[int(p["id"][1:])])
            np.testing.assert_allclose(p["vector"], row / np.linalg.norm(row), atol=1e-6)
            assert p["payload"] == {"n": int(p["id"][1:])}
        seen += [p["id"] for p in page["points"]]
        offset = page["next_offset"]
        if offset is None:
            break
        assert isinstance(offset, str)
    assert sorted(seen) == [f"p{i}" for i in range(6)]
    bare = {"limit": 2, "with_vectors": False, "with_payload": False}
    first = data_of(http.post(f"/collections/{name}/points/scroll", json=bare))["points"][0]
    assert set(first) == {"id", "score"}
    counted = http.post(f"/collections/{name}/points/count", json={"filter": {"n": {"$gte": 4}}})
    assert data_of(counted) == {"count": 2}
    bad = http.post(f"/collections/{name}/points/scroll", json={"offset": "abc"})
    envelope_error(bad, 422)


def test_batch_search(http: httpx.Client, points: tuple[str, list]) -> None:
    name, rows = points
    searches = [
        {"vector": rows[0], "limit": 2},
        {"vector": rows[2], "limit": 1, "offset": 1},
        {"vector": rows[3], "limit": 0},
        {"vector": rows[0], "limit": 3, "filter": {"n": {"$gte": 2}}},
    ]
    body = {"collection": name, "searches": searches}
    answer = data_of(http.post(f"/collections/{name}/points/search/batch", json=body))
    assert [[h["id"] for h in hits] for hits in answer][:3] == [["p0", "p4"], ["p5"], []]
    assert answer[3][0]["id"] == "p4" and all(h["metadata"]["n"] >= 2 for h in answer[3])


def test_recommend_and_discover(http: httpx.Client, points: tuple[str, list]) -> None:
    name, _ = points
    body = {"collection": name, "positive": ["p0", "p1"], "limit": 2}
    recommended = data_of(http.post(f"/collections/{name}/points/recommend", json=body))
    assert recommended[0]["id"] == "p4"  # mean of p0 and p1
    assert {"p0", "p1"}.isdisjoint(h["id"] for h in recommended)
    away = {"positive": ["p4"], "negative": ["p1"], "limit": 1}
    assert data_of(http.post(f"/collections/{name}/points/recommend", json=away))[0]["id"] == "p0"
    discover = {"target": [0, 0, 1, 0], "context": [{"positive": "p3", "negative": "p0"}]}
    found = data_of(http.post(f"/collections/{name}/points/discover", json=discover))
    assert found[0]["id"] == "p5"  # target moved towards p3
    assert {"p3", "p0"}.isdisjoint(h["id"] for h in found)
    by_id = data_of(
        http.post(f"/collections/{name}/points/discover", json={"target": "p2", "limit": 1})
    )
    assert by_id[0]["id"] == "p5"
    missing = http.post(f"/collections/{name}/points/recommend", json={"positive": ["zz"]})
    assert "zz" in envelope_error(missing, 422)["error"]
    envelope_error(http.post(f"/collections/{name}/points/recommend", json={"positive": []}), 422)


# ---------------------------------------------------------------- d-vecDB's recovery routes
def test_hard_delete_drops_and_nothing_is_kept_after_a_drop(http: httpx.Client) -> None:
    name = new_collection(http)
    dropped = data_of(http.delete(f"/collections/{name}/hard-delete"))
    assert dropped["name"] == name and "permanently" in dropped["message"]
    assert name not in data_of(http.get("/collections"))
    other = new_collection(http)
    http.delete(f"/collections/{other}")
    assert data_of(http.get("/collections/deleted")) == []
    assert data_of(http.post("/collections/cleanup", json={"retention_hours": 0})) == []
    envelope_error(http.delete(f"/collections/{name}/hard-delete"), 200)


def test_copies_answer_success_false_with_what_to_use(http: httpx.Client) -> None:
    name = new_collection(http)
    calls = [
        http.post("/collections/restore", json={"backup_path": "/x"}),
        http.post("/collections/import", json={"orphaned_path": "/x"}),
        http.post(f"/collections/{name}/backup"),
        http.post(f"/collections/{name}/snapshots"),
        http.get(f"/collections/{name}/snapshots"),
        http.get(f"/collections/{name}/snapshots/s1"),
        http.delete(f"/collections/{name}/snapshots/s1"),
    ]
    for response in calls:
        body = envelope_error(response, 200)
        assert body["code"] == "unsupported"
        assert "vecfleet snapshot" in body["error"]
