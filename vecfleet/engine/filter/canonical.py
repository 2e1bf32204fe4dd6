"""Canonical text of a filter tree: equal filters give equal strings (cache keys).

The text is compact JSON and itself a valid filter with the same meaning. The tree is
first normalised: ANDs and ORs are flattened, their members de-duplicated and sorted by
text; ``$in``/``$nin`` values are sorted and de-duplicated (one value becomes
``$eq``/``$ne``); ``$not`` is folded into ``$eq``/``$ne``/``$in``/``$nin``/``$exists``
and double negation removed. Datetimes are written in UTC as
``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``. ``{}`` matches all, ``{"$not":{}}`` nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from vecfleet.engine.filter.ast import (
    MATCH_ALL,
    And,
    Compare,
    Exists,
    FilterNode,
    In,
    Instant,
    Not,
    Operand,
    Or,
    one_of,
)

MATCH_NONE = Or(())
MATCH_ALL_TEXT = "{}"
MATCH_NONE_TEXT = '{"$not":{}}'
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def canonical_filter(node: FilterNode | None) -> str:
    """The canonical text of ``node``; ``None`` (no filter) gives ``{}``."""
    return MATCH_ALL_TEXT if node is None else _render(_normal(node))


def _normal(node: FilterNode) -> FilterNode:
    if isinstance(node, Not):
        return _negate(_normal(node.child))
    if isinstance(node, And | Or):
        return _group(node)
    if isinstance(node, In):
        if not node.values:
            return MATCH_ALL if node.negated else MATCH_NONE
        return one_of(node.field, node.values, node.negated)
    return node


def _negate(node: FilterNode) -> FilterNode:
    if isinstance(node, Not):
        return node.child
    if isinstance(node, Compare) and node.op in ("$eq", "$ne"):
        return Compare(node.field, "$ne" if node.op == "$eq" else "$eq", node.value)
    if isinstance(node, In):
        return In(node.field, node.values, not node.negated)
    if isinstance(node, Exists):
        return Exists(node.field, not node.exists)
    if isinstance(node, And | Or) and not node.children:
        return MATCH_NONE if isinstance(node, And) else MATCH_ALL
    return Not(node)


def _group(node: And | Or) -> FilterNode:
    kind = type(node)
    absorbing = MATCH_NONE_TEXT if kind is And else MATCH_ALL_TEXT
    members: dict[str, FilterNode] = {}
    for child in map(_normal, node.children):
        # Normal children of the same kind are spliced in; empty ones are the unit.
        for part in child.children if isinstance(child, kind) else (child,):
            text = _render(part)
            if text == absorbing:
                return MATCH_NONE if kind is And else MATCH_ALL
            members[text] = part
    if len(members) == 1:
        return next(iter(members.values()))
    return kind(tuple(members[text] for text in sorted(members)))


def _render(node: FilterNode) -> str:
    if isinstance(node, And | Or):
        if not node.children:
            return MATCH_ALL_TEXT if isinstance(node, And) else MATCH_NONE_TEXT
        op = "$and" if isinstance(node, And) else "$or"
        return f'{{"{op}":[{",".join(sorted(_render(c) for c in node.children))}]}}'
    if isinstance(node, Not):
        return f'{{"$not":{_render(node.child)}}}'
    if isinstance(node, Exists):
        body = f'"$exists":{"true" if node.exists else "false"}'
    elif isinstance(node, Compare):
        body = f'"{node.op}":{_value(node.value)}'
    else:
        values = ",".join(_value(v) for v in node.values)
        body = f'"{"$nin" if node.negated else "$in"}":[{values}]'
    return f"{{{json.dumps(node.field)}:{{{body}}}}}"


def _value(value: Operand) -> str:
    if isinstance(value, Instant):
        moment = _EPOCH + timedelta(microseconds=value.us)
        return json.dumps(moment.isoformat().replace("+00:00", "Z"))
    return json.dumps(value)
