"""Sealed segments on disk: written once when built, referenced by every later snapshot.

```
segments/<uid>/
  index.faiss      FAISS write_index output (holds the vectors for flat and hnsw)
  vectors.f32      full-precision rows for rescoring (hnsw_sq8, ivf_pq), memory-mapped
  ids.msgpack      row -> point id
  payload/...      payload columns (PayloadColumns.save)
  segment.json     written last: uid, kind, metric, dim, rows, and size + CRC32C per file
```
A directory without ``segment.json`` is an interrupted build and is ignored and removed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec

from vecfleet.engine.index import IndexParams, load_index
from vecfleet.engine.index.partitions import load_partitions, save_partitions
from vecfleet.engine.payload import PayloadColumns, PayloadSchema
from vecfleet.engine.segment.sealed import SealedSegment
from vecfleet.engine.storage.files import (
    describe_files,
    fsync_path,
    sync_tree,
    verify_files,
    write_json_atomic,
)
from vecfleet.errors import CorruptData
from vecfleet.types import Mask, PointId

MANIFEST = "segment.json"
FORMAT_VERSION = 1


def write_segment(directory: Path, segment: SealedSegment, kind: str, metric: str) -> None:
    """Persist a freshly built segment; durable when this returns."""
    directory.mkdir(parents=True, exist_ok=True)
    files = segment.index.save(directory)
    files.extend(save_partitions(directory, list(segment.partitions.values())))
    ids_path = directory / "ids.msgpack"
    ids_path.write_bytes(msgspec.msgpack.encode(segment.ids))
    files.append(ids_path)
    payload_dir = directory / "payload"
    payload_dir.mkdir(exist_ok=True)
    files.extend(segment.payloads.save(payload_dir))
    vectors = directory / "vectors.f32"
    if vectors.exists() and vectors not in files:
        files.append(vectors)
    sync_tree(directory)
    write_json_atomic(
        directory / MANIFEST,
        {
            "format": FORMAT_VERSION,
            "uid": segment.uid,
            "kind": kind,
            "metric": metric,
            "rows": segment.size,
            "files": describe_files(directory, files),
        },
    )
    fsync_path(directory.parent)


def read_segment(
    directory: Path,
    schema: PayloadSchema,
    params: IndexParams,
    alive: Mask | None,
    verify: bool = True,
) -> SealedSegment:
    manifest_path = directory / MANIFEST
    if not manifest_path.exists():
        raise CorruptData(f"segment {directory} has no {MANIFEST}", path=str(directory))
    manifest = msgspec.json.decode(manifest_path.read_bytes())
    if manifest.get("format") != FORMAT_VERSION:
        raise CorruptData(f"segment {directory} has unknown format {manifest.get('format')}")
    if verify:
        verify_files(directory, manifest["files"])
    index = load_index(directory, manifest["metric"], params)
    ids: list[PointId] = msgspec.msgpack.decode((directory / "ids.msgpack").read_bytes())
    payloads = PayloadColumns.load(directory / "payload", schema)
    if len(ids) != manifest["rows"] or len(payloads) != manifest["rows"]:
        raise CorruptData(f"segment {directory} row counts disagree with its manifest")
    partitions = load_partitions(directory, manifest["metric"], params)
    return SealedSegment(manifest["uid"], ids, payloads, index, alive, partitions)


def remove_segment(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
