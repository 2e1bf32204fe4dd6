"""Names of everything a collection owns in NATS: one stream, one subject per shard, buckets.

Pure functions, no I/O. NATS gives ``.`` a meaning in subjects (a token separator) and
forbids it, with ``*``, ``>`` and whitespace, in stream and bucket names; the engine
allows ``.`` in collection names. Rather than escape (which makes names in NATS tooling
unreadable, and an escape must itself be escaped to stay unambiguous), cluster mode
accepts only names that are already safe everywhere: 1-128 characters from
``a-z A-Z 0-9 _ -``. ``cluster_collection_name`` says so in its error.

| what                         | name                        | example               |
|------------------------------|-----------------------------|-----------------------|
| stream of a collection       | ``VF_<collection>``         | ``VF_incidents``      |
| records of shard ``n``       | ``vf.<collection>.<n>``     | ``vf.incidents.3``    |
| purge floor of shard ``n``   | ``vf.<collection>.<n>.floor`` | ``vf.incidents.3.floor`` |
| snapshot object store bucket | ``vf_snap_<collection>``    | ``vf_snap_incidents`` |
| snapshot object of shard     | ``<n>/<seq, 20 digits>.tar`` | ``3/00000000000000000042.tar`` |
| membership KV bucket         | ``vf_members``              |                       |
| shard placement KV bucket    | ``vf_placement``            |                       |
"""

from __future__ import annotations

import re

from vecfleet.errors import ValidationError
from vecfleet.types import Seq

_SAFE = re.compile(r"[A-Za-z0-9_-]{1,128}")
_SNAPSHOT_OBJECT = re.compile(r"(\d+)/(\d{20})\.tar")

MEMBERSHIP_BUCKET = "vf_members"
PLACEMENT_BUCKET = "vf_placement"


def cluster_collection_name(name: object) -> str:
    """``name`` if it is a collection name NATS can carry unchanged.

    Every such name is also valid in the engine (a subset of its alphabet, no leading
    ``.``), so this one check serves both; it is kept here, free of engine imports, so a
    gateway that only publishes does not load the engine.
    """
    if not isinstance(name, str) or not _SAFE.fullmatch(name):
        raise ValidationError(
            f"collection name {name!r} cannot be used in cluster mode: NATS subjects and "
            "stream names allow only a-z, A-Z, 0-9, _ and - (no '.')",
            field="name",
        )
    return name


def check_shard(shard: object) -> int:
    if isinstance(shard, bool) or not isinstance(shard, int) or shard < 0:
        raise ValidationError(f"shard must be a non-negative integer, got {shard!r}", field="shard")
    return shard


def stream_name(collection: str) -> str:
    """The JetStream stream that holds every shard's records of ``collection``."""
    return f"VF_{cluster_collection_name(collection)}"


def shard_subject(collection: str, shard: int) -> str:
    """The subject whose messages, in stream order, are shard ``shard``'s log."""
    return f"vf.{cluster_collection_name(collection)}.{check_shard(shard)}"


def floor_subject(collection: str, shard: int) -> str:
    """Where the shard's purge floor lives: records below it may have been purged."""
    return f"{shard_subject(collection, shard)}.floor"


def stream_subjects(collection: str, shards: int) -> list[str]:
    """Subjects the collection's stream binds: the shards' logs and their purge floors.

    Shards are listed one by one (not ``vf.<c>.*``) so a publish to a shard the collection
    does not have finds no stream and fails, instead of being stored and never read.
    """
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise ValidationError(f"shards must be a positive integer, got {shards!r}")
    name = cluster_collection_name(collection)
    return [shard_subject(name, n) for n in range(shards)] + [f"vf.{name}.*.floor"]


def snapshot_bucket(collection: str) -> str:
    """Object store bucket holding the snapshots of every shard of ``collection``."""
    return f"vf_snap_{cluster_collection_name(collection)}"


def snapshot_object(shard: int, seq: Seq) -> str:
    return f"{check_shard(shard)}/{seq:020d}.tar"


def parse_snapshot_object(name: str) -> tuple[int, Seq] | None:
    """``(shard, seq)`` of a snapshot object name, ``None`` for any other object."""
    match = _SNAPSHOT_OBJECT.fullmatch(name)
    return (int(match.group(1)), int(match.group(2))) if match else None
