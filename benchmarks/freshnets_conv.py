"""The FreshNets experiment: frequency-hashed vs plain-hashed convolutions, deployed.

  python -m benchmarks.freshnets_conv --dataset fashion_mnist --epochs 3 --out runs/freshnets

For LeNet-style and the zoo's small CNN, at each compression (default 1/16 and
1/64 of every layer's weights; FC layers are HashedNets in both compressed
methods, as in the paper): ``freshnets`` (FreshConv2D) vs ``hashed``
(HashedConv2D) vs ``small_dense`` (a narrower dense net of equal stored size),
plus the full ``dense`` net. Every cell is a ``pipelines.train`` run, then its
``.tflite`` (verified against Keras by the converter) whose accuracy the
interpreter computes on the whole test split: the table reports that deployed
accuracy and the file size. Resumable (finished cells are skipped); a command
run for some cells keeps the earlier rows of its ``--out`` for the others while
they were made with the same flags, so the grid can be run in parts. Writes
``<out>/results.md`` and ``<out>/results.json``.
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
flags.DEFINE_list("models", ["lenet", "cnn"], "Zoo models.")
flags.DEFINE_list("compressions", ["0.0625", "0.015625"], "Compression levels.")
flags.DEFINE_list("methods", ["freshnets", "hashed", "small_dense"], "Compressed methods.")
flags.DEFINE_integer("epochs", 3, "Epochs per run.")
flags.DEFINE_integer("limit", None, "Train on the first N examples only.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_string("out", "runs/freshnets", "Output directory.")

# The flags every row of one results.md shares: an earlier command's rows in
# the same --out (models, methods, levels this command did not run) are kept
# while these were the same (grid.with_earlier).
SHARED = ("dataset", "data_dir", "limit", "epochs", "learning_rate", "seed")


def main(argv):
    del argv
    data.load_or_exit(FLAGS.dataset, FLAGS.data_dir)
    cells = []
    for model in FLAGS.models:
        cells.append((model, "dense", 1.0))
        for c in FLAGS.compressions:
            for method in FLAGS.methods:
                cells.append((model, method, float(c)))
    rows, diverged = [], []
    for model, method, c in cells:
        tag = f"{model}_{method}" + ("" if method == "dense" else f"_{round(1 / c)}")
        cfg = training.TrainConfig(
            model=model,
            method=method,
            compression=c,
            dataset=FLAGS.dataset,
            data_dir=FLAGS.data_dir,
            limit=FLAGS.limit,
            epochs=FLAGS.epochs,
            learning_rate=FLAGS.learning_rate,
            seed=FLAGS.seed,
            out=str(Path(FLAGS.out) / tag),
            verbose=2,
        )
        try:
            rows.append({"model": model, "method": method, "compression": c, **grid.cell(cfg)})
        except grid.Diverged as error:
            diverged.append(grid.left_out(error))

    rows = grid.with_earlier(
        FLAGS.out,
        rows,
        ("model", "method", "compression"),
        grid.flag_settings(FLAGS, SHARED),
        lambda r: (r["model"], -r["compression"], r["method"] != "dense", r["method"]),
    )

    def row(r):
        label = "1" if r["method"] == "dense" else f"1/{round(1 / r['compression'])}"
        return (
            f"| {r['model']} | {r['method']} | {label} | "
            f"{100 * r['tflite_accuracy']:.2f} | {r['file_bytes']:,} | "
            f"{r['stored_size']:,} |"
        )

    table = grid.write_results(
        FLAGS.out,
        rows,
        "| model | method | compression | .tflite accuracy % | file bytes | stored params |",
        row,
        diverged,
    )
    print("\n" + table)


if __name__ == "__main__":
    app.run(main)
