"""schemathesis against the published ``/openapi.json`` of a live server.

Every operation gets positive cases (bodies that fit the schema) and negative ones (bodies
that break it). Operations on ``{name}`` mostly run against a small seeded collection, so
search, count, scroll and the point calls get past the collection lookup; a few use
generated names. A schema cannot say that a filter names the collection's fields, so a
third pass draws search, count and scroll bodies from the filter grammar over the seeded
fields (every operator, nested ``$and``/``$or``/``$not``, values of every JSON type) and
sends them as schemathesis cases, reaching the parser, planner and engine. Every response
must be a documented status with a body that matches its documented schema, and none may
be a 5xx. Generation is derandomized, so a failure here is reproduced by the same run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from tests.live_server import LiveServer

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

DIM = 4
SEEDED = "fuzzed"
SEEDED_SCHEMA = {
    "kind": "keyword",
    "n": "integer",
    "day": "datetime",
    "w": "float",
    "flag": "bool",
}
FILTER_FIELDS = (*SEEDED_SCHEMA, "note", "absent")
GRAMMAR_EXAMPLES = {"search": 150, "points/count": 40, "points/scroll": 30}
MIN_CASES = 500
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Per operation: (fixed collection name or None for generated names, mode, max examples).
ON_SEEDED = (
    (SEEDED, GenerationMode.POSITIVE, 45),
    (SEEDED, GenerationMode.NEGATIVE, 20),
    (None, GenerationMode.POSITIVE, 5),
)
WITHOUT_NAME = (
    (None, GenerationMode.POSITIVE, 50),
    (None, GenerationMode.NEGATIVE, 25),
)
# Dropping the seeded collection would leave every later case a 404.
GENERATED_NAME_ONLY = (
    (None, GenerationMode.POSITIVE, 15),
    (None, GenerationMode.NEGATIVE, 10),
)


def _seed(server: LiveServer) -> None:
    created = server.post(
        "/v1/collections",
        {
            "name": SEEDED,
            "dim": DIM,
            "index": "hnsw",
            "payload_schema": SEEDED_SCHEMA,
        },
    )
    assert created.status_code == 201, created.text
    points = [
        {
            "id": f"seed-{i:03d}" if i % 2 else 10_000 + i,
            "vector": [((i * 7 + j * 3) % 11) / 11 + 0.05 for j in range(DIM)],
            "payload": {
                "kind": "abc"[i % 3],
                "n": i,
                "day": f"2024-01-{i % 28 + 1:02d}",
                "w": i / 7,
                "flag": i % 2 == 0,
                "note": f"unindexed {i}",
            },
        }
        for i in range(40)
    ]
    points += [{"id": "seed-text", "text": "a small seeded text point", "payload": {"n": -1}}]
    upserted = server.post(f"/v1/collections/{SEEDED}/points", {"points": points})
    assert upserted.status_code == 200, upserted.text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    with LiveServer(root, settings={"VECFLEET__EMBED__DIM": str(DIM)}) as live:
        _seed(live)
        yield live


def _plan(method: str, path: str) -> tuple[tuple[str | None, GenerationMode, int], ...]:
    if "{name}" not in path:
        return WITHOUT_NAME
    if method == "DELETE" and path == "/v1/collections/{name}":
        return GENERATED_NAME_ONLY
    return ON_SEEDED


def _run(
    operation: Any, name: str | None, mode: GenerationMode, examples: int, seen: Counter[str]
) -> int:
    """Runs up to ``examples`` cases; returns how many ran. Raises the first failure.

    ``seen`` counts responses by operation and status. An operation without inputs has no
    negative cases; that is not a failure.
    """
    ran = 0
    fixed = {"name": name} if name is not None else None

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed))
    def cases(case: Any) -> None:
        nonlocal ran
        ran += 1
        response = case.call_and_validate(checks=CHECKS, timeout=30)
        seen[f"{operation.label} -> {response.status_code}"] += 1

    try:
        cases()
    except Unsatisfiable:
        if mode is not GenerationMode.NEGATIVE:
            raise
    return ran


# ------------------------------------------------------------------ filter grammar
SCALARS = st.one_of(
    st.sampled_from(["a", "b", "c", "", "2024-01-05", "2024-01-05T10:00:00Z", "2024-13-45"]),
    st.integers(-(2**70), 2**70),
    st.integers(-50, 50),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.text(max_size=8),
)
COMPARE_OPS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")


def _condition() -> st.SearchStrategy[Any]:
    compare = st.tuples(st.sampled_from(COMPARE_OPS), SCALARS)
    member = st.tuples(st.sampled_from(("$in", "$nin")), st.lists(SCALARS, max_size=5))
    exists = st.tuples(st.just("$exists"), st.one_of(st.booleans(), SCALARS))
    ops = st.lists(st.one_of(compare, member, exists), min_size=1, max_size=3).map(dict)
    return st.one_of(SCALARS, ops, ops.map(lambda inner: {"$not": inner}))


def _filters() -> st.SearchStrategy[Any]:
    leaf = st.dictionaries(st.sampled_from(FILTER_FIELDS), _condition(), max_size=3)
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.dictionaries(
                st.sampled_from(("$and", "$or")), st.lists(inner, max_size=3), max_size=2
            ),
            inner.map(lambda sub: {"$not": sub}),
        ),
        max_leaves=8,
    )


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def _grammar_body(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    filters = _optional(_filters())
    if kind == "points/count":
        return st.fixed_dictionaries({"filter": filters})
    if kind == "points/scroll":
        return st.fixed_dictionaries(
            {"filter": filters, "limit": st.integers(1, 50)},
            optional={"cursor": st.integers(0, 60)},
        )
    query = st.one_of(
        st.fixed_dictionaries({"text": st.text(min_size=1, max_size=40)}),
        st.fixed_dictionaries({"vector": st.lists(st.floats(-10, 10), min_size=DIM, max_size=DIM)}),
    )
    rest = st.fixed_dictionaries(
        {"limit": st.integers(1, 60), "filter": filters},
        optional={
            "params": st.one_of(
                st.fixed_dictionaries({"ef": st.integers(1, 4096)}),
                st.fixed_dictionaries({"exact": st.booleans()}),
            ),
            "with_vectors": st.booleans(),
            "with_payload": st.booleans(),
        },
    )
    return st.tuples(query, rest).map(lambda parts: {**parts[0], **parts[1]})


def _run_grammar(operation: Any, kind: str, examples: int, seen: Counter[str]) -> int:
    ran = 0

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=_grammar_body(kind))
    def cases(body: dict[str, Any]) -> None:
        nonlocal ran
        ran += 1
        case = operation.Case(
            path_parameters={"name": SEEDED}, body=body, media_type="application/json"
        )
        response = case.call_and_validate(checks=CHECKS, timeout=30)
        seen[f"{operation.label} (grammar) -> {response.status_code}"] += 1

    cases()
    return ran


def test_no_server_error_and_no_schema_violation(server: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    counts: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14, [op.label for op in operations]
    for operation in operations:
        for name, mode, examples in _plan(operation.method.upper(), operation.path):
            where = f"{operation.label} [{mode.value}, name={name or 'generated'}]"
            try:
                counts[operation.label] += _run(operation, name, mode, examples, statuses)
            except Exception as exc:  # collect every operation's failure, then report all
                failures.append(f"{where}:\n{exc}")
        kind = operation.path.removeprefix("/v1/collections/{name}/")
        if operation.method.upper() == "POST" and kind in GRAMMAR_EXAMPLES:
            try:
                counts[operation.label] += _run_grammar(
                    operation, kind, GRAMMAR_EXAMPLES[kind], statuses
                )
            except Exception as exc:
                failures.append(f"{operation.label} [filter grammar]:\n{exc}")
    total = sum(counts.values())
    print(f"schemathesis: {total} cases over {len(counts)} operations")
    print("\n".join(f"  {key}: {n}" for key, n in sorted(statuses.items())))
    assert not failures, "\n\n".join(failures)
    assert total >= MIN_CASES, f"only {total} cases ran: {dict(counts)}"
    alive = server.get("/health/live")
    assert alive.status_code == 200, "the server did not survive the fuzzing"
