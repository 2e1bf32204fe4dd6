"""The one table from vecfleet errors to HTTP status (STYLE 9), and the JSON error body.

Every class in ``vecfleet.errors.ALL_ERRORS`` must appear here; a test checks it. The most
specific class wins (the table is searched along the exception's MRO).
"""

from __future__ import annotations

from typing import Any

from vecfleet.errors import (
    AlreadyExists,
    CollectionExists,
    CollectionNotFound,
    CorruptData,
    DeadlineExceeded,
    FilterError,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ReplicaBehind,
    ShardNotHosted,
    StorageError,
    Unavailable,
    ValidationError,
    VecfleetError,
)

HTTP_STATUS: dict[type[VecfleetError], int] = {
    VecfleetError: 500,
    ValidationError: 422,
    MalformedRequest: 400,
    FilterError: 422,
    NotFound: 404,
    CollectionNotFound: 404,
    AlreadyExists: 409,
    CollectionExists: 409,
    PayloadTooLarge: 413,
    Unavailable: 503,
    ShardNotHosted: 503,
    ReplicaBehind: 503,
    DeadlineExceeded: 504,
    RateLimited: 429,
    StorageError: 503,
    CorruptData: 500,
}


def status_for(exc: VecfleetError) -> int:
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def headers_for(exc: VecfleetError) -> dict[str, str]:
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(max(1, round(exc.retry_after_s)))}
    return {}
