"""FileLog under SIGKILL: every acknowledged record survives, nothing torn is ever returned.

The test runs this file as a writer process that appends batches in ``fsync`` mode and
prints each batch before appending it and each acknowledgement after, then kills it at
seeded random moments. Between kills it sometimes appends a torn batch to the newest
segment, as a write cut short by a crash leaves it.
"""

from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from vecfleet.engine.wal import FileLog
from vecfleet.engine.wal.file_log import encode_batch

SEGMENT_BYTES = 256 * 1024
CYCLES = 20
SEED = 20240611
REPO = Path(__file__).resolve().parents[2]


def payload(seq: int) -> bytes:
    """Up to 20 KB derived from the sequence alone, so batches span several pages."""
    block = hashlib.sha256(str(seq).encode()).digest()
    size = (seq * 7919) % 20_000 + 1
    return (block * (size // len(block) + 1))[:size]


def write_forever(directory: Path, seed: int) -> None:
    rng = random.Random(seed)
    with FileLog(directory, durability="fsync", segment_bytes=SEGMENT_BYTES) as log:
        print("ready", log.last_seq(), flush=True)
        while True:
            first = log.last_seq() + 1
            last = first + rng.randint(1, 8) - 1
            print("begin", first, last, flush=True)
            acknowledged = log.append([payload(seq) for seq in range(first, last + 1)])
            print("ack", acknowledged, flush=True)


def complete_lines(path: Path) -> list[list[str]]:
    text = path.read_text()
    return [line.split() for line in text.splitlines(keepends=True) if line.endswith("\n")]


def run_writer_until_killed(directory: Path, cycle: int, delay_s: float, out: Path) -> None:
    with out.open("w") as stdout, (out.with_suffix(".err")).open("w") as stderr:
        writer = subprocess.Popen(
            [sys.executable, __file__, str(directory), str(cycle)],
            stdout=stdout,
            stderr=stderr,
            cwd=REPO,
        )
    try:
        deadline = time.monotonic() + 20
        while not complete_lines(out) and time.monotonic() < deadline:
            assert writer.poll() is None, out.with_suffix(".err").read_text()
            time.sleep(0.005)
        time.sleep(delay_s)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()


def verify(directory: Path, acknowledged: int, batch_ends: set[int]) -> int:
    """Reopen the log and check it against what the writers were told; return last_seq."""
    with FileLog(directory, segment_bytes=SEGMENT_BYTES) as log:
        last = log.last_seq()
        records = list(log.read_from(1))
    assert last >= acknowledged, f"acknowledged {acknowledged} but recovered only {last}"
    assert last in batch_ends, f"recovered up to {last}, inside a batch"
    assert [seq for seq, _ in records] == list(range(1, last + 1))
    for seq, data in records:
        assert data == payload(seq), f"sequence {seq} has the wrong content"
    return last


def tear_a_batch(directory: Path, last: int, rng: random.Random) -> None:
    """Append a prefix of a real next batch, as a crash in the middle of write() leaves it."""
    newest = max(directory.glob("*.wal"))
    batch = encode_batch(last + 1, [b"never acknowledged" * 50] * rng.randint(1, 3))
    with newest.open("ab") as segment:
        segment.write(batch[: rng.randrange(1, len(batch))])


def test_acknowledged_records_survive_sigkill(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    directory = tmp_path / "wal"
    acknowledged, batch_ends, last = 0, {0}, 0
    torn = 0
    for cycle in range(CYCLES):
        out = tmp_path / f"writer{cycle}.out"
        run_writer_until_killed(directory, cycle, rng.uniform(0.0, 0.25), out)
        lines = complete_lines(out)
        assert lines and lines[0][0] == "ready"
        assert int(lines[0][1]) == last, "the writer recovered a different log"
        if torn:
            assert "dropped" in out.with_suffix(".err").read_text()
        batch_ends |= {int(words[2]) for words in lines if words[0] == "begin"}
        acks = [int(words[1]) for words in lines if words[0] == "ack"]
        acknowledged = max([acknowledged, *acks])
        last = verify(directory, acknowledged, batch_ends)
        batch_ends = {end for end in batch_ends if end <= last}
        torn = rng.random() < 0.5
        if torn:
            tear_a_batch(directory, last, rng)
    assert acknowledged > 0
    assert verify(directory, acknowledged, batch_ends) == last


if __name__ == "__main__":
    write_forever(Path(sys.argv[1]), int(sys.argv[2]))
