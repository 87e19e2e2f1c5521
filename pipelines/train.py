"""Trains a zoo model (dense, hashed, small dense, ...) and writes model.keras + metrics.json.

Examples:

  python -m pipelines.train --model mlp3 --method hashed --compression 0.125 \
      --dataset fashion_mnist --epochs 20 --out runs/mlp3_hashed_8
  python -m pipelines.train ... --resume      # continue a run that was killed
  python -m pipelines.train ... --strategy mirrored --cpu_replicas 2
  # Two workers (run each with the same flags; the chief, index 0, writes --out):
  TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
              "task": {"type": "worker", "index": 0}}' \
      python -m pipelines.train --strategy multiworker --out runs/mw   # on host0
  # ... and the same on host1 with "index": 1. After a failure: all again, --resume.
  # The paper's HashNetDK (DK: --method small_dense): distilled from a dense teacher
  python -m pipelines.train --method dense --out runs/teacher
  python -m pipelines.train --method hashed --distill_from runs/teacher/model.keras \
      --temperature 4 --distill_weight 0.5 --out runs/hashed_dk

A bad flag value prints this help and the flag's problem; any other failure
prints one line (what, which file or flag, what to do) and exits 1 (the
traceback with --verbose).
"""

from __future__ import annotations

import json
import sys

from absl import app, flags

from hk_experiments import data, models, training

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "mlp3", list(models.MODELS), "Zoo architecture.")
flags.DEFINE_enum(
    "method",
    "hashed",
    list(models.METHODS),
    "dense, hashed (HashedNets), freshnets, smh, smh_fixed_scale, or the "
    "HashedNets paper's baselines small_dense (NN: dense, same stored size), "
    "lrd (low-rank factors, same stored size), rer (random edge removal).",
)
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
flags.DEFINE_enum(
    "strategy",
    "default",
    list(training.STRATEGIES),
    "tf.distribute strategy: default, mirrored (the local devices), or "
    "multiworker (MultiWorkerMirroredStrategy over the workers in the TF_CONFIG "
    "environment variable; start every worker with the same flags; the chief "
    "writes --out).",
)
flags.DEFINE_integer(
    "cpu_replicas",
    0,
    "Split the CPU into this many logical devices (for --strategy mirrored "
    "on a machine without GPUs).",
)
flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
flags.DEFINE_string("out", "runs/latest", "Output directory.")
flags.DEFINE_bool("resume", False, "Resume an interrupted run from its last finished epoch.")
flags.DEFINE_string(
    "distill_from",
    None,
    "A teacher .keras model (same input/output shapes, softmax outputs): train "
    "on its soft targets too (knowledge distillation; only the student is "
    "saved).",
)
flags.DEFINE_float("temperature", 4.0, "Distillation temperature T > 0.")
flags.DEFINE_float(
    "distill_weight",
    0.5,
    "Weight a in [0, 1] of the distillation term: loss = a T^2 KL(teacher_T "
    "|| student_T) + (1 - a) cross-entropy.",
)
flags.DEFINE_bool(
    "verbose",
    False,
    "On a failure, print the traceback too; keep TensorFlow's Python INFO "
    "logs (e.g. the multi-worker strategy's).",
)


def main(argv):
    del argv
    import tensorflow as tf

    if not FLAGS.verbose:
        tf.get_logger().setLevel("WARNING")
    if FLAGS.cpu_replicas:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * FLAGS.cpu_replicas
        )
    config = training.TrainConfig(
        model=FLAGS.model,
        method=FLAGS.method,
        compression=FLAGS.compression,
        dataset=FLAGS.dataset,
        data_dir=FLAGS.data_dir,
        limit=FLAGS.limit,
        epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size,
        optimizer=FLAGS.optimizer,
        learning_rate=FLAGS.learning_rate,
        dropout=FLAGS.dropout,
        seed=FLAGS.seed,
        strategy=FLAGS.strategy,
        jit_compile=FLAGS.jit_compile,
        out=FLAGS.out,
        resume=FLAGS.resume,
        distill_from=FLAGS.distill_from,
        temperature=FLAGS.temperature,
        distill_weight=FLAGS.distill_weight,
    )
    try:
        metrics = training.train(config)
    except training.ConfigError as error:
        raise app.UsageError(str(error)) from None
    except KeyboardInterrupt:
        if FLAGS.verbose:
            raise
        _fail(
            f"interrupted; run again with the same flags plus --resume to continue from "
            f"the last finished epoch (in {config.out}).",
            exitcode=130,
        )
    except Exception as error:  # noqa: BLE001 - one line, the traceback under --verbose
        if FLAGS.verbose:
            raise
        _fail(_one_line(error))
    if not metrics.get("chief", True):
        print(
            f"{metrics['task']} of {metrics['workers']}: trained "
            f"{metrics['epochs_run_this_session']} epoch(s); weights sha256 "
            f"{metrics['weights_sha256']}; the chief writes {config.out}/model.keras."
        )
        return
    summary = {
        k: metrics[k]
        for k in (
            "test_accuracy",
            "stored_size",
            "virtual_size",
            "stored_bytes",
            "keras_file_bytes",
            "wall_time_s",
        )
        + (("weights_sha256",) if "weights_sha256" in metrics else ())
    }
    print(json.dumps(summary, indent=2))
    print(f"Wrote {config.out}/model.keras and {config.out}/metrics.json")


_LONGEST = 600  # characters of an error message printed without --verbose


def _one_line(error: BaseException) -> str:
    """The failure in one line: our errors say what to do; others get a hint."""
    message = " ".join(str(error).split())
    if len(message) > _LONGEST:
        message = message[:_LONGEST] + " ..."
    if isinstance(error, (training.TrainingError, ValueError, FileNotFoundError)):
        return message
    return f"{type(error).__name__}: {message} (run again with --verbose for the traceback)."


def _fail(message: str, exitcode: int = 1):
    print(f"pipelines.train: error: {message}", file=sys.stderr)
    sys.exit(exitcode)


if __name__ == "__main__":
    app.run(main)
