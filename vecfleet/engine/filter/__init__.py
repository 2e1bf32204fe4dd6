"""Payload filters: a Mongo-style language parsed once, evaluated to a mask per segment.

Language, as users write it::

    {"industry": "Healthcare",
     "severity": {"$in": ["high", "critical"]},
     "date": {"$gte": "2020-01-01"}}

Operators: ``$eq $ne $gt $gte $lt $lte $in $nin $exists`` on a field, ``$and $or`` (a
non-empty list of filters) and ``$not`` at filter level (``{"$not": {filter}}``) and at
field level (``{"f": {"$not": {"$gt": 5}}}``). Keys of one object, and operators of one
field object, are ANDed. ``None`` or ``{}`` matches everything.

Semantics:

* null and a missing field are the same thing. ``$eq: null`` (or ``$in`` holding null)
  matches missing or null; ``$exists: true`` matches a non-null value, ``$exists: false``
  missing or null.
* ``$ne``, ``$nin`` and ``$not`` are exact complements, so they match points where the
  field is missing (Mongo semantics). Comparisons (``$gt`` …) on a missing field are false.
* Declared fields are type-checked at parse time (keyword wants strings, integer and
  float numbers, datetime ISO-8601 strings, bool true/false; no ranges on bools) and
  evaluated on columns: keywords compare as strings (ranges lexicographically), integer
  fields compare exactly with float operands (``{"n": 2.0}`` matches 2, ``2.5`` never),
  float fields compare as float64, datetimes as instants (naive = UTC).
* Undeclared fields are scanned from the payloads. Equality is by JSON type: numbers
  equal numbers (1 equals 1.0), strings strings, booleans booleans — ``true`` never
  equals 1. A list value matches ``$eq``/``$in`` when one of its elements does; ranges
  need a value of the operand's type (number with number, string with string) and never
  match lists, objects or other types; datetime-looking strings compare as strings.
* Range operands must be a number or a string (never null or bool); NaN/Inf are refused.

Node equality follows Python (``1 == True``); use ``canonical_filter`` as a cache key.
"""

from vecfleet.engine.filter.ast import (
    And,
    Compare,
    Exists,
    FilterNode,
    In,
    Instant,
    Not,
    Or,
    filter_fields,
)
from vecfleet.engine.filter.canonical import canonical_filter
from vecfleet.engine.filter.evaluate import evaluate
from vecfleet.engine.filter.parse import parse_filter

__all__ = [
    "And",
    "Compare",
    "Exists",
    "FilterNode",
    "In",
    "Instant",
    "Not",
    "Or",
    "canonical_filter",
    "evaluate",
    "filter_fields",
    "parse_filter",
]
