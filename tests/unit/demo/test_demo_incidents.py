"""The synthetic incident generator: deterministic, in range, shaped like real reports."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import Counter
from itertools import islice

import pytest

from vecfleet.demo import (
    DEFAULT_SIZE,
    GENERATOR_VERSION,
    demo_payload_schema,
    generate_incidents,
    record_text,
)
from vecfleet.demo.incidents import EVENT_TYPES, INDUSTRY_NAMES, SEVERITIES
from vecfleet.errors import ValidationError
from vecfleet.types import FIELD_TYPES

FIELDS = {
    "id",
    "title",
    "narrative",
    "industry",
    "severity",
    "event_type",
    "date",
    "location",
    "records_affected",
}
PINNED_DIGEST = "ae44ea29c1e965772c13254fb40a512c499dc48e9b336ad165d1f536fbbc5509"


@pytest.fixture(scope="module")
def full() -> list[dict[str, object]]:
    return list(generate_incidents())


def digest(records: list[dict[str, object]]) -> str:
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()


def test_same_seed_same_records_other_seed_other_records() -> None:
    a = list(generate_incidents(300, seed=7))
    assert a == list(generate_incidents(300, seed=7))
    assert a != list(generate_incidents(300, seed=8))


def test_smaller_n_is_a_prefix() -> None:
    assert list(generate_incidents(10)) == list(islice(generate_incidents(1000), 10))


def test_output_is_pinned_for_this_generator_version() -> None:
    """Demo embedding caches are keyed by GENERATOR_VERSION: bump it when this changes."""
    assert GENERATOR_VERSION == 1
    assert digest(list(generate_incidents(200))) == PINNED_DIGEST


def test_default_size_and_unique_ids(full: list[dict[str, object]]) -> None:
    assert len(full) == DEFAULT_SIZE == 78_767
    assert full[0]["id"] == "inc-000001" and full[-1]["id"] == "inc-078767"
    assert len({r["id"] for r in full}) == len(full)


def test_field_domains(full: list[dict[str, object]]) -> None:
    first, last = dt.date(2005, 1, 1), dt.date(2025, 12, 31)
    for rec in full:
        assert set(rec) == FIELDS
        assert rec["industry"] in INDUSTRY_NAMES
        assert rec["severity"] in SEVERITIES
        assert rec["event_type"] in EVENT_TYPES
        assert first <= dt.date.fromisoformat(str(rec["date"])) <= last
        assert re.fullmatch(r"[A-Z][\w. ]+, [A-Z][\w ]+", str(rec["location"]))
        count = rec["records_affected"]
        assert count is None or (isinstance(count, int) and count >= 1)
        assert str(rec["title"])[0].isupper() and "{" not in str(rec["title"])


def test_narratives_have_two_to_four_sentences(full: list[dict[str, object]]) -> None:
    lengths: Counter[int] = Counter()
    for rec in full[:5000]:
        text = str(rec["narrative"]).replace("St. ", "St ")
        assert "{" not in text and ".." not in text and "  " not in text
        sentences = [s for s in re.split(r"(?<=\.) (?=[A-Z0-9])", text) if s]
        assert all(s[0].isupper() or s[0].isdigit() for s in sentences)
        lengths[len(sentences)] += 1
    assert set(lengths) == {2, 3, 4}


def test_distributions_are_skewed_like_real_reports(full: list[dict[str, object]]) -> None:
    industries = Counter(r["industry"] for r in full).most_common()
    assert industries[0][0] == "Healthcare" and industries[-1][0] == "Nonprofit"
    assert len(industries) == len(INDUSTRY_NAMES)
    assert industries[0][1] > 4 * industries[-1][1]
    sev = Counter(r["severity"] for r in full)
    assert set(sev) == set(SEVERITIES)
    assert sev["critical"] < sev["high"] < min(sev["low"], sev["medium"])
    assert set(Counter(r["event_type"] for r in full)) == set(EVENT_TYPES)
    counts = sorted(int(str(r["records_affected"])) for r in full if r["records_affected"])
    unknown = sum(r["records_affected"] is None for r in full) / len(full)
    assert 0.2 < unknown < 0.6
    assert counts[-1] > 1000 * counts[len(counts) // 2]  # heavy tail
    years = Counter(str(r["date"])[:4] for r in full)
    assert years["2024"] > years["2006"]


def test_severity_follows_records_affected(full: list[dict[str, object]]) -> None:
    for rec in full:
        count = rec["records_affected"]
        if isinstance(count, int):
            expected = (
                "critical"
                if count >= 1_000_000
                else "high"
                if count >= 50_000
                else "medium"
                if count >= 1_000
                else "low"
            )
            assert rec["severity"] == expected


def test_schema_and_record_text() -> None:
    schema = demo_payload_schema()
    assert schema == {
        "industry": "keyword",
        "severity": "keyword",
        "event_type": "keyword",
        "date": "datetime",
        "records_affected": "integer",
    }
    assert set(schema.values()) <= set(FIELD_TYPES)
    rec = next(generate_incidents(1))
    assert record_text(rec) == f"{rec['title']}\n{rec['narrative']}"


def test_n_zero_and_negative() -> None:
    assert list(generate_incidents(0)) == []
    with pytest.raises(ValidationError):
        generate_incidents(-1)
