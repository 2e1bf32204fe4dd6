"""Search by example points: the query vectors of recommend and discover, and the page of
hits without the examples. Pure functions; ``Gateway.recommend`` and ``Gateway.discover``
read the examples' vectors and run the search.

* recommend: ``2·mean(positive) − mean(negative)``, or ``mean(positive)`` without
  negatives (d-vecDB's and Qdrant's ``average_vector``);
* discover: the target moved by the mean ``positive − negative`` of the context pairs.

The examples themselves are left out of the answer: a point given as an example is never
a useful recommendation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vecfleet.errors import ValidationError
from vecfleet.models import Hit, SearchOptions
from vecfleet.types import PointId


def recommend_vector(positive: list[np.ndarray], negative: list[np.ndarray]) -> np.ndarray:
    """The query for ``positive`` examples pushed away from ``negative`` ones."""
    if not positive:
        raise ValidationError("positive must name at least one example id", field="positive")
    mean_positive = np.mean(positive, axis=0)
    if not negative:
        return np.asarray(mean_positive, dtype=np.float32)
    return np.asarray(2.0 * mean_positive - np.mean(negative, axis=0), dtype=np.float32)


def discover_vector(target: Any, pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """``target`` moved by the mean difference ``positive − negative`` of the pairs."""
    base = np.asarray(target, dtype=np.float32)
    if not pairs:
        return base
    shift = np.mean([p - n for p, n in pairs], axis=0)
    return np.asarray(base + shift, dtype=np.float32)


def deeper(options: SearchOptions, skip: int) -> SearchOptions:
    """Options asking enough hits to fill ``options``' page after dropping ``skip`` examples."""
    if options.limit < 0 or options.offset < 0:
        raise ValidationError("limit and offset must not be negative", field="limit")
    return SearchOptions(
        limit=options.offset + options.limit + skip,
        filter=options.filter,
        params=options.params,
        with_payload=options.with_payload,
        with_vectors=options.with_vectors,
        score_threshold=options.score_threshold,
    )


def page_without(hits: list[Hit], skip: set[PointId], options: SearchOptions) -> list[Hit]:
    """``options``' page of ``hits`` once the example ids in ``skip`` are left out."""
    names = {str(i) for i in skip}
    kept = [h for h in hits if str(h.id) not in names]
    return kept[options.offset : options.offset + options.limit]
