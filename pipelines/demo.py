"""`make demo`: dense vs hashed (1/8) vs small dense on the built-in data, as a table.

  python -m pipelines.demo [--dataset digits] [--epochs 30] [--out runs/demo]
"""

from __future__ import annotations

from absl import app, flags

from hashed_keras import data, training

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", "digits", list(data.DATASETS), "Data set.")
flags.DEFINE_string("data_dir", None, "Directory of MNIST-format IDX files.")
flags.DEFINE_string("model", "mlp3", "Zoo architecture.")
flags.DEFINE_float("compression", 1 / 8, "Compression of the hashed model.")
flags.DEFINE_integer("epochs", 30, "Training epochs per model.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_string("out", "runs/demo", "Output directory (one sub-directory per model).")


def main(argv):
    del argv
    rows = []
    for method in ("dense", "hashed", "small_dense"):
        print(f"\n=== {FLAGS.model} {method} on {FLAGS.dataset} ===", flush=True)
        metrics = training.train(training.TrainConfig(
            model=FLAGS.model, method=method, compression=FLAGS.compression,
            dataset=FLAGS.dataset, data_dir=FLAGS.data_dir, epochs=FLAGS.epochs,
            seed=FLAGS.seed, out=f"{FLAGS.out}/{method}", verbose=2))
        rows.append((method, metrics))
    dense_stored = rows[0][1]["stored_parameters"]
    print(f"\n{FLAGS.model} on {FLAGS.dataset}, {FLAGS.epochs} epochs "
          f"(python -m pipelines.demo --dataset {FLAGS.dataset} --epochs {FLAGS.epochs})")
    header = f"{'method':<12} {'test acc':>9} {'stored params':>14} {'virtual params':>15} " \
             f"{'compression':>12}"
    print(header)
    print("-" * len(header))
    for method, m in rows:
        print(f"{method:<12} {m['test_accuracy']:>9.4f} {m['stored_parameters']:>14,} "
              f"{m['virtual_parameters']:>15,} "
              f"{m['stored_parameters'] / dense_stored:>11.4f}x")


if __name__ == "__main__":
    app.run(main)
