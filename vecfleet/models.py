"""Wire-neutral results shared by the engine, the client and the edges.

msgspec structs: a search builds one ``Hit`` per result, and these construct several times
faster than frozen dataclasses, which matters at tens of thousands of searches a second.
Results are not tracked by the cycle collector (``gc=False``): they hold no cycles, and
thousands of them kept by a caller would otherwise make every collection pass slower.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Hit(msgspec.Struct, frozen=True, gc=False):
    """One search result. cosine/dot: higher score = closer; l2: score is the distance."""

    id: str | int
    score: float
    payload: dict[str, Any] | None = None
    vector: Any = None  # numpy float32 row when asked for


class Point(msgspec.Struct, frozen=True, gc=False):
    id: str | int
    payload: dict[str, Any]
    vector: Any = None


class WriteAck(msgspec.Struct, frozen=True):
    """A write is acknowledged only once durable; ``seq`` is its position in the log."""

    seq: int
    count: int = 0


class Explain(msgspec.Struct, frozen=True):
    """The plan the engine chose for each segment of a search."""

    plans: list[dict[str, Any]] = []
    filter: str | None = None
