"""Snapshot storage for shard replicas: the ``BlobStore`` seam and its implementations.

``NatsBlobStore`` is imported on first use, so code that needs only the protocol (a
replica) or the local store does not load the NATS client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vecfleet.cluster.blobstore.base import BlobStore
from vecfleet.cluster.blobstore.local import LocalBlobStore

if TYPE_CHECKING:
    from vecfleet.cluster.blobstore.nats_object import NatsBlobStore

__all__ = ["BlobStore", "LocalBlobStore", "NatsBlobStore"]


def __getattr__(name: str) -> object:
    if name == "NatsBlobStore":
        from vecfleet.cluster.blobstore.nats_object import NatsBlobStore

        return NatsBlobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
