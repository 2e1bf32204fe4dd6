"""Result-cache keys: every part of a search that can change its answer changes the key;
spellings of the same filter do not."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from vecfleet.engine.filter import canonical_filter, parse_filter
from vecfleet.engine.payload.schema import PayloadSchema
from vecfleet.gateway.cache.keys import (
    PUBLIC_SCOPE,
    SearchIdentity,
    etag_of,
    scope_of,
    search_key,
)
from vecfleet.models import SearchOptions

SCHEMA = PayloadSchema({"industry": "keyword", "severity": "keyword", "n": "integer"})


def canon(raw: dict[str, Any] | None) -> str:
    return canonical_filter(parse_filter(raw, SCHEMA))


def vector_bytes(*values: float) -> bytes:
    return np.asarray(values, dtype=np.float32).tobytes()


BASE = SearchIdentity(
    collection="incidents",
    vector=vector_bytes(0.1, 0.2, 0.3),
    model=None,
    text=None,
    filter=canon({"industry": "Healthcare"}),
    ef=None,
    exact=False,
    options=SearchOptions(limit=10),
)
BASE_KEY = search_key(BASE, PUBLIC_SCOPE, 7)

CHANGES: dict[str, dict[str, Any]] = {
    "collection": {"collection": "incidents2"},
    "vector": {"vector": vector_bytes(0.1, 0.2, 0.30001)},
    "text instead of vector": {"vector": None, "model": "m", "text": "disk full"},
    "filter": {"filter": canon({"industry": "Energy"})},
    "no filter": {"filter": canon(None)},
    "limit": {"options": SearchOptions(limit=11)},
    "ef": {"ef": 64},
    "exact": {"exact": True},
    "with_payload": {"options": SearchOptions(limit=10, with_payload=False)},
    "with_vectors": {"options": SearchOptions(limit=10, with_vectors=True)},
    "offset": {"options": SearchOptions(limit=10, offset=10)},
    "score_threshold": {"options": SearchOptions(limit=10, score_threshold=0.5)},
    "score_threshold 0": {"options": SearchOptions(limit=10, score_threshold=0.0)},
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_identity_part_changes_the_key(change: str) -> None:
    other = dataclasses.replace(BASE, **CHANGES[change])
    assert search_key(other, PUBLIC_SCOPE, 7) != BASE_KEY


def test_scope_and_epoch_change_the_key() -> None:
    assert search_key(BASE, scope_of("acme", None), 7) != BASE_KEY
    assert search_key(BASE, PUBLIC_SCOPE, 8) != BASE_KEY
    assert search_key(BASE, PUBLIC_SCOPE, 7) == BASE_KEY


def test_text_queries_key_on_model_and_text() -> None:
    text = dataclasses.replace(BASE, vector=None, model="minilm", text="disk full")
    key = search_key(text, PUBLIC_SCOPE, 7)
    assert search_key(dataclasses.replace(text, model="openai"), PUBLIC_SCOPE, 7) != key
    assert search_key(dataclasses.replace(text, text="disk ful"), PUBLIC_SCOPE, 7) != key


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (
            {"severity": {"$in": ["high", "critical"]}},
            {"severity": {"$in": ["critical", "high", "high"]}},
        ),
        (
            {"industry": "Healthcare", "severity": "high"},
            {"severity": "high", "industry": "Healthcare"},
        ),
        (
            {"$or": [{"industry": "A"}, {"n": {"$gte": 3}}]},
            {"$or": [{"n": {"$gte": 3}}, {"industry": "A"}]},
        ),
        ({"severity": {"$in": ["high"]}}, {"severity": "high"}),
        ({}, None),
    ],
)
def test_equivalent_filters_share_a_key(left: Any, right: Any) -> None:
    one = dataclasses.replace(BASE, filter=canon(left))
    two = dataclasses.replace(BASE, filter=canon(right))
    assert search_key(one, PUBLIC_SCOPE, 1) == search_key(two, PUBLIC_SCOPE, 1)


def test_scopes_separate_tenants_and_credentials() -> None:
    scopes = {
        scope_of(None, None),
        scope_of("acme", None),
        scope_of("globex", None),
        scope_of(None, "Bearer one"),
        scope_of(None, "Bearer two"),
        scope_of("acme", "Bearer one"),
    }
    assert len(scopes) == 6
    assert scope_of(None, None) == PUBLIC_SCOPE
    assert "Bearer" not in scope_of("acme", "Bearer one")  # credentials are hashed


def test_key_and_etag_shape() -> None:
    assert BASE_KEY.startswith("vf:s:") and len(BASE_KEY) == len("vf:s:") + 32
    assert etag_of(BASE_KEY) == f'"{BASE_KEY[5:]}"'
