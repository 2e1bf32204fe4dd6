"""A collection's settings: fixed at creation, stored in the log and in snapshots."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from vecfleet.engine.index import IndexParams
from vecfleet.engine.payload import PayloadSchema
from vecfleet.errors import ValidationError
from vecfleet.types import INDEX_KINDS, METRICS

MAX_DIM = 65536
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def check_collection_name(name: object) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 128 or not set(name) <= NAME_CHARS:
        raise ValidationError(
            f"collection name {name!r} is invalid: use 1-128 characters from a-z, A-Z, 0-9, _ - .",
            field="name",
        )
    if name.startswith("."):
        raise ValidationError("collection name must not start with '.'", field="name")
    return name


@dataclass(frozen=True)
class CollectionConfig:
    name: str
    dim: int
    metric: str = "cosine"
    index: str = "hnsw"
    payload_schema: dict[str, str] = field(default_factory=dict)
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 64
    rescore_factor: int = 4
    ivf_nprobe: int = 64
    seal_rows: int = 100_000
    max_segment_rows: int = 1_000_000
    merge_deleted_fraction: float = 0.2
    partition_fields: list[str] | None = None  # None: every keyword field; []: none
    partition_min_rows: int = 4000
    partition_max_share: float = 0.5

    def __post_init__(self) -> None:
        check_collection_name(self.name)
        if (
            isinstance(self.dim, bool)
            or not isinstance(self.dim, int)
            or not 1 <= self.dim <= MAX_DIM
        ):
            raise ValidationError(
                f"dim must be an integer in 1..{MAX_DIM}, got {self.dim!r}", field="dim"
            )
        if self.metric not in METRICS:
            raise ValidationError(
                f"metric {self.metric!r} is unknown; allowed: {', '.join(METRICS)}", field="metric"
            )
        if self.index not in INDEX_KINDS:
            raise ValidationError(
                f"index {self.index!r} is unknown; allowed: {', '.join(INDEX_KINDS)}", field="index"
            )
        PayloadSchema(self.payload_schema)  # raises on a bad schema
        for name in (
            "hnsw_m",
            "ef_construction",
            "ef_search",
            "rescore_factor",
            "ivf_nprobe",
            "seal_rows",
            "max_segment_rows",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(
                    f"{name} must be a positive integer, got {value!r}", field=name
                )
        if self.partition_fields is not None:
            schema = self.schema
            for name in self.partition_fields:
                if schema.type_of(name) != "keyword":
                    raise ValidationError(
                        f"partition_fields: {name!r} is not a declared keyword field",
                        field="partition_fields",
                    )
        if not 0.0 < self.partition_max_share <= 1.0:
            raise ValidationError(
                "partition_max_share must be in (0, 1]", field="partition_max_share"
            )
        if isinstance(self.partition_min_rows, bool) or not isinstance(
            self.partition_min_rows, int
        ):
            raise ValidationError(
                "partition_min_rows must be an integer", field="partition_min_rows"
            )
        if not 0.0 < self.merge_deleted_fraction <= 1.0:
            raise ValidationError(
                "merge_deleted_fraction must be in (0, 1]", field="merge_deleted_fraction"
            )

    @property
    def schema(self) -> PayloadSchema:
        return PayloadSchema(self.payload_schema)

    @property
    def keyword_partition_fields(self) -> list[str]:
        if self.partition_fields is not None:
            return list(self.partition_fields)
        return [name for name, kind in self.payload_schema.items() if kind == "keyword"]

    @property
    def index_params(self) -> IndexParams:
        return IndexParams(
            hnsw_m=self.hnsw_m,
            ef_construction=self.ef_construction,
            ef_search=self.ef_search,
            rescore_factor=self.rescore_factor,
            ivf_nprobe=self.ivf_nprobe,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CollectionConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValidationError(
                f"unknown collection settings {unknown}; allowed: {sorted(known)}", field=unknown[0]
            )
        return cls(**raw)
