"""Trains a zoo model (dense, hashed, small dense, ...) and writes model.keras + metrics.json.

Examples:

  python -m pipelines.train --model mlp3 --method hashed --compression 0.125 \
      --dataset fashion_mnist --epochs 20 --out runs/mlp3_hashed_8
  python -m pipelines.train ... --resume      # continue a run that was killed
  python -m pipelines.train ... --strategy mirrored --cpu_replicas 2
  # The paper's HashNetDK (DK: --method small_dense): distilled from a dense teacher
  python -m pipelines.train --method dense --out runs/teacher
  python -m pipelines.train --method hashed --distill_from runs/teacher/model.keras \
      --temperature 4 --distill_weight 0.5 --out runs/hashed_dk
"""

from __future__ import annotations

import json

from absl import app, flags

from hashed_keras import data, models
from hashed_keras import training

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "mlp3", list(models.MODELS), "Zoo architecture.")
flags.DEFINE_enum("method", "hashed", list(models.METHODS),
                  "dense, hashed (HashedNets), freshnets, smh, smh_fixed_scale, or the "
                  "HashedNets paper's baselines small_dense (NN: dense, same stored size), "
                  "lrd (low-rank factors, same stored size), rer (random edge removal).")
flags.DEFINE_float("compression", 1 / 8, "Fraction of weights stored, in (0, 1].")
flags.DEFINE_enum("dataset", "digits", list(data.DATASETS), "Data set.")
flags.DEFINE_string("data_dir", None, "Directory of MNIST-format IDX files.")
flags.DEFINE_integer("limit", None, "Use only this many training examples (quick runs).")
flags.DEFINE_integer("epochs", 10, "Training epochs.")
flags.DEFINE_integer("batch_size", 50, "Mini-batch size (the paper used 50).")
flags.DEFINE_enum("optimizer", "adam", list(training.OPTIMIZERS), "Optimizer.")
flags.DEFINE_float("learning_rate", 1e-3, "Learning rate.")
flags.DEFINE_float("dropout", 0.0, "Dropout after each hidden dense layer.")
flags.DEFINE_integer("seed", 0, "Seed of data order, initialisation and hash patterns.")
flags.DEFINE_enum("strategy", "default", list(training.STRATEGIES), "tf.distribute strategy.")
flags.DEFINE_integer("cpu_replicas", 0,
                     "Split the CPU into this many logical devices (for --strategy mirrored "
                     "on a machine without GPUs).")
flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
flags.DEFINE_string("out", "runs/latest", "Output directory.")
flags.DEFINE_bool("resume", False, "Resume an interrupted run from its last finished epoch.")
flags.DEFINE_string("distill_from", None,
                    "A teacher .keras model (same input/output shapes, softmax outputs): train "
                    "on its soft targets too (knowledge distillation; only the student is "
                    "saved).")
flags.DEFINE_float("temperature", 4.0, "Distillation temperature T > 0.")
flags.DEFINE_float("distill_weight", 0.5,
                   "Weight a in [0, 1] of the distillation term: loss = a T^2 KL(teacher_T "
                   "|| student_T) + (1 - a) cross-entropy.")


def main(argv):
    del argv
    if FLAGS.cpu_replicas:
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * FLAGS.cpu_replicas)
    config = training.TrainConfig(
        model=FLAGS.model, method=FLAGS.method, compression=FLAGS.compression,
        dataset=FLAGS.dataset, data_dir=FLAGS.data_dir, limit=FLAGS.limit,
        epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, optimizer=FLAGS.optimizer,
        learning_rate=FLAGS.learning_rate, dropout=FLAGS.dropout, seed=FLAGS.seed,
        strategy=FLAGS.strategy, jit_compile=FLAGS.jit_compile, out=FLAGS.out,
        resume=FLAGS.resume, distill_from=FLAGS.distill_from,
        temperature=FLAGS.temperature, distill_weight=FLAGS.distill_weight)
    try:
        metrics = training.train(config)
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None
    summary = {k: metrics[k] for k in ("test_accuracy", "stored_parameters",
                                       "virtual_parameters", "stored_bytes",
                                       "keras_file_bytes", "wall_time_s")}
    print(json.dumps(summary, indent=2))
    print(f"Wrote {config.out}/model.keras and {config.out}/metrics.json")


if __name__ == "__main__":
    app.run(main)
