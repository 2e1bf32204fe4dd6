"""Round trips of the node codec: what goes onto the wire comes back equal, types kept."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vecfleet.errors import MalformedRequest, ValidationError
from vecfleet.models import (
    Hit,
    Point,
    ReadGate,
    ScrollPage,
    SearchOptions,
    SearchResult,
    ShardCount,
    ShardGet,
    ShardScroll,
    ShardSearch,
)
from vecfleet.node.base import NodeHealth, NodeStatus, ReplicaStatus
from vecfleet.transport import codec
from vecfleet.transport.proto import vecfleet_pb2 as pb

INT64 = st.integers(-(2**63), 2**63 - 1)
IDS = st.one_of(st.text(min_size=1, max_size=20), INT64)
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), INT64, st.floats(allow_nan=False, allow_infinity=False), st.text()
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
PAYLOADS = st.dictionaries(st.text(max_size=10), JSON, max_size=5)
FLOAT32 = st.floats(width=32, allow_nan=False)
VECTORS = hnp.arrays(np.float32, st.integers(1, 16), elements=FLOAT32)
HITS = st.builds(
    Hit,
    IDS,
    st.floats(allow_nan=False),
    st.one_of(st.none(), PAYLOADS),
    st.one_of(st.none(), VECTORS),
)


def same(a: Hit | Point, b: Hit | Point) -> bool:
    """Struct equality with numpy vectors compared by value (and exact id type)."""
    if type(a.id) is not type(b.id) or a.id != b.id or a.payload != b.payload:
        return False
    if isinstance(a, Hit) and isinstance(b, Hit) and a.score != b.score:
        return False
    if a.vector is None or b.vector is None:
        return a.vector is None and b.vector is None
    return bool(np.array_equal(a.vector, b.vector)) and b.vector.dtype == np.float32


# ---------------------------------------------------------------------- vectors
@given(hnp.arrays(np.float32, st.tuples(st.integers(0, 8), st.integers(1, 16)), elements=FLOAT32))
def test_matrix_round_trip(matrix: np.ndarray) -> None:
    data, dim = codec.matrix_to_bytes(matrix)
    back = codec.matrix_from_bytes(data, dim)
    assert back.dtype == np.float32
    assert back.shape == matrix.shape
    assert np.array_equal(back, matrix)


def test_matrix_bytes_are_little_endian_float32_row_major() -> None:
    data, dim = codec.matrix_to_bytes(np.array([[1.0, 2.0], [3.0, -0.5]], dtype=np.float64))
    assert dim == 2
    assert data == np.array([1, 2, 3, -0.5], dtype="<f4").tobytes()
    assert data[:4] == b"\x00\x00\x80\x3f"
    big_endian = np.array([[1.0, 2.0]], dtype=">f4")
    assert codec.matrix_to_bytes(big_endian)[0] == np.array([1, 2], dtype="<f4").tobytes()


def test_matrix_shape_errors_are_validation_errors() -> None:
    with pytest.raises(ValidationError, match="2-d"):
        codec.matrix_to_bytes(np.zeros(4, dtype=np.float32))
    with pytest.raises(ValidationError, match="whole number of 4-d"):
        codec.matrix_from_bytes(b"\x00" * 20, 4)
    with pytest.raises(ValidationError, match="dim must be positive"):
        codec.matrix_from_bytes(b"", 0)


def test_empty_batch_keeps_its_dim() -> None:
    data, dim = codec.matrix_to_bytes(np.zeros((0, 7), dtype=np.float32))
    assert (data, dim) == (b"", 7)
    assert codec.matrix_from_bytes(data, dim).shape == (0, 7)


@given(VECTORS)
def test_vector_round_trip_gives_a_writable_copy(vector: np.ndarray) -> None:
    back = codec.vector_from_bytes(codec.vector_to_bytes(vector))
    assert back is not None
    assert np.array_equal(back, vector)
    assert back.flags.writeable


def test_no_vector_is_empty_bytes() -> None:
    assert codec.vector_to_bytes(None) == b""
    assert codec.vector_from_bytes(b"") is None
    with pytest.raises(ValidationError, match="not float32"):
        codec.vector_from_bytes(b"\x00" * 6)


# ---------------------------------------------------------------------- ids
@given(IDS)
def test_id_round_trip_keeps_its_type(pid: str | int) -> None:
    message = pb.PointId.FromString(codec.id_to_proto(pid).SerializeToString())
    back = codec.id_from_proto(message)
    assert back == pid
    assert type(back) is type(pid)


def test_seven_and_the_string_seven_stay_different() -> None:
    ids = codec.ids_from_proto(codec.ids_to_proto([7, "7", 0, "0"]))
    assert ids == [7, "7", 0, "0"]
    assert [type(i) for i in ids] == [int, str, int, str]


@pytest.mark.parametrize("bad", [True, 1.5, None, b"x", 2**63])
def test_ids_json_cannot_hold_are_validation_errors(bad: Any) -> None:
    with pytest.raises(ValidationError):
        codec.id_to_proto(bad)


def test_id_lists_reject_a_bare_id_and_empty_messages() -> None:
    with pytest.raises(ValidationError, match="list"):
        codec.ids_to_proto("abc")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="empty"):
        codec.id_from_proto(pb.PointId())


# ---------------------------------------------------------------------- JSON
@given(JSON)
def test_json_round_trip(value: Any) -> None:
    assert codec.json_from_bytes(codec.json_to_bytes(value)) == value


def test_absent_json_is_none_and_differs_from_empty() -> None:
    request = pb.CountRequest(filter=codec.optional_json_to_bytes(None, "filter"))
    assert codec.optional_json_from_bytes(request, "filter") is None
    request = pb.CountRequest(filter=codec.optional_json_to_bytes({}, "filter"))
    assert codec.optional_json_from_bytes(request, "filter") == {}


def test_bad_json_is_malformed_and_unencodable_is_invalid() -> None:
    with pytest.raises(MalformedRequest, match="filter is not valid JSON"):
        codec.json_from_bytes(b"{nope", "filter")
    with pytest.raises(ValidationError, match="filter cannot be sent as JSON"):
        codec.json_to_bytes({"a": object()}, "filter")


# ---------------------------------------------------------------------- hits and points
PLANS = st.lists(
    st.fixed_dictionaries(
        {"strategy": st.sampled_from(["exact", "hnsw"]), "rows": st.integers(0, 10**6)}
    ),
    max_size=3,
)


@given(st.lists(st.lists(HITS, max_size=4), max_size=4), PLANS)
def test_results_round_trip(results: list[list[Hit]], plan: list[dict[str, Any]]) -> None:
    wire = codec.result_to_proto(SearchResult(results, plan)).SerializeToString()
    back = codec.result_from_proto(pb.SearchResponse.FromString(wire))
    assert [len(hits) for hits in back.hits] == [len(hits) for hits in results]
    for got_hits, want_hits in zip(back.hits, results, strict=True):
        assert all(same(g, w) for g, w in zip(got_hits, want_hits, strict=True))
    assert back.plan == plan


def test_empty_results_stay_empty() -> None:
    assert codec.result_from_proto(codec.result_to_proto(SearchResult([]))).hits == []
    assert codec.result_from_proto(codec.result_to_proto(SearchResult([[], []]))).hits == [[], []]


def test_payload_none_and_empty_payload_stay_different() -> None:
    hits = [[Hit("a", 0.5, None), Hit("b", 0.25, {})]]
    back = codec.result_from_proto(codec.result_to_proto(SearchResult(hits))).hits
    assert back[0][0].payload is None
    assert back[0][1].payload == {}


OPTIONS = st.builds(
    SearchOptions,
    limit=st.integers(-5, 10_000),
    filter=st.one_of(st.none(), st.just({"group": {"$in": [1, 2]}})),
    params=st.one_of(st.none(), st.just({"ef": 128})),
    with_payload=st.booleans(),
    with_vectors=st.booleans(),
    score_threshold=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
    offset=st.integers(0, 10_000),
)


@given(OPTIONS)
def test_search_options_round_trip(options: SearchOptions) -> None:
    wire = codec.options_to_proto(options).SerializeToString()
    assert codec.options_from_proto(pb.SearchOptions.FromString(wire)) == options


def test_shard_requests_round_trip() -> None:
    """Each node call's request object survives the wire; its timeout is the deadline."""
    gate = ReadGate(7, 250.0, 1.5)
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    search = ShardSearch("c", 1, vectors, SearchOptions(limit=4, offset=2), gate)
    back = codec.search_from_proto(codec.search_to_proto(search), 1.5)
    assert (back.collection, back.shard, back.options, back.gate) == ("c", 1, search.options, gate)
    np.testing.assert_array_equal(back.vectors, vectors)
    get = ShardGet("c", 0, ["a", 5], True, gate)
    assert codec.get_from_proto(codec.get_to_proto(get), 1.5) == get
    count = ShardCount("c", 3, {"a": {"$gt": 1}}, gate)
    assert codec.count_from_proto(codec.count_to_proto(count), 1.5) == count
    for page in (ScrollPage(), ScrollPage({"a": 1}, 7, 0), ScrollPage(None, 3, 99)):
        scroll = ShardScroll("c", 0, page, gate)
        wire = codec.scroll_to_proto(scroll).SerializeToString()
        assert codec.scroll_from_proto(pb.ScrollRequest.FromString(wire), 1.5) == scroll


@given(st.lists(st.builds(Point, IDS, PAYLOADS, st.one_of(st.none(), VECTORS)), max_size=5))
def test_points_round_trip(points: list[Point]) -> None:
    wire = pb.GetResponse(points=codec.points_to_proto(points)).SerializeToString()
    back = codec.points_from_proto(pb.GetResponse.FromString(wire).points)
    assert len(back) == len(points)
    assert all(same(g, w) for g, w in zip(back, points, strict=True))


# ---------------------------------------------------------------------- node state
@pytest.mark.parametrize(("min_seq", "max_lag_ms"), [(0, None), (42, None), (7, 250.0), (0, 0.0)])
def test_gate_round_trip(min_seq: int, max_lag_ms: float | None) -> None:
    gate = ReadGate(min_seq, max_lag_ms, 1.5)
    message = pb.ReadGate.FromString(codec.gate_to_proto(gate).SerializeToString())
    # The timeout travels as the call's gRPC deadline, not in the message.
    assert codec.gate_from_proto(message, 1.5) == gate


def test_negative_min_seq_means_no_wait() -> None:
    back = codec.gate_from_proto(codec.gate_to_proto(ReadGate(-5, None)), 2.0)
    assert back == ReadGate(0, None, 2.0)


def test_status_and_health_round_trip() -> None:
    status = NodeStatus(
        "node-a",
        [ReplicaStatus("incidents", 0, 41, 1.5, 1000), ReplicaStatus("docs", 3, 0, 0.0, 0)],
    )
    assert codec.status_from_proto(codec.status_to_proto(status)) == status
    assert codec.status_from_proto(codec.status_to_proto(NodeStatus("n"))) == NodeStatus("n")
    health = NodeHealth("node-a", serving=False, replicas=2)
    assert codec.health_from_proto(codec.health_to_proto(health)) == health
