"""The replicas' ``ShardLogSource`` in cluster mode: each shard's log is a JetStream subject.

A node shares one ``NatsThread`` among all its replicas; each replica gets a read-only
``JetStreamLog`` over ``vf.<collection>.<shard>``, whose ``tail`` is a ``JetStreamTail``
(docs/cluster-log.md). The gateway publishes with ``ShardLogWriter``, not through here.
"""

from __future__ import annotations

from vecfleet.cluster.jetstream_log import JetStreamLog
from vecfleet.cluster.nats_thread import NatsThread
from vecfleet.cluster.subjects import check_shard, cluster_collection_name


class JetStreamLogSource:
    """Opens read-only shard logs on one NATS connection the caller owns and closes."""

    def __init__(
        self, nats_thread: NatsThread, *, timeout_s: float = 5.0, batch_records: int = 256
    ) -> None:
        self._nats = nats_thread
        self.timeout_s = timeout_s
        self.batch_records = batch_records

    def open_log(self, collection: str, shard: int) -> JetStreamLog:
        """``collection``'s shard ``shard``; ``ValidationError`` for a name NATS cannot carry."""
        return JetStreamLog(
            self._nats,
            cluster_collection_name(collection),
            check_shard(shard),
            writable=False,
            timeout_s=self.timeout_s,
            batch_records=self.batch_records,
        )
