"""The one vecfleet error ↔ gRPC status table (STYLE 9), and errors carried in metadata.

The gRPC status code is for gRPC itself (proxies, retry policies, ``grpcurl``); the exact
vecfleet exception travels beside it in the ``vecfleet-error-bin`` trailing metadata as
JSON ``{"code", "message", "fields"}`` (``fields`` = the exception's attributes:
``details``, ``path``, ``retry_after_s``…), so the client raises the same class with the
same message and fields as the node did. Errors that never reached our handler (the node
is down, the deadline passed, a message too large) carry no metadata and are rebuilt from
the status code alone through ``FALLBACK_ERRORS``.

Pure functions: the server and client call them; tests need no socket.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
import msgspec
import numpy as np

from vecfleet.errors import (
    ALL_ERRORS,
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

ERROR_METADATA_KEY = "vecfleet-error-bin"

Code = grpc.StatusCode

GRPC_STATUS: dict[type[VecfleetError], grpc.StatusCode] = {
    VecfleetError: Code.INTERNAL,
    ValidationError: Code.INVALID_ARGUMENT,
    FilterError: Code.INVALID_ARGUMENT,
    MalformedRequest: Code.INVALID_ARGUMENT,
    NotFound: Code.NOT_FOUND,
    CollectionNotFound: Code.NOT_FOUND,
    AlreadyExists: Code.ALREADY_EXISTS,
    CollectionExists: Code.ALREADY_EXISTS,
    PayloadTooLarge: Code.RESOURCE_EXHAUSTED,
    Unavailable: Code.UNAVAILABLE,
    ShardNotHosted: Code.UNAVAILABLE,
    ReplicaBehind: Code.UNAVAILABLE,
    DeadlineExceeded: Code.DEADLINE_EXCEEDED,
    RateLimited: Code.RESOURCE_EXHAUSTED,
    StorageError: Code.UNAVAILABLE,
    CorruptData: Code.DATA_LOSS,
}

FALLBACK_ERRORS: dict[grpc.StatusCode, type[VecfleetError]] = {
    Code.UNAVAILABLE: Unavailable,
    Code.CANCELLED: Unavailable,  # the node cancelled the call: it is stopping
    Code.DEADLINE_EXCEEDED: DeadlineExceeded,
    Code.RESOURCE_EXHAUSTED: PayloadTooLarge,  # gRPC's own message-size limit
    Code.INVALID_ARGUMENT: ValidationError,
    Code.NOT_FOUND: NotFound,
    Code.ALREADY_EXISTS: AlreadyExists,
    Code.DATA_LOSS: CorruptData,
}
"""Status codes without our metadata (raised by gRPC, or by a newer node's unknown class)."""

_BY_CODE: dict[str, type[VecfleetError]] = {cls.code: cls for cls in ALL_ERRORS}


def grpc_status_for(exc: VecfleetError) -> grpc.StatusCode:
    """The status of the most specific class of ``exc`` in the table."""
    for cls in type(exc).__mro__:
        if cls in GRPC_STATUS:
            return GRPC_STATUS[cls]
    return Code.INTERNAL


def _plain(value: Any) -> Any:
    """JSON for values an exception may carry that JSON has no type for."""
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)


def error_metadata(exc: VecfleetError) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata that lets ``error_from_status`` rebuild ``exc`` exactly."""
    fields = {k: v for k, v in vars(exc).items() if not k.startswith("_") and k != "code"}
    body = {"code": exc.code, "message": str(exc), "fields": fields}
    return ((ERROR_METADATA_KEY, msgspec.json.encode(body, enc_hook=_plain)),)


def _carried(metadata: Iterable[tuple[str, Any]] | None) -> dict[str, Any] | None:
    for key, value in metadata or ():
        if key == ERROR_METADATA_KEY and isinstance(value, bytes):
            try:
                body = msgspec.json.decode(value)
            except msgspec.DecodeError:
                return None
            return body if isinstance(body, dict) else None
    return None


def _rebuild(cls: type[VecfleetError], message: str, fields: dict[str, Any]) -> VecfleetError:
    # Subclass __init__s reword their message, so build without them and restore the
    # attributes the node's instance had.
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.message = message
    exc.details = {}
    exc.__dict__.update(fields)
    return exc


def error_from_status(
    code: grpc.StatusCode,
    details: str | None,
    metadata: Iterable[tuple[str, Any]] | None,
    target: str,
) -> VecfleetError:
    """The exception a call to node ``target`` failed with.

    With our metadata: the node's class (by code), message and fields. Without it: the
    class ``FALLBACK_ERRORS`` gives the status code, and a message naming the node.
    """
    body = _carried(metadata)
    if body is not None:
        message = str(body.get("message", details or ""))
        fields = body.get("fields")
        cls = _BY_CODE.get(str(body.get("code")))
        if cls is not None:
            return _rebuild(cls, message, fields if isinstance(fields, dict) else {})
        return FALLBACK_ERRORS.get(code, VecfleetError)(message)
    cls = FALLBACK_ERRORS.get(code, VecfleetError)
    if cls is Unavailable:
        return Unavailable(f"cannot reach node {target}: {details}", node=target)
    if cls is DeadlineExceeded:
        return DeadlineExceeded(
            f"node {target} did not answer within the call's deadline", node=target
        )
    return cls(f"node {target} answered {code.name}: {details}", node=target)


__all__ = [
    "ERROR_METADATA_KEY",
    "FALLBACK_ERRORS",
    "GRPC_STATUS",
    "error_from_status",
    "error_metadata",
    "grpc_status_for",
]
