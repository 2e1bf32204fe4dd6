"""Parsed filters, remembered by their JSON text.

Clients send the same few filters again and again; parsing and canonicalising one costs
more than the search it restricts on a small collection. The JSON encoding of the raw
filter is an exact key (``1``, ``1.0`` and ``true`` encode differently), so a hit returns
the very tree and canonical text a fresh parse would.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import msgspec

from vecfleet.engine.filter.ast import FilterNode
from vecfleet.engine.filter.canonical import canonical_filter
from vecfleet.engine.filter.parse import parse_filter
from vecfleet.engine.payload import PayloadSchema

Compiled = tuple[FilterNode | None, str | None]
_encode = msgspec.json.Encoder().encode


def filter_text(raw: Any) -> bytes | None:
    """The exact cache key of a raw filter (its JSON encoding); None if it is not JSON."""
    try:
        return _encode(raw)
    except (TypeError, ValueError, OverflowError):
        return None


class FilterCompiler:
    def __init__(self, schema: PayloadSchema, max_entries: int = 1024) -> None:
        self.schema = schema
        self._max = max_entries
        self._entries: OrderedDict[bytes, Compiled] = OrderedDict()
        self._lock = threading.Lock()

    def compile(self, raw: Any, text: bytes | None = None) -> Compiled:
        """(tree, canonical text) of ``raw``; (None, None) for no filter.

        ``text`` is ``filter_text(raw)`` when the caller has already computed it.
        """
        if raw is None:
            return None, None
        if text is None:
            text = filter_text(raw)
            if text is None:
                return self._parse(raw)  # not plain JSON: let the parser say what is wrong
        with self._lock:
            found = self._entries.get(text)
            if found is not None:
                self._entries.move_to_end(text)
                return found
        compiled = self._parse(raw)
        with self._lock:
            self._entries[text] = compiled
            if len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return compiled

    def _parse(self, raw: Any) -> Compiled:
        node = parse_filter(raw, self.schema)
        return node, canonical_filter(node) if node is not None else None
