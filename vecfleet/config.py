"""Typed settings, validated once at start (STYLE 14).

Layers, later wins: defaults → TOML file (``--config``) → ``VECFLEET__SECTION__KEY``
environment variables → command-line flags. Sections are passed down whole; nothing below
``runtime`` and ``cli`` reads the environment.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from vecfleet.errors import ValidationError
from vecfleet.types import DURABILITY_MODES

ENV_PREFIX = "VECFLEET__"


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    data_dir: str = "./data"
    max_body_bytes: int = 32 << 20
    search_threads: int = 4
    write_threads: int = 2
    # Searches that differ only in their vector share one backend call (gateway/batcher.py)
    # up to this many; 1 turns batching off.
    batch_max: int = 32
    batch_wait_ms: float = 2.0
    # Repeated searches answered by the HTTP connection itself from the edge L1
    # (api/edge.py); false sends every request through the ASGI app.
    edge_answers: bool = True
    # d-vecDB's gRPC service (api/dvecdb_grpc.py) on this port; 0 leaves it off.
    dvecdb_grpc_port: int = 0


@dataclass(frozen=True)
class StorageSettings:
    durability: str = "fsync"
    snapshot_every_rows: int = 250_000
    snapshot_every_s: float = 600.0
    keep_snapshots: int = 2


@dataclass(frozen=True)
class EmbedSettings:
    model: str = "minilm"  # minilm | hash | openai
    base_url: str = ""
    api_key: str = ""
    openai_model: str = "text-embedding-3-small"
    dim: int = 384
    max_batch: int = 64
    max_wait_ms: float = 2.0
    cache_entries: int = 50_000
    cache_ttl_s: float = 3600.0
    # torch threads for the local model. One leaves the other core to searches and HTTP;
    # letting torch and FAISS each start a thread per core cut text search to a third.
    threads: int = 1


@dataclass(frozen=True)
class CacheSettings:
    """Result cache tiers (DESIGN §5.4). An empty URL turns that tier off; L1 is off at
    ``l1_bytes = 0``. ``namespace`` prefixes every key: gateways that serve the same data
    share it; empty means one derived from this host and data directory, so servers of
    different data never share entries. ``bus_url`` is the Redis server that carries
    write epochs between gateways of the same data; empty keeps them in-process, which
    is right for a server that alone holds its data directory."""

    enabled: bool = True
    l1_bytes: int = 256 << 20
    l1_ttl_s: float = 60.0
    # The HTTP edge's share of L1: encoded answers of byte-identical repeated searches
    # (api/hot.py). 0 turns it off; it is off whenever L1 is.
    l1_response_bytes: int = 64 << 20
    l2_url: str = ""
    l2_ttl_s: float = 300.0
    l3_url: str = ""
    l3_ttl_s: float = 3600.0
    bus_url: str = ""
    namespace: str = ""
    timeout_ms: float = 20.0
    pool_size: int = 32
    breaker_failures: int = 5
    breaker_reset_s: float = 1.0
    ttl_jitter: float = 0.1
    xfetch_beta: float = 1.0
    # Cache-Control max-age of GET searches. 0 makes HTTP caches revalidate every time
    # (cheap: a 304 needs no search) and so never serve an answer older than a write.
    http_max_age_s: int = 0


@dataclass(frozen=True)
class DemoSettings:
    enabled: bool = True
    collection: str = "incidents"
    size: int = 78_767
    seed: int = 7


@dataclass(frozen=True)
class NatsSettings:
    """The NATS server (JetStream on) that carries cluster mode's logs and state."""

    url: str = "nats://127.0.0.1:4222"
    stream_replicas: int = 1  # 3 in production: a write is acknowledged by a quorum


@dataclass(frozen=True)
class ClusterSettings:
    """Cluster mode: node identity and placement defaults, and how gateways read.

    ``consistency`` is the default read level (``strong``, ``session``, ``bounded``,
    ``eventual``); ``max_lag_ms`` bounds a ``bounded`` read's staleness.
    """

    node_id: str = ""  # default: node-<port>
    node_host: str = "127.0.0.1"
    node_port: int = 7070
    advertise_host: str = ""  # the host gateways dial; default node_host
    default_shards: int = 1
    default_replicas: int = 1
    heartbeat_s: float = 0.5
    member_ttl_s: float = 3.0
    snapshot_every_s: float = 30.0
    consistency: str = "bounded"
    max_lag_ms: float = 1000.0
    read_timeout_ms: float = 2000.0


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    embed: EmbedSettings = field(default_factory=EmbedSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    nats: NatsSettings = field(default_factory=NatsSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)

    def validate(self) -> Settings:
        cache = self.cache
        checks = [
            (1 <= self.server.port <= 65535, "server.port must be in 1..65535"),
            (
                0 <= self.server.dvecdb_grpc_port <= 65535,
                "server.dvecdb_grpc_port must be in 0..65535 (0: off)",
            ),
            (self.server.workers >= 1, "server.workers must be at least 1"),
            (self.server.max_body_bytes >= 1024, "server.max_body_bytes must be at least 1024"),
            (
                self.storage.durability in DURABILITY_MODES,
                f"storage.durability must be one of {', '.join(DURABILITY_MODES)}",
            ),
            (
                self.embed.model in ("minilm", "hash", "openai"),
                "embed.model must be one of minilm, hash, openai",
            ),
            (
                self.embed.model != "openai" or bool(self.embed.base_url),
                "embed.base_url is required when embed.model is openai",
            ),
            (self.embed.max_batch >= 1, "embed.max_batch must be at least 1"),
            (self.embed.threads >= 1, "embed.threads must be at least 1"),
            (self.demo.size >= 0, "demo.size must not be negative"),
            (cache.l1_bytes >= 0, "cache.l1_bytes must not be negative"),
            (cache.l1_response_bytes >= 0, "cache.l1_response_bytes must not be negative"),
            (self.nats.url.startswith(("nats://", "tls://")), "nats.url must be nats://host:port"),
            (self.nats.stream_replicas in (1, 3, 5), "nats.stream_replicas must be 1, 3 or 5"),
            (
                self.cluster.consistency in ("strong", "bounded", "eventual"),
                "cluster.consistency must be one of strong, bounded, eventual "
                "(session needs each request's seq)",
            ),
            (self.cluster.read_timeout_ms > 0, "cluster.read_timeout_ms must be positive"),
            (
                min(self.cluster.default_shards, self.cluster.default_replicas) >= 1,
                "cluster.default_shards and cluster.default_replicas must be at least 1",
            ),
            (
                min(cache.l1_ttl_s, cache.l2_ttl_s, cache.l3_ttl_s) > 0,
                "cache.l1_ttl_s, cache.l2_ttl_s and cache.l3_ttl_s must be positive",
            ),
            (cache.timeout_ms > 0, "cache.timeout_ms must be positive"),
            (cache.pool_size >= 1, "cache.pool_size must be at least 1"),
            (cache.breaker_failures >= 1, "cache.breaker_failures must be at least 1"),
            (cache.breaker_reset_s > 0, "cache.breaker_reset_s must be positive"),
            (0 <= cache.ttl_jitter < 1, "cache.ttl_jitter must be in [0, 1)"),
            (cache.xfetch_beta >= 0, "cache.xfetch_beta must not be negative"),
            (cache.http_max_age_s >= 0, "cache.http_max_age_s must not be negative"),
            *(
                (
                    not url or url.startswith(("redis://", "rediss://", "unix://")),
                    f"cache.{name} must be a redis://, rediss:// or unix:// URL, got {url!r}",
                )
                for name, url in (
                    ("l2_url", cache.l2_url),
                    ("l3_url", cache.l3_url),
                    ("bus_url", cache.bus_url),
                )
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValidationError(f"invalid setting: {message}")
        return self


def _coerce(section: str, name: str, kind: Any, raw: Any) -> Any:
    where = f"{section}.{name}"
    if isinstance(raw, str) and kind is not str:
        text = raw.strip().lower()
        try:
            if kind is bool:
                if text in ("1", "true", "yes", "on"):
                    return True
                if text in ("0", "false", "no", "off"):
                    return False
                raise ValueError(raw)
            return kind(raw)
        except ValueError:
            raise ValidationError(
                f"invalid setting {where}={raw!r}: expected {kind.__name__}"
            ) from None
    if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if not isinstance(raw, kind) or (kind is int and isinstance(raw, bool)):
        raise ValidationError(f"invalid setting {where}={raw!r}: expected {kind.__name__}")
    return raw


def _apply(settings: Settings, values: Mapping[str, Mapping[str, Any]], origin: str) -> Settings:
    out = settings
    for section, entries in values.items():
        current = getattr(out, section, None)
        if current is None or not isinstance(entries, Mapping):
            known = ", ".join(f.name for f in fields(Settings))
            raise ValidationError(
                f"unknown settings section {section!r} in {origin}; known: {known}"
            )
        types = {f.name: f.type for f in fields(current)}
        changes = {}
        for key, raw in entries.items():
            if key not in types:
                raise ValidationError(
                    f"unknown setting {section}.{key} in {origin}; known: {', '.join(types)}"
                )
            kind = {"str": str, "int": int, "float": float, "bool": bool}[str(types[key])]
            changes[key] = _coerce(section, key, kind, raw)
        out = replace(out, **{section: replace(current, **changes)})
    return out


def load_settings(
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    settings = Settings()
    if config_file:
        path = Path(config_file)
        try:
            settings = _apply(settings, tomllib.loads(path.read_text()), str(path))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValidationError(f"cannot read settings file {path}: {exc}") from exc
    env_values: dict[str, dict[str, str]] = {}
    for key, value in (environ or {}).items():
        if key.startswith(ENV_PREFIX):
            parts = key[len(ENV_PREFIX) :].lower().split("__")
            if len(parts) != 2:
                raise ValidationError(
                    f"environment variable {key} must look like {ENV_PREFIX}SECTION__KEY"
                )
            env_values.setdefault(parts[0], {})[parts[1]] = value
    settings = _apply(settings, env_values, "the environment")
    settings = _apply(
        settings,
        {k: {n: v for n, v in d.items() if v is not None} for k, d in (flags or {}).items()},
        "the command line",
    )
    return settings.validate()
