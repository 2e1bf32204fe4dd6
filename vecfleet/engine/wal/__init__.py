"""The write-ahead log: the `Log` seam and its local-file implementation."""

from vecfleet.engine.wal.base import Log
from vecfleet.engine.wal.file_log import FileLog

__all__ = ["FileLog", "Log"]
