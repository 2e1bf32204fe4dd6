"""Cutting a page out of a ranked hit list: ``offset``, ``score_threshold``, payloads.

A search asks every segment (and in a cluster every shard) for ``offset + limit`` best
hits, merges them, and only then cuts the page, so page n + 1 starts exactly where page n
ended. Pure: lists in, lists out.
"""

from __future__ import annotations

from vecfleet.models import Hit


def cut_page(
    hits: list[Hit],
    offset: int,
    score_threshold: float | None,
    distance: bool,
    with_payload: bool = True,
) -> list[Hit]:
    """``hits`` (best first) without the first ``offset`` and without those worse than
    ``score_threshold``: a score below it, or with ``distance`` (l2) a distance above it.
    Without ``with_payload`` the hits carry no payload."""
    if offset:
        hits = hits[offset:]
    if score_threshold is not None:
        if distance:
            hits = [h for h in hits if h.score <= score_threshold]
        else:
            hits = [h for h in hits if h.score >= score_threshold]
    if not with_payload:
        hits = [Hit(h.id, h.score, None, h.vector) for h in hits]
    return hits
