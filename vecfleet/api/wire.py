"""Request decoding and response encoding shared by every route: body limits, msgspec
validation with JSON paths, and the error envelope."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from vecfleet.api.errors import error_body
from vecfleet.errors import MalformedRequest, PayloadTooLarge, ValidationError

T = TypeVar("T")

DEFAULT_MAX_BODY_BYTES = 32 << 20
_encoder = msgspec.json.Encoder()


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
        raise ValidationError(f"request body is invalid: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise MalformedRequest(f"request body is not valid JSON: {exc}") from exc


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
