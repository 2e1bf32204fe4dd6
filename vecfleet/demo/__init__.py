"""The demo collection: synthetic incident records written for vecfleet."""

from vecfleet.demo.incidents import (
    DEFAULT_SEED,
    DEFAULT_SIZE,
    GENERATOR_VERSION,
    demo_payload_schema,
    generate_incidents,
    record_text,
)

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_SIZE",
    "GENERATOR_VERSION",
    "demo_payload_schema",
    "generate_incidents",
    "record_text",
]
