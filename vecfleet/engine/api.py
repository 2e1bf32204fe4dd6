"""The embedded database as users program it: ``vecfleet.connect("./data")``.

Everything here validates, then makes one call into the engine; the HTTP client offers the
same methods with the same errors, so code moves between embedded and remote unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vecfleet.engine.collection import Collection
from vecfleet.engine.database import Database, DatabaseSettings
from vecfleet.engine.filter import canonical_filter, parse_filter
from vecfleet.engine.ops import Delete, SetPayload, upsert_op
from vecfleet.engine.paging import cut_page
from vecfleet.engine.payload import validate_payloads
from vecfleet.engine.snapshot import SnapshotInfo
from vecfleet.engine.validate import (
    check_ids,
    check_limit,
    check_matrix,
    check_options,
    check_queries,
    check_query,
    check_search_params,
    check_upsert,
    check_vector,
    normalise,
    unit_rows,
)
from vecfleet.errors import CollectionNotFound, ValidationError
from vecfleet.models import Explain, Hit, Point, SearchOptions, WriteAck


class CollectionHandle:
    """One collection of an embedded database."""

    def __init__(self, db: Database, collection: Collection) -> None:
        self._db = db
        self._collection = collection
        self.name = collection.config.name
        self.config = collection.config
        self._dim = collection.config.dim
        self._cosine = collection.config.metric == "cosine"
        self._l2 = collection.config.metric == "l2"  # scores are distances: lower is better

    @property
    def _col(self) -> Collection:
        """The live collection; a handle outliving a drop answers like a missing name."""
        if self._collection.dropped:
            raise CollectionNotFound(self.name)
        return self._collection

    # ------------------------------------------------------------------ writes
    def upsert(
        self, ids: Any, vectors: Any, payloads: list[dict[str, Any]] | None = None
    ) -> WriteAck:
        """Insert or overwrite points; acknowledged once durable."""
        id_list, matrix, clean = check_upsert(ids, vectors, payloads, self._dim, self._col.schema)
        if self._cosine:
            matrix = normalise(matrix)
        seq, count = self._db.write(upsert_op(self.name, id_list, matrix, clean))
        return WriteAck(seq, count)

    def delete(self, ids: Any) -> WriteAck:
        id_list = check_ids(ids)
        seq, count = self._db.write(Delete(self.name, id_list))
        return WriteAck(seq, count)

    def set_payload(self, ids: Any, payload: dict[str, Any]) -> WriteAck:
        """Merge ``payload`` into the payload of each existing point."""
        id_list = check_ids(ids)
        merged = validate_payloads(self._col.schema, [payload], 1)[0]
        seq, count = self._db.write(SetPayload(self.name, id_list, merged))
        return WriteAck(seq, count)

    # ------------------------------------------------------------------ reads
    def get(self, ids: Any, with_vectors: bool = False) -> list[Point]:
        """The points that exist, in request order; missing ids are skipped."""
        return self._col.get(check_ids(ids), with_vectors)

    def query(self, vectors: Any, options: SearchOptions) -> list[list[Hit]]:
        """One list of hits per query: ``vectors`` is one vector or a matrix of rows.

        Each list is the ``options.offset``-th to the ``options.depth``-th best hit, without
        hits worse than ``options.score_threshold``.
        """
        opts = check_options(options)
        return self._query(check_queries(vectors, self._dim), opts)

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
        if (
            params is None
            and not with_vectors
            and score_threshold is None
            and type(offset) is int  # a bool offset is refused by check_options
            and offset == 0
        ):
            # The common case, kept short: default parameters, answered by search_one.
            query = check_vector(vector, self._dim, unit=self._cosine)
            return self._col.search_one(query, check_limit(limit), filter)
        opts = SearchOptions(limit, filter, params, True, with_vectors, score_threshold, offset)
        return self._search_one(vector, check_options(opts))

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
        """One list of hits per row of ``vectors``; a batch shares the checks, the plan
        and one FAISS call, so it costs less per query than single searches (with one
        FAISS thread, as the servers run it: docs/serving.md)."""
        queries = check_matrix(vectors, self._dim)
        opts = SearchOptions(limit, filter, params, True, with_vectors, score_threshold, offset)
        return self._query(queries, check_options(opts))

    def _query(self, queries: np.ndarray, opts: SearchOptions) -> list[list[Hit]]:
        """Checked queries and options: one row takes the single-query path, with its
        shortcuts; several rows share one plan and one FAISS call."""
        if queries.shape[0] == 0:
            return []
        if queries.shape[0] == 1:
            return [self._search_one(queries[0], opts)]
        if self._cosine:
            queries = unit_rows(queries)
        return [self._page(hits, opts) for hits in self._search_rows(queries, opts)]

    def _search_one(self, vector: Any, opts: SearchOptions) -> list[Hit]:
        if opts.params is None and not opts.with_vectors:
            query = check_vector(vector, self._dim, unit=self._cosine)
            hits = self._col.search_one(query, opts.depth, opts.filter)
        else:
            query = check_query(vector, self._dim, unit=self._cosine)
            hits = self._search_rows(query, opts)[0]
        return self._page(hits, opts)

    def _search_rows(self, queries: np.ndarray, opts: SearchOptions) -> list[list[Hit]]:
        """The ``opts.depth`` best hits of each row of ``queries`` (unit rows for cosine)."""
        ef, exact = check_search_params(opts.params)
        node, key = self._col.filters.compile(opts.filter)
        return self._col.searcher.search(
            queries, opts.depth, node, key, ef, opts.with_vectors, exact
        )

    def _page(self, hits: list[Hit], opts: SearchOptions) -> list[Hit]:
        if opts.offset == 0 and opts.score_threshold is None and opts.with_payload:
            return hits
        return cut_page(hits, opts.offset, opts.score_threshold, self._l2, opts.with_payload)

    def count(self, filter: dict[str, Any] | None = None) -> int:
        return self._col.count(*self._col.filters.compile(filter))

    def scroll(
        self, filter: dict[str, Any] | None = None, limit: int = 100, cursor: int | None = None
    ) -> tuple[list[Point], int | None]:
        """A page of points and the cursor of the next page (None at the end)."""
        node = parse_filter(filter, self._col.schema)
        if cursor is not None and (
            isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0
        ):
            raise ValidationError(
                "cursor must be a non-negative integer from a previous page", field="cursor"
            )
        return self._col.scroll(node, check_limit(limit), cursor or 0)

    def explain(
        self,
        vector: Any = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        params: dict[str, Any] | None = None,
    ) -> Explain:
        if vector is not None:
            check_query(vector, self._dim)
        ef, _ = check_search_params(params)
        node = parse_filter(filter, self._col.schema)
        key = canonical_filter(node) if node is not None else None
        plans = self._col.explain(check_limit(limit), node, key, ef)
        return Explain([p.to_dict() for p in plans], key)

    def optimize(self) -> None:
        """Seal the growing segment, build and merge indexes; returns when done."""
        self._col.optimize()

    def memory_bytes(self) -> int:
        return self._col.memory_bytes()

    @property
    def applied_seq(self) -> int:
        """Sequence number of the newest write applied to this collection."""
        return self._col.applied_seq

    def info(self) -> dict[str, Any]:
        segments = self._col.segments()
        return {
            "name": self.name,
            "config": self.config.to_dict(),
            "points": len(self._col),
            "segments": [
                {
                    "uid": s.uid,
                    "rows": s.size,
                    "deleted": s.deleted,
                    "index": s.index.kind if s.index is not None else "exact",
                }
                for s in segments
            ],
            "applied_seq": self._col.applied_seq,
            "plans": dict(self._col.plan_counts),
        }

    def __len__(self) -> int:
        return len(self._col)

    def __repr__(self) -> str:
        return f"<Collection {self.name!r} dim={self._dim} points={len(self._col)}>"


class EmbeddedDatabase:
    """A database in a local directory; durable, one process at a time."""

    def __init__(self, path: str, settings: DatabaseSettings | None = None) -> None:
        self._db = Database(path, settings)
        self.path = self._db.path

    def create_collection(
        self,
        name: str,
        dim: int,
        metric: str = "cosine",
        index: str = "hnsw",
        payload_schema: dict[str, str] | None = None,
        **settings: Any,
    ) -> CollectionHandle:
        col = self._db.create_collection(name, dim, metric, index, payload_schema, **settings)
        return CollectionHandle(self._db, col)

    def collection(self, name: str) -> CollectionHandle:
        """Open an existing collection; raises ``CollectionNotFound``."""
        return CollectionHandle(self._db, self._db.get_collection(name))

    def list_collections(self) -> list[str]:
        return self._db.collection_names()

    def drop_collection(self, name: str) -> WriteAck:
        return WriteAck(self._db.drop_collection(name))

    def append_record(self, record: bytes) -> WriteAck:
        """Log an encoded write record (``engine.ops``) durably and apply it.

        The embedded server's shard log: its writer encodes records as a cluster gateway
        does, and this database is both their log and their one replica.
        """
        seq, _ = self._db.append_record(record)
        return WriteAck(seq)

    @property
    def applied_seq(self) -> int:
        """Sequence number of the newest record applied, of any collection."""
        return self._db.applied_seq

    def snapshot(self) -> SnapshotInfo:
        return self._db.snapshot()

    def snapshots(self) -> list[SnapshotInfo]:
        return self._db.snapshots()

    @property
    def recovery(self) -> dict[str, Any]:
        return dict(self._db.recovery)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EmbeddedDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
