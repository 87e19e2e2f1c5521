"""Cells of the experiment grids: train once (resumable), deploy, measure.

A cell is one ``pipelines.train`` run (:func:`train_cell`: skipped when its
``metrics.json`` exists) and, for the deployed figures, its ``.tflite``
(:func:`deploy_cell`: converted with verification, then accuracy computed by
the interpreter on the whole test split; skipped when ``tflite.json`` exists).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hashed_keras import data, training


def command(cfg: training.TrainConfig) -> str:
    """The ``pipelines.train`` command line of a cell."""
    return (f"python -m pipelines.train --model {cfg.model} --method {cfg.method} "
            f"--compression {cfg.compression:g} --dataset {cfg.dataset} "
            f"--epochs {cfg.epochs} --seed {cfg.seed} --out {cfg.out}"
            + (f" --limit {cfg.limit}" if cfg.limit else "")
            + (f" --batch_size {cfg.batch_size}" if cfg.batch_size != 50 else "")
            + (f" --learning_rate {cfg.learning_rate:g}" if cfg.learning_rate != 1e-3 else ""))


def train_cell(cfg: training.TrainConfig) -> dict:
    """Trains the cell (or reads its finished metrics)."""
    path = Path(cfg.out) / "metrics.json"
    print(f"\n=== {command(cfg)}", flush=True)
    if path.exists():
        print("(done before; skipped)")
        return json.loads(path.read_text())
    cfg.resume = True
    return training.train(cfg)


def deploy_cell(cfg: training.TrainConfig) -> dict:
    """Converts the cell's model to .tflite and measures it with the interpreter."""
    out = Path(cfg.out)
    path = out / "tflite.json"
    if path.exists():
        return json.loads(path.read_text())
    import keras

    import hashed_keras  # noqa: F401  (registers the layers for loading)
    from hashed_keras import lite
    from hashed_keras.lite import measure

    model = keras.models.load_model(out / "model.keras")
    split = data.load(cfg.dataset, cfg.data_dir)
    report = lite.convert(model, out / "model.tflite",
                          sample_inputs=np.asarray(split.x_test[:64], np.float32))
    measured = measure.measure(out / "model.tflite", split.x_test, split.y_test,
                               num_threads=1, latency_runs=50)
    result = {"tflite_accuracy": measured["accuracy"], "file_bytes": report.file_bytes,
              "stored_bytes": report.stored_bytes,
              "max_relative_error": report.max_relative_error,
              "latency_ms_median": measured["latency_ms_median"]}
    path.write_text(json.dumps(result, indent=2))
    print(f"deployed: {out / 'model.tflite'} {report.file_bytes:,} B, accuracy "
          f"{measured['accuracy']:.4f} (interpreter)", flush=True)
    return result


def cell(cfg: training.TrainConfig) -> dict:
    """Trains and deploys a cell: the figures every grid reports about it."""
    metrics = train_cell(cfg)
    return {"keras_accuracy": metrics["test_accuracy"], **deploy_cell(cfg),
            "stored_parameters": metrics["stored_parameters"],
            "wall_time_s": metrics["wall_time_s"], "command": command(cfg)}


def write_results(out, rows, header: str, format_row) -> str:
    """Writes ``results.md`` (a markdown table: ``header`` then ``format_row(row)``
    per row) and ``results.json`` to ``out``; returns the table."""
    columns = header.count("|") - 1
    table = "\n".join([header, "|" + "---|" * columns] + [format_row(r) for r in rows])
    Path(out, "results.md").write_text(table + "\n")
    Path(out, "results.json").write_text(json.dumps(rows, indent=2))
    return table
