"""A client of a running vecfleet server with the methods of the embedded database.

``vecfleet.connect("http://127.0.0.1:8080")`` returns a ``RemoteDatabase``; its
collections answer ``upsert``, ``get``, ``delete``, ``search``, ``search_batch``,
``count`` and ``scroll`` like ``CollectionHandle`` does and return the same ``Hit``,
``Point`` and ``WriteAck`` objects, so code moves between embedded and remote unchanged.

Errors are the same classes: the server's error envelope ``{"error": {"code", "message",
"details"}}`` is turned back into the class whose ``code`` it names (``ERROR_CLASSES``, the
inverse of the server's table; an unknown code becomes ``VecfleetError``), and a server
that cannot be reached raises ``Unavailable``. Inputs JSON cannot carry (NaN, Inf, numpy
scalars) are checked here with the engine's own validators, so they fail with the same
``ValidationError`` and message as in embedded mode; the server validates everything again.

Two differences a caller may notice: a large ``upsert`` is sent as several requests of at
most ``rows_per_request(dim)`` points, each acknowledged on its own (the embedded database
logs one record), and a large ``search_batch`` as several requests of at most
``SEARCHES_PER_REQUEST`` queries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
import numpy as np

from vecfleet.engine.config import CollectionConfig
from vecfleet.engine.payload.schema import PayloadSchema
from vecfleet.engine.validate import (
    check_ids,
    check_matrix,
    check_options,
    check_query,
    check_upsert,
)
from vecfleet.errors import (
    ALL_ERRORS,
    CollectionExists,
    CollectionNotFound,
    FilterError,
    RateLimited,
    Unavailable,
    ValidationError,
    VecfleetError,
)
from vecfleet.models import Hit, Point, SearchOptions, WriteAck

ERROR_CLASSES: dict[str, type[VecfleetError]] = {cls.code: cls for cls in ALL_ERRORS}
SEARCHES_PER_REQUEST = 256  # at most the server's MAX_BATCH_SEARCHES
MAX_ROWS_PER_REQUEST = 10_000  # at most the server's MAX_POINTS_PER_WRITE
REQUEST_BUDGET_BYTES = 8 << 20  # well under the server's default 32 MiB body limit
_JSON_BYTES_PER_FLOAT = 24  # a float32 printed as a float64 repr, plus the comma


def rows_per_request(dim: int) -> int:
    """Points per upsert request for ``dim``-d vectors (payloads are not counted)."""
    return max(1, min(MAX_ROWS_PER_REQUEST, REQUEST_BUDGET_BYTES // (dim * _JSON_BYTES_PER_FLOAT)))


def error_from_wire(
    code: str, message: str, details: Mapping[str, Any] | None = None, retry_after_s: float = 1.0
) -> VecfleetError:
    """The exception the server raised, rebuilt from its envelope (message kept verbatim)."""
    cls = ERROR_CLASSES.get(code, VecfleetError)
    info = dict(details or {})
    exc = cls.__new__(cls)
    VecfleetError.__init__(exc, message, **info)  # subclasses' own __init__ reword messages
    if isinstance(exc, CollectionNotFound | CollectionExists):
        exc.name = str(info.get("collection", ""))
    if isinstance(exc, FilterError):
        exc.path = str(info.get("path", "$"))
    if isinstance(exc, RateLimited):
        exc.retry_after_s = float(info.get("retry_after_s", retry_after_s))
    return exc


def _status_error(response: httpx.Response) -> VecfleetError:
    """An error for a response without a vecfleet envelope (a proxy, a crash page)."""
    text = response.text[:200]
    message = f"HTTP {response.status_code} from {response.request.url}: {text}"
    if response.status_code == 429:
        return RateLimited(message, _retry_after(response))
    if response.status_code in (502, 503, 504):
        return Unavailable(message)
    return VecfleetError(message)


def _retry_after(response: httpx.Response) -> float:
    try:
        return float(response.headers.get("retry-after", "1"))
    except ValueError:
        return 1.0


def _vector(raw: Any) -> np.ndarray | None:
    return None if raw is None else np.asarray(raw, dtype=np.float32)


def _hits(raw: dict[str, Any]) -> list[Hit]:
    return [
        Hit(h["id"], h["score"], h.get("payload"), _vector(h.get("vector"))) for h in raw["hits"]
    ]


def _points(raw: list[dict[str, Any]]) -> list[Point]:
    return [Point(p["id"], p.get("payload", {}), _vector(p.get("vector"))) for p in raw]


def _config(raw: Mapping[str, Any]) -> CollectionConfig:
    """The collection's settings; keys a newer server adds are ignored."""
    known = {f.name for f in fields(CollectionConfig)}
    return CollectionConfig(**{k: v for k, v in raw.items() if k in known})


class RemoteDatabase:
    """A vecfleet server at ``url``; thread-safe, one connection pool, close when done."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 30.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout_s,
            headers={"accept": "application/json", **(headers or {})},
            transport=transport,
        )

    # ------------------------------------------------------------------ transport
    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One call to the native API: the decoded JSON answer, or the server's exception."""
        try:
            content = None if body is None else msgspec.json.encode(body)
        except TypeError as exc:
            raise ValidationError(f"the request cannot be sent as JSON: {exc}") from exc
        headers = None if body is None else {"content-type": "application/json"}
        try:
            response = self._http.request(method, path, content=content, headers=headers)
        except httpx.TransportError as exc:
            raise Unavailable(f"cannot reach the vecfleet server at {self.url}: {exc}") from exc
        if response.is_success:
            return msgspec.json.decode(response.content)
        raise self._error(response)

    def _error(self, response: httpx.Response) -> VecfleetError:
        try:
            body = msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            return _status_error(response)
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            return _status_error(response)
        return error_from_wire(
            error["code"],
            str(error.get("message", "")),
            error.get("details") or {},
            _retry_after(response),
        )

    # ------------------------------------------------------------------ collections
    def create_collection(
        self,
        name: str,
        dim: int,
        metric: str = "cosine",
        index: str = "hnsw",
        payload_schema: dict[str, str] | None = None,
        **settings: Any,
    ) -> RemoteCollection:
        body = {
            "name": name,
            "dim": dim,
            "metric": metric,
            "index": index,
            "payload_schema": payload_schema or {},
            "settings": settings,
        }
        return RemoteCollection(self, self.request("POST", "/v1/collections", body))

    def collection(self, name: str) -> RemoteCollection:
        """Open an existing collection; raises ``CollectionNotFound``."""
        return RemoteCollection(self, self.request("GET", _path(name)))

    def list_collections(self) -> list[str]:
        return [c["name"] for c in self.request("GET", "/v1/collections")["collections"]]

    def drop_collection(self, name: str) -> WriteAck:
        return WriteAck(self.request("DELETE", _path(name))["seq"])

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RemoteDatabase {self.url}>"


class RemoteCollection:
    """One collection of a server; the methods and errors of ``CollectionHandle``."""

    def __init__(self, db: RemoteDatabase, info: dict[str, Any]) -> None:
        self._db = db
        self.name: str = info["name"]
        self.config = _config(info["config"])
        self._dim = self.config.dim
        self._schema = PayloadSchema(self.config.payload_schema)
        self._path = _path(self.name)

    # ------------------------------------------------------------------ writes
    def upsert(
        self, ids: Any, vectors: Any, payloads: list[dict[str, Any]] | None = None
    ) -> WriteAck:
        """Insert or overwrite points; each request is acknowledged once durable."""
        id_list, matrix, clean = check_upsert(ids, vectors, payloads, self._dim, self._schema)
        step = rows_per_request(self._dim)
        seq, count = 0, 0
        for start in range(0, len(id_list), step):
            end = start + step
            points = [
                {"id": pid, "vector": row, "payload": payload}
                for pid, row, payload in zip(
                    id_list[start:end], matrix[start:end].tolist(), clean[start:end], strict=True
                )
            ]
            ack = self._db.request("POST", f"{self._path}/points", {"points": points})
            seq, count = ack["seq"], count + ack["count"]
        return WriteAck(seq, count)

    def delete(self, ids: Any) -> WriteAck:
        ack = self._db.request("POST", f"{self._path}/points/delete", {"ids": check_ids(ids)})
        return WriteAck(ack["seq"], ack["count"])

    # ------------------------------------------------------------------ reads
    def get(self, ids: Any, with_vectors: bool = False) -> list[Point]:
        """The points that exist, in request order; missing ids are skipped."""
        body = {"ids": check_ids(ids), "with_vectors": with_vectors}
        return _points(self._db.request("POST", f"{self._path}/points/get", body)["points"])

    def search(
        self,
        vector: Any,
        limit: int = 10,
        filter: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        with_vectors: bool = False,
        score_threshold: float | None = None,
        offset: int = 0,
    ) -> list[Hit]:
        query = check_query(vector, self._dim)[0].tolist()
        options = SearchOptions(limit, filter, params, True, with_vectors, score_threshold, offset)
        body = _search_body(query, check_options(options))
        return _hits(self._db.request("POST", f"{self._path}/search", body))

    def search_batch(
        self,
        vectors: Any,
        limit: int = 10,
        filter: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        with_vectors: bool = False,
        score_threshold: float | None = None,
        offset: int = 0,
    ) -> list[list[Hit]]:
        queries = check_matrix(vectors, self._dim).tolist()
        options = SearchOptions(limit, filter, params, True, with_vectors, score_threshold, offset)
        options = check_options(options)
        out: list[list[Hit]] = []
        for start in range(0, len(queries), SEARCHES_PER_REQUEST):
            chunk = queries[start : start + SEARCHES_PER_REQUEST]
            searches = [_search_body(q, options) for q in chunk]
            answer = self._db.request("POST", f"{self._path}/search/batch", {"searches": searches})
            out.extend(_hits(result) for result in answer["results"])
        return out

    def count(self, filter: dict[str, Any] | None = None) -> int:
        answer = self._db.request("POST", f"{self._path}/points/count", {"filter": filter})
        return int(answer["count"])

    def scroll(
        self, filter: dict[str, Any] | None = None, limit: int = 100, cursor: int | None = None
    ) -> tuple[list[Point], int | None]:
        """A page of points and the cursor of the next page (None at the end)."""
        body = {"filter": filter, "limit": limit, "cursor": cursor}
        page = self._db.request("POST", f"{self._path}/points/scroll", body)
        return _points(page["points"]), page["next_cursor"]

    def info(self) -> dict[str, Any]:
        return dict(self._db.request("GET", self._path))

    def __len__(self) -> int:
        return self.count()

    def __repr__(self) -> str:
        return f"<RemoteCollection {self.name!r} dim={self._dim} at {self._db.url}>"


def _path(name: str) -> str:
    return f"/v1/collections/{quote(name, safe='')}"


def _search_body(vector: list[float], options: SearchOptions) -> dict[str, Any]:
    """The REST body of one search: the vector and the options, as the server reads them."""
    return {"vector": vector, **msgspec.structs.asdict(options)}


__all__ = [
    "ERROR_CLASSES",
    "RemoteCollection",
    "RemoteDatabase",
    "error_from_wire",
    "rows_per_request",
]
