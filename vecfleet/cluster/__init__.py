"""Cluster mode's shared infrastructure: the replicated log, snapshot storage, naming.

The log and snapshot modules (docs/cluster-log.md):

* ``subjects``      names of streams, subjects and buckets (pure)
* ``nats_thread``   one NATS connection on a background loop, for synchronous callers
* ``nats_errors``   the one place NATS exceptions become ``vecfleet.errors``
* ``shard_writer``  the gateway's publisher: ``ShardLogWriter`` (async)
* ``jetstream_log`` the engine's ``Log`` over one shard subject: ``JetStreamLog``
* ``log_tail``      an ordered reader of one shard subject: ``LogTail``
* ``blobstore``     where snapshots live: ``BlobStore``, ``NatsBlobStore``, ``LocalBlobStore``

The engine knows none of this; ``vecfleet.node.replica`` wires it to a ``Database``.
Nothing is imported here, so importing one module does not pull in the others.
"""
