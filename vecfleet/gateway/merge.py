"""Merging shards' answers: one ranked list per query, then the page the caller asked for.

Pure functions (STYLE 6). Each shard answers its best ``options.depth`` hits, already cut
at the score threshold; the merge ranks them together (higher first for cosine and dot,
lower first for l2 distances; ties keep shard order, so pages are stable) and cuts
``offset .. offset + limit``.
"""

from __future__ import annotations

from collections.abc import Sequence

from vecfleet.models import Hit, SearchOptions


def merge_hits(
    lists: Sequence[Sequence[Hit]], options: SearchOptions, ascending: bool
) -> list[Hit]:
    """The page of ``options`` out of every shard's ranked hits for one query."""
    if len(lists) == 1:
        hits = list(lists[0])
    else:
        hits = [h for hits in lists for h in hits]
        hits.sort(key=lambda h: h.score, reverse=not ascending)
    return hits[options.offset : options.offset + options.limit]


def merge_plans(
    plans: Sequence[list[dict[str, object]]], shards: Sequence[int]
) -> list[dict[str, object]]:
    """Every shard's segment plans, each marked with the shard it came from; a shard
    with no segment yet says so, so every shard asked is named."""
    return [
        {**entry, "shard": shard}
        for shard, plan in zip(shards, plans, strict=True)
        for entry in (plan or [{"strategy": "empty", "rows": 0}])
    ]


__all__ = ["merge_hits", "merge_plans"]
