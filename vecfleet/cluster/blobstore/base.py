"""The ``BlobStore`` seam: where shard snapshots live so any replica can start from one.

A replica uploads a snapshot after taking it, and a new or restarted replica downloads
the newest one instead of replaying the whole log; the log is purged only below a
snapshot the blob store holds. Implementations: ``NatsBlobStore`` (a JetStream object
store bucket per collection, cluster mode) and ``LocalBlobStore`` (a directory: tests,
laptops, or a shared filesystem). An S3 implementation would slot in the same way.

What travels is a *restorable directory*: ``snapshots/<seq>/`` plus every
``segments/<uid>/`` it references, the layout ``Database`` opens (see
``vecfleet.engine.snapshot``). It is carried as one uncompressed tar (``archive.py``):
FAISS indexes and float32 vectors do not compress, and one object per snapshot makes
"the snapshot is there" a single atomic fact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from vecfleet.types import Seq


class BlobStore(Protocol):
    """Durable storage of shard snapshots, addressed by (collection, shard, seq)."""

    def put_snapshot(self, collection: str, shard: int, seq: Seq, directory: Path) -> None:
        """Store the restorable ``directory`` as the snapshot at ``seq``.

        Durable and visible to ``newest_snapshot`` when it returns; a failed or
        interrupted put leaves no visible snapshot. Older snapshots of the shard beyond
        the store's retention are removed afterwards.
        """
        ...

    def newest_snapshot(self, collection: str, shard: int) -> Seq | None:
        """Sequence of the newest stored snapshot of the shard, ``None`` if there is none."""
        ...

    def fetch_snapshot(self, collection: str, shard: int, seq: Seq, into_directory: Path) -> None:
        """Unpack the snapshot at ``seq`` into the empty ``into_directory``.

        Raises ``NotFound`` when it is no longer stored (a newer one replaced it: ask
        ``newest_snapshot`` again) and ``CorruptData`` when the transfer fails its checks.
        The content is verified by whoever opens it (the engine's own manifests).
        """
        ...

    def delete_collection(self, collection: str) -> None:
        """Remove every snapshot of every shard of ``collection``; idempotent."""
        ...
