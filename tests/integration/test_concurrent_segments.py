"""Searches stay correct while writers overwrite and delete and segments seal and merge."""

from __future__ import annotations

import threading
import time

import numpy as np

import vecfleet
from tests.helpers import unit_rows


def test_results_stay_correct_under_seal_and_merge(tmp_path):
    db = vecfleet.connect(tmp_path, durability="none")
    col = db.create_collection(
        "c",
        dim=8,
        index="hnsw",
        payload_schema={"v": "integer"},
        seal_rows=300,
        merge_deleted_fraction=0.1,
    )
    state_lock = threading.Lock()
    versions: dict[int, int] = {}  # acknowledged live ids -> payload version
    deleted: set[int] = set()  # acknowledged deletes not re-inserted since
    problems: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        next_id = 0
        local = np.random.default_rng(6)
        for step in range(400):
            if step % 3 == 0 and versions:
                with state_lock:
                    victims = local.choice(
                        sorted(versions), size=min(10, len(versions)), replace=False
                    )
                col.delete(ids=victims.tolist())
                with state_lock:
                    for v in victims.tolist():
                        versions.pop(v, None)
                        deleted.add(v)
            elif step % 3 == 1 and versions:
                with state_lock:
                    ids = local.choice(
                        sorted(versions), size=min(20, len(versions)), replace=False
                    ).tolist()
                    new = {i: versions[i] + 1 for i in ids}
                col.upsert(
                    ids=ids,
                    vectors=unit_rows(local, len(ids), 8),
                    payloads=[{"v": new[i]} for i in ids],
                )
                with state_lock:
                    versions.update(new)
            else:
                ids = list(range(next_id, next_id + 50))
                next_id += 50
                col.upsert(ids=ids, vectors=unit_rows(local, 50, 8), payloads=[{"v": 0}] * 50)
                with state_lock:
                    versions.update(dict.fromkeys(ids, 0))
        stop.set()

    def searcher(seed: int) -> None:
        local = np.random.default_rng(seed)
        while not stop.is_set():
            with state_lock:
                gone = set(deleted) - set(versions)
                floor = dict(versions)
            hits = col.search(unit_rows(local, 1, 8)[0], limit=20)
            ids = [h.id for h in hits]
            if len(ids) != len(set(ids)):
                problems.append(f"duplicate ids {ids}")
            for h in hits:
                if h.id in gone:
                    with state_lock:
                        if h.id not in versions:  # still deleted now, so it was returned dead
                            problems.append(f"deleted id {h.id} returned")
                elif h.id in floor and h.payload["v"] < floor[h.id]:
                    problems.append(
                        f"id {h.id} returned stale version {h.payload['v']} < {floor[h.id]}"
                    )

    def optimizer() -> None:
        while not stop.is_set():
            col.optimize()
            time.sleep(0.05)

    threads = [threading.Thread(target=writer), threading.Thread(target=optimizer)]
    threads += [threading.Thread(target=searcher, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not problems, problems[:5]
    col.optimize()
    info = col.info()
    assert sum(1 for s in info["segments"] if s["rows"]) >= 1
    assert len(col) == len(versions) == col.count()
    got = {p.id: p.payload["v"] for p in col.get(ids=sorted(versions))}
    assert got == versions
    assert col.get(ids=sorted(deleted - set(versions))) == []
    db.close()
