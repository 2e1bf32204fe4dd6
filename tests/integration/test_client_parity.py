"""One suite, two deployments: every test runs on an embedded database and on a client of
a real server (``vecfleet.connect(url)``), and must see the same results and errors.

Collections hold fewer rows than a segment seals at, so every search is exact and the
expected answers come from a brute-force evaluation in numpy.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vecfleet
from tests.helpers import unit_rows
from tests.live_server import LiveServer
from vecfleet.gateway.service import MAX_BATCH_SEARCHES, MAX_POINTS_PER_WRITE
from vecfleet.remote import (
    MAX_ROWS_PER_REQUEST,
    SEARCHES_PER_REQUEST,
    RemoteDatabase,
    rows_per_request,
)

DIM = 16
N = 120
INDUSTRIES = ("health", "energy", "retail")
SCHEMA = {"industry": "keyword", "severity": "integer"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("parity")) as server:
        server.wait_until(lambda: server.get("/health/ready").status_code == 200, 30, "ready")
        yield server


@pytest.fixture(params=["embedded", "remote"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "embedded":
        db: Any = vecfleet.connect(tmp_path / "db")
    else:
        db = vecfleet.connect(request.getfixturevalue("live").url)
    with db:
        yield db


def fresh_name() -> str:
    return f"parity_{uuid.uuid4().hex[:12]}"


def payload(i: int) -> dict[str, Any]:
    return {"industry": INDUSTRIES[i % 3], "severity": i % 5, "title": f"incident {i}"}


@pytest.fixture
def data() -> np.ndarray:
    return unit_rows(np.random.default_rng(42), N, DIM)


@pytest.fixture
def col(database: Any, data: np.ndarray) -> Iterator[Any]:
    """A cosine collection with N points: ids "p0".."p{N-1}", payload(i)."""
    name = fresh_name()
    handle = database.create_collection(name, DIM, "cosine", "hnsw", SCHEMA)
    ack = handle.upsert([f"p{i}" for i in range(N)], data, [payload(i) for i in range(N)])
    assert ack.count == N
    yield handle
    database.drop_collection(name)


def brute_force(data: np.ndarray, query: np.ndarray, k: int, keep: Any = None) -> list[str]:
    scores = data @ (query / np.linalg.norm(query))
    rows = [i for i in np.argsort(-scores, kind="stable") if keep is None or keep(payload(i))]
    return [f"p{i}" for i in rows[:k]]


def test_connect_picks_the_deployment(database: Any, request: pytest.FixtureRequest) -> None:
    expected = RemoteDatabase if "remote" in request.node.callspec.id else vecfleet.EmbeddedDatabase
    assert isinstance(database, expected)


def test_create_list_open_and_drop(database: Any) -> None:
    name = fresh_name()
    created = database.create_collection(name, DIM, "l2", "flat", SCHEMA, ef_search=77)
    assert created.name == name
    assert name in database.list_collections()
    opened = database.collection(name)
    assert (opened.config.dim, opened.config.metric, opened.config.index) == (DIM, "l2", "flat")
    assert opened.config.ef_search == 77
    assert opened.config.payload_schema == SCHEMA
    assert database.drop_collection(name).seq > 0
    assert name not in database.list_collections()
    with pytest.raises(vecfleet.CollectionNotFound) as info:
        database.collection(name)
    assert info.value.name == name


def test_collection_errors(database: Any, col: Any) -> None:
    with pytest.raises(vecfleet.CollectionExists) as exists:
        database.create_collection(col.name, DIM)
    assert exists.value.name == col.name
    assert exists.value.code == "collection_exists"
    with pytest.raises(vecfleet.CollectionNotFound):
        database.collection("no_such_collection")
    with pytest.raises(vecfleet.CollectionNotFound):
        database.drop_collection("no_such_collection")
    with pytest.raises(vecfleet.ValidationError, match="dim"):
        database.create_collection(fresh_name(), 0)
    with pytest.raises(vecfleet.ValidationError, match="metric"):
        database.create_collection(fresh_name(), DIM, "manhattan")


def test_get_keeps_request_order_and_skips_missing(col: Any, data: np.ndarray) -> None:
    points = col.get(["p7", "missing", "p3", "p7"], with_vectors=True)
    assert [p.id for p in points] == ["p7", "p3", "p7"]
    assert points[1].payload == payload(3)
    assert points[1].vector is not None
    np.testing.assert_allclose(points[1].vector, data[3], atol=1e-6)
    assert col.get(["p5"])[0].vector is None
    assert col.get(["nothing"]) == []


def test_upsert_overwrites(col: Any) -> None:
    replacement = unit_rows(np.random.default_rng(7), 1, DIM)
    ack = col.upsert(["p0"], replacement, [{"industry": "energy", "severity": 4}])
    assert ack.count == 1
    assert col.count() == N
    [point] = col.get(["p0"], with_vectors=True)
    assert point.payload == {"industry": "energy", "severity": 4}
    np.testing.assert_allclose(point.vector, replacement[0], atol=1e-6)
    assert col.search(replacement[0], limit=1)[0].id == "p0"


def test_search_matches_brute_force(col: Any, data: np.ndarray) -> None:
    query = data[11] + 0.05 * data[12]
    hits = col.search(query, limit=7)
    assert [h.id for h in hits] == brute_force(data, query, 7)
    assert all(isinstance(h, vecfleet.Hit) for h in hits)
    assert hits[0].payload == payload(int(hits[0].id[1:]))
    assert hits[0].vector is None
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    with_vectors = col.search(query, limit=1, with_vectors=True)[0]
    assert with_vectors.vector is not None and with_vectors.vector.shape == (DIM,)


@pytest.mark.parametrize(
    ("filter", "keep"),
    [
        ({"industry": "energy"}, lambda p: p["industry"] == "energy"),
        ({"severity": {"$gte": 3}}, lambda p: p["severity"] >= 3),
        (
            {"$or": [{"industry": "retail"}, {"severity": 0}], "title": {"$ne": "incident 9"}},
            lambda p: (
                (p["industry"] == "retail" or p["severity"] == 0) and p["title"] != "incident 9"
            ),
        ),
    ],
)
def test_search_honours_filters_and_limit(
    col: Any, data: np.ndarray, filter: dict[str, Any], keep: Any
) -> None:
    query = data[20]
    hits = col.search(query, limit=9, filter=filter)
    assert [h.id for h in hits] == brute_force(data, query, 9, keep)
    assert all(keep(h.payload) for h in hits)
    assert col.count(filter) == sum(keep(payload(i)) for i in range(N))


def test_search_batch_equals_single_searches(col: Any, data: np.ndarray) -> None:
    queries = data[[1, 30, 77]]
    batch = col.search_batch(queries, limit=4, filter={"industry": "health"})
    singles = [col.search(q, limit=4, filter={"industry": "health"}) for q in queries]
    assert [[h.id for h in r] for r in batch] == [[h.id for h in r] for r in singles]
    assert col.search_batch(np.empty((0, DIM), dtype=np.float32)) == []


def test_delete_and_count(col: Any, data: np.ndarray) -> None:
    ack = col.delete(["p1", "p2", "not-there"])
    assert ack.count == 2
    assert ack.seq > 0
    assert col.count() == N - 2
    assert len(col) == N - 2
    assert col.get(["p1", "p4"])[0].id == "p4"
    assert "p1" not in [h.id for h in col.search(data[1], limit=5)]
    assert col.count({"industry": "health"}) == sum(
        payload(i)["industry"] == "health" for i in range(N) if i not in (1, 2)
    )


def test_scroll_pages_through_everything(col: Any) -> None:
    seen: list[Any] = []
    cursor = None
    while True:
        page, cursor = col.scroll({"severity": {"$lt": 2}}, limit=10, cursor=cursor)
        seen += [p.id for p in page]
        if cursor is None:
            break
    assert sorted(seen) == sorted(f"p{i}" for i in range(N) if i % 5 < 2)


def test_offset_pages_and_score_threshold_match_brute_force(col: Any, data: np.ndarray) -> None:
    query = data[5] + 0.1 * data[6]
    ranked = brute_force(data, query, 30)
    assert [h.id for h in col.search(query, limit=10, offset=10)] == ranked[10:20]
    assert [h.id for h in col.search(query, limit=5, offset=0)] == ranked[:5]
    scores = [h.score for h in col.search(query, limit=30)]
    threshold = (scores[7] + scores[8]) / 2
    kept = col.search(query, limit=30, score_threshold=threshold)
    assert [h.id for h in kept] == ranked[:8]
    assert col.search(query, limit=5, offset=6, score_threshold=threshold)[0].id == ranked[6]
    batch = col.search_batch(data[[3, 4]], limit=4, offset=2, filter={"industry": "health"})
    singles = [
        col.search(q, limit=4, offset=2, filter={"industry": "health"}) for q in data[[3, 4]]
    ]
    assert [[h.id for h in r] for r in batch] == [[h.id for h in r] for r in singles]


def test_bad_offset_and_threshold_are_the_same_errors(col: Any, data: np.ndarray) -> None:
    with pytest.raises(vecfleet.ValidationError, match="offset"):
        col.search(data[0], offset=-1)
    with pytest.raises(vecfleet.ValidationError, match="score_threshold"):
        col.search(data[0], score_threshold="x")
    with pytest.raises(vecfleet.ValidationError, match="score_threshold"):
        col.search(data[0], score_threshold=float("nan"))


def test_validation_errors_are_the_same(col: Any, data: np.ndarray) -> None:
    with pytest.raises(vecfleet.ValidationError, match=r"shape \(n, 16\)"):
        col.upsert(["x"], np.ones((1, DIM + 1), dtype=np.float32))
    bad = data[:2].copy()
    bad[1, 3] = np.nan
    with pytest.raises(vecfleet.ValidationError, match=r"vectors\[1\] contains NaN"):
        col.upsert(["x", "y"], bad)
    with pytest.raises(vecfleet.ValidationError, match="NaN"):
        col.search(np.full(DIM, np.inf, dtype=np.float32))
    with pytest.raises(vecfleet.ValidationError, match="pair up"):
        col.upsert(["x"], data[:2])
    with pytest.raises(vecfleet.ValidationError, match="limit"):
        col.search(data[0], limit=0)
    with pytest.raises(vecfleet.FilterError) as bad_filter:
        col.search(data[0], filter={"severity": {"$near": 1}})
    assert bad_filter.value.path.startswith("$.severity")
    with pytest.raises(vecfleet.ValidationError, match="all zeros"):
        col.upsert(["z"], np.zeros((1, DIM), dtype=np.float32))
    with pytest.raises(vecfleet.ValidationError, match="severity"):
        col.upsert(["s"], data[:1], [{"severity": "high"}])
    assert col.count() == N  # nothing above was written


def test_reopening_a_dropped_collection_raises_not_found(database: Any, data: np.ndarray) -> None:
    name = fresh_name()
    database.create_collection(name, DIM).upsert(["a"], data[:1])
    database.drop_collection(name)
    with pytest.raises(vecfleet.CollectionNotFound):
        database.collection(name)


def test_remote_request_sizes_stay_within_server_limits() -> None:
    assert SEARCHES_PER_REQUEST <= MAX_BATCH_SEARCHES
    assert MAX_ROWS_PER_REQUEST <= MAX_POINTS_PER_WRITE
    assert 1 <= rows_per_request(65536) <= rows_per_request(8) <= MAX_ROWS_PER_REQUEST


def test_unreachable_server_is_unavailable() -> None:
    from tests.live_server import free_port

    with (
        vecfleet.connect(f"http://127.0.0.1:{free_port()}", timeout_s=2) as db,
        pytest.raises(vecfleet.Unavailable, match="cannot reach"),
    ):
        db.list_collections()
