"""``make demo``'s command (``python -m pipelines.demo``) as a user runs it, at
one epoch: four models trained, converted, run through the interpreter, one
table; nothing on stderr (TensorFlow's and LiteRT's logs are kept quiet)."""

from __future__ import annotations

import cli


def test_demo_runs_and_prints_only_its_table(tmp_path):
    result = cli.run("pipelines.demo", "--epochs", "1", "--out", tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    for method in ("dense", "hashed", "smh", "small_dense"):
        assert (tmp_path / method / "model.tflite").is_file()
    assert "hashed .tflite:" in result.stdout and "smh .tflite:" in result.stdout
    assert result.stderr == ""
