"""Payloads: the schema of declared fields, validation, and per-segment columns."""

from vecfleet.engine.payload.columns import KeywordDictionary, PayloadColumns
from vecfleet.engine.payload.schema import PayloadSchema, parse_datetime_us, validate_payloads

__all__ = [
    "KeywordDictionary",
    "PayloadColumns",
    "PayloadSchema",
    "parse_datetime_us",
    "validate_payloads",
]
