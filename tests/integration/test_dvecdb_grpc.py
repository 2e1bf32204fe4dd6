"""d-vecDB's gRPC service (``serve --dvecdb-grpc-port``) through stubs generated from
d-vecDB's proto: every RPC but the snapshot ones answers, with the REST routes' answers.

The stubs come from ``make dvecdb-proto`` (d-vecDB's licence keeps them out of the
repository); without them this module is skipped.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest

from tests.helpers import unit_rows
from tests.live_server import LiveServer
from vecfleet.local_cluster import free_port

pb = pytest.importorskip("vecfleet.dvecdb_grpc.vectordb_pb2", reason="run make dvecdb-proto")
pbg = pytest.importorskip("vecfleet.dvecdb_grpc.vectordb_pb2_grpc")

DIM = 8


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    port = free_port()
    settings = {"VECFLEET__SERVER__DVECDB_GRPC_PORT": str(port)}
    with LiveServer(tmp_path_factory.mktemp("dvecdb_grpc"), settings=settings) as live:
        live.wait_until(lambda: live.get("/health/ready").status_code == 200, 30, "ready")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            yield pbg.VectorDbStub(channel)


@pytest.fixture
def loaded(stub: Any) -> tuple[str, list[str], np.ndarray]:
    """A cosine collection of 10 unit vectors p0..p9, metadata kind a/b and n = row."""
    name = f"grpc_{uuid.uuid4().hex[:8]}"
    config = pb.CollectionConfig(
        name=name, dimension=DIM, distance_metric=pb.DISTANCE_METRIC_COSINE
    )
    assert stub.CreateCollection(pb.CreateCollectionRequest(config=config)).success
    data = unit_rows(np.random.default_rng(4), 10, DIM)
    ids = [f"p{i}" for i in range(10)]
    vectors = [
        pb.Vector(id=ids[i], data=data[i].tolist(), metadata={"kind": "ab"[i % 2], "n": str(i)})
        for i in range(10)
    ]
    reply = stub.BatchInsert(pb.BatchInsertRequest(collection_name=name, vectors=vectors))
    assert reply.success and reply.inserted_count == 10
    return name, ids, data


def test_collections_and_stats(stub: Any, loaded: tuple[str, list[str], np.ndarray]) -> None:
    name, _, _ = loaded
    assert name in stub.ListCollections(pb.ListCollectionsRequest()).collection_names
    info = stub.GetCollectionInfo(pb.GetCollectionInfoRequest(collection_name=name))
    assert (info.config.name, info.config.dimension) == (name, DIM)
    assert info.config.distance_metric == pb.DISTANCE_METRIC_COSINE
    assert info.config.index_config.max_layer == 16
    assert info.stats.vector_count == 10
    assert stub.GetStats(pb.GetStatsRequest()).stats.total_vectors >= 10
    assert stub.Health(pb.HealthRequest()).healthy
    again = pb.CreateCollectionRequest(config=pb.CollectionConfig(name=name, dimension=DIM))
    exists = stub.CreateCollection(again)  # as d-vecDB: answered, not a status
    assert not exists.success and name in exists.message
    assert stub.DeleteCollection(pb.DeleteCollectionRequest(collection_name=name)).success
    assert name not in stub.ListCollections(pb.ListCollectionsRequest()).collection_names
    gone = stub.DeleteCollection(pb.DeleteCollectionRequest(collection_name=name))
    assert not gone.success and name in gone.message
    with pytest.raises(grpc.RpcError) as missing:
        stub.GetCollectionInfo(pb.GetCollectionInfoRequest(collection_name=name))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_insert_query_update_delete(stub: Any, loaded: tuple[str, list[str], np.ndarray]) -> None:
    name, ids, data = loaded
    reply = stub.Query(pb.QueryRequest(collection_name=name, query_vector=data[3], limit=3))
    assert reply.results[0].id == ids[3]
    assert reply.results[0].distance == pytest.approx(0.0, abs=1e-5)
    assert dict(reply.results[0].metadata) == {"kind": "b", "n": "3"}
    only_a = stub.Query(
        pb.QueryRequest(collection_name=name, query_vector=data[3], limit=10, filter={"kind": "a"})
    )
    assert {dict(r.metadata)["kind"] for r in only_a.results} == {"a"}
    assert stub.Query(pb.QueryRequest(collection_name=name, query_vector=data[3])).results == []
    new = stub.Insert(pb.InsertRequest(collection_name=name, vector=pb.Vector(data=data[0])))
    assert new.success and str(uuid.UUID(new.message)) == new.message
    moved = pb.Vector(id=ids[1], data=data[2].tolist(), metadata={"n": "moved"})
    assert stub.Update(pb.UpdateRequest(collection_name=name, vector=moved)).success
    near_2 = stub.Query(pb.QueryRequest(collection_name=name, query_vector=data[2], limit=2))
    assert {r.id for r in near_2.results} == {ids[1], ids[2]}
    assert stub.Delete(pb.DeleteRequest(collection_name=name, vector_id=ids[9])).success
    assert not stub.Delete(pb.DeleteRequest(collection_name=name, vector_id=ids[9])).success
    with pytest.raises(grpc.RpcError) as missing:
        stub.Query(pb.QueryRequest(collection_name="no_such", query_vector=data[0], limit=1))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_advanced_search(stub: Any, loaded: tuple[str, list[str], np.ndarray]) -> None:
    name, ids, data = loaded
    rec = stub.Recommend(
        pb.RecommendRequest(
            collection_name=name, positive_ids=[ids[1]], negative_ids=[ids[2]], limit=3
        )
    )
    assert 0 < len(rec.results) <= 3 and {ids[1], ids[2]}.isdisjoint(r.id for r in rec.results)
    disc = stub.Discover(
        pb.DiscoverRequest(
            collection_name=name,
            target_vector=pb.TargetVector(data=data[4]),
            context_pairs=[pb.ContextPair(positive_id=ids[5], negative_id=ids[6])],
            limit=3,
        )
    )
    assert 0 < len(disc.results) <= 3
    by_id = stub.Discover(pb.DiscoverRequest(collection_name=name, target_id=ids[4], limit=1))
    assert by_id.results[0].id != ids[4]
    batch = stub.BatchSearch(
        pb.BatchSearchRequest(
            collection_name=name,
            searches=[
                pb.SearchQuery(vector=data[7], limit=3),
                pb.SearchQuery(vector=data[8], limit=2, offset=1),
                pb.SearchQuery(vector=data[8], limit=5, filter_json=json.dumps({"kind": "a"})),
            ],
        )
    )
    assert [len(x.results) for x in batch.results] == [3, 2, 5]
    assert batch.results[0].results[0].id == ids[7]
    count = stub.Count(pb.CountRequest(collection_name=name, filter_json='{"kind": "b"}'))
    assert count.count == 5
    seen: list[str] = []
    request = pb.ScrollRequest(collection_name=name, limit=4, with_vectors=True, with_payload=True)
    while True:
        page = stub.Scroll(request)
        assert all(len(p.vector) == DIM and p.payload["kind"] for p in page.points)
        seen += [p.id for p in page.points]
        if not page.HasField("next_offset"):
            break
        request.offset = page.next_offset
    assert sorted(seen) == sorted(ids)
    with pytest.raises(grpc.RpcError) as bad:
        stub.Count(pb.CountRequest(collection_name=name, filter_json="{nope"))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_snapshot_rpcs_say_what_to_use(stub: Any) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        stub.ListSnapshots(pb.ListSnapshotsRequest(collection_name="any"))
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "vecfleet snapshot" in (refused.value.details() or "")
