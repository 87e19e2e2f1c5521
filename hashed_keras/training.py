"""Training runs as a library: what ``pipelines.train`` and the demo call.

A :class:`TrainConfig` describes a run; :func:`train` builds the zoo model for
it under the chosen ``tf.distribute`` strategy, fits it with Keras progress
output and ``BackupAndRestore`` (a killed run resumes at its last finished
epoch), evaluates it on the test split and writes ``model.keras`` and
``metrics.json`` to the output directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from hashed_keras import data, models

STRATEGIES = ("default", "mirrored", "multiworker")
OPTIMIZERS = ("adam", "sgd")


@dataclasses.dataclass
class TrainConfig:
    """One training run. Field docs are the ``pipelines.train`` flag docs."""

    model: str = "mlp3"
    method: str = "hashed"
    compression: float = 1 / 8
    dataset: str = "digits"
    data_dir: str | None = None
    limit: int | None = None
    epochs: int = 10
    batch_size: int = 50
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    dropout: float = 0.0
    seed: int = 0
    strategy: str = "default"
    jit_compile: bool = False
    out: str = "runs/latest"
    resume: bool = False
    verbose: int = 1

    def validate(self):
        checks = [
            (self.model in models.MODELS, f"--model must be one of {models.MODELS}"),
            (self.method in models.METHODS, f"--method must be one of {models.METHODS}"),
            (0 < self.compression <= 1, "--compression must be in (0, 1]"),
            (self.dataset in data.DATASETS, f"--dataset must be one of {data.DATASETS}"),
            (self.epochs >= 1, "--epochs must be >= 1"),
            (self.batch_size >= 1, "--batch_size must be >= 1"),
            (self.optimizer in OPTIMIZERS, f"--optimizer must be one of {OPTIMIZERS}"),
            (self.learning_rate > 0, "--learning_rate must be > 0"),
            (0 <= self.dropout < 1, "--dropout must be in [0, 1)"),
            (self.strategy in STRATEGIES, f"--strategy must be one of {STRATEGIES}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"{message}; got {self!r}.")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy called ``name`` (see :data:`STRATEGIES`)."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        # Reads the cluster from TF_CONFIG; without it this is a single worker.
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _optimizer(config: TrainConfig):
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(config.learning_rate, momentum=0.9)
    return keras.optimizers.Adam(config.learning_rate)


def train(config: TrainConfig, extra_callbacks=()) -> dict:
    """Runs ``config``: trains, evaluates and writes the output directory.

    Returns:
      The metrics dict that is also written to ``<out>/metrics.json``.
    """
    config.validate()
    out = Path(config.out)
    backup = out / "backup"
    if not config.resume and backup.exists():
        shutil.rmtree(backup)  # a fresh run must not silently resume an old one
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    dataset = data.load(config.dataset, config.data_dir, limit=config.limit, seed=config.seed)
    strategy = make_strategy(config.strategy)
    with strategy.scope():
        model = models.build(config.model, config.method, input_shape=dataset.input_shape,
                             num_classes=dataset.num_classes,
                             compression=config.compression, dropout=config.dropout,
                             seed=config.seed)
        model.compile(optimizer=_optimizer(config),
                      loss=keras.losses.SparseCategoricalCrossentropy(),
                      metrics=["accuracy"], jit_compile=config.jit_compile)
    if config.verbose:
        model.summary()
    callbacks = [keras.callbacks.BackupAndRestore(str(backup)), *extra_callbacks]
    start = time.perf_counter()
    history = model.fit(dataset.x_train, dataset.y_train, batch_size=config.batch_size,
                        epochs=config.epochs, callbacks=callbacks,
                        verbose=config.verbose, shuffle=True)
    wall_time = time.perf_counter() - start
    test_loss, test_accuracy = model.evaluate(dataset.x_test, dataset.y_test,
                                              batch_size=256, verbose=0)
    model_path = out / "model.keras"
    model.save(model_path)
    stored = models.stored_parameters(model)
    metrics = {
        "config": dataclasses.asdict(config),
        "test_accuracy": float(test_accuracy),
        "test_error_percent": 100.0 * (1.0 - float(test_accuracy)),
        "test_loss": float(test_loss),
        "trainable_parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "stored_parameters": int(stored),
        "virtual_parameters": int(models.virtual_parameters(model)),
        "stored_bytes": int(sum(np.prod(w.shape) * np.dtype(w.dtype).itemsize
                                for w in model.weights)),
        "keras_file_bytes": os.path.getsize(model_path),
        "replicas": int(strategy.num_replicas_in_sync),
        "epochs_run_this_session": len(history.history.get("loss", [])),
        "wall_time_s": wall_time,
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
    }
    metrics["compression_achieved"] = metrics["stored_parameters"] / metrics[
        "virtual_parameters"]
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
