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
    RateLimited,
    StorageError,
    CorruptData,
)
