"""Generated protobuf and gRPC code for ``vecfleet.proto``; regenerate with ``make proto``."""
