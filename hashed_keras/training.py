"""Training runs as a library: what ``pipelines.train`` and the demo call.

A :class:`TrainConfig` describes a run; :func:`train` builds the zoo model for
it under the chosen ``tf.distribute`` strategy, fits it with Keras progress
output and ``BackupAndRestore`` (a killed run resumes at its last finished
epoch), evaluates it on the test split and writes ``model.keras`` and
``metrics.json`` to the output directory.

Distillation (the HashedNets paper's "DK" and "HashNetDK" baselines): with
``distill_from`` set to a saved teacher (any ``.keras`` classifier with the same
input and output shapes, e.g. a dense zoo model), the student is trained by a
:class:`Distiller` on

    a * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - a) * CE(labels, student)

per example (Hinton et al. 2015), ``T = temperature``, ``a = distill_weight``.
The zoo models end in a softmax, so their logits are recovered as ``s =
log(p)`` (probabilities clipped at 1e-12); ``softmax(log(p) / T)`` equals
``softmax(z / T)`` for the pre-softmax logits ``z``, since they differ by a
per-example constant. The teacher is frozen and run in inference mode; only the
student is saved to ``model.keras`` (a plain model, loadable without the
distiller), and the reported test loss is the student's cross-entropy.
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
    distill_from: str | None = None
    temperature: float = 4.0
    distill_weight: float = 0.5

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
            (self.temperature > 0, f"--temperature must be > 0 (got {self.temperature})"),
            (0 <= self.distill_weight <= 1,
             f"--distill_weight must be in [0, 1] (got {self.distill_weight})"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"{message}; got {self!r}.")
        if self.distill_from is not None and not Path(self.distill_from).is_file():
            raise FileNotFoundError(
                f"--distill_from: teacher model file {self.distill_from!r} does not exist "
                "(train one first, e.g. python -m pipelines.train --method dense --out DIR, "
                "and pass DIR/model.keras).")


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


_LOG_EPSILON = 1e-12


def _log_probabilities(probabilities):
    """Logits of softmax outputs, up to a per-example constant: ``log(p)``."""
    probabilities = keras.ops.convert_to_tensor(probabilities)
    return keras.ops.log(keras.ops.clip(probabilities, _LOG_EPSILON, 1.0))


def distillation_loss(labels, student_probs, teacher_probs, temperature=4.0,
                      distill_weight=0.5):
    """Per-example ``a T^2 KL(p_T || q_T) + (1 - a) CE(labels, student_probs)``.

    ``p_T = softmax(log(teacher_probs) / T)`` and ``q_T = softmax(log(student_probs)
    / T)`` (the models output probabilities, see the module doc).

    Args:
      labels: integer class labels, shape ``(batch,)`` (or ``(batch, 1)``).
      student_probs, teacher_probs: softmax outputs, shape ``(batch, classes)``.
      temperature: ``T > 0``.
      distill_weight: ``a`` in ``[0, 1]``.

    Returns:
      A ``(batch,)`` tensor.
    """
    t = keras.ops.cast(temperature, "float32")
    student_probs = keras.ops.cast(student_probs, "float32")
    log_q = keras.ops.log_softmax(_log_probabilities(student_probs) / t, axis=-1)
    log_p = keras.ops.log_softmax(
        _log_probabilities(keras.ops.cast(teacher_probs, "float32")) / t, axis=-1)
    kl = keras.ops.sum(keras.ops.exp(log_p) * (log_p - log_q), axis=-1)
    labels = keras.ops.reshape(labels, (-1,))
    ce = keras.losses.sparse_categorical_crossentropy(labels, student_probs)
    return distill_weight * t * t * kl + (1.0 - distill_weight) * ce


class Distiller(keras.Model):
    """Trains ``student`` on :func:`distillation_loss` against a frozen ``teacher``.

    ``fit`` it like the student (integer labels); its outputs are the
    student's, so compiled metrics (e.g. ``"accuracy"``) see the student.
    Save ``distiller.student``: the distiller itself is only a training
    wrapper (``BackupAndRestore`` checkpoints it, teacher included).
    """

    def __init__(self, student, teacher, temperature=4.0, distill_weight=0.5, **kwargs):
        super().__init__(name=kwargs.pop("name", f"distill_{student.name}"), **kwargs)
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.temperature = float(temperature)
        self.distill_weight = float(distill_weight)
        self.built = student.built and teacher.built

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        del training
        teacher_probs = keras.ops.stop_gradient(self.teacher(x, training=False))
        per_example = distillation_loss(y, y_pred, teacher_probs, self.temperature,
                                        self.distill_weight)
        if sample_weight is not None:
            per_example = per_example * keras.ops.cast(
                keras.ops.reshape(sample_weight, (-1,)), per_example.dtype)
        loss = keras.ops.mean(per_example)
        if self.student.losses:
            loss = loss + keras.ops.sum(self.student.losses)
        # As keras.losses.Loss does: each replica's share of the global mean.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return loss / replicas if replicas > 1 else loss


def load_teacher(path, input_shape, num_classes, sample):
    """The teacher model at ``path``, checked against the student's data.

    Raises:
      ValueError: it cannot be loaded, its input or output shape does not
        match, or its outputs are not class probabilities.
    """
    try:
        teacher = keras.models.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 - any load failure is a bad flag
        raise ValueError(f"--distill_from {path}: cannot load a Keras model "
                         f"({type(error).__name__}: {error}).") from error
    want_in, want_out = (None, *tuple(input_shape)), (None, int(num_classes))
    if tuple(teacher.input_shape) != want_in:
        raise ValueError(f"--distill_from {path}: the teacher's input shape "
                         f"{tuple(teacher.input_shape)} does not match the data's {want_in}.")
    if tuple(teacher.output_shape) != want_out:
        raise ValueError(f"--distill_from {path}: the teacher's output shape "
                         f"{tuple(teacher.output_shape)} does not match the student's "
                         f"{want_out} ({num_classes} classes).")
    probs = np.asarray(teacher.predict(sample, verbose=0), np.float64)
    if probs.min() < -1e-6 or not np.allclose(probs.sum(axis=-1), 1.0, atol=1e-3):
        raise ValueError(f"--distill_from {path}: the teacher must output class "
                         "probabilities (end in a softmax), as the zoo models do.")
    return teacher


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
        optimizer = _optimizer(config)
        model.compile(optimizer=optimizer,
                      loss=keras.losses.SparseCategoricalCrossentropy(),
                      metrics=["accuracy"], jit_compile=config.jit_compile)
        trainer, teacher = model, None
        if config.distill_from is not None:
            # Loaded after the student is built: the student's initialisation is
            # the same as in an undistilled run with this seed.
            teacher = load_teacher(config.distill_from, dataset.input_shape,
                                   dataset.num_classes, dataset.x_train[:8])
            trainer = Distiller(model, teacher, config.temperature, config.distill_weight)
            # The same optimizer: the saved student carries its trained state.
            trainer.compile(optimizer=optimizer, metrics=["accuracy"],
                            jit_compile=config.jit_compile)
    if config.verbose:
        model.summary()
    callbacks = [keras.callbacks.BackupAndRestore(str(backup)), *extra_callbacks]
    start = time.perf_counter()
    history = trainer.fit(dataset.x_train, dataset.y_train, batch_size=config.batch_size,
                          epochs=config.epochs, callbacks=callbacks,
                          verbose=config.verbose, shuffle=True)
    wall_time = time.perf_counter() - start
    test_loss, test_accuracy = model.evaluate(dataset.x_test, dataset.y_test,
                                              batch_size=256, verbose=0)
    distillation = None
    if teacher is not None:
        teacher_probs = teacher.predict(dataset.x_test, batch_size=256, verbose=0)
        student_probs = model.predict(dataset.x_test, batch_size=256, verbose=0)
        distillation = {
            "teacher": str(config.distill_from),
            "temperature": config.temperature,
            "distill_weight": config.distill_weight,
            "teacher_test_accuracy": float(np.mean(
                teacher_probs.argmax(-1) == np.asarray(dataset.y_test).reshape(-1))),
            "test_agreement_with_teacher": float(np.mean(
                teacher_probs.argmax(-1) == student_probs.argmax(-1))),
        }
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
        # None, or the teacher, T, a, and the teacher's test accuracy and agreement.
        "distillation": distillation,
    }
    metrics["compression_achieved"] = metrics["stored_parameters"] / metrics[
        "virtual_parameters"]
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
