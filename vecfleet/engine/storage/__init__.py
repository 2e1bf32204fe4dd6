"""Atomic, self-describing files: the building blocks of segments and snapshots."""
