"""Write-ahead log frames: encoding and decoding, no I/O.

Every record is one frame:

| offset | size | field    | meaning                                                   |
|-------:|-----:|----------|-----------------------------------------------------------|
| 0      | 4    | magic    | ``b"VFWL"``                                               |
| 4      | 1    | version  | frame format version, currently 1                         |
| 5      | 1    | flags    | bit 0: last record of its ``append`` call (commit marker) |
| 6      | 2    | reserved | 0                                                         |
| 8      | 4    | length   | payload length in bytes                                   |
| 12     | 8    | seq      | sequence number of the record                             |
| 20     | 4    | crc      | CRC32C (Castagnoli) of bytes 0-19, then of the payload    |
| 24     | n    | payload  | the record                                                |

Integers are unsigned little-endian. Later versions must keep this 24-byte header so the
CRC can always be checked: a frame whose CRC holds but whose version is unknown was written by
a newer vecfleet and is refused, never cut away.

A batch is consecutive frames of which only the last carries the commit flag, so a reader
keeps a batch only when its commit frame is intact. ``scan_segment`` tells a torn tail
(nothing valid after the damage: safe to cut) from damage in the middle (fatal).
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import google_crc32c

from vecfleet.types import Seq

MAGIC = b"VFWL"
VERSION = 1
FLAG_COMMIT = 0x01
HEADER = struct.Struct("<4sBBHIQI")
_CRC_INPUT = struct.Struct("<4sBBHIQ")  # the header up to, not including, the CRC
MAX_RECORD_BYTES = 2**32 - 1

Buffer = bytes | mmap.mmap


def encode_batch(first_seq: Seq, records: Sequence[bytes]) -> bytes:
    """Frame ``records`` with consecutive sequences; only the last frame commits the batch."""
    parts: list[bytes] = []
    for i, record in enumerate(records):
        flags = FLAG_COMMIT if i == len(records) - 1 else 0
        head = _CRC_INPUT.pack(MAGIC, VERSION, flags, 0, len(record), first_seq + i)
        crc = google_crc32c.extend(google_crc32c.value(head), record)
        parts += (head, crc.to_bytes(4, "little"), record)
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded, CRC-checked frame that occupies ``buf[offset:end]``."""

    offset: int
    end: int
    seq: Seq
    commit: bool
    payload: bytes


@dataclass(frozen=True, slots=True)
class Problem:
    """Why decoding stopped at ``offset``; ``fatal`` when a torn write cannot explain it."""

    offset: int
    reason: str
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class SegmentScan:
    """What a segment holds: its prefix of complete batches, and why reading stopped early."""

    committed_bytes: int
    last_seq: Seq  # first_seq - 1 when the segment holds no complete batch
    problem: Problem | None


def decode_frame(buf: Buffer, offset: int) -> Frame | Problem:
    """Decode the frame at ``offset`` or say why there is none."""
    available = len(buf) - offset
    if available < HEADER.size:
        return Problem(offset, f"header cut short ({available} of {HEADER.size} bytes)")
    magic, version, flags, _, length, seq, crc = HEADER.unpack_from(buf, offset)
    if magic != MAGIC:
        return Problem(offset, "bad magic")
    end = offset + HEADER.size + length
    if end > len(buf):
        return Problem(offset, f"payload cut short ({available - HEADER.size} of {length} bytes)")
    payload = buf[offset + HEADER.size : end]
    head = buf[offset : offset + _CRC_INPUT.size]
    if google_crc32c.extend(google_crc32c.value(head), payload) != crc:
        return Problem(offset, "CRC mismatch")
    if version != VERSION:
        return Problem(offset, f"frame version {version} is newer than {VERSION}", fatal=True)
    return Frame(offset, end, seq, bool(flags & FLAG_COMMIT), payload)


def _intact_frame_after(buf: Buffer, start: int, after_seq: Seq) -> bool:
    """Whether a CRC-valid frame with a sequence above ``after_seq`` lies at or past start."""
    at = bytes(buf).find(MAGIC, start) if not hasattr(buf, "find") else buf.find(MAGIC, start)
    while at != -1:
        item = decode_frame(buf, at)
        if isinstance(item, Frame) and item.seq > after_seq:
            return True
        at = buf.find(MAGIC, at + 1) if hasattr(buf, "find") else bytes(buf).find(MAGIC, at + 1)
    return False


def scan_segment(buf: Buffer, first_seq: Seq) -> SegmentScan:
    """Verify a whole segment and find the end of its last complete batch."""
    committed_bytes, committed_seq = 0, first_seq - 1
    offset, expected = 0, first_seq
    while offset < len(buf):
        item = decode_frame(buf, offset)
        if isinstance(item, Problem):
            if not item.fatal and _intact_frame_after(buf, offset + 1, committed_seq):
                # A torn tail has nothing valid after it; intact frames mean damage in the
                # middle, and cutting there would drop acknowledged records.
                item = Problem(item.offset, f"{item.reason}, with intact frames after it", True)
            return SegmentScan(committed_bytes, committed_seq, item)
        if item.seq != expected:
            reason = f"sequence {item.seq} where {expected} was expected"
            return SegmentScan(committed_bytes, committed_seq, Problem(offset, reason, True))
        offset, expected = item.end, expected + 1
        if item.commit:
            committed_bytes, committed_seq = offset, item.seq
    if committed_bytes < offset:
        problem = Problem(committed_bytes, "batch without its commit frame")
        return SegmentScan(committed_bytes, committed_seq, problem)
    return SegmentScan(committed_bytes, committed_seq, None)
