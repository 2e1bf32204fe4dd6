"""``connect(uri)``: the one entry point users need.

A filesystem path opens an embedded database there; an ``http(s)://`` URL will return a
client of a running server with the same methods.
"""

from __future__ import annotations

import os
from typing import Any

from vecfleet.engine.api import EmbeddedDatabase
from vecfleet.engine.database import DatabaseSettings
from vecfleet.errors import ValidationError


def connect(uri: str | os.PathLike[str], **settings: Any) -> EmbeddedDatabase:
    """Open ``uri``: a data directory (created if missing) or a server URL."""
    text = os.fspath(uri)
    if text.startswith(("http://", "https://")):
        raise ValidationError("remote connections are not available in this build; pass a path")
    return EmbeddedDatabase(text, DatabaseSettings(**settings) if settings else None)
