"""``pipelines.benchmark``: a real (tiny) grid, resumable, with its table and plot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "pipelines.benchmark", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)


def test_tiny_grid_runs_resumes_and_reports(tmp_path):
    args = ["--suite", "quick", "--dataset", "digits", "--limit", "0", "--epochs", "1",
            "--methods", "dense,hashed,hashed_int8,ptq_int8", "--out", str(tmp_path)]
    first = _run(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    root = tmp_path / "quick"
    cells = sorted(p.stem for p in root.glob("*.json"))
    assert cells == ["mlp3_dense", "mlp3_hashed_64", "mlp3_hashed_8", "mlp3_hashed_int8_64",
                     "mlp3_hashed_int8_8", "mlp3_ptq_int8"]
    rows = {c: json.loads((root / f"{c}.json").read_text()) for c in cells}
    for row in rows.values():  # every figure from the deployed file
        assert 0.0 <= row["accuracy"] <= 1.0 and row["file_bytes"] > 0
        assert row["gzip_bytes"] > 0 and row["peak_rss_bytes"] > 0
        assert row["latency_ms_median"] > 0
    for c in ("8", "64"):
        assert rows[f"mlp3_hashed_int8_{c}"]["file_bytes"] < rows[f"mlp3_hashed_{c}"]["file_bytes"]
    assert rows["mlp3_hashed_64"]["file_bytes"] < rows["mlp3_hashed_8"]["file_bytes"] < (
        rows["mlp3_dense"]["file_bytes"])
    assert rows["mlp3_ptq_int8"]["file_bytes"] < rows["mlp3_dense"]["file_bytes"] / 2.5
    # The int8 buckets are an export of the same trained model.
    assert rows["mlp3_hashed_int8_8"]["keras_accuracy"] == rows["mlp3_hashed_8"]["keras_accuracy"]
    table = (root / "results.md").read_text()
    assert "hashed_int8" in table and "--methods dense,hashed,hashed_int8,ptq_int8" in table
    png = (root / "accuracy_vs_bytes.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    # Resumable: a second run skips every finished cell.
    before = {c: (root / f"{c}.json").stat().st_mtime_ns for c in cells}
    second = _run(*args)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "=== quick" not in second.stdout
    assert before == {c: (root / f"{c}.json").stat().st_mtime_ns for c in cells}


def test_unknown_method_is_refused():
    result = _run("--suite", "quick", "--methods", "dense,magic")
    assert result.returncode != 0 and "unknown methods ['magic']" in result.stderr
