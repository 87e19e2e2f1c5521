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
  # The paper's protocol: SGD + momentum, input and hidden dropout, a decaying
  # learning rate, early stopping on 20% of the training split; test once.
  python -m pipelines.train --recipe paper --dataset fashion_mnist --out runs/p
  # ... with its hyper-parameters searched first (KerasTuner, 20 trials, resumable):
  python -m pipelines.train --recipe paper --tune 20 --out runs/p   # writes runs/p/hparams.json
  python -m pipelines.train --hparams runs/p/hparams.json --seed 1 --out runs/p_seed1

Flags that a recipe sets (--recipe) take the recipe's value unless given; a
--hparams file's values come between the two.

A bad flag value prints this help and the flag's problem; any other failure
prints one line (what, which file or flag, what to do) and exits 1 (the
traceback with --verbose).
"""

from __future__ import annotations

import dataclasses
import json
import sys

from absl import app, flags

from hk_experiments import data, models, training, tuning

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
flags.DEFINE_float(
    "width",
    1.0,
    "Multiply the model's hidden units and conv filters by this (mlp3 at 0.05: 784-50-10).",
)
flags.DEFINE_enum("dataset", "digits", list(data.DATASETS), "Data set.")
flags.DEFINE_string("data_dir", None, "Directory of MNIST-format IDX files.")
flags.DEFINE_integer("limit", None, "Use only this many training examples (quick runs).")
flags.DEFINE_enum(
    "recipe",
    "adam",
    list(training.RECIPES),
    "adam: the flags' own defaults (Adam 1e-3, a fixed number of epochs, no validation). "
    "paper: the HashedNets paper's protocol: --optimizer sgd --learning_rate 0.01 --momentum "
    "0.9 --lr_decay 0.95 --input_dropout 0.2 --dropout 0.5 --validation_split 0.2 "
    "--patience 10 --epochs 100 (a cap: early stopping ends training).",
)
flags.DEFINE_integer(
    "tune",
    0,
    "Search the hyper-parameters first, with this many trials in "
    "all (KerasTuner; on the validation split; resumable in OUT/tuning), "
    "write OUT/hparams.json, then train with them.",
)
flags.DEFINE_string(
    "hparams", None, "Train with the settings (and recipe) of an hparams.json that --tune wrote."
)
flags.DEFINE_integer("epochs", 10, "Training epochs (the most, with --patience).")
flags.DEFINE_integer("batch_size", 50, "Mini-batch size (the paper used 50).")
flags.DEFINE_enum("optimizer", "adam", list(training.OPTIMIZERS), "Optimizer.")
flags.DEFINE_float("learning_rate", 1e-3, "Learning rate.")
flags.DEFINE_float("momentum", 0.9, "SGD momentum (classical, as the paper).")
flags.DEFINE_float("lr_decay", 1.0, "Multiply the learning rate by this after every epoch.")
flags.DEFINE_float("dropout", 0.0, "Dropout after each hidden dense layer.")
flags.DEFINE_float("input_dropout", 0.0, "Dropout on the input image.")
flags.DEFINE_float(
    "validation_split",
    0.0,
    "Hold out this fraction of the training split "
    "(seeded) to validate on after every epoch; the best epoch's weights are "
    "kept. Never the test split.",
)
flags.DEFINE_integer(
    "patience",
    0,
    "Stop after this many epochs without a better validation accuracy (0: train every epoch).",
)
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
    config = None
    try:
        config = _config()
        if FLAGS.tune:
            tuned = tuning.tune(config, FLAGS.tune)
            print(
                f"tuning: {tuned['trials']} trial(s), {tuned['trials_run_this_session']} run "
                f"now; best validation accuracy {tuned['validation_accuracy']:.4f} with "
                f"{json.dumps(tuned['settings'])}; wrote {config.out}/hparams.json",
                flush=True,
            )
            config = dataclasses.replace(config, **tuned["settings"])
        metrics = training.train(config)
    except training.ConfigError as error:
        raise app.UsageError(str(error)) from None
    except KeyboardInterrupt:
        if FLAGS.verbose or config is None:
            raise
        _fail(
            "interrupted; run again with the same flags plus --resume to continue from "
            f"the last finished epoch or trial (in {config.out}).",
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
    if metrics.get("diverged_at_epoch"):
        print(f"pipelines.train: warning: {_divergence(config, metrics)}", file=sys.stderr)


def _divergence(config, metrics) -> str:
    """What a run whose loss or weights became NaN or infinite kept, and what to change."""
    validation = metrics.get("validation")
    kept = (
        f"the model is epoch {validation['best_epoch']}'s, the best on the validation "
        f"split (accuracy {validation['accuracy']:.4f})"
        if validation
        else "the model's weights are not usable (no validation split to keep a better epoch)"
    )
    step = f"--learning_rate (now {config.learning_rate:g})" + (
        f" or --momentum (now {config.momentum:g})" if config.optimizer == "sgd" else ""
    )
    return (
        "the loss or the weights became NaN or infinite in epoch "
        f"{metrics['diverged_at_epoch']}, so training stopped there: {kept}. Lower {step}."
    )


# The flags that are TrainConfig fields (their defaults are the fields' defaults).
_CONFIG_FLAGS = [
    f.name for f in dataclasses.fields(training.TrainConfig) if f.name not in ("recipe", "verbose")
]


def _config() -> training.TrainConfig:
    """The run the flags describe: the recipe's settings, then an --hparams
    file's, then the flags given on the command line."""
    recipe, tuned = FLAGS.recipe, {}
    if FLAGS.hparams:
        recipe, tuned = tuning.load_hparams(FLAGS.hparams)
        if FLAGS["recipe"].present and FLAGS.recipe != recipe:
            raise training.ConfigError(
                f"--recipe {FLAGS.recipe} differs from the recipe {recipe!r} that "
                f"--hparams {FLAGS.hparams} was tuned with; drop --recipe."
            )
    given = {name: FLAGS[name].value for name in _CONFIG_FLAGS if FLAGS[name].present}
    for name in ("out", "resume", "strategy"):  # not recipe settings: the flag's value
        given[name] = FLAGS[name].value
    config = training.TrainConfig.of_recipe(recipe, **{**tuned, **given})
    if FLAGS.hparams and (warning := tuning.transfer_warning(FLAGS.hparams, config)):
        print(f"pipelines.train: warning: {warning}", file=sys.stderr)
    return config


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
