"""The write-ahead log seam: an ordered, durable sequence of opaque records.

Every mutation of a shard is appended here before it is applied or acknowledged, so the
log, not the in-memory state, is the source of truth. The contract says nothing about
files: embedded mode keeps the log in local segment files (`FileLog`), cluster mode in a
JetStream stream, and both must honour the same rules:

* sequence numbers are consecutive integers starting at 1 and are never reused;
* ``append`` returns only once its records are durable in the log's durability mode;
* the records of one ``append`` call are recovered all together or not at all;
* readers never see a record that a crash could still take away in that mode.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from vecfleet.types import Seq


@runtime_checkable
class Log(Protocol):
    """An append-only record log addressed by sequence number."""

    def append(self, records: Sequence[bytes]) -> Seq:
        """Append ``records`` atomically and return the sequence of the last one.

        The first record ever appended gets sequence 1; each call continues where the
        previous one ended. Returns only after the records are durable, and after a crash
        either every record of the call is recovered or none is.
        """
        ...

    def read_from(self, seq: Seq) -> Iterator[tuple[Seq, bytes]]:
        """Yield ``(seq, record)`` for every retained record with sequence >= ``seq``.

        The iterator stops at the last record acknowledged when it was created. Records
        dropped by ``truncate_before`` are not yielded, so a caller that needs continuity
        compares its start with ``first_seq()``.
        """
        ...

    def last_seq(self) -> Seq:
        """Sequence of the newest acknowledged record, 0 when nothing was ever appended."""
        ...

    def first_seq(self) -> Seq:
        """Sequence of the oldest retained record, ``last_seq() + 1`` when none is retained."""
        ...

    def truncate_before(self, seq: Seq) -> None:
        """Allow records below ``seq`` to be discarded; records >= ``seq`` always stay.

        Implementations may keep some records below ``seq`` (a file-based log drops only
        whole files); it is a retention floor, not an exact cut.
        """
        ...

    def skip_to(self, seq: Seq) -> None:
        """Make the next appended record ``seq + 1``; records at or below ``seq`` may go."""
        ...

    def close(self) -> None:
        """Make everything acknowledged durable and release resources; idempotent."""
        ...
