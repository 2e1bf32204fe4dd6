"""Database snapshots: one consistent cut of every collection at a log sequence number.

```
snapshots/<seq, 20 digits>/
  manifest.json          written last; format, seq, created_at, collections, files (+CRC32C),
                         and a CRC32C of the manifest itself
  alive-<uid>.npy        tombstones of each sealed segment at the cut
  growing-<uid>/         unsealed rows: vectors.npy, ids.msgpack, alive.npy, payload/
```
Sealed segments are not copied: they are immutable and already durable under
``segments/<uid>/`` (see ``segment/store.py``), so a snapshot costs the size of its
tombstones and unsealed rows, and recovery never rebuilds an index a snapshot holds.
A snapshot is written into ``.tmp-<seq>``, fsynced, then renamed into place.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google_crc32c
import msgspec
import numpy as np

from vecfleet.engine.config import CollectionConfig
from vecfleet.engine.payload import PayloadColumns
from vecfleet.engine.segment import GrowingSegment, SealedSegment, Segment
from vecfleet.engine.segment.store import read_segment
from vecfleet.engine.storage.files import (
    describe_files,
    fsync_path,
    sync_tree,
    verify_files,
    write_json_atomic,
)
from vecfleet.errors import CorruptData
from vecfleet.types import Seq

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class CollectionCut:
    config: CollectionConfig
    applied_seq: Seq
    sealed: list[tuple[SealedSegment, np.ndarray]]
    loose: list[tuple[str, Segment, bool]]  # (uid, rows, is the active growing segment)


@dataclass(frozen=True)
class SnapshotInfo:
    seq: Seq
    path: Path
    created_at: float
    collections: list[str]
    bytes: int


def snapshot_dir_name(seq: Seq) -> str:
    return f"{seq:020d}"


def write_snapshot(root: Path, seq: Seq, cuts: list[CollectionCut]) -> SnapshotInfo:
    """Write the cut durably; returns once the snapshot directory is in place and synced."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / snapshot_dir_name(seq)
    if final.exists():
        return read_info(final)
    tmp = root / f".tmp-{snapshot_dir_name(seq)}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    files: list[Path] = []
    collections = []
    for cut in cuts:
        entry: dict[str, Any] = {
            "config": cut.config.to_dict(),
            "applied_seq": cut.applied_seq,
            "sealed": [],
            "growing": [],
        }
        for segment, alive in cut.sealed:
            path = tmp / f"alive-{segment.uid}.npy"
            np.save(path, alive)
            files.append(path)
            entry["sealed"].append({"uid": segment.uid, "alive": path.name})
        for uid, loose, active in cut.loose:
            files.extend(_write_growing(tmp / f"growing-{uid}", loose))
            entry["growing"].append({"uid": uid, "dir": f"growing-{uid}", "active": active})
        collections.append(entry)
    created = time.time()
    sync_tree(tmp)
    manifest = {
        "format": FORMAT_VERSION,
        "seq": seq,
        "created_at": created,
        "collections": collections,
        "files": describe_files(tmp, files),
    }
    manifest["checksum"] = manifest_checksum(manifest)
    write_json_atomic(tmp / MANIFEST, manifest)
    tmp.rename(final)
    fsync_path(root)
    return read_info(final)


def _write_growing(directory: Path, segment: Segment) -> list[Path]:
    directory.mkdir()
    np.save(directory / "vectors.npy", np.asarray(segment.vectors()))
    np.save(directory / "alive.npy", np.asarray(segment.alive))
    (directory / "ids.msgpack").write_bytes(msgspec.msgpack.encode(list(segment.ids)))
    payload_dir = directory / "payload"
    payload_dir.mkdir()
    return [
        directory / "vectors.npy",
        directory / "alive.npy",
        directory / "ids.msgpack",
        *segment.payloads.save(payload_dir),
    ]


def read_info(path: Path) -> SnapshotInfo:
    manifest = read_manifest(path)
    return SnapshotInfo(
        seq=manifest["seq"],
        path=path,
        created_at=manifest["created_at"],
        collections=[c["config"]["name"] for c in manifest["collections"]],
        bytes=sum(f["bytes"] for f in manifest["files"].values()),
    )


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = msgspec.json.decode((path / MANIFEST).read_bytes())
    except (OSError, msgspec.DecodeError) as exc:
        raise CorruptData(
            f"snapshot {path} has no readable manifest: {exc}", path=str(path)
        ) from exc
    if manifest.get("format") != FORMAT_VERSION:
        raise CorruptData(f"snapshot {path} has unknown format {manifest.get('format')!r}")
    if manifest.get("checksum") != manifest_checksum(manifest):
        raise CorruptData(f"snapshot {path} has a manifest that fails its checksum")
    return manifest


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """CRC32C of the manifest's canonical JSON without its own checksum field."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return f"{google_crc32c.value(msgspec.json.encode(body, order='sorted')):08x}"


def list_snapshots(root: Path) -> list[Path]:
    """Snapshot directories, newest first (interrupted ``.tmp-`` writes are not listed)."""
    if not root.exists():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir() and p.name.isdigit()), reverse=True)


@dataclass
class LoadedCollection:
    config: CollectionConfig
    applied_seq: Seq
    sealed: list[SealedSegment]
    frozen: list[GrowingSegment]  # full when the cut was taken, index not built yet
    growing: GrowingSegment | None


def load_snapshot(path: Path, segments_dir: Path) -> tuple[Seq, list[LoadedCollection]]:
    """Verify every file the snapshot needs (its own and its segments'), then load it."""
    manifest = read_manifest(path)
    verify_files(path, manifest["files"])
    loaded = []
    for entry in manifest["collections"]:
        config = CollectionConfig.from_dict(entry["config"])
        schema, params = config.schema, config.index_params
        sealed = [
            read_segment(segments_dir / s["uid"], schema, params, np.load(path / s["alive"]))
            for s in entry["sealed"]
        ]
        frozen, growing = [], None
        for g in entry["growing"]:
            segment = _read_growing(path / g["dir"], g["uid"], config)
            if g["active"]:
                growing = segment
            else:
                frozen.append(segment)
        loaded.append(LoadedCollection(config, entry["applied_seq"], sealed, frozen, growing))
    return manifest["seq"], loaded


def _read_growing(directory: Path, uid: str, config: CollectionConfig) -> GrowingSegment:
    segment = GrowingSegment(uid, config.dim, config.schema)
    vectors = np.load(directory / "vectors.npy")
    alive = np.load(directory / "alive.npy")
    ids = msgspec.msgpack.decode((directory / "ids.msgpack").read_bytes())
    payloads = PayloadColumns.load(directory / "payload", config.schema)
    segment.append(ids, vectors, [payloads.payload(r) for r in range(len(payloads))])
    for row in np.flatnonzero(~alive).tolist():
        segment.tombstone(row)
    return segment


def referenced_segments(path: Path) -> set[str]:
    manifest = read_manifest(path)
    return {s["uid"] for c in manifest["collections"] for s in c["sealed"]}


def restore_snapshot(snapshot: Path, segments_dir: Path, target: Path) -> Path:
    """Copy ``snapshot`` and the sealed segments it references into a new data directory.

    The target starts with no log: opening it loads the snapshot and numbers new writes
    after the snapshot's sequence.
    """
    manifest = read_manifest(snapshot)
    verify_files(snapshot, manifest["files"])
    if target.exists() and any(target.iterdir()):
        raise CorruptData(f"restore target {target} is not empty", path=str(target))
    (target / "segments").mkdir(parents=True, exist_ok=True)
    for uid in referenced_segments(snapshot):
        shutil.copytree(segments_dir / uid, target / "segments" / uid)
    shutil.copytree(snapshot, target / "snapshots" / snapshot.name)
    sync_tree(target)
    return target
