"""The one error ↔ gRPC status table, and errors rebuilt from trailing metadata."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from vecfleet.errors import (
    ALL_ERRORS,
    AlreadyExists,
    CollectionExists,
    CollectionNotFound,
    CorruptData,
    DeadlineExceeded,
    FilterError,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ReplicaBehind,
    ShardNotHosted,
    StorageError,
    Unavailable,
    ValidationError,
    VecfleetError,
)
from vecfleet.transport.status import (
    ERROR_METADATA_KEY,
    GRPC_STATUS,
    error_from_status,
    error_metadata,
    grpc_status_for,
)

Code = grpc.StatusCode

SAMPLES: dict[type[VecfleetError], VecfleetError] = {
    VecfleetError: VecfleetError("something broke"),
    ValidationError: ValidationError("vector must have 4 numbers", field="vector", row=2),
    FilterError: FilterError("unknown operator '$near'", "$.severity.$near"),
    MalformedRequest: MalformedRequest("filter is not valid JSON", field="filter"),
    NotFound: NotFound("vector 'x' does not exist", id="x"),
    CollectionNotFound: CollectionNotFound("incidents"),
    AlreadyExists: AlreadyExists("snapshot 7 already exists"),
    CollectionExists: CollectionExists("incidents"),
    PayloadTooLarge: PayloadTooLarge("body too large", limit_bytes=1024),
    Unavailable: Unavailable("the embedding model is down"),
    ShardNotHosted: ShardNotHosted("incidents", 3, "node-b"),
    ReplicaBehind: ReplicaBehind("behind", collection="c", shard=0, applied_seq=4, min_seq=9),
    DeadlineExceeded: DeadlineExceeded("too slow", node_id="node-b"),
    RateLimited: RateLimited("too many requests for this key", retry_after_s=2.6),
    StorageError: StorageError("the log refused a write"),
    CorruptData: CorruptData("segment 3 fails its CRC"),
}


def test_every_error_class_has_a_grpc_status() -> None:
    assert set(GRPC_STATUS) == set(ALL_ERRORS)
    assert set(SAMPLES) == set(ALL_ERRORS)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (FilterError("x", "$.a"), Code.INVALID_ARGUMENT),
        (CollectionNotFound("c"), Code.NOT_FOUND),
        (ShardNotHosted("c", 1), Code.UNAVAILABLE),
        (ReplicaBehind("x"), Code.UNAVAILABLE),
        (DeadlineExceeded("x"), Code.DEADLINE_EXCEEDED),
        (RateLimited("x", 1.0), Code.RESOURCE_EXHAUSTED),
        (CorruptData("x"), Code.DATA_LOSS),
        (VecfleetError("x"), Code.INTERNAL),
    ],
)
def test_grpc_status_for(exc: VecfleetError, code: grpc.StatusCode) -> None:
    assert grpc_status_for(exc) == code


def test_subclass_without_an_entry_gets_its_parents_status() -> None:
    class OddBehind(ReplicaBehind):
        code = "odd_behind"

    assert grpc_status_for(OddBehind("x")) == Code.UNAVAILABLE


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda cls: cls.code)
def test_metadata_rebuilds_every_error_exactly(cls: type[VecfleetError]) -> None:
    sent = SAMPLES[cls]
    got = error_from_status(grpc_status_for(sent), sent.message, error_metadata(sent), "n:1")
    assert type(got) is cls
    assert str(got) == str(sent)
    assert got.message == sent.message
    assert got.details == sent.details
    assert vars(got) == vars(sent)


def test_structured_fields_survive() -> None:
    def through(exc: VecfleetError) -> VecfleetError:
        return error_from_status(grpc_status_for(exc), "", error_metadata(exc), "n:1")

    bad_filter = through(FilterError("unknown operator '$near'", "$.severity.$near"))
    assert isinstance(bad_filter, FilterError)
    assert bad_filter.path == "$.severity.$near"
    missing = through(CollectionNotFound("incidents"))
    assert isinstance(missing, CollectionNotFound)
    assert missing.name == "incidents"
    limited = through(RateLimited("slow down", retry_after_s=2.6))
    assert isinstance(limited, RateLimited)
    assert limited.retry_after_s == pytest.approx(2.6)
    elsewhere = through(ShardNotHosted("incidents", 3, "node-b"))
    assert isinstance(elsewhere, ShardNotHosted)
    assert (elsewhere.collection, elsewhere.shard) == ("incidents", 3)
    behind = through(ReplicaBehind("behind", applied_seq=np.int64(12)))
    assert isinstance(behind, ReplicaBehind)
    assert behind.applied_seq == 12


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (Code.UNAVAILABLE, Unavailable),
        (Code.CANCELLED, Unavailable),
        (Code.DEADLINE_EXCEEDED, DeadlineExceeded),
        (Code.RESOURCE_EXHAUSTED, PayloadTooLarge),
        (Code.UNIMPLEMENTED, VecfleetError),
        (Code.UNKNOWN, VecfleetError),
    ],
)
def test_statuses_without_metadata(code: grpc.StatusCode, cls: type[VecfleetError]) -> None:
    exc = error_from_status(code, "Connection refused", None, "10.0.0.7:7070")
    assert type(exc) is cls
    assert "10.0.0.7:7070" in exc.message


def test_unknown_code_from_a_newer_node_falls_back_by_status() -> None:
    newer = NotFound("no such snapshot")
    newer.code = "snapshot_not_found"
    exc = error_from_status(Code.NOT_FOUND, "x", error_metadata(newer), "n:1")
    assert type(exc) is NotFound
    assert exc.code == "not_found"
    assert exc.message == "no such snapshot"


def test_garbage_metadata_is_ignored() -> None:
    metadata = ((ERROR_METADATA_KEY, b"{not json"), ("other", "value"))
    exc = error_from_status(Code.UNAVAILABLE, "down", metadata, "n:1")
    assert type(exc) is Unavailable
