"""Segments: the unit of storage and search inside a shard."""

from vecfleet.engine.segment.growing import GrowingSegment
from vecfleet.engine.segment.sealed import SealedSegment, Segment

__all__ = ["GrowingSegment", "SealedSegment", "Segment"]
