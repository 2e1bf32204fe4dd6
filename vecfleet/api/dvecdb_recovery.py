"""d-vecDB's recovery routes: soft delete, restore, import, backup and snapshots.

vecfleet's drop is final (``DELETE /collections/{c}`` keeps nothing), so the routes about
soft-deleted collections answer truthfully from that, and the ones that need
per-collection copies answer d-vecDB's failure envelope with what to use instead:

=======  ==========================================  =========================================
method   path                                        answer
=======  ==========================================  =========================================
DELETE   ``/collections/{c}/hard-delete``            drops it: ``{name, message}``
GET      ``/collections/deleted``                    ``[]``: nothing is kept after a drop
POST     ``/collections/cleanup``                    ``[]``: nothing to clean up
POST     ``/collections/restore``, ``/import``       ``200 {success: false, error}``
POST     ``/collections/{c}/backup``                 ``200 {success: false, error}``
*        ``/collections/{c}/snapshots[/{id}]``       ``200 {success: false, error}``
=======  ==========================================  =========================================

The failures carry ``X-Vecfleet-Error-Code: unsupported``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vecfleet.api.dvecdb_wire import ERROR_CODE_HEADER, Endpoint, enveloped, ok
from vecfleet.api.wire import json_response
from vecfleet.gateway import Gateway

NO_COPIES = (
    "{what} is not served over d-vecDB's API: vecfleet drops a collection for good and "
    "keeps no per-collection copies; snapshot the whole data directory with "
    "`vecfleet snapshot create|list|restore`"
)


def unsupported(what: str) -> Response:
    """d-vecDB's failure envelope for an operation vecfleet does not offer here."""
    body = {"success": False, "data": None, "error": NO_COPIES.format(what=what)}
    return json_response(body, 200, {ERROR_CODE_HEADER: "unsupported"})


def recovery_routes(gateway: Gateway) -> list[BaseRoute]:
    gw = gateway

    async def hard_delete(request: Request) -> Response:
        name = request.path_params["collection"]
        await gw.drop_collection(name)
        return ok(
            {"name": name, "message": "Collection permanently deleted (no recovery possible)"}
        )

    async def deleted(request: Request) -> Response:
        return ok([])

    async def cleanup(request: Request) -> Response:
        return ok([])

    def refuse(what: str) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            return unsupported(what)

        return endpoint

    base = "/collections/{collection}"
    snapshot = f"{base}/snapshots/{{snapshot_id}}"
    table: list[tuple[str, Endpoint, str]] = [
        (f"{base}/hard-delete", hard_delete, "DELETE"),
        ("/collections/deleted", deleted, "GET"),
        ("/collections/cleanup", cleanup, "POST"),
        ("/collections/restore", refuse("restoring a collection"), "POST"),
        ("/collections/import", refuse("importing orphaned collection data"), "POST"),
        (f"{base}/backup", refuse("a collection backup"), "POST"),
        (f"{base}/snapshots", refuse("a collection snapshot"), "POST"),
        (f"{base}/snapshots", refuse("listing collection snapshots"), "GET"),
        (snapshot, refuse("a collection snapshot"), "GET"),
        (snapshot, refuse("deleting a collection snapshot"), "DELETE"),
    ]
    return [Route(path, enveloped(fn), methods=[method]) for path, fn, method in table]
