"""The pure translation of d-vecDB's point routes: example vectors to a query, pages, cursors."""

from __future__ import annotations

import numpy as np
import pytest

from vecfleet.api.dvecdb_points import discover_query, page_of, recommend_query, scroll_cursor
from vecfleet.errors import ValidationError
from vecfleet.models import Hit


def test_recommend_query_is_the_positive_mean_pushed_away_from_the_negatives() -> None:
    a, b, c = np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 1.0])
    np.testing.assert_allclose(recommend_query([a, b], []), [0.5, 0.5])
    np.testing.assert_allclose(recommend_query([a, b], [c]), [0.0, 0.0])
    np.testing.assert_allclose(recommend_query([a], [b]), [2.0, -1.0])
    assert recommend_query([a], []).dtype == np.float32


def test_discover_query_moves_the_target_by_the_mean_context_difference() -> None:
    t = np.array([0.0, 0.0, 1.0])
    pairs = [(np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))] * 2
    np.testing.assert_allclose(discover_query(t, pairs), [1.0, -1.0, 1.0])
    np.testing.assert_allclose(discover_query(t, []), t)


def test_page_of_skips_examples_before_the_offset() -> None:
    hits = [Hit(i, 1.0 - n / 10, {}) for n, i in enumerate("abcde")]
    assert [h.id for h in page_of(hits, {"a", "c"}, 1, 2)] == ["d", "e"]
    assert page_of(hits, set(), 5, 3) == []


def test_scroll_cursor() -> None:
    assert scroll_cursor(None) is None
    assert scroll_cursor("42") == 42
    for bad in ("-1", "x", ""):
        with pytest.raises(ValidationError, match="next_offset"):
            scroll_cursor(bad)
