"""Per-segment search plans, chosen from the exact number of rows a filter lets through.

Decisions are values (``Plan``) so ``explain`` can show them and metrics can count them.

* ``ann``            no filter and no tombstones: plain HNSW / IVF search.
* ``ann_postfilter`` most rows pass: search unrestricted for ``fetch ≈ k / selectivity``
                     neighbours and keep the first k that pass. If at least k pass they are
                     the true filtered top-k (up to the index's own error); otherwise the
                     query falls back to ``ann_filtered``.
* ``partition``      a keyword equality the filter requires has its own small graph
                     (index/partitions.py): search that graph, restricted further only if
                     the rest of the filter narrows it.
* ``ann_filtered``   the index walks under a bitmap selector with ``ef`` raised as
                     selectivity falls, so it still collects enough matching neighbours.
* ``exact``          score just the candidate rows with one brute-force pass: exact, and
                     cheaper than a graph walk through mostly non-matching nodes.
* ``empty``          nothing can match.

The choice is the cheapest by a cost model whose constants were measured with
``bench/engine.py`` on 384-d vectors (docs/planner.md); costs scale with the dimension.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Strategy = Literal["ann", "ann_postfilter", "partition", "ann_filtered", "exact", "empty"]
# what the plan counters count: every strategy, and the queries a postfilter sent back
Counted = Strategy | Literal["ann_postfilter_fallback"]


@dataclass(frozen=True)
class PlannerSettings:
    """Measured costs (µs at 384-d) and bounds; see docs/planner.md."""

    exact_row_us: float = 0.04
    graph_ef_us: float = 3.5
    postfilter_overfetch: float = 1.5
    postfilter_max_fetch: int = 400
    ef_max: int = 2048


@dataclass(frozen=True)
class Plan:
    segment: str
    strategy: Strategy
    rows: int
    candidates: int
    ef: int
    fetch: int = 0

    @property
    def selectivity(self) -> float:
        return self.candidates / self.rows if self.rows else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "segment": self.segment,
            "strategy": self.strategy,
            "rows": self.rows,
            "candidates": self.candidates,
            "selectivity": round(self.selectivity, 6),
            "ef": self.ef,
            "fetch": self.fetch,
        }


class PlanCounts:
    """How many segment searches each strategy answered: plain counters for ``obs/``.

    ``record`` is the only way a count changes, and every answer path (a plan executed, a
    shortcut of the search view taken) goes through it with the strategy it used.
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def record(self, strategy: Counted, n: int = 1) -> None:
        counts = self._counts
        counts[strategy] = counts.get(strategy, 0) + n

    def as_dict(self) -> dict[str, int]:
        return dict(self._counts)


def raised_ef(ef: int, k: int, selectivity: float, ef_max: int) -> int:
    """A selector-restricted walk meets ~1/selectivity nodes per match; widen the beam so."""
    base = max(ef, k)
    if selectivity >= 0.999:
        return base
    return min(max(int(base / max(selectivity, 1e-6)), base), max(ef_max, base))


def choose_plan(
    segment: str,
    rows: int,
    candidates: int,
    restricted: bool,
    has_index: bool,
    k: int,
    ef: int,
    settings: PlannerSettings,
    partitions: tuple[int, ...] = (),
    dim: int = 384,
) -> Plan:
    """Pick a strategy for one segment.

    ``restricted`` says whether a filter or tombstones narrow the rows; ``candidates`` is the
    exact count of rows that remain searchable; ``partitions`` are the sizes of the partition
    graphs that together hold every candidate (empty when there are none).
    """
    if candidates == 0:
        return Plan(segment, "empty", rows, 0, 0)
    if not has_index:
        return Plan(segment, "exact", rows, candidates, 0)
    if not restricted:
        return Plan(segment, "ann", rows, candidates, max(ef, k))
    scale = dim / 384
    selectivity = candidates / rows
    options: list[tuple[float, Plan]] = [
        (settings.exact_row_us * candidates * scale, Plan(segment, "exact", rows, candidates, 0))
    ]
    if partitions:
        local_ef = raised_ef(ef, k, candidates / sum(partitions), settings.ef_max)
        plan = Plan(segment, "partition", rows, candidates, local_ef)
        options.append((settings.graph_ef_us * local_ef * len(partitions) * scale, plan))
    fetch = math.ceil(k / selectivity * settings.postfilter_overfetch)
    if fetch <= settings.postfilter_max_fetch:
        beam = max(ef, 2 * fetch)  # recall of a top-fetch list needs a wider beam than top-k
        plan = Plan(segment, "ann_postfilter", rows, candidates, beam, min(fetch, rows))
        # Filters correlate with neighbourhoods, so some queries come back short and pay
        # for a second, selector-restricted walk; the rarer the rows, the likelier.
        retry = 2.0 - selectivity
        options.append((settings.graph_ef_us * beam * retry * scale, plan))
    filtered_ef = raised_ef(ef, k, selectivity, settings.ef_max)
    options.append(
        (
            settings.graph_ef_us * filtered_ef * scale,
            Plan(segment, "ann_filtered", rows, candidates, filtered_ef),
        )
    )
    return min(options, key=lambda option: option[0])[1]
