"""Request decoding and response encoding shared by every route: body limits, msgspec
validation with JSON paths, and the error envelope."""

from __future__ import annotations

import math
import re
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from vecfleet.api.errors import error_body
from vecfleet.errors import MalformedRequest, PayloadTooLarge, ValidationError

T = TypeVar("T")

DEFAULT_MAX_BODY_BYTES = 32 << 20
_encoder = msgspec.json.Encoder()
# msgspec's complaint about a number with a fraction where an integer belongs, and where.
_FLOAT_FOR_INT = re.compile(
    r"Expected `[^`]*\bint\b[^`]*`, got `float` - at `\$((?:\.\w+|\[\d+\])*)`"
)
_STEP = re.compile(r"\.(\w+)|\[(\d+)\]")
_MAX_WHOLE_FLOAT_FIXES = 32


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"request body of {declared} bytes exceeds the {limit}-byte limit", limit_bytes=limit
        )
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the {limit}-byte limit", limit_bytes=limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def decode(request: Request, kind: type[T], limit: int = DEFAULT_MAX_BODY_BYTES) -> T:
    body = await read_body(request, limit)
    if not body.strip():
        body = b"{}"
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        return _with_whole_floats_as_ints(body, kind, exc)
    except msgspec.DecodeError as exc:
        raise MalformedRequest(f"request body is not valid JSON: {exc}") from exc


def _with_whole_floats_as_ints(body: bytes, kind: type[T], exc: msgspec.ValidationError) -> T:
    """``body`` as ``kind`` once integers written with a zero fraction (``3.0``) are ints.

    JSON has one number type and JSON Schema counts ``3.0`` as an integer, so a client
    may send one wherever the schema says integer; msgspec refuses floats for ints. Only
    the places msgspec names are changed (a whole list at a time: its items share a
    type), so a float in a payload stays a float. Any other error stands.
    """
    if _FLOAT_FOR_INT.fullmatch(str(exc)) is None:
        raise ValidationError(f"request body is invalid: {exc}") from exc
    try:
        value = msgspec.json.decode(body)
    except msgspec.ValidationError:  # a number past float range: the first error says it
        raise ValidationError(f"request body is invalid: {exc}") from exc
    except msgspec.DecodeError as bad:  # typed decoding stopped before the bad bytes
        raise MalformedRequest(f"request body is not valid JSON: {bad}") from bad
    for _ in range(_MAX_WHOLE_FLOAT_FIXES):
        if not _whole_floats_to_ints(value, str(exc)):
            break
        try:
            return msgspec.convert(value, type=kind)
        except msgspec.ValidationError as again:
            exc = again
    raise ValidationError(f"request body is invalid: {exc}") from exc


def _whole_floats_to_ints(value: Any, error: str) -> bool:
    """Turns the whole float ``error`` points at, or every one in its list, into an int."""
    match = _FLOAT_FOR_INT.fullmatch(error)
    if match is None:
        return False
    steps = [name if name else int(index) for name, index in _STEP.findall(match.group(1))]
    if not steps:
        return False
    parent = value
    for step in steps[:-1]:
        parent = parent[step]
    last = steps[-1]
    targets = range(len(parent)) if isinstance(last, int) else [last]
    changed = False
    for key in targets:
        item = parent[key]
        if isinstance(item, float) and math.isfinite(item) and item.is_integer():
            parent[key] = int(item)
            changed = True
    return changed


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        _encoder.encode(value), status_code=status, headers=headers, media_type="application/json"
    )


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return json_response(error_body(code, message, _jsonable(details or {})), status, headers)


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in details.items():
        out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
    return out
