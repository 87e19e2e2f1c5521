"""The HashedNets paper's MLP experiment on Fashion-MNIST: dense vs hashed vs small dense.

  python -m benchmarks.hashednets_mlp --dataset fashion_mnist --epochs 20 --out runs/paper_mlp

Each cell is one ``pipelines.train`` run (the command is printed and stored in
the table); a finished cell (its metrics.json) is reused while it was made
with the same settings, so the grid is resumable. Writes ``<out>/results.md``.
"""

from __future__ import annotations

from pathlib import Path

from absl import app, flags

import pipelines  # noqa: F401  (first: TensorFlow loads with its banners off, as for every command)
from benchmarks import grid
from hk_experiments import data, training

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", "fashion_mnist", list(data.DATASETS), "Data set.")
flags.DEFINE_string("data_dir", None, "Directory of MNIST-format IDX files.")
flags.DEFINE_list("models", ["mlp3", "mlp5"], "Zoo models.")
flags.DEFINE_list("compressions", ["0.125", "0.015625"], "Compression levels.")
flags.DEFINE_integer("epochs", 20, "Epochs per run.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_string("out", "runs/paper_mlp", "Output directory.")


def main(argv):
    del argv
    data.load_or_exit(FLAGS.dataset, FLAGS.data_dir)
    cells = []
    for model in FLAGS.models:
        cells.append((model, "dense", 1.0))
        for c in FLAGS.compressions:
            for method in ("hashed", "small_dense"):
                cells.append((model, method, float(c)))
    rows = []
    for model, method, c in cells:
        tag = f"{model}_{method}" + ("" if method == "dense" else f"_{round(1 / c)}")
        cfg = training.TrainConfig(
            model=model,
            method=method,
            compression=c,
            dataset=FLAGS.dataset,
            data_dir=FLAGS.data_dir,
            epochs=FLAGS.epochs,
            seed=FLAGS.seed,
            out=str(Path(FLAGS.out) / tag),
            verbose=2,
        )
        rows.append((model, method, c, grid.train_cell(cfg)))
    lines = [
        "| model | method | compression | test error % | stored params | "
        "virtual params | train time s |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, method, c, m in rows:
        label = "1" if method == "dense" else f"1/{round(1 / c)}"
        lines.append(
            f"| {model} | {method} | {label} | {m['test_error_percent']:.2f} | "
            f"{m['stored_size']:,} | {m['virtual_size']:,} | "
            f"{m['wall_time_s']:.0f} |"
        )
    table = "\n".join(lines)
    Path(FLAGS.out, "results.md").write_text(table + "\n")
    print("\n" + table)


if __name__ == "__main__":
    app.run(main)
