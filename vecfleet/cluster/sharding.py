"""Shard maps: which shard holds a point, and which shards a filter can match.

A collection is split into ``shards`` shards (DESIGN §4) in one of two ways:

* ``hash``: the point id decides. Ids go through a stable 64-bit key (blake2b of a
  type-tagged encoding, so ``"a"``, ``1`` and ``"1"`` are three ids and every process
  agrees) and then through jump consistent hashing, which spreads ids evenly and, when
  the shard count grows from n to n + 1, moves only about 1/(n + 1) of them.
* ``key``: a payload field (such as ``industry``) decides. ``key_map`` pins chosen
  values to shards (a large tenant on a shard of its own); any other value is
  jump-hashed. A filter that pins the field then visits only the shards that can hold a
  match, which is the point of sharding by key.

Key sharding is sound only because the engine compares a keyword (or undeclared)
field's strings exactly. So the key must be a single string on every point, and a
collection must not declare the key field with another type: on a datetime field
``"2020-01-01"`` equals ``"2020-01-01T00:00:00Z"``, and pruning by string would drop
matches. ``ShardMap.check_schema`` refuses such a schema at collection creation.

A ``ShardMap`` is a value: it is stored as JSON in NATS KV next to the placement of
shard replicas, and every gateway routes with the same map.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec

from vecfleet.errors import ValidationError
from vecfleet.types import Payload, PointId

ShardKind = Literal["hash", "key"]

_U64 = (1 << 64) - 1
_JUMP_MULTIPLIER = 2862933555777941757  # the 64-bit LCG of Lamping & Veach
MAX_SHARDS = 1 << 16  # far above any real cluster; keeps maps and fan-outs sane


def jump_hash(key: int, buckets: int) -> int:
    """The bucket in ``[0, buckets)`` of a 64-bit ``key`` (Lamping & Veach, 2014).

    Chosen over a hash ring because it needs no table, is perfectly balanced and moves
    the fewest keys when ``buckets`` grows; shards are numbered, never removed from the
    middle, which is the one case it does not serve. ``key`` is taken modulo 2**64.
    """
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, got {buckets}")
    key &= _U64
    bucket, jump = -1, 0
    while jump < buckets:
        bucket = jump
        key = (key * _JUMP_MULTIPLIER + 1) & _U64
        jump = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket


def stable_key(value: PointId) -> int:
    """A 64-bit key of a point id (or key value) that is the same in every process.

    Python's ``hash`` is salted per process, so it would route the same id to different
    shards on two gateways. The type tag keeps ``"1"`` and ``1`` apart, as the engine does.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(
            f"point ids are strings or integers, got {type(value).__name__}", id=repr(value)
        )
    encoded = b"s" + value.encode("utf-8") if isinstance(value, str) else b"i%d" % value
    digest = hashlib.blake2b(encoded, digest_size=8, person=b"vecfleet.shard").digest()
    return int.from_bytes(digest, "little")


class ShardMap(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How one collection's points are spread over ``shards`` shards.

    Unknown fields are refused when decoding, so a gateway that is older than the map in
    NATS KV fails loudly instead of routing by rules it does not know.
    """

    kind: ShardKind
    shards: int
    field: str | None = None
    key_map: dict[str, int] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= MAX_SHARDS:
            raise ValidationError(
                f"shards must be in 1..{MAX_SHARDS}, got {self.shards}", shards=self.shards
            )
        if self.kind == "hash":
            if self.field is not None or self.key_map:
                raise ValidationError(
                    "hash sharding takes no field or key_map; use kind 'key' to route by a field"
                )
            return
        if not self.field:
            raise ValidationError("key sharding needs the payload field that picks the shard")
        for value, shard in self.key_map.items():
            if not 0 <= shard < self.shards:
                raise ValidationError(
                    f"key_map sends {value!r} to shard {shard}; shards are 0..{self.shards - 1}",
                    value=value,
                    shard=shard,
                )

    # --- serialisation (NATS KV) ---------------------------------------------------------

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def from_json(cls, data: bytes | str) -> ShardMap:
        """The map stored as ``data``; anything malformed is a ``ValidationError``."""
        try:
            return msgspec.json.decode(data, type=cls)
        except msgspec.ValidationError as exc:
            raise ValidationError(f"invalid shard map: {exc}") from exc
        except msgspec.DecodeError as exc:
            raise ValidationError(f"shard map is not valid JSON: {exc}") from exc

    # --- routing -------------------------------------------------------------------------

    def check_schema(self, declared: Mapping[str, str]) -> None:
        """Refuse a payload schema under which pruning by key would lose matches.

        ``declared`` maps field names to their declared types. The key field must be a
        keyword or undeclared: other types compare values that are not equal as strings
        as equal (datetimes as instants, numbers as numbers).
        """
        field = self.field
        if self.kind != "key" or field is None or field not in declared:
            return
        if declared[field] != "keyword":
            raise ValidationError(
                f"field {field!r} shards the collection, so it must be declared keyword "
                f"(or left undeclared), not {declared[field]}",
                field=field,
            )

    def shard_of(self, point_id: PointId, payload: Payload | None = None) -> int:
        """The shard that holds ``point_id`` (with ``payload``, which key sharding needs).

        Key sharding refuses a point without a single string in the key field: such a
        point would have no shard a filter on the key could find. An update that changes
        the key moves the point, so the writer must delete it from its old shard.
        """
        if self.kind == "hash":
            return jump_hash(stable_key(point_id), self.shards)
        value = (payload or {}).get(self.field or "")
        if value is None:
            raise ValidationError(
                f"point {point_id!r} has no {self.field!r}: the field is required by the "
                f"collection's sharding (kind key)",
                field=self.field,
                id=point_id,
            )
        if not isinstance(value, str):
            raise ValidationError(
                f"point {point_id!r} has {self.field!r} = {value!r}; the collection is sharded "
                f"by this field, so it must be a single string",
                field=self.field,
                id=point_id,
            )
        return self.shard_of_value(value)

    def shard_of_value(self, value: str) -> int:
        """The shard of the points whose key field holds ``value`` (key sharding)."""
        pinned = self.key_map.get(value)
        return pinned if pinned is not None else jump_hash(stable_key(value), self.shards)

    def all_shards(self) -> list[int]:
        return list(range(self.shards))

    def shards_for_filter(self, flt: Mapping[str, Any] | None) -> list[int]:
        """Sorted shards that may hold a point matching ``flt``; never empty.

        Only key sharding prunes, and only when the filter pins the key field by a string
        (``{"f": "a"}``, ``$eq``, ``$in``) in a conjunction: the filter's top level, an
        operator object, or ``$and`` (nested). Every other shape (``$or``, ``$ne``,
        ``$nin``, ``$not``, ranges, ``$exists``, null operands, malformed filters) leaves
        the answer at all shards, so a shard that could hold a match is never skipped.
        Pins that contradict each other also visit all shards: no point can match, and
        the nodes still validate the filter and answer with no hits.
        """
        if self.kind == "hash" or not flt or self.field is None:
            return self.all_shards()
        values = _pinned_values(flt, self.field)
        shards = sorted({self.shard_of_value(v) for v in values or ()})
        return shards or self.all_shards()

    def group_ids(
        self, ids: Sequence[PointId], payloads: Sequence[Payload] | None = None
    ) -> dict[int, list[PointId]]:
        """The ids each shard must receive, in input order, for one call per shard.

        Hash sharding needs only the ids. Key sharding needs each point's payload: a
        write has it; a get or delete by id alone cannot know the shard, so every shard
        receives every id (each answers for the ids it holds and ignores the rest).
        """
        if self.kind == "key" and payloads is None:
            return {shard: list(ids) for shard in self.all_shards()} if ids else {}
        if payloads is not None and len(payloads) != len(ids):
            raise ValidationError(
                f"{len(ids)} ids but {len(payloads)} payloads; they must pair up one to one"
            )
        groups: dict[int, list[PointId]] = {}
        for row, point_id in enumerate(ids):
            payload = payloads[row] if payloads is not None else None
            groups.setdefault(self.shard_of(point_id, payload), []).append(point_id)
        return groups


def _pinned_values(flt: Any, field: str) -> frozenset[str] | None:
    """The key values a point matching ``flt`` may hold, or ``None`` for any value.

    Walks conjunctions only: each conjunct that pins the field gives a superset of the
    values a match can hold, so their intersection does too; conjuncts that do not pin
    (other fields, ``$or``, ``$not``) cannot widen it and are skipped.
    """
    if not isinstance(flt, Mapping):
        return None
    pins: list[frozenset[str]] = []
    for key, cond in flt.items():
        if key == "$and" and isinstance(cond, list | tuple):
            pins.extend(p for p in (_pinned_values(sub, field) for sub in cond) if p is not None)
        elif key == field:
            pins.extend(_field_pins(cond))
    return frozenset.intersection(*pins) if pins else None


def _field_pins(cond: Any) -> list[frozenset[str]]:
    """Value sets pinned by one field condition: a plain string, ``$eq`` or ``$in``."""
    if isinstance(cond, str):
        return [frozenset((cond,))]
    if not isinstance(cond, Mapping):
        return []
    pins: list[frozenset[str]] = []
    for op, operand in cond.items():
        if op == "$eq" and isinstance(operand, str):
            pins.append(frozenset((operand,)))
        elif (
            op == "$in"
            and isinstance(operand, list | tuple)
            and operand
            and all(isinstance(v, str) for v in operand)
        ):
            pins.append(frozenset(operand))
    return pins
