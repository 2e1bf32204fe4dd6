"""Cluster mode's shared infrastructure: the replicated log, snapshot storage, naming.

The log and snapshot modules (docs/cluster-log.md):

* ``subjects``      names of streams, subjects and buckets (pure)
* ``nats_thread``   one NATS connection on a background loop, for synchronous callers
* ``nats_errors``   the one place NATS exceptions become ``vecfleet.errors``
* ``shard_writer``  the gateway's publisher: ``ShardLogWriter`` (async)
* ``jetstream_log`` the engine's ``Log`` over one shard subject: ``JetStreamLog``
* ``log_tail``      an ordered reader of one shard subject: ``JetStreamTail``
* ``jetstream_source`` the replicas' ``ShardLogSource`` over JetStream
* ``file_source``   the replicas' ``ShardLogSource`` over local write-ahead logs
* ``blobstore``     where snapshots live: ``BlobStore``, ``NatsBlobStore``, ``LocalBlobStore``

The engine knows none of this. A ``vecfleet.node.replica`` follows whichever
``ShardLogSource`` (``vecfleet.cluster.log_source``) its composition root hands it.
Nothing is imported here, so importing one module does not pull in the others.
"""
