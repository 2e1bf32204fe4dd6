"""Snapshot storage for shard replicas: the ``BlobStore`` seam and its implementations."""

from vecfleet.cluster.blobstore.base import BlobStore
from vecfleet.cluster.blobstore.local import LocalBlobStore
from vecfleet.cluster.blobstore.nats_object import NatsBlobStore

__all__ = ["BlobStore", "LocalBlobStore", "NatsBlobStore"]
