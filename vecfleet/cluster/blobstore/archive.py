"""Packing a restorable snapshot directory into one tar stream, and back. Pure file work.

Layout inside the tar (paths relative to the directory)::

    snapshots/<seq, 20 digits>/manifest.json, ...   the snapshot (engine/snapshot.py)
    segments/<uid>/segment.json, ...                 each sealed segment it references

Integrity is the engine's: the snapshot manifest and each segment.json carry a CRC32C of
every file, checked when the database opens. Unpacking refuses absolute paths, ``..``,
links and device files (``tarfile``'s ``data`` filter), so a hostile object cannot write
outside the target directory.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path
from typing import BinaryIO

from vecfleet.engine.snapshot import list_snapshots, read_info, referenced_segments
from vecfleet.errors import CorruptData
from vecfleet.types import Seq

TOP_LEVEL = ("snapshots", "segments")


def pack(directory: Path, out: BinaryIO) -> None:
    """Write ``directory`` (``snapshots/`` + ``segments/``) to ``out`` as a tar stream."""
    with tarfile.open(fileobj=out, mode="w|") as tar:
        for top in TOP_LEVEL:
            if (directory / top).exists():
                tar.add(directory / top, arcname=top, recursive=True)


def unpack(source: BinaryIO, into: Path) -> Seq:
    """Extract a packed snapshot into the empty directory ``into``; returns its sequence."""
    into.mkdir(parents=True, exist_ok=True)
    if any(into.iterdir()):
        raise CorruptData(f"unpack target {into} is not empty", path=str(into))
    try:
        with tarfile.open(fileobj=source, mode="r|") as tar:
            for member in tar:
                if member.name.split("/", 1)[0] not in TOP_LEVEL:
                    raise CorruptData(f"snapshot archive holds unexpected {member.name!r}")
                tar.extract(member, into, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise CorruptData(f"snapshot archive does not unpack: {exc}", path=str(into)) from exc
    snapshots = list_snapshots(into / "snapshots")
    if len(snapshots) != 1:
        raise CorruptData(f"snapshot archive holds {len(snapshots)} snapshots, expected 1")
    return read_info(snapshots[0]).seq


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link ``source`` to ``target`` (same filesystem), else copy it.

    Snapshot and segment files never change once written, so a link is as good as a
    copy and keeps the file alive even if the database trims the original meanwhile.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def stage(snapshot: Path, segments_dir: Path, target: Path) -> Seq:
    """Lay out ``snapshot`` and the segments it references as a restorable ``target``.

    Files are hard-linked, so staging a large snapshot costs no copy; ``target`` must not
    exist. Raises ``FileNotFoundError`` if the database removed a file meanwhile (the
    caller takes a new snapshot and stages that).
    """
    target.mkdir(parents=True)
    info = read_info(snapshot)
    for uid in sorted(referenced_segments(snapshot)):
        _link_tree(segments_dir / uid, target / "segments" / uid)
    _link_tree(snapshot, target / "snapshots" / snapshot.name)
    return info.seq


def _link_tree(source: Path, target: Path) -> None:
    if not source.is_dir():
        raise FileNotFoundError(f"{source} is gone")
    target.mkdir(parents=True, exist_ok=True)
    for root, _dirs, names in os.walk(source):
        relative = Path(root).relative_to(source)
        (target / relative).mkdir(parents=True, exist_ok=True)
        for name in names:
            link_or_copy(Path(root) / name, target / relative / name)
