"""Nodes host shard replicas and answer the gateway's reads.

* ``base``       the seams: ``ReplicaView`` (what the service needs of a replica), ``NodeAPI``
* ``service``    ``NodeService``: the node's API over the replicas it hosts
* ``replica``    ``Replica``: an engine shard kept current from the shard's log, read
                 through ``cluster.log_source`` (``ShardLogSource``, ``ReplicaLog``)
* ``local``      embedded mode's catalog, shard log and replicas over one database

Nothing is imported here on purpose: the gateway imports ``vecfleet.node.base`` for the
protocols and must not pay for the engine and FAISS that ``replica`` pulls in.
"""
