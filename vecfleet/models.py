"""Wire-neutral results shared by the engine, the client and the edges."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vecfleet.types import Payload, PointId, Seq, Vector


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result. cosine/dot: higher score = closer; l2: score is the distance."""

    id: PointId
    score: float
    payload: Payload | None = None
    vector: Vector | None = None


@dataclass(frozen=True, slots=True)
class Point:
    id: PointId
    payload: Payload
    vector: Vector | None = None


@dataclass(frozen=True, slots=True)
class WriteAck:
    """A write is acknowledged only once durable; ``seq`` is its position in the log."""

    seq: Seq
    count: int = 0


@dataclass(frozen=True, slots=True)
class Explain:
    """The plan the engine chose for each segment of a search."""

    plans: list[dict[str, Any]] = field(default_factory=list)
    filter: str | None = None
