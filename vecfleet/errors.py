"""The one exception tree of vecfleet.

```
VecfleetError (code "internal")
├── ValidationError (code "invalid_argument")      bad vectors, ids, payloads, settings
│   ├── FilterError (code "invalid_filter")        malformed filter; carries the JSON path
│   └── MalformedRequest (code "malformed_request") the body is not JSON at all
├── NotFound (code "not_found")
│   └── CollectionNotFound (code "collection_not_found")
├── AlreadyExists (code "already_exists")
│   └── CollectionExists (code "collection_exists")
├── PayloadTooLarge (code "payload_too_large")
├── Unavailable (code "unavailable")               a dependency is down; retry later
│   ├── ShardNotHosted (code "shard_not_hosted")   this node holds no replica of that shard
│   ├── ReplicaBehind (code "replica_behind")      the replica is staler than the read allows
│   └── DeadlineExceeded (code "deadline_exceeded") the call's time budget ran out
├── RateLimited (code "rate_limited")              carries retry_after_s
└── StorageError (code "storage")                  the disk refused a write or a file is corrupt
    └── CorruptData (code "corrupt_data")
```

Every class has a stable ``code`` and keeps its structured fields in ``details`` so the
HTTP and gRPC edges can render them without parsing messages. Messages say what is wrong
and what is allowed.
"""

from __future__ import annotations

from typing import Any


class VecfleetError(Exception):
    """Base of every error vecfleet raises on purpose."""

    code = "internal"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details


class ValidationError(VecfleetError):
    """The request is malformed: wrong shape, type, range or value."""

    code = "invalid_argument"


class FilterError(ValidationError):
    """A filter is malformed; ``path`` is the JSON path of the problem (e.g. ``$.date.$gte``)."""

    code = "invalid_filter"

    def __init__(self, message: str, path: str = "$", **details: Any) -> None:
        super().__init__(f"{message} (at {path})", path=path, **details)
        self.path = path


class MalformedRequest(ValidationError):
    """The request cannot be parsed at all (not JSON), as opposed to parsed but invalid."""

    code = "malformed_request"


class NotFound(VecfleetError):
    code = "not_found"


class CollectionNotFound(NotFound):
    code = "collection_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"collection {name!r} does not exist", collection=name)
        self.name = name


class AlreadyExists(VecfleetError):
    code = "already_exists"


class CollectionExists(AlreadyExists):
    code = "collection_exists"

    def __init__(self, name: str) -> None:
        super().__init__(f"collection {name!r} already exists", collection=name)
        self.name = name


class PayloadTooLarge(VecfleetError):
    code = "payload_too_large"


class Unavailable(VecfleetError):
    code = "unavailable"


class ShardNotHosted(Unavailable):
    """The node asked holds no replica of ``(collection, shard)``.

    An ``Unavailable`` because, seen from the user, it means the placement the gateway
    routed by is stale: another replica (or a retry after the shard map refreshes) serves.
    Fields live in ``details`` so a rebuilt exception (HTTP or gRPC) keeps them.
    """

    code = "shard_not_hosted"

    def __init__(self, collection: str, shard: int, node_id: str = "") -> None:
        where = f"node {node_id!r}" if node_id else "this node"
        super().__init__(
            f"{where} hosts no replica of shard {shard} of collection {collection!r}; "
            "route to a node that does (the shard map may be stale)",
            collection=collection,
            shard=shard,
            node_id=node_id,
        )

    @property
    def collection(self) -> str:
        return str(self.details.get("collection", ""))

    @property
    def shard(self) -> int:
        return int(self.details.get("shard", -1))


class ReplicaBehind(Unavailable):
    """The replica has not applied ``min_seq`` in time, or lags more than ``max_lag_ms``.

    Retryable on another replica of the same shard; ``details`` carries ``applied_seq`` and
    what was asked (``min_seq`` or ``lag_ms``/``max_lag_ms``).
    """

    code = "replica_behind"

    @property
    def applied_seq(self) -> int:
        return int(self.details.get("applied_seq", 0))


class DeadlineExceeded(Unavailable):
    """The call did not finish within its time budget (the gRPC deadline or ``timeout_s``)."""

    code = "deadline_exceeded"


class RateLimited(VecfleetError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.retry_after_s = retry_after_s


class StorageError(VecfleetError):
    code = "storage"


class CorruptData(StorageError):
    code = "corrupt_data"


ALL_ERRORS: tuple[type[VecfleetError], ...] = (
    VecfleetError,
    ValidationError,
    FilterError,
    MalformedRequest,
    NotFound,
    CollectionNotFound,
    AlreadyExists,
    CollectionExists,
    PayloadTooLarge,
    Unavailable,
    ShardNotHosted,
    ReplicaBehind,
    DeadlineExceeded,
    RateLimited,
    StorageError,
    CorruptData,
)
