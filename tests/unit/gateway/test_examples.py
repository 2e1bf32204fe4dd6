"""Search by example: recommend and discover query vectors, and pages without the examples."""

from __future__ import annotations

import numpy as np
import pytest

from vecfleet.errors import ValidationError
from vecfleet.gateway.examples import deeper, discover_vector, page_without, recommend_vector
from vecfleet.models import Hit, SearchOptions


def test_recommend_vector_is_the_positive_mean_pushed_away_from_the_negatives() -> None:
    a, b, c = np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 1.0])
    np.testing.assert_allclose(recommend_vector([a, b], []), [0.5, 0.5])
    np.testing.assert_allclose(recommend_vector([a, b], [c]), [0.0, 0.0])
    np.testing.assert_allclose(recommend_vector([a], [b]), [2.0, -1.0])
    assert recommend_vector([a], []).dtype == np.float32
    with pytest.raises(ValidationError, match="positive"):
        recommend_vector([], [a])


def test_discover_vector_moves_the_target_by_the_mean_context_difference() -> None:
    t = np.array([0.0, 0.0, 1.0])
    pairs = [(np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))] * 2
    np.testing.assert_allclose(discover_vector(t, pairs), [1.0, -1.0, 1.0])
    np.testing.assert_allclose(discover_vector([0.0, 0.0, 1.0], []), t)


def test_deeper_asks_for_the_page_and_the_examples() -> None:
    options = SearchOptions(limit=3, filter={"a": 1}, offset=2)
    ask = deeper(options, 4)
    assert (ask.limit, ask.offset, ask.filter) == (9, 0, {"a": 1})
    with pytest.raises(ValidationError, match="negative"):
        deeper(SearchOptions(limit=-1), 0)


def test_page_without_skips_examples_before_the_offset() -> None:
    hits = [Hit(i, 1.0 - n / 10, {}) for n, i in enumerate("abcde")]
    page = page_without(hits, {"a", "c"}, SearchOptions(limit=2, offset=1))
    assert [h.id for h in page] == ["d", "e"]
    assert page_without(hits, set(), SearchOptions(limit=3, offset=5)) == []
    numbered = [Hit(7, 1.0), Hit(8, 0.9)]
    assert [h.id for h in page_without(numbered, {"7"}, SearchOptions(limit=5))] == [8]
