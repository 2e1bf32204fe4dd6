"""Per-segment search plans, chosen from the exact number of rows a filter lets through.

Decisions are values (``Plan``) so ``explain`` can show them and metrics can count them.

* ``ann``           no filter and no tombstones: plain HNSW / IVF search.
* ``ann_filtered``  many candidates: the index searches with a bitmap selector and an
                    ``ef`` raised as selectivity falls, so the graph walk still collects
                    enough matching neighbours.
* ``exact``         few candidates (or no index): score just those rows with one matrix
                    product — exact, and cheaper than walking a graph full of non-matches.
* ``empty``         nothing can match.

The thresholds come from ``bench/engine.py`` runs recorded in ``docs/planner.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Strategy = Literal["ann", "ann_filtered", "exact", "empty"]


@dataclass(frozen=True)
class PlannerSettings:
    """Measured crossover points (docs/planner.md)."""

    exact_max_rows: int = 6000
    exact_max_selectivity: float = 0.08
    ef_max: int = 2048


@dataclass(frozen=True)
class Plan:
    segment: str
    strategy: Strategy
    rows: int
    candidates: int
    ef: int

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
        }


def choose_plan(
    segment: str,
    rows: int,
    candidates: int,
    restricted: bool,
    has_index: bool,
    k: int,
    ef: int,
    settings: PlannerSettings,
) -> Plan:
    """Pick a strategy for one segment.

    ``restricted`` says whether a filter or tombstones narrow the rows; ``candidates`` is the
    exact count of rows that remain searchable.
    """
    if candidates == 0:
        return Plan(segment, "empty", rows, 0, 0)
    if not has_index:
        return Plan(segment, "exact", rows, candidates, 0)
    if not restricted:
        return Plan(segment, "ann", rows, candidates, max(ef, k))
    selectivity = candidates / rows
    if candidates <= k or (
        candidates <= settings.exact_max_rows or selectivity <= settings.exact_max_selectivity
    ):
        return Plan(segment, "exact", rows, candidates, 0)
    # A graph walk under a selector sees about 1/selectivity non-matching nodes per match.
    raised = int(max(ef, k) / max(selectivity, 1e-6) ** 0.5)
    return Plan(segment, "ann_filtered", rows, candidates, min(max(raised, ef, k), settings.ef_max))
