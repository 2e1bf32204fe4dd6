"""The incident search page served at ``/``."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from vecfleet.gateway import Gateway


def console_routes(gateway: Gateway, demo: Any) -> list[BaseRoute]:
    return []
