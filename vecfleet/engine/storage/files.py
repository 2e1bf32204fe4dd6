"""Helpers that make file writes atomic and checkable: fsync, rename, CRC32C manifests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import google_crc32c

from vecfleet.errors import CorruptData


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (a rename is durable only once its directory is synced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_crc32c(path: Path) -> str:
    """The file's CRC32C as 8 hex digits."""
    crc = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            crc = google_crc32c.extend(crc, chunk)
    return f"{crc:08x}"


def describe_files(directory: Path, files: list[Path]) -> dict[str, dict[str, Any]]:
    """Size and checksum of each file, keyed by its path relative to ``directory``."""
    return {
        str(f.relative_to(directory)): {"bytes": f.stat().st_size, "crc32c": file_crc32c(f)}
        for f in sorted(files)
    }


def verify_files(directory: Path, listing: dict[str, dict[str, Any]]) -> None:
    """Raise ``CorruptData`` naming the first file that is missing, short or fails its CRC."""
    for name, meta in listing.items():
        path = directory / name
        if not path.exists():
            raise CorruptData(f"{path} is missing", path=str(path))
        if path.stat().st_size != meta["bytes"]:
            raise CorruptData(
                f"{path} has {path.stat().st_size} bytes, manifest says {meta['bytes']}",
                path=str(path),
            )
        if file_crc32c(path) != meta["crc32c"]:
            raise CorruptData(f"{path} fails its CRC32C check", path=str(path))


def sync_tree(directory: Path) -> None:
    """fsync every file below ``directory`` and every directory, deepest first."""
    for root, _dirs, names in os.walk(directory, topdown=False):
        for name in names:
            fsync_path(Path(root) / name)
        fsync_path(Path(root))


def write_json_atomic(path: Path, value: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as handle:
        json.dump(value, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)
