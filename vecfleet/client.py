"""``connect(uri)``: the one entry point users need.

A filesystem path opens an embedded database there; an ``http(s)://`` URL returns a
client of a running server (``RemoteDatabase``) with the same methods and errors.
"""

from __future__ import annotations

import os
from typing import Any

from vecfleet.engine.api import EmbeddedDatabase
from vecfleet.engine.database import DatabaseSettings
from vecfleet.remote import RemoteDatabase


def connect(uri: str | os.PathLike[str], **settings: Any) -> EmbeddedDatabase | RemoteDatabase:
    """Open ``uri``: a data directory (created if missing) or a server URL.

    ``settings`` go to ``DatabaseSettings`` for a path, and to ``RemoteDatabase`` (such as
    ``timeout_s`` or ``headers``) for a URL.
    """
    text = os.fspath(uri)
    if text.startswith(("http://", "https://")):
        return RemoteDatabase(text, **settings)
    return EmbeddedDatabase(text, DatabaseSettings(**settings) if settings else None)
