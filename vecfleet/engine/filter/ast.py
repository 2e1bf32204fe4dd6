"""Filter tree: small frozen nodes built once by the parser, shared by every segment.

Operands are already typed for their field: integral floats on integer (and undeclared)
fields are ints, float fields hold floats, datetime fields hold ``Instant`` (epoch µs).
``And(())`` matches everything; ``$in`` values are sorted and de-duplicated, and a
one-value ``$in``/``$nin`` is an ``$eq``/``$ne``, so equal filters give equal trees.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

CompareOp = Literal["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]
RANGE_OPS: tuple[str, ...] = ("$gt", "$gte", "$lt", "$lte")


@dataclass(frozen=True, slots=True, order=True)
class Instant:
    """A datetime operand: epoch microseconds, UTC."""

    us: int


Scalar = str | int | float | bool | None
Operand = Scalar | Instant


@dataclass(frozen=True, slots=True)
class Compare:
    """``{field: {op: value}}``; ``value`` is ``None`` only for ``$eq``/``$ne``."""

    field: str
    op: CompareOp
    value: Operand


@dataclass(frozen=True, slots=True)
class In:
    """``{field: {"$in": values}}`` (``negated`` for ``$nin``); values sorted, unique."""

    field: str
    values: tuple[Operand, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Exists:
    """``{field: {"$exists": exists}}``; null counts as missing."""

    field: str
    exists: bool


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[FilterNode, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[FilterNode, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: FilterNode


FilterNode = Compare | In | Exists | And | Or | Not
MATCH_ALL = And(())


def all_of(children: Iterable[FilterNode]) -> FilterNode:
    """AND of ``children`` with nested ANDs flattened; one child stands for itself."""
    flat: list[FilterNode] = []
    for child in children:
        flat.extend(child.children if isinstance(child, And) else (child,))
    return flat[0] if len(flat) == 1 else And(tuple(flat))


def any_of(children: Iterable[FilterNode]) -> FilterNode:
    """OR of ``children`` with nested ORs flattened; a match-all child makes it match-all."""
    flat: list[FilterNode] = []
    for child in children:
        if child == MATCH_ALL:
            return MATCH_ALL
        flat.extend(child.children if isinstance(child, Or) else (child,))
    return flat[0] if len(flat) == 1 else Or(tuple(flat))


def operand_key(value: Operand) -> tuple[int, Operand]:
    """Total order over mixed operands: null, bools, numbers, strings, instants."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    return (4, value.us)


def one_of(field: str, values: Iterable[Operand], negated: bool) -> FilterNode:
    """``$in``/``$nin`` with values sorted and de-duplicated; one value becomes ``$eq``/``$ne``."""
    unique = sorted({operand_key(v): v for v in values}.values(), key=operand_key)
    if len(unique) == 1:
        return Compare(field, "$ne" if negated else "$eq", unique[0])
    return In(field, tuple(unique), negated)


def filter_fields(node: FilterNode | None) -> set[str]:
    """Every payload field the filter reads (e.g. to prune shards routed by a key)."""
    if node is None:
        return set()
    if isinstance(node, And | Or):
        return set().union(*(filter_fields(child) for child in node.children))
    if isinstance(node, Not):
        return filter_fields(node.child)
    return {node.field}
