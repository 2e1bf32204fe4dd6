"""d-vecDB-compatible REST routes."""

from __future__ import annotations

from starlette.routing import BaseRoute

from vecfleet.gateway import Gateway


def dvecdb_routes(gateway: Gateway) -> list[BaseRoute]:
    return []
