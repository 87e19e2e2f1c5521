"""``pipelines.benchmark``: a real (tiny) grid, resumable, with its table and plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cli

ROOT = Path(__file__).resolve().parents[1]


def _run(*args):
    return cli.run("pipelines.benchmark", *args, timeout=900)


def test_tiny_grid_runs_resumes_and_reports(tmp_path):
    args = [
        "--suite",
        "quick",
        "--dataset",
        "digits",
        "--limit",
        "0",
        "--epochs",
        "1",
        "--methods",
        "dense,hashed,hashed_int8,ptq_int8",
        "--out",
        str(tmp_path),
    ]
    first = _run(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "6 cells to run" in first.stdout
    assert "cell 1 of 6 (mlp3_dense), time left known after this cell" in first.stdout
    assert "cell 6 of 6 (mlp3_ptq_int8), ~" in first.stdout
    assert "Epoch 1/1" not in first.stdout  # quiet unless --verbose
    root = tmp_path / "quick"
    cells = sorted(p.stem for p in root.glob("*.json"))
    assert cells == [
        "mlp3_dense",
        "mlp3_hashed_64",
        "mlp3_hashed_8",
        "mlp3_hashed_int8_64",
        "mlp3_hashed_int8_8",
        "mlp3_ptq_int8",
    ]
    rows = {c: json.loads((root / f"{c}.json").read_text()) for c in cells}
    for row in rows.values():  # every figure from the deployed file
        assert 0.0 <= row["accuracy"] <= 1.0 and row["file_bytes"] > 0
        assert row["gzip_bytes"] > 0 and row["peak_rss_bytes"] > 0
        assert row["latency_ms_median"] > 0
    for c in ("8", "64"):
        assert rows[f"mlp3_hashed_int8_{c}"]["file_bytes"] < rows[f"mlp3_hashed_{c}"]["file_bytes"]
    assert (
        rows["mlp3_hashed_64"]["file_bytes"]
        < rows["mlp3_hashed_8"]["file_bytes"]
        < (rows["mlp3_dense"]["file_bytes"])
    )
    assert rows["mlp3_ptq_int8"]["file_bytes"] < rows["mlp3_dense"]["file_bytes"] / 2.5
    # The int8 buckets are an export of the same trained model.
    assert rows["mlp3_hashed_int8_8"]["keras_accuracy"] == rows["mlp3_hashed_8"]["keras_accuracy"]
    table = (root / "results.md").read_text()
    assert "hashed_int8" in table and "--methods dense,hashed,hashed_int8,ptq_int8" in table
    for name in ("accuracy_vs_bytes.png", "accuracy_vs_gzip.png", "accuracy_vs_memory.png"):
        png = (root / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    # Resumable: a second run skips every finished cell.
    before = {c: (root / f"{c}.json").stat().st_mtime_ns for c in cells}
    second = _run(*args)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "all 6 cells done before (resumed" in second.stdout
    assert not [line for line in second.stdout.splitlines() if line.startswith("cell ")]
    assert before == {c: (root / f"{c}.json").stat().st_mtime_ns for c in cells}
    # Completed across commands, the suite reports as one: a command for one
    # method keeps the cells made earlier with the same settings ...
    part = _run(*args[:-3], "dense", "--out", str(tmp_path))
    assert part.returncode == 0, part.stderr[-3000:]
    assert "results: 5 cell(s) made earlier with these settings kept: " in part.stdout
    table = (root / "results.md").read_text()
    assert "With 5 cell(s) made by earlier commands with the same settings" in table
    assert "| mlp3 | hashed_int8 | 1/64 |" in table and "--methods dense --out" in table
    # ... and not those made otherwise (here: another seed).
    other = _run(*args[:-3], "dense", "--seed", "1", "--out", str(tmp_path))
    assert other.returncode == 0, other.stderr[-3000:]
    assert "made earlier" not in other.stdout
    table = (root / "results.md").read_text()
    assert "| mlp3 | dense |" in table and "hashed" not in table.split("\n\n")[1]


def test_paper_suite_tunes_each_cell_and_reports_seeds_beside_the_paper(tmp_path):
    args = ["--suite", "paper", "--dataset", "digits", "--limit", "200", "--epochs", "1"]
    args += ["--models", "mlp3", "--methods", "hashed_dk", "--trials", "1", "--seeds", "2"]
    result = _run(*args, "--compressions", "1/8", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    root = tmp_path / "paper"
    # --compressions 1/8: the suite's other level (1/64) is not run.
    assert sorted(p.stem for p in root.glob("*.json")) == ["mlp3_hashed_dk_8"]
    row = json.loads((root / "mlp3_hashed_dk_8.json").read_text())
    # Two seeds, each trained, deployed and measured; the cell is their mean.
    assert row["seeds"] == [0, 1] and len(row["accuracy_per_seed"]) == 2
    assert abs(row["accuracy"] - sum(row["accuracy_per_seed"]) / 2) < 1e-12
    spread = abs(row["accuracy_per_seed"][0] - row["accuracy_per_seed"][1]) / 2**0.5
    assert abs(row["accuracy_std"] - spread) < 1e-12
    # Tuned on the validation split first; the seeds reuse the chosen values.
    tuned = json.loads(Path(row["hparams"]).read_text())
    assert tuned["trials"] == 1 and "temperature" in tuned["settings"]
    train = root / "train" / "mlp3_hashed_dk_8"
    for seed in (0, 1):
        config = json.loads((train / f"seed{seed}" / "metrics.json").read_text())["config"]
        assert config["recipe"] == "paper" and config["seed"] == seed
        assert config["temperature"] == tuned["settings"]["temperature"]
        # The teacher: the (tuned) dense cell of the same seed.
        assert config["distill_from"].endswith(f"mlp3_dense/seed{seed}/model.keras")
    assert (root / "train" / "mlp3_dense" / "tune" / "hparams.json").exists()
    assert "--recipe paper --hparams" in row["train_command"]
    table = (root / "results.md").read_text()
    assert "mean of seeds 0-1" in table
    assert "| mlp3 | 1/8 | — (2.19) | — (1.89) | — (1.69) | — (1.71) | — (1.45) | " in table
    assert f"{100 * (1 - row['accuracy']):.2f} ± {100 * row['accuracy_std']:.2f} (1.43) |" in table
    minutes = f"{row['wall_seconds'] / 60:.1f}"
    assert f"the sitting that finished it): mlp3_hashed_dk_8 {minutes}.\n" in table


def test_a_cell_made_with_other_settings_is_remade_not_reused(tmp_path):
    args = ["--suite", "paper", "--dataset", "digits", "--limit", "200", "--models", "mlp3"]
    args += ["--methods", "hashed", "--compressions", "1/8", "--seeds", "1", "--out", str(tmp_path)]
    root = tmp_path / "paper"
    cell, metrics = root / "mlp3_hashed_8.json", root / "train" / "mlp3_hashed_8" / "metrics.json"
    first = _run(*args, "--epochs", "1", "--trials", "1")
    assert first.returncode == 0, first.stderr[-3000:]
    same = _run(*args, "--epochs", "1", "--trials", "1")
    assert "all 1 cell done before" in same.stdout and "redoing" not in same.stdout
    # A seed made before records were kept, its cell's result gone: the seed
    # is checked against its training run, reused and now recorded.
    seed = root / "cells" / "mlp3_hashed_8" / "seed.json"
    record = json.loads(seed.read_text())
    made = record.pop("made_with")
    seed.write_text(json.dumps(record))
    cell.unlink()
    old = _run(*args, "--epochs", "1", "--trials", "1")
    assert old.returncode == 0, old.stderr[-3000:]
    assert "1 cell to run" in old.stdout and "retraining" not in old.stdout
    assert json.loads(seed.read_text())["made_with"] == made
    assert json.loads(cell.read_text())["made_with"] == [made]
    # A bigger budget continues the search; the cell is remade with its choice.
    more = _run(*args, "--epochs", "1", "--trials", "2")
    assert more.returncode == 0, more.stderr[-3000:]
    assert "1 cell to run" in more.stdout and "tuning mlp3_hashed_8: 2 trials" in more.stdout
    tuned = json.loads((root / "train" / "mlp3_hashed_8" / "tune" / "hparams.json").read_text())
    assert tuned["trials"] == 2 and tuned["trials_run_this_session"] == 1
    settings = json.loads(metrics.read_text())["config"]
    assert {k: settings[k] for k in tuned["settings"]} == tuned["settings"]
    made_with = json.loads(cell.read_text())["made_with"][0]
    assert made_with["learning_rate"] == settings["learning_rate"]
    # Other epochs (untuned): retrained, re-exported, re-measured.
    longer = _run(*args, "--epochs", "2", "--trials", "0")
    assert longer.returncode == 0, longer.stderr[-3000:]
    assert "mlp3_hashed_8: made before with other seeds or settings" in longer.stdout
    assert "retraining " in longer.stdout and "epochs 1 -> 2" in longer.stdout
    assert json.loads(metrics.read_text())["config"]["epochs"] == 2
    row = json.loads(cell.read_text())
    assert row["made_with"][0]["epochs"] == 2 and "--epochs 2" in row["train_command"]
    assert "--trials 0" in (root / "results.md").read_text()


def test_a_distilled_cell_is_remade_when_its_teacher_changed(tmp_path):
    args = ["--suite", "paper", "--dataset", "digits", "--limit", "200", "--models", "mlp3"]
    args += ["--methods", "hashed_dk", "--compressions", "1/64", "--seeds", "1", "--epochs", "1"]
    args += ["--trials", "0", "--out", str(tmp_path)]
    first = _run(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "all 1 cell done before" in _run(*args).stdout
    # The teacher (the dense cell) replaced by another model: its test accuracy
    # is no longer the one the student recorded learning from.
    teacher = tmp_path / "paper" / "train" / "mlp3_dense" / "metrics.json"
    metrics = json.loads(teacher.read_text())
    metrics["test_accuracy"] -= 0.05
    teacher.write_text(json.dumps(metrics))
    again = _run(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "1 cell to run" in again.stdout
    lines = again.stdout.splitlines()
    # The student's result and its training are redone; the teacher is kept.
    for what in ("redoing", "retraining"):
        line = next(line for line in lines if line.startswith(f"  {what} "))
        assert "mlp3_hashed_dk_64" in line and "its teacher was retrained or changed" in line
    assert not [line for line in lines if "mlp3_dense" in line and "retraining" in line]


def test_a_cell_whose_training_diverged_is_left_out_and_said(tmp_path):
    import keras
    import numpy as np

    from hashed_keras import layers  # noqa: F401  (registers the layers for loading)

    args = ["--suite", "paper", "--dataset", "digits", "--limit", "200", "--epochs", "1"]
    args += ["--models", "mlp3", "--methods", "small_dense,hashed", "--compressions", "1/8"]
    args += ["--trials", "0", "--seeds", "2", "--out", str(tmp_path)]
    root = tmp_path / "paper"
    first = _run(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    # Seed 1 of the HashNet cell as a run that diverged in its first epoch
    # leaves it: every weight NaN (its training record unchanged, so reused).
    run = root / "train" / "mlp3_hashed_8" / "seed1" / "model.keras"
    model = keras.models.load_model(run)
    model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    model.save(run)
    (root / "mlp3_hashed_8.json").unlink()
    (root / "cells" / "mlp3_hashed_8" / "seed1" / "seed.json").unlink()
    again = _run(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    why = (
        "training diverged for 1 of 2 seeds (seed 1: weights not finite) at learning rate "
        "0.01, momentum 0.9: tune the cell (--trials N) or lower its learning rate"
    )
    assert f"  mlp3_hashed_8: left out: {why}\n" in again.stdout
    table = (root / "results.md").read_text()
    assert f"Left out (no file to deploy): mlp3_hashed_8: {why}" in table
    assert "| mlp3 | small_dense | 1/8 |" in table and "| mlp3 | hashed | 1/8 |" not in table
    assert "| — (1.71) | diverged (1.45) | — (1.43) |" in table  # DK, HashNet, HashNetDK
    assert not (root / "mlp3_hashed_8.json").exists()  # not done: a rerun tries again


def test_unknown_method_is_refused():
    result = _run("--suite", "quick", "--methods", "dense,magic")
    assert result.returncode != 0 and "unknown methods ['magic']" in result.stderr


def test_bad_compression_level_is_refused():
    for bad in ("8", "0.3"):  # above 1; not 1/N (its cell would be named 1/3)
        result = _run("--suite", "quick", "--compressions", f"1/8,{bad}")
        assert result.returncode != 0
        assert f"--compressions '{bad}' is not a compression level: give 1/N" in result.stderr


def test_progress_counts_resumed_cells_as_done_and_estimates_from_this_run():
    from benchmarks.grid import Progress, minutes_left, progress_line

    assert minutes_left([], ["h"]) is None
    assert minutes_left([("h", 60.0), ("h", 120.0)], ["h"] * 4) == 6.0  # mean 90 s x 4 cells
    # An NN cell's minutes say nothing of a HashNet cell's while one of its kind has run:
    assert minutes_left([("nn", 60.0), ("h", 600.0)], ["h", "nn"]) == 11.0
    assert minutes_left([("nn", 60.0)], ["h", "nn"]) == 2.0  # no HashNet cell ran yet
    assert progress_line(2, 9, "x", 0.5) == "cell 2 of 9 (x), ~1 min left"
    now = [0.0]
    lines = []
    progress = Progress(
        ["a", "b", "c", "d", "e"], done=["b", "d"], clock=lambda: now[0], out=lines.append
    )
    assert progress.summary("results/quick") == (
        "5 cells: 2 done before (resumed from results/quick: b, d), 3 to run"
    )
    progress.start("a")
    now[0] = 240.0
    assert progress.finish("a") == 240.0
    progress.start("c")  # c and e left, 4 min each
    now[0] = 360.0
    progress.finish("c")  # mean of 240 s and 120 s, one cell left
    progress.start("e")
    assert lines == [
        "cell 1 of 5 (a), time left known after this cell",
        "cell 3 of 5 (c), ~8 min left",
        "cell 5 of 5 (e), ~3 min left",
    ]
    assert Progress(["a"], done=["a"]).summary() == "all 1 cell done before (resumed)"
    assert Progress(["a", "b"]).summary() == "2 cells to run"
    assert Progress(["a"]).summary() == "1 cell to run"


def test_progress_estimates_each_cell_by_its_kind():
    from benchmarks.grid import Progress

    now, lines = [0.0], []
    kinds = {"nn_8": "nn", "nn_64": "nn", "hashed_8": "hashed", "hashed_64": "hashed"}
    progress = Progress(list(kinds), kind=kinds.get, clock=lambda: now[0], out=lines.append)
    for name, minutes in (("nn_8", 10), ("nn_64", 10), ("hashed_8", 80)):
        progress.start(name)
        now[0] += 60 * minutes
        progress.finish(name)
    progress.start("hashed_64")
    # nn_64 is estimated from nn_8 (10 min); hashed_64 from hashed_8 (80), not from all three
    assert lines[1:] == [
        "cell 2 of 4 (nn_64), ~30 min left",
        "cell 3 of 4 (hashed_8), ~20 min left",  # no HashNet cell ran yet
        "cell 4 of 4 (hashed_64), ~80 min left",
    ]


_PLOT = """
import json, sys
from pathlib import Path
from pipelines import benchmark as b
rows = []
for method, c, accuracy, size in [
        ("dense", 1.0, 0.824, 3182784), ("hashed", 1 / 8, 0.813, 404364),
        ("hashed", 1 / 64, 0.809, 56964), ("smh", 1 / 8, 0.808, 400708),
        ("smh", 1 / 64, 0.711, 53068), ("lrd", 1 / 8, 0.817, 403808),
        ("lrd", 1 / 64, 0.4537, 54144), ("rer", 1 / 8, 0.792, 3182744),
        ("tfmot_prune", 1 / 8, 0.809, 3182008), ("tfmot_cluster", 1 / 8, 0.842, 3182008)]:
    rows.append({"model": "mlp3", "method": method, "compression": c, "accuracy": accuracy,
                 "file_bytes": size,
                 "gzip_bytes": size // (5 if method.startswith(("rer", "tf")) else 1),
                 "peak_rss_over_baseline_bytes": 3_500_000 + size})
fig = b.figure(rows, "file_bytes", "bytes", "bytes", "Accuracy vs bytes: mlp3", "python -m x")
ax = fig.axes[0]
texts = [t.get_text() for t in ax.texts]
colors = {line.get_color() for line in ax.lines if line.get_marker() not in (None, "None", "")}
paths = b.plot(rows, Path(sys.argv[1]), "mlp3 on Fashion-MNIST, 2 epochs", "python -m x")
print(json.dumps({"texts": texts, "ylim": list(ax.get_ylim()), "colors": len(colors),
                  "title": fig._suptitle.get_text(), "paths": [p.name for p in paths]}))
"""


def test_plot_labels_every_point_and_marks_outliers_at_the_edge(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", _PLOT, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    texts = found["texts"]
    assert texts.count("1/8") == 6 and texts.count("1/64") == 2  # every compressed point
    assert "dense" in texts
    assert "1/64 \u219345.4%" in texts  # below the band: at the edge, with its value
    assert any(t.startswith(" dense 82.40%") for t in texts)
    low, high = found["ylim"]
    assert 65 < low < 71 and high > 84.2  # the band around dense, not down to 45
    assert found["colors"] == 7  # one colour per method
    assert found["title"] == "Accuracy vs bytes: mlp3"
    assert found["paths"] == [
        "accuracy_vs_bytes.png",
        "accuracy_vs_gzip.png",
        "accuracy_vs_memory.png",
    ]
    for name in found["paths"]:
        png = (tmp_path / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
