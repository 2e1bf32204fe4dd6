"""Compact binary cache values: the hits and plan of one search, msgpack-encoded.

Layout (little-endian)::

    offset  size  field
    0       8     expires_at   float64, Unix seconds at which the entry counts as expired
    8       8     compute_s    float64, seconds the backend took (XFetch's delta)
    16      n     body         msgpack array [hits, plan]; a hit is
                               [id, score, payload or nil, float32 vector bytes or nil]

The header is rewritten per tier (each tier has its own TTL) without re-encoding the body.
Pure functions: no clock, no I/O.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from vecfleet.models import Hit

_HEADER = struct.Struct("<dd")
HEADER_BYTES = _HEADER.size

HitRow = tuple[str | int, float, dict[str, Any] | None, bytes | None]
_Body = tuple[list[HitRow], list[dict[str, Any]]]
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Body)


@dataclass(frozen=True, slots=True)
class Entry:
    expires_at: float
    compute_s: float
    body: bytes


def encode_body(hits: list[Hit], plan: list[dict[str, Any]]) -> bytes:
    rows = [
        (
            h.id,
            h.score,
            h.payload,
            None if h.vector is None else np.asarray(h.vector, dtype="<f4").tobytes(),
        )
        for h in hits
    ]
    return _encoder.encode((rows, plan))


def decode_body(body: bytes) -> tuple[list[Hit], list[dict[str, Any]]]:
    rows, plan = _decoder.decode(body)
    hits = [
        Hit(pid, score, payload, None if vec is None else np.frombuffer(vec, dtype="<f4"))
        for pid, score, payload, vec in rows
    ]
    return hits, plan


def pack(entry: Entry) -> bytes:
    return _HEADER.pack(entry.expires_at, entry.compute_s) + entry.body


def unpack(value: bytes) -> Entry:
    """The entry in ``value``; ``ValueError`` if it is too short to hold the header."""
    if len(value) < HEADER_BYTES:
        raise ValueError(f"cache value of {len(value)} bytes has no header")
    expires_at, compute_s = _HEADER.unpack_from(value)
    return Entry(expires_at, compute_s, value[HEADER_BYTES:])
