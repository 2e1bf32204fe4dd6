"""Faults under steady traffic on a real cluster: a node killed, a node frozen, NATS
restarted. Each test runs reads and writes at fixed rates while the fault happens and
checks what users saw and that no acknowledged write was lost.

These take about a minute each; CI runs them as their own step (``make test-chaos``).
"""

from __future__ import annotations

import asyncio
import signal

import httpx
import numpy as np
import pytest

from tests.cluster.conftest import LocalCluster, wait_until
from tests.cluster.traffic import Traffic, run_traffic

pytestmark = pytest.mark.chaos

DIM = 16
READ_RATE = 40.0
WRITE_RATE = 10.0


def seed(cluster: LocalCluster, name: str, rows: int = 2000) -> None:
    rng = np.random.default_rng(8)
    with cluster.client(60) as http:
        r = http.post("/v1/collections", json={"name": name, "dim": DIM})
        assert r.status_code == 201, r.text
        for start in range(0, rows, 500):
            points = [
                {"id": f"seed-{i}", "vector": rng.standard_normal(DIM).tolist()}
                for i in range(start, min(start + 500, rows))
            ]
            r = http.post(
                f"/v1/collections/{name}/points", json={"points": points, "consistency": "strong"}
            )
            assert r.status_code == 200, r.text


def assert_every_acknowledged_write_is_there(
    cluster: LocalCluster, name: str, traffic: Traffic, seed_rows: int = 2000
) -> None:
    with cluster.client(60) as http:
        found: set[str] = set()
        for start in range(0, len(traffic.acked), 500):
            ids = traffic.acked[start : start + 500]
            r = http.post(
                f"/v1/collections/{name}/points/get", json={"ids": ids, "consistency": "strong"}
            )
            assert r.status_code == 200, r.text
            found |= {p["id"] for p in r.json()["points"]}
        lost = sorted(set(traffic.acked) - found)
        assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {lost[:5]}"
        count = http.post(
            f"/v1/collections/{name}/points/count", json={"consistency": "strong"}
        ).json()["count"]
        # Every stored point is a seed, an acknowledged write or a write whose answer was
        # an error but which landed; never a second copy of anything.
        attempted = seed_rows + len(traffic.acked) + sum(traffic.write_errors.values())
        assert seed_rows + len(traffic.acked) <= count <= attempted


def replicas_caught_up(cluster: LocalCluster, name: str, node: str) -> bool:
    info = httpx.get(f"{cluster.url}/v1/collections/{name}", timeout=5).json()
    newest: dict[int, int] = {}
    mine: dict[int, int] = {}
    for shard in info["shards"]:
        for replica in shard["replicas"]:
            seq = replica["applied_seq"] or 0
            newest[shard["shard"]] = max(newest.get(shard["shard"], 0), seq)
            if replica["node"] == node and replica["live"]:
                mine[shard["shard"]] = seq
    return bool(mine) and all(mine[s] >= newest[s] for s in mine)


def test_kill_9_of_a_node_loses_no_write_and_the_node_catches_up(cluster: LocalCluster) -> None:
    seed(cluster, "kill")
    killed: list[int] = []

    async def fault() -> None:
        await asyncio.sleep(4)
        killed.append(cluster.signal("node-1", signal.SIGKILL))

    traffic = asyncio.run(
        run_traffic(cluster.url, "kill", DIM, 20, READ_RATE, WRITE_RATE, fault, "kill")
    )
    assert traffic.read_success >= 0.999, (traffic.read_success, traffic.read_errors)
    assert not traffic.write_errors, traffic.write_errors
    cluster.wait_restarted("node-1", killed[0])
    wait_until(lambda: replicas_caught_up(cluster, "kill", "node-1"), 60, "node-1 caught up")
    assert_every_acknowledged_write_is_there(cluster, "kill", traffic)


def test_a_frozen_node_costs_reads_little_and_rejoins(cluster: LocalCluster) -> None:
    seed(cluster, "frozen")
    stopped: list[int] = []

    async def fault() -> None:
        await asyncio.sleep(4)
        stopped.append(cluster.signal("node-2", signal.SIGSTOP))
        await asyncio.sleep(10)
        cluster.signal("node-2", signal.SIGCONT)

    traffic = asyncio.run(
        run_traffic(cluster.url, "frozen", DIM, 20, READ_RATE, WRITE_RATE, fault, "frozen")
    )
    assert traffic.read_success >= 0.999, (traffic.read_success, traffic.read_errors)
    assert traffic.read_p99_ms() <= 100.0, traffic.read_p99_ms()
    assert not traffic.write_errors, traffic.write_errors
    assert cluster.process("node-2")["pid"] == stopped[0]  # frozen, not restarted
    wait_until(lambda: replicas_caught_up(cluster, "frozen", "node-2"), 30, "node-2 rejoined")
    assert_every_acknowledged_write_is_there(cluster, "frozen", traffic)


def test_a_nats_restart_pauses_writes_with_503_and_they_resume(cluster: LocalCluster) -> None:
    seed(cluster, "natsdown")
    killed: list[int] = []

    async def fault() -> None:
        # Unresponsive for longer than a write waits (5 s), then killed and restarted by
        # the supervisor on the same port and store.
        await asyncio.sleep(3)
        cluster.signal("nats", signal.SIGSTOP)
        await asyncio.sleep(7)
        killed.append(cluster.signal("nats", signal.SIGKILL))

    traffic = asyncio.run(
        run_traffic(
            cluster.url, "natsdown", DIM, 20, READ_RATE, WRITE_RATE, fault, "nats", "eventual"
        )
    )
    cluster.wait_restarted("nats", killed[0])
    refused = {code: n for code, n in traffic.write_codes.items() if code != 200}
    assert set(refused) <= {503}, traffic.write_errors  # a clear 503, nothing else
    assert not any(k.startswith(("Read", "Connect")) for k in traffic.write_errors)
    assert refused, "no write noticed that NATS was down"
    # Eventual reads keep being served by the nodes from what they hold. (Bounded ones
    # may be refused: a replica cut off from the log cannot vouch for its lag.)
    assert traffic.read_success >= 0.999, traffic.read_errors
    with cluster.client() as http:

        def write_ok() -> bool:
            point = {"id": "after", "vector": [0.5] * DIM}
            r = http.post("/v1/collections/natsdown/points", json={"points": [point]})
            return r.status_code == 200

        wait_until(write_ok, 30, "writes did not resume after NATS came back")

        def bounded_read_ok() -> bool:
            body = {"vector": [0.5] * DIM, "consistency": "bounded", "cache": "bypass"}
            return http.post("/v1/collections/natsdown/search", json=body).status_code == 200

        wait_until(bounded_read_ok, 30, "bounded reads did not resume after NATS came back")
    traffic.acked.append("after")
    assert_every_acknowledged_write_is_there(cluster, "natsdown", traffic)
