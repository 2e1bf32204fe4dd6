"""d-vecDB's gRPC code, generated at build time by ``make dvecdb-proto`` from d-vecDB's own
proto (``proto/proto/vectordb.proto`` of github.com/Infinidatum-LLC/d-vecDB, commit 29c9f79).

Neither the proto nor the generated ``vectordb_pb2*`` modules are kept in the repository:
d-vecDB's licence restricts commercial use and redistribution. ``serve --dvecdb-grpc-port``
needs them and says how to make them when they are missing.
"""
