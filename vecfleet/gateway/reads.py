"""How fresh a read must be, as the gateway receives it, and what it needs of a collection.

A request names a consistency level (``ReadOptions``); the router turns it into one
``models.ReadGate`` per shard (``router.py``): the sequence the replica must have applied
and the lag it may have, within the request's deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from vecfleet.engine.config import CollectionConfig

CONSISTENCY_LEVELS = ("strong", "session", "bounded", "eventual")


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How fresh a read must be and how long it may take.

    ``consistency``: ``strong`` (the replica applied the shard's last write), ``session``
    (it applied ``min_seq``, the caller's last write), ``bounded`` (its lag is at most
    ``max_lag_ms``), ``eventual`` (any replica).
    """

    consistency: str = "bounded"
    min_seq: int = 0
    max_lag_ms: float = 1000.0
    timeout_s: float = 5.0


DEFAULT_READ = ReadOptions()


class CollectionRef(Protocol):
    """What validation needs of a collection: its name, settings and newest write."""

    name: str
    config: CollectionConfig

    @property
    def applied_seq(self) -> int: ...


__all__ = ["CONSISTENCY_LEVELS", "DEFAULT_READ", "CollectionRef", "ReadOptions"]
