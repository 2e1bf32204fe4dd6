"""Transports of ``NodeAPI``: ``inprocess`` (embedded mode) and ``grpc_client`` /
``grpc_server`` (cluster mode), with the pure ``codec`` and the error ↔ gRPC ``status``
table they share. Import the module you need: the in-process one does not load gRPC.
"""
