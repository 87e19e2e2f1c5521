"""`make demo`: dense vs hashed vs SMH vs small dense (1/8), trained, converted, run as .tflite.

  python -m pipelines.demo [--dataset digits] [--epochs 30] [--out runs/demo]

Trains the four models on the built-in data, converts each to .tflite (the
hashed one stores only its buckets, the SMH one only its two shared factors and
per-layer scales; the converter checks each against Keras),
evaluates every file through the TFLite interpreter, and prints one table.
"""

from __future__ import annotations

import time

from absl import app, flags

import pipelines
from hk_experiments import data, training

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", "digits", list(data.DATASETS), "Data set.")
flags.DEFINE_string("data_dir", None, "Directory of MNIST-format IDX files.")
flags.DEFINE_string("model", "mlp3", "Zoo architecture.")
flags.DEFINE_float("compression", 1 / 8, "Compression of the hashed model.")
flags.DEFINE_integer("epochs", 30, "Training epochs per model.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_string("out", "runs/demo", "Output directory (one sub-directory per model).")
flags.DEFINE_bool("verbose", False, "Show every epoch, the size table and TensorFlow's logs.")


def main(argv):
    del argv
    import keras

    from hashed_keras import lite
    from hashed_keras.lite import measure

    dataset = data.load_or_exit(FLAGS.dataset, FLAGS.data_dir)
    rows = []
    methods = ("dense", "hashed", "smh", "small_dense")
    for i, method in enumerate(methods, 1):
        print(
            f"model {i} of {len(methods)}: {FLAGS.model} {method}, {FLAGS.epochs} epochs "
            f"on {FLAGS.dataset} ...",
            flush=True,
        )
        start = time.perf_counter()
        metrics = training.train(
            training.TrainConfig(
                model=FLAGS.model,
                method=method,
                compression=FLAGS.compression,
                dataset=FLAGS.dataset,
                data_dir=FLAGS.data_dir,
                epochs=FLAGS.epochs,
                seed=FLAGS.seed,
                out=f"{FLAGS.out}/{method}",
                verbose=2 if FLAGS.verbose else 0,
            )
        )
        trained_s = time.perf_counter() - start
        keras_model = keras.models.load_model(f"{FLAGS.out}/{method}/model.keras")
        tflite_path = f"{FLAGS.out}/{method}/model.tflite"
        # LiteRT's "Created TensorFlow Lite XNNPACK delegate" only if it fails.
        with pipelines.stderr_shown_on_failure(quiet=not FLAGS.verbose):
            report = lite.convert(keras_model, tflite_path, sample_inputs=dataset.x_test[:64])
            metrics["tflite"] = measure.measure(
                tflite_path, dataset.x_test, dataset.y_test, latency_runs=50
            )
        if method == "hashed" and FLAGS.verbose:
            print(report.table())
        print(
            f"  trained in {trained_s:.0f} s: test accuracy {metrics['test_accuracy']:.4f}; "
            f"{tflite_path}: {report.file_bytes:,} B, accuracy "
            f"{metrics['tflite']['accuracy']:.4f} through the interpreter",
            flush=True,
        )
        rows.append((method, metrics))
    dense_stored = rows[0][1]["stored_size"]
    print(
        f"\n{FLAGS.model} on {FLAGS.dataset}, {FLAGS.epochs} epochs "
        f"(python -m pipelines.demo --dataset {FLAGS.dataset} --epochs {FLAGS.epochs})"
    )
    header = (
        f"{'method':<12} {'keras acc':>9} {'tflite acc':>10} {'stored params':>14} "
        f"{'virtual params':>15} {'compression':>12} {'.tflite bytes':>14}"
    )
    print(header)
    print("-" * len(header))
    for method, m in rows:
        print(
            f"{method:<12} {m['test_accuracy']:>9.4f} {m['tflite']['accuracy']:>10.4f} "
            f"{m['stored_size']:>14,} {m['virtual_size']:>15,} "
            f"{m['stored_size'] / dense_stored:>11.4f}x "
            f"{m['tflite']['file_bytes']:>14,}"
        )
    files = {method: m["tflite"]["file_bytes"] for method, m in rows}
    print()
    for method in ("hashed", "smh"):
        print(
            f"{method} .tflite: {files[method]:,} B vs dense .tflite {files['dense']:,} B "
            f"({files['dense'] / files[method]:.1f}x smaller)"
        )


if __name__ == "__main__":
    app.run(main)
