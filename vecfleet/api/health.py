"""Health bodies shared by vecfleet's probes and the d-vecDB routes.

One body serves ``/health/live``, ``/health/ready`` and d-vecDB's ``/ready``: vecfleet's
``status`` and ``collections`` plus d-vecDB's ``alive``, ``ready``, ``timestamp`` (unix
seconds) and ``checks`` (one entry per component), so probes written for either answer.
"""

from __future__ import annotations

import time

from vecfleet.api.schemas import ComponentOut, HealthOut
from vecfleet.gateway import Gateway


def _component(name: str, healthy: bool, message: str, now_s: int) -> ComponentOut:
    return ComponentOut(name, "healthy" if healthy else "unhealthy", message, now_s)


def liveness() -> HealthOut:
    return HealthOut("ok", alive=True, ready=True, timestamp=int(time.time()))


def readiness(gateway: Gateway) -> tuple[HealthOut, int]:
    """The readiness body and its status: 503 while collections are still loading."""
    now_s = int(time.time())
    count = len(gateway.data.collection_names())
    ready = gateway.ready
    checks = [
        _component(
            "collections",
            ready,
            f"{count} collections loaded" if ready else "collections still loading",
            now_s,
        )
    ]
    body = HealthOut(
        "ok" if ready else "loading",
        count,
        alive=True,
        ready=ready,
        timestamp=now_s,
        checks=checks,
    )
    return body, 200 if ready else 503
