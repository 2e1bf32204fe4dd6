"""``BlobStore`` in a local directory: tests, laptops, or a filesystem all nodes mount.

```
<root>/<collection>/<shard>/<seq, 20 digits>.tar     one packed snapshot (archive.py)
<root>/<collection>/<shard>/.tmp-*.tar              a put in progress, never listed
```
A put writes the temp file, fsyncs it, renames it into place and fsyncs the directory,
so a snapshot is either wholly there or not listed (STYLE 11).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from vecfleet.cluster.blobstore.archive import fsync_dir, pack, unpack
from vecfleet.cluster.subjects import check_shard, cluster_collection_name
from vecfleet.errors import NotFound
from vecfleet.types import Seq


class LocalBlobStore:
    """Snapshots as tar files under ``root``; keeps the newest ``keep`` per shard."""

    def __init__(self, root: str | os.PathLike[str], keep: int = 2) -> None:
        self.root = Path(root)
        self.keep = max(keep, 1)
        self.puts = 0
        self.fetches = 0

    def _shard_dir(self, collection: str, shard: int) -> Path:
        return self.root / cluster_collection_name(collection) / str(check_shard(shard))

    def put_snapshot(self, collection: str, shard: int, seq: Seq, directory: Path) -> None:
        folder = self._shard_dir(collection, shard)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".tmp-{uuid.uuid4().hex}.tar"
        try:
            with open(tmp, "wb") as out:
                pack(directory, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, folder / f"{seq:020d}.tar")
            fsync_dir(folder)
        finally:
            tmp.unlink(missing_ok=True)
        self.puts += 1
        for old in self._listed(folder)[self.keep :]:
            old.unlink(missing_ok=True)

    def newest_snapshot(self, collection: str, shard: int) -> Seq | None:
        listed = self._listed(self._shard_dir(collection, shard))
        return int(listed[0].stem) if listed else None

    def fetch_snapshot(self, collection: str, shard: int, seq: Seq, into_directory: Path) -> None:
        path = self._shard_dir(collection, shard) / f"{seq:020d}.tar"
        try:
            source = open(path, "rb")  # noqa: SIM115 - closed below, after the unpack
        except FileNotFoundError:
            raise NotFound(f"snapshot {seq} of {collection}/{shard} is not stored") from None
        with source:
            unpack(source, into_directory)
        self.fetches += 1

    def delete_collection(self, collection: str) -> None:
        shutil.rmtree(self.root / cluster_collection_name(collection), ignore_errors=True)

    @staticmethod
    def _listed(folder: Path) -> list[Path]:
        """Stored snapshots, newest first."""
        if not folder.exists():
            return []
        found = [p for p in folder.glob("*.tar") if p.stem.isdigit() and len(p.stem) == 20]
        return sorted(found, reverse=True)
