"""``vecfleet ingest`` loads good lines, reports bad ones by number, and keeps going."""

from __future__ import annotations

import gzip
import json

import numpy as np

import vecfleet
from vecfleet.cli import main


def test_ingest_with_vectors_reports_rejected_lines(tmp_path, capsys):
    rows = [
        {"id": "a", "industry": "Retail"},
        {"id": "b", "industry": "Healthcare"},
        "not an object",
        {"industry": "no id"},
        {"id": "c", "industry": 5},  # wrong type for the declared keyword field
        {"id": "d", "industry": "Retail"},
    ]
    source = tmp_path / "points.jsonl.gz"
    with gzip.open(source, "wt") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
        handle.write("{broken json\n")
    vectors = np.random.default_rng(0).random((7, 8)).astype(np.float32)
    np.save(tmp_path / "v.npy", vectors)
    code = main(
        [
            "ingest",
            str(source),
            "--collection",
            "c",
            "--data-dir",
            str(tmp_path / "db"),
            "--vectors",
            str(tmp_path / "v.npy"),
            "--schema",
            "industry=keyword",
            "--batch-size",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "read 7 lines, wrote 3 points, rejected 4" in out
    for number in (3, 4, 5, 7):
        assert f"line {number}:" in out
    with vecfleet.connect(tmp_path / "db") as db:
        col = db.collection("c")
        assert sorted(p.id for p in col.get(["a", "b", "c", "d"])) == ["a", "b", "d"]
        assert col.count({"industry": "Retail"}) == 2
        np.testing.assert_allclose(
            col.get(["d"], with_vectors=True)[0].vector,
            vectors[5] / np.linalg.norm(vectors[5]),
            rtol=1e-5,
        )


def test_ingest_of_a_missing_file_says_so(tmp_path, capsys):
    assert main(["ingest", str(tmp_path / "nope.jsonl"), "--collection", "c"]) == 2
    assert "does not exist" in capsys.readouterr().err
