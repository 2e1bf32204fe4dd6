"""Shared type aliases used across every layer."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

PointId = str | int
Seq = int
Payload = dict[str, Any]
Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]
Metric = Literal["cosine", "dot", "l2"]
IndexKind = Literal["flat", "hnsw", "hnsw_sq8", "ivf_pq"]
FieldType = Literal["keyword", "integer", "float", "datetime", "bool"]
Durability = Literal["fsync", "batch", "none"]
Consistency = Literal["strong", "session", "bounded", "eventual"]

METRICS: tuple[str, ...] = ("cosine", "dot", "l2")
INDEX_KINDS: tuple[str, ...] = ("flat", "hnsw", "hnsw_sq8", "ivf_pq")
FIELD_TYPES: tuple[str, ...] = ("keyword", "integer", "float", "datetime", "bool")
DURABILITY_MODES: tuple[str, ...] = ("fsync", "batch", "none")
