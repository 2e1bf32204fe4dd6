"""The OpenAPI 3.1 document of the native API, generated from the wire structs."""

from __future__ import annotations

from typing import Any

import msgspec

from vecfleet.api import schemas as s
from vecfleet.engine.validate import MAX_LIMIT

# (method, path, summary, request struct, response struct, success status)
OPERATIONS: list[tuple[str, str, str, type | None, type, int]] = [
    ("post", "/v1/collections", "Create a collection", s.CreateCollectionIn, s.CollectionOut, 201),
    ("get", "/v1/collections", "List collections", None, s.CollectionsOut, 200),
    ("get", "/v1/collections/{name}", "Describe a collection", None, s.CollectionOut, 200),
    ("delete", "/v1/collections/{name}", "Drop a collection", None, s.SeqOut, 200),
    (
        "post",
        "/v1/collections/{name}/points",
        "Upsert points (vectors or text)",
        s.UpsertIn,
        s.SeqOut,
        200,
    ),
    ("post", "/v1/collections/{name}/points/get", "Get points by id", s.GetIn, s.PointsOut, 200),
    (
        "post",
        "/v1/collections/{name}/points/delete",
        "Delete points by id",
        s.DeleteIn,
        s.SeqOut,
        200,
    ),
    (
        "post",
        "/v1/collections/{name}/points/count",
        "Count points matching a filter",
        s.CountIn,
        s.CountOut,
        200,
    ),
    (
        "post",
        "/v1/collections/{name}/points/scroll",
        "Page through points",
        s.ScrollIn,
        s.ScrollOut,
        200,
    ),
    (
        "post",
        "/v1/collections/{name}/search",
        "Search by vector or text",
        s.SearchIn,
        s.SearchOut,
        200,
    ),
    (
        "get",
        "/v1/collections/{name}/search",
        "Search by text; cacheable by HTTP caches (ETag, If-None-Match)",
        None,
        s.SearchOut,
        200,
    ),
    (
        "post",
        "/v1/collections/{name}/search/batch",
        "Several searches in one call",
        s.SearchBatchIn,
        s.SearchBatchOut,
        200,
    ),
    (
        "post",
        "/v1/collections/{name}/points/recommend",
        "Points like the positive examples and unlike the negative ones (examples excluded)",
        s.RecommendIn,
        s.HitsOut,
        200,
    ),
    (
        "post",
        "/v1/collections/{name}/points/discover",
        "Points near a target vector or point, moved by positive - negative context pairs",
        s.DiscoverIn,
        s.HitsOut,
        200,
    ),
    ("get", "/health/live", "Liveness", None, s.HealthOut, 200),
    ("get", "/health/ready", "Readiness: collections loaded", None, s.HealthOut, 200),
    ("get", "/v1/demo/status", "Demo ingest progress and facets", None, s.DemoStatusOut, 200),
]

_SEARCH = "/v1/collections/{name}/search"
_NAME = msgspec.json.schema(s.CollectionName)
# Query and header parameters of operations that take no body, by (method, path).
PARAMETERS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("get", _SEARCH): [
        {
            "name": "q",
            "in": "query",
            "required": True,
            "description": "the text to search for, embedded by the server's model; "
            "longer texts go in the body of POST .../search",
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": s.GET_MAX_PARAM_CHARS,
                "pattern": s.NON_SPACE,
            },
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 10},
        },
        {
            "name": "filter",
            "in": "query",
            "required": False,
            "description": "a filter as URL-encoded JSON, as in the POST form; at most "
            f"{s.GET_MAX_PARAM_CHARS} characters of JSON",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "description": "an ETag from an earlier answer: 304 while it is still current",
            "schema": {"type": "string"},
        },
    ],
}
_SERVING_HEADERS = {
    "X-Cache": "Where the answer came from: l1, l2, l3, miss or bypass",
    "Server-Timing": "Milliseconds spent in each pipeline stage",
}
_ETAG_HEADERS = {
    "ETag": "Changes when the collection's data or the query changes",
    "Cache-Control": "How long an HTTP cache may keep the answer without revalidating",
}
RESPONSE_HEADERS: dict[tuple[str, str], dict[str, str]] = {
    ("post", _SEARCH): _SERVING_HEADERS,
    ("get", _SEARCH): {**_SERVING_HEADERS, **_ETAG_HEADERS},
}
NOT_MODIFIED: set[tuple[str, str]] = {("get", _SEARCH)}
# Operations whose body may be left out: the server reads no body as ``{}``.
OPTIONAL_BODY: set[tuple[str, str]] = {
    ("post", "/v1/collections/{name}/points/count"),
    ("post", "/v1/collections/{name}/points/scroll"),
}


def _given(field: str, json_type: str) -> dict[str, Any]:
    """Schema of an object whose ``field`` is present and not null."""
    return {"required": [field], "properties": {field: {"type": json_type}}}


# A session read names the write it must see (gateway ``read_options``).
_SESSION_NEEDS_SEQ = {
    "anyOf": [
        {"properties": {"consistency": {"enum": ["strong", "bounded", "eventual", None]}}},
        _given("seq", "integer"),
    ]
}
# Rules across fields that the gateway enforces and struct types cannot state, by struct.
ACROSS_FIELDS: dict[str, list[dict[str, Any]]] = {
    # ValidateStage.prepare: a vector or a text, never both.
    "SearchIn": [
        {"oneOf": [_given("vector", "array"), _given("text", "string")]},
        _SESSION_NEEDS_SEQ,
    ],
    # Gateway.upsert: a vector or a text; with both, the vector is stored.
    "PointWire": [{"anyOf": [_given("vector", "array"), _given("text", "string")]}],
    "GetIn": [_SESSION_NEEDS_SEQ],
    "CountIn": [_SESSION_NEEDS_SEQ],
    "ScrollIn": [_SESSION_NEEDS_SEQ],
}

ERROR_STATUSES = {
    "400": "The body is not JSON",
    "404": "The collection does not exist",
    "409": "The collection already exists",
    "413": "The body, a text or a batch is too large",
    "422": "The request is well-formed JSON but invalid",
    "429": "Rate limited; Retry-After says when to try again",
    "503": "A dependency is unavailable",
}
# Operations that take no input answer with their own body or not at all on failure.
OWN_ERRORS: dict[str, dict[str, tuple[str, type]]] = {
    "/health/live": {},
    "/health/ready": {"503": ("Still loading: not ready for traffic", s.HealthOut)},
    "/v1/demo/status": {},
}


def build_openapi() -> dict[str, Any]:
    structs = sorted(
        {t for op in OPERATIONS for t in (op[3], op[4]) if t is not None} | {s.ErrorOut},
        key=lambda t: t.__name__,
    )
    _, components = msgspec.json.schema_components(
        structs, ref_template="#/components/schemas/{name}"
    )
    for name, rules in ACROSS_FIELDS.items():
        components[name]["allOf"] = rules
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, request, response, status in OPERATIONS:
        op: dict[str, Any] = {
            "summary": summary,
            "operationId": _operation_id(method, path),
            "responses": {
                str(status): {
                    "description": "OK",
                    "content": {"application/json": {"schema": _ref(response)}},
                },
                **_errors(path),
            },
        }
        headers = RESPONSE_HEADERS.get((method, path))
        if headers:
            op["responses"][str(status)]["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in headers.items()
            }
        if (method, path) in NOT_MODIFIED:
            op["responses"]["304"] = {"description": "Not modified: the ETag is still current"}
        parameters = list(PARAMETERS.get((method, path), []))
        if "{name}" in path:
            parameters.insert(0, {"name": "name", "in": "path", "required": True, "schema": _NAME})
        if parameters:
            op["parameters"] = parameters
        if request is not None:
            op["requestBody"] = {
                "required": (method, path) not in OPTIONAL_BODY,
                "content": {"application/json": {"schema": _ref(request)}},
            }
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "vecfleet", "version": "1", "description": "Filtered vector search."},
        "paths": paths,
        "components": {"schemas": components},
    }


def _errors(path: str) -> dict[str, Any]:
    statuses = OWN_ERRORS.get(
        path, {code: (text, s.ErrorOut) for code, text in ERROR_STATUSES.items()}
    )
    return {
        code: {"description": text, "content": {"application/json": {"schema": _ref(body)}}}
        for code, (text, body) in statuses.items()
    }


def _operation_id(method: str, path: str) -> str:
    return f"{method}_" + path.strip("/").replace("/", "_").replace("{", "").replace("}", "")


def _ref(struct: type) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{struct.__name__}"}
