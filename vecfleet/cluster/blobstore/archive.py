"""Packing a restorable snapshot directory into one tar stream, and back. Pure file work.

A *restorable directory* holds ``snapshots/<seq, 20 digits>/`` and the ``segments/<uid>/``
that snapshot references: the layout ``Database`` opens (see ``vecfleet.engine.snapshot``).
This module treats it as opaque files under those two names; which segments belong to a
snapshot, and whether its files are intact, is the engine's business (CRC32C manifests,
checked when the database opens), so nothing here imports the engine and a gateway can
load the cluster package without it.

Unpacking refuses anything outside the two top-level folders, absolute paths, ``..``,
links and device files (``tarfile``'s ``data`` filter), so a hostile object cannot write
outside the target directory.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path
from typing import BinaryIO

from vecfleet.errors import CorruptData

TOP_LEVEL = ("snapshots", "segments")


def pack(directory: Path, out: BinaryIO) -> None:
    """Write ``directory``'s ``snapshots/`` and ``segments/`` to ``out`` as a tar stream."""
    with tarfile.open(fileobj=out, mode="w|") as tar:
        for top in TOP_LEVEL:
            if (directory / top).exists():
                tar.add(directory / top, arcname=top, recursive=True)


def unpack(source: BinaryIO, into: Path) -> None:
    """Extract a packed directory into the empty (or absent) directory ``into``."""
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


def link_tree(source: Path, target: Path) -> None:
    """Recreate ``source`` under ``target`` with hard links (copies across filesystems).

    Snapshot and segment files never change once written, so a link is as good as a copy,
    costs nothing, and keeps the file alive if the database removes the original
    meanwhile. Raises ``FileNotFoundError`` if ``source`` is gone.
    """
    if not source.is_dir():
        raise FileNotFoundError(f"{source} is gone")
    for root, _dirs, names in os.walk(source):
        folder = target / Path(root).relative_to(source)
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            try:
                os.link(Path(root) / name, folder / name)
            except OSError:
                shutil.copy2(Path(root) / name, folder / name)


def fsync_dir(path: Path) -> None:
    """fsync a directory, so the renames into it are durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
