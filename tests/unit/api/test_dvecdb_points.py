"""The pure translation of d-vecDB's point routes: scroll cursors."""

from __future__ import annotations

import pytest

from vecfleet.api.dvecdb_points import scroll_cursor
from vecfleet.errors import ValidationError


def test_scroll_cursor() -> None:
    assert scroll_cursor(None) is None
    assert scroll_cursor("42") == 42
    for bad in ("-1", "x", ""):
        with pytest.raises(ValidationError, match="next_offset"):
            scroll_cursor(bad)
