"""The speed benchmarks run as a user runs them (``python -m benchmarks.X``),
at the smallest settings: each finishes, prints its ratio line, and keeps
stderr empty (TensorFlow's banners and LiteRT's "Created TensorFlow Lite
XNNPACK delegate" are shown only if it fails). Their figures are for the
README's commands, not for a test: nothing here is timed."""

from __future__ import annotations

import cli
import pytest

SMALLEST = {
    "on_the_fly": (
        ["--models", "mlp3", "--compressions", "0.125", "--rounds", "1"]
        + ["--invokes", "2", "--setup_rounds", "1"],
        "rebuilt/on-the-fly peak RSS",
    ),
    "rebuild_rate": (
        ["--rounds", "1", "--keys", "4096", "--setup_models", "mlp3", "--setup_rounds", "1"],
        "interpreter setup, median of 1 alternating rounds",
    ),
    "smh_train_step": (
        ["--steps", "1", "--rounds", "1", "--image_size", "8", "--batch_size", "4"],
        "smh/dense:",
    ),
    "tflite_latency": (
        ["--models", "mlp3", "--rounds", "1", "--invokes", "2"],
        "latency hashed/dense:",
    ),
    "train_step": (["--steps", "1", "--rounds", "1", "--index_size", "64"], "hashed/dense:"),
}


@pytest.mark.parametrize("name", sorted(SMALLEST))
def test_speed_benchmark_runs_and_keeps_stderr_empty(name):
    args, ratio_line = SMALLEST[name]
    result = cli.run(f"benchmarks.{name}", *args, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert ratio_line in result.stdout, result.stdout[-2000:]
    assert result.stderr == ""
