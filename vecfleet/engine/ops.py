"""Log records: every mutation of a database is one of these, encoded with msgpack.

Vectors travel as raw little-endian float32 bytes, already normalised for cosine
collections, so replay does exactly what the first apply did.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from vecfleet.errors import CorruptData
from vecfleet.types import Matrix, PointId


class CreateCollection(msgspec.Struct, tag="create"):
    config: dict[str, Any]


class DropCollection(msgspec.Struct, tag="drop"):
    name: str


class Upsert(msgspec.Struct, tag="upsert"):
    collection: str
    ids: list[str | int]
    dim: int
    vectors: bytes
    payloads: list[dict[str, Any]]

    def matrix(self) -> Matrix:
        return np.frombuffer(self.vectors, dtype="<f4").reshape(len(self.ids), self.dim)


class Delete(msgspec.Struct, tag="delete"):
    collection: str
    ids: list[str | int]


class SetPayload(msgspec.Struct, tag="set_payload"):
    collection: str
    ids: list[str | int]
    payload: dict[str, Any]


Op = CreateCollection | DropCollection | Upsert | Delete | SetPayload

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Op)


def encode_op(op: Op) -> bytes:
    return _encoder.encode(op)


def decode_op(data: bytes) -> Op:
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise CorruptData(f"log record does not decode: {exc}") from exc


def upsert_op(
    collection: str, ids: list[PointId], vectors: Matrix, payloads: list[dict[str, Any]]
) -> Upsert:
    data = np.ascontiguousarray(vectors, dtype="<f4").tobytes()
    return Upsert(collection, list(ids), int(vectors.shape[1]), data, payloads)
