"""The SMH experiment: ResNet-20 at a fraction of its size, four ways, deployed.

  python -m benchmarks.smh_resnet --dataset fashion_mnist --epochs 2 --limit 10000 \\
      --out runs/smh_resnet

At each fraction of the ResNet-20's Dense/Conv2D weights (default 25%, 10%,
5%): ``smh`` (Structured Multi-Hashing, learned per-layer scale),
``smh_fixed_scale`` (the same without learning the scale), ``hashed``
(per-layer HashedNets at the same total size), ``small_dense`` (a narrower
ResNet-20 of about the same size), plus the full ``dense`` net. Every cell is a
``pipelines.train`` run, then its ``.tflite`` (verified against Keras by the
converter) evaluated by the interpreter on the whole test split. Resumable;
a command run for some cells keeps the earlier rows of its ``--out`` for the
others while they were made with the same flags. Writes ``<out>/results.md``
and ``<out>/results.json``.
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
flags.DEFINE_list("fractions", ["0.25", "0.1", "0.05"], "Stored fractions.")
flags.DEFINE_list(
    "methods", ["smh", "smh_fixed_scale", "hashed", "small_dense"], "Compressed methods."
)
flags.DEFINE_integer("epochs", 2, "Epochs per run.")
flags.DEFINE_integer("limit", 10000, "Train on the first N examples only (0: all).")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_string("out", "runs/smh_resnet", "Output directory.")

# The flags every row of one results.md shares: an earlier command's rows in
# the same --out (fractions, methods this command did not run) are kept while
# these were the same (grid.with_earlier).
SHARED = ("dataset", "data_dir", "limit", "epochs", "batch_size", "seed")


def main(argv):
    del argv
    data.load_or_exit(FLAGS.dataset, FLAGS.data_dir)
    cells = [("dense", 1.0)] + [(m, float(f)) for f in FLAGS.fractions for m in FLAGS.methods]
    rows, diverged = [], []
    for method, fraction in cells:
        tag = method + ("" if method == "dense" else f"_{round(100 * fraction)}pct")
        cfg = training.TrainConfig(
            model="resnet20",
            method=method,
            compression=fraction,
            dataset=FLAGS.dataset,
            data_dir=FLAGS.data_dir,
            limit=FLAGS.limit or None,
            epochs=FLAGS.epochs,
            batch_size=FLAGS.batch_size,
            seed=FLAGS.seed,
            out=str(Path(FLAGS.out) / tag),
            verbose=2,
        )
        try:
            rows.append({"method": method, "fraction": fraction, **grid.cell(cfg)})
        except grid.Diverged as error:
            diverged.append(grid.left_out(error))

    rows = grid.with_earlier(
        FLAGS.out,
        rows,
        ("method", "fraction"),
        grid.flag_settings(FLAGS, SHARED),
        lambda r: (-r["fraction"], r["method"] != "dense", r["method"]),
    )

    def row(r):
        label = "100%" if r["method"] == "dense" else f"{100 * r['fraction']:g}%"
        return (
            f"| {label} | {r['method']} | {100 * r['tflite_accuracy']:.2f} | "
            f"{r['file_bytes']:,} | {r['stored_size']:,} | {r['wall_time_s']:.0f} |"
        )

    table = grid.write_results(
        FLAGS.out,
        rows,
        "| fraction | method | .tflite accuracy % | file bytes | stored params | train time s |",
        row,
        diverged,
    )
    print("\n" + table)


if __name__ == "__main__":
    app.run(main)
