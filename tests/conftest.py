"""Shared fixtures: temporary databases and deterministic vectors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import vecfleet

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[vecfleet.EmbeddedDatabase]:
    database = vecfleet.connect(tmp_path / "db")
    yield database
    database.close()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def shared_data(name: str) -> Path:
    """The shared benchmark corpus ``name``; skips (saying why) only where it is absent."""
    path = SHARED / "data" / name
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared corpus is only laid out beside the repository")
    return path
