"""The gateway: the one shared path from any edge (REST, d-vecDB REST, gRPC) to the nodes."""

from vecfleet.gateway.service import Gateway, PointIn, SearchOutcome
from vecfleet.models import SearchRequest

__all__ = ["Gateway", "PointIn", "SearchOutcome", "SearchRequest"]
