"""Training runs as a library: what ``pipelines.train`` and the demo call.

A :class:`TrainConfig` describes a run; :func:`train` builds the zoo model for
it under the chosen ``tf.distribute`` strategy, trains it, evaluates it on the
test split and writes ``model.keras`` and ``metrics.json`` to the output
directory. A killed run resumes at its last finished epoch (``resume=True``).

Recipes (``TrainConfig.of_recipe``, :data:`RECIPES`): ``adam`` is the
config's defaults; ``paper`` is the HashedNets paper's protocol -- SGD with
momentum, dropout on the input and the hidden layers, a learning rate decayed
every epoch, and a validation split carved from the training split
(``validation_split``, :func:`hk_experiments.data.validation_indices`): the
model is validated after every epoch, training stops after ``patience``
epochs without a better validation accuracy, and the best epoch's weights are
kept (:class:`BestEpoch`, whose state is checkpointed with the epoch, so a
resumed run stops where an uninterrupted one would). The test split is
evaluated once, at the end; ``metrics.json`` records the recipe and the
validation summary (size, accuracy, best epoch, epochs trained, stopped
early). :func:`fit` is the training without the test split, which the
hyper-parameter search (:mod:`hk_experiments.tuning`) calls per trial.

Strategies (``TrainConfig.strategy``):

* ``default`` and ``mirrored``: Keras ``fit`` with progress output and
  ``BackupAndRestore`` checkpoints in ``<out>/backup``.
* ``multiworker``: ``tf.distribute.MultiWorkerMirroredStrategy`` over the
  workers that ``TF_CONFIG`` names (without it, one worker). Keras 3's ``fit``
  fails under this strategy (``Attempt to convert a value (PerReplica...) to
  a Tensor``), so these runs use a custom training loop, :class:`_Loop`: each
  step every worker takes the same global batch of ``batch_size`` examples
  (the same shuffled order on every worker: it depends only on the seed and
  the epoch), each replica trains on its contiguous slice, and the Keras
  optimizer sums the replicas' gradients of ``sum(per-example loss) /
  global batch`` -- the gradient of the global batch's mean loss, as in a
  one-worker run with the same seed and batch size, up to float rounding.
  Every worker keeps its own checkpoint of each finished epoch (the chief's
  in ``<out>/backup``, worker ``k``'s in ``<out>/backup-worker<k>``, so the
  workers may share ``--out`` or not); on ``resume`` they agree on the
  latest epoch that all of them have. Only the chief (``worker`` 0, or the
  ``chief`` task) writes ``model.keras`` and ``metrics.json``; every worker
  reports a SHA-256 of its final weights (``weights_sha256``), identical on
  all workers.

Every backup directory holds ``run.json``, the settings that define the run
(:data:`RUN_SETTINGS`); resuming with other settings raises
:class:`StaleBackupError` naming the backup and the settings that differ,
instead of failing to load the weights.

Errors: :class:`ConfigError` (a ``ValueError``) for a bad setting (a flag
error in ``pipelines.train``), :class:`TrainingError` for anything else a
user can act on, with a one-line message that names the file or flag and
what to do.

Distillation (the HashedNets paper's "DK" and "HashNetDK" baselines): with
``distill_from`` set to a saved teacher (any ``.keras`` classifier with the same
input and output shapes, e.g. a dense zoo model), the student is trained by a
:class:`Distiller` (or, under ``multiworker``, by the custom loop) on

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
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from hashed_keras.lite.convert import non_finite_variable
from hk_experiments import data, models

STRATEGIES = ("default", "mirrored", "multiworker")
OPTIMIZERS = ("adam", "sgd")

# The settings each recipe gives a run (TrainConfig fields); settings given
# explicitly (flags, a tuned hparams.json) override them.
RECIPES = {
    # TrainConfig's defaults: Adam, a fixed number of epochs, no validation split.
    "adam": {},
    # The HashedNets paper's protocol (Chen et al. 2015, Sec. 6): SGD with
    # (classical, not Nesterov) momentum, mini-batches of 50, dropout on the
    # input and the hidden layers, hyper-parameters chosen on 20% of the
    # training set. The paper does not give the values; these defaults are
    # Srivastava et al.'s (2014) MNIST dropout rates and a per-epoch decay,
    # and `pipelines.train --tune N` searches them. Learning rate: with 0.05
    # the hashed mlp5 (1/8) lost training accuracy in its second epoch on
    # Fashion-MNIST, with 0.01 and 0.02 it did not (pipelines.train --recipe
    # paper --model mlp5 --limit 20000 --epochs 3). Early stopping on the
    # validation accuracy decides how long to train; `epochs` is the cap.
    "paper": {
        "optimizer": "sgd",
        "learning_rate": 0.01,
        "momentum": 0.9,
        "lr_decay": 0.95,
        "input_dropout": 0.2,
        "dropout": 0.5,
        "validation_split": 0.2,
        "patience": 10,
        "epochs": 100,
    },
}

# The TrainConfig fields that define a run: a backup written with other values
# belongs to another run and is not resumed (see StaleBackupError). ``epochs``
# is not one of them: a finished or killed run may be resumed with more.
RUN_SETTINGS = (
    "model",
    "method",
    "compression",
    "width",
    "dataset",
    "data_dir",
    "limit",
    "batch_size",
    "optimizer",
    "learning_rate",
    "momentum",
    "lr_decay",
    "dropout",
    "input_dropout",
    "validation_split",
    "patience",
    "seed",
    "distill_from",
    "temperature",
    "distill_weight",
)


class ConfigError(ValueError):
    """A setting (a ``pipelines.train`` flag) has an invalid value."""


class TrainingError(RuntimeError):
    """A run cannot go on; the message says what, which file or flag, what to do."""


class StaleBackupError(TrainingError):
    """``resume`` found a backup of another run (other settings) in ``<out>``."""


@dataclasses.dataclass
class TrainConfig:
    """One training run. Field docs are the ``pipelines.train`` flag docs."""

    model: str = "mlp3"
    method: str = "hashed"
    compression: float = 1 / 8
    width: float = 1.0
    dataset: str = "digits"
    data_dir: str | None = None
    limit: int | None = None
    epochs: int = 10
    batch_size: int = 50
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    lr_decay: float = 1.0
    dropout: float = 0.0
    input_dropout: float = 0.0
    validation_split: float = 0.0
    patience: int = 0
    recipe: str = "adam"
    seed: int = 0
    strategy: str = "default"
    jit_compile: bool = False
    out: str = "runs/latest"
    resume: bool = False
    verbose: int = 1
    distill_from: str | None = None
    temperature: float = 4.0
    distill_weight: float = 0.5

    @classmethod
    def of_recipe(cls, recipe: str = "adam", **settings) -> TrainConfig:
        """A run with ``recipe``'s settings (:data:`RECIPES`), ``settings`` overriding them.

        Raises:
          ConfigError: an unknown recipe.
        """
        if recipe not in RECIPES:
            raise ConfigError(f"--recipe must be one of {tuple(RECIPES)} (got {recipe!r}).")
        return cls(**{**RECIPES[recipe], **settings, "recipe": recipe})

    def validate(self):
        checks = [
            (self.model in models.MODELS, "--model", f"must be one of {models.MODELS}", self.model),
            (
                self.method in models.METHODS,
                "--method",
                f"must be one of {models.METHODS}",
                self.method,
            ),
            (0 < self.compression <= 1, "--compression", "must be in (0, 1]", self.compression),
            (
                self.dataset in data.DATASETS,
                "--dataset",
                f"must be one of {data.DATASETS}",
                self.dataset,
            ),
            (self.epochs >= 1, "--epochs", "must be >= 1", self.epochs),
            (self.batch_size >= 1, "--batch_size", "must be >= 1", self.batch_size),
            (
                self.optimizer in OPTIMIZERS,
                "--optimizer",
                f"must be one of {OPTIMIZERS}",
                self.optimizer,
            ),
            (self.width > 0, "--width", "must be > 0", self.width),
            (self.learning_rate > 0, "--learning_rate", "must be > 0", self.learning_rate),
            (0 <= self.momentum < 1, "--momentum", "must be in [0, 1)", self.momentum),
            (0 < self.lr_decay <= 1, "--lr_decay", "must be in (0, 1]", self.lr_decay),
            (0 <= self.dropout < 1, "--dropout", "must be in [0, 1)", self.dropout),
            (
                0 <= self.input_dropout < 1,
                "--input_dropout",
                "must be in [0, 1)",
                self.input_dropout,
            ),
            (
                0 <= self.validation_split < 1,
                "--validation_split",
                "must be in [0, 1)",
                self.validation_split,
            ),
            (self.patience >= 0, "--patience", "must be >= 0", self.patience),
            (
                not (self.patience and not self.validation_split),
                "--patience",
                "needs a --validation_split > 0 (early stopping watches the validation accuracy)",
                self.patience,
            ),
            (self.recipe in RECIPES, "--recipe", f"must be one of {tuple(RECIPES)}", self.recipe),
            (
                self.strategy in STRATEGIES,
                "--strategy",
                f"must be one of {STRATEGIES}",
                self.strategy,
            ),
            (self.temperature > 0, "--temperature", "must be > 0", self.temperature),
            (
                0 <= self.distill_weight <= 1,
                "--distill_weight",
                "must be in [0, 1]",
                self.distill_weight,
            ),
            (
                not (self.jit_compile and self.strategy == "multiworker"),
                "--jit_compile",
                "is not supported with --strategy multiworker (its custom training loop "
                "is not XLA-compiled); drop it",
                self.jit_compile,
            ),
            (
                not (self.validation_split and self.strategy == "multiworker"),
                "--validation_split",
                "is not supported with --strategy multiworker yet (its custom training "
                "loop has no validation pass); use --strategy default or mirrored",
                self.validation_split,
            ),
        ]
        for ok, flag, message, value in checks:
            if not ok:
                raise ConfigError(f"{flag} {message} (got {value!r}).")
        if self.distill_from is not None and not Path(self.distill_from).is_file():
            raise FileNotFoundError(
                f"--distill_from: teacher model file {self.distill_from!r} does not exist "
                "(train one first, e.g. python -m pipelines.train --method dense --out DIR, "
                "and pass DIR/model.keras)."
            )


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy called ``name`` (see :data:`STRATEGIES`)."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        # Reads the cluster from TF_CONFIG; without it this is a single worker.
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _optimizer(config: TrainConfig, steps_per_epoch: int):
    """The run's optimizer; with ``lr_decay < 1`` its learning rate is multiplied
    by ``lr_decay`` after every epoch. The schedule reads the optimizer's step
    count, which checkpoints keep, so a resumed run continues it."""
    rate = config.learning_rate
    if config.lr_decay < 1:
        rate = keras.optimizers.schedules.ExponentialDecay(
            rate, decay_steps=steps_per_epoch, decay_rate=config.lr_decay, staircase=True
        )
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=config.momentum)
    return keras.optimizers.Adam(rate)


_LOG_EPSILON = 1e-12


def _log_probabilities(probabilities):
    """Logits of softmax outputs, up to a per-example constant: ``log(p)``."""
    probabilities = keras.ops.convert_to_tensor(probabilities)
    return keras.ops.log(keras.ops.clip(probabilities, _LOG_EPSILON, 1.0))


def distillation_loss(labels, student_probs, teacher_probs, temperature=4.0, distill_weight=0.5):
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
        _log_probabilities(keras.ops.cast(teacher_probs, "float32")) / t, axis=-1
    )
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
        per_example = distillation_loss(
            y, y_pred, teacher_probs, self.temperature, self.distill_weight
        )
        if sample_weight is not None:
            per_example = per_example * keras.ops.cast(
                keras.ops.reshape(sample_weight, (-1,)), per_example.dtype
            )
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
        raise ValueError(
            f"--distill_from {path}: cannot load a Keras model "
            f"({type(error).__name__}: {_first_line(error)})."
        ) from error
    want_in, want_out = (None, *tuple(input_shape)), (None, int(num_classes))
    if tuple(teacher.input_shape) != want_in:
        raise ValueError(
            f"--distill_from {path}: the teacher's input shape "
            f"{tuple(teacher.input_shape)} does not match the data's {want_in}."
        )
    if tuple(teacher.output_shape) != want_out:
        raise ValueError(
            f"--distill_from {path}: the teacher's output shape "
            f"{tuple(teacher.output_shape)} does not match the student's "
            f"{want_out} ({num_classes} classes)."
        )
    probs = np.asarray(teacher.predict(sample, verbose=0), np.float64)
    if probs.min() < -1e-6 or not np.allclose(probs.sum(axis=-1), 1.0, atol=1e-3):
        raise ValueError(
            f"--distill_from {path}: the teacher must output class "
            "probabilities (end in a softmax), as the zoo models do."
        )
    return teacher


def _run_settings(config: TrainConfig) -> dict:
    settings = {key: getattr(config, key) for key in RUN_SETTINGS}
    # The two loops write different checkpoints (Keras weights vs. .npz); the
    # Keras ones resume under default and mirrored alike.
    settings["strategy"] = "multiworker" if config.strategy == "multiworker" else "default/mirrored"
    return settings


def check_record(record: Path, now: dict, error, flag: str, holds: str, again: str, fix: str):
    """Raises ``error`` if ``record`` (a ``run.json``) names other settings than ``now``.

    The message: ``{flag}: {record.parent} holds {holds} of another run (--key
    'a' there, 'b' now; ...); {again}, or {fix}.`` (``{fix}`` alone when
    ``record`` is unreadable). No record: nothing to check.
    """
    if not record.is_file():
        return
    try:
        saved = json.loads(record.read_text())["settings"]
    except (ValueError, KeyError, TypeError) as failure:
        raise error(f"{flag}: {record} is unreadable ({_first_line(failure)}); {fix}.") from failure
    said = "; ".join(
        f"--{key} {saved.get(key)!r} there, {now[key]!r} now"
        for key in now
        if saved.get(key) != now[key]
    )
    if said:
        raise error(
            f"{flag}: {record.parent} holds {holds} of another run ({said}); {again}, or {fix}."
        )


def _prepare_backup(config: TrainConfig, backup: Path):
    """Empties ``backup`` for a fresh run, or checks it belongs to this run.

    Raises:
      StaleBackupError: ``config.resume`` and ``backup/run.json`` names other
        settings.
    """
    if not config.resume:
        if backup.exists():
            shutil.rmtree(backup)  # a fresh run must not silently resume an old one
    else:
        check_record(
            backup / "run.json",
            _run_settings(config),
            StaleBackupError,
            "--resume",
            "the checkpoint",
            "resume with that run's flags",
            f"drop --resume to start over (which deletes {backup})",
        )
    backup.mkdir(parents=True, exist_ok=True)
    (backup / "run.json").write_text(
        json.dumps({"settings": _run_settings(config)}, indent=2) + "\n"
    )


class _Restored(keras.callbacks.Callback):
    """Placed after ``BackupAndRestore``: its ``on_train_begin`` has restored."""

    done = False

    def on_train_begin(self, logs=None):
        self.done = True


class Diverged(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is NaN or infinite, or at
    the end of the first epoch whose weights are.

    The weights are then NaN for good: without it a diverged run (a tuning
    trial at learning rate 0.3 and momentum 0.99, say) trains on until early
    stopping's patience runs out, ten wasted epochs. The loss alone does not
    always show it: a NaN or infinite weight behind a ReLU that outputs 0 for
    it leaves the loss finite. :class:`BestEpoch` (listed after it) still
    restores the best epoch's weights, never taking the epoch it stopped in.
    ``epoch``: the epoch (from 1) it happened in, or None. Not
    ``keras.callbacks.TerminateOnNaN``: that one sees only the loss, does not
    say when, and prints to stdout.
    """

    def __init__(self):
        super().__init__()
        self.epoch, self._current = None, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            self._stop()

    def on_epoch_end(self, epoch, logs=None):
        if self.epoch is None and non_finite_variable(self.model) is not None:
            self._stop()

    def _stop(self):
        self.epoch = self._current + 1
        self.model.stop_training = True


class BestEpoch(keras.callbacks.EarlyStopping):
    """Early stopping on the validation accuracy that survives a resume.

    Keras' ``EarlyStopping`` (``monitor="val_accuracy"``, the best epoch's
    weights restored at the end of training) whose state -- the best accuracy,
    its epoch and weights, the epochs waited -- is written to ``state_dir``
    after every epoch, before ``BackupAndRestore`` (listed after it) records
    that epoch. When ``fit`` resumes at epoch ``e``, the state of epoch ``e``
    is read back, so a resumed run stops and restores as an uninterrupted one
    would. ``patience=0`` never stops early (the best epoch is still restored).
    The epoch ``diverged`` (a :class:`Diverged` listed before it) stopped in
    is never the best: its weights are not finite.
    """

    def __init__(self, state_dir, patience: int, diverged: Diverged):
        super().__init__(
            monitor="val_accuracy",
            mode="max",
            patience=patience or 2**31 - 1,
            restore_best_weights=True,
        )
        self.state_dir = Path(state_dir)
        self.diverged = diverged
        self._first_epoch = True

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._first_epoch = True

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch:  # BackupAndRestore has restored the state after `epoch` epochs
            self._first_epoch = False
            if epoch:
                self._load(epoch)

    def on_epoch_end(self, epoch, logs=None):
        if self.diverged.epoch is None:
            super().on_epoch_end(epoch, logs)
        self._save(epoch + 1)

    def _state_path(self, epochs_done: int) -> Path:
        return self.state_dir / f"best-epoch-{epochs_done:04d}.json"

    def _save(self, epochs_done: int):
        weights = f"best-weights-{self.best_epoch + 1:04d}.npz"
        if self.best_weights is not None and not (self.state_dir / weights).exists():
            with open(self.state_dir / f".{weights}.tmp", "wb") as file:
                np.savez(file, *self.best_weights)
            os.replace(self.state_dir / f".{weights}.tmp", self.state_dir / weights)
        state = {
            "best": None if self.best is None else float(self.best),
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "weights": weights if self.best_weights is not None else None,
        }
        temporary = self.state_dir / ".best-epoch.json.tmp"
        temporary.write_text(json.dumps(state))
        os.replace(temporary, self._state_path(epochs_done))
        # Keep this epoch's state and the one before (BackupAndRestore may
        # still be at it), and the weights they name.
        kept = {self._state_path(epochs_done), self._state_path(epochs_done - 1)}
        named = set()
        for path in self.state_dir.glob("best-epoch-*.json"):
            if path in kept:
                named.add(json.loads(path.read_text()).get("weights"))
            else:
                path.unlink(missing_ok=True)
        for path in self.state_dir.glob("best-weights-*.npz"):
            if path.name not in named:
                path.unlink(missing_ok=True)

    def _load(self, epochs_done: int):
        path = self._state_path(epochs_done)
        try:
            state = json.loads(path.read_text())
            self.best, self.best_epoch = state["best"], int(state["best_epoch"])
            self.wait, self.stopped_epoch = int(state["wait"]), int(state["stopped_epoch"])
            if state["weights"] is not None:
                with np.load(self.state_dir / state["weights"]) as saved:
                    self.best_weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise StaleBackupError(
                f"--resume: the early-stopping state {path} of the restored epoch "
                f"{epochs_done} is missing or unreadable ({_first_line(error)}); drop --resume "
                f"to start over (which deletes {self.state_dir})."
            ) from error


@dataclasses.dataclass
class Fitted:
    """What :func:`fit` returns: the trained model (the best epoch's weights when
    there is a validation split), its teacher, and how training went."""

    model: keras.Model
    teacher: keras.Model | None
    history: dict
    # None without a validation split; else its size, the model's accuracy and
    # loss on it, the best epoch (1-based), the epochs trained, stopped early.
    validation: dict | None
    wall_time_s: float
    replicas: int
    # The epoch (1-based) whose loss or weights became NaN or infinite, where
    # training stopped.
    diverged_at_epoch: int | None = None


def fit(config: TrainConfig, dataset: data.Dataset, extra_callbacks=()) -> Fitted:
    """Trains ``config``'s model on ``dataset``'s training split, without looking
    at its test split (``tuning`` passes a data set without one).

    With ``config.validation_split`` the training split is cut in two by
    :func:`hk_experiments.data.validation_indices`: the model is fitted on
    one part and evaluated on the other after every epoch; training stops
    after ``config.patience`` epochs without a better validation accuracy
    and the best epoch's weights are kept (:class:`BestEpoch`). The
    learning-rate schedule and the early-stopping state are checkpointed with
    every epoch in ``<out>/backup`` (``config.resume`` continues from there).
    Not for ``strategy="multiworker"`` (see :func:`train`).
    """
    config.validate()
    keras.utils.set_random_seed(config.seed)
    strategy = make_strategy(config.strategy)
    backup = Path(config.out) / "backup"
    Path(config.out).mkdir(parents=True, exist_ok=True)
    _prepare_backup(config, backup)
    x_fit, y_fit, held_out = dataset.x_train, dataset.y_train, None
    if config.validation_split:
        fit_rows, held_rows = data.validation_indices(
            len(dataset.x_train), config.validation_split, config.seed
        )
        x_fit, y_fit = dataset.x_train[fit_rows], dataset.y_train[fit_rows]
        held_out = (dataset.x_train[held_rows], dataset.y_train[held_rows])
    with strategy.scope():
        model = build_model(config, dataset)
        optimizer = _optimizer(config, steps_per_epoch=-(-len(x_fit) // config.batch_size))
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=["accuracy"],
            jit_compile=config.jit_compile,
        )
        trainer, teacher = model, None
        if config.distill_from is not None:
            # Loaded after the student is built: the student's initialisation is
            # the same as in an undistilled run with this seed.
            teacher = load_teacher(
                config.distill_from, dataset.input_shape, dataset.num_classes, dataset.x_train[:8]
            )
            trainer = Distiller(model, teacher, config.temperature, config.distill_weight)
            # The same optimizer: the saved student carries its trained state.
            trainer.compile(
                optimizer=optimizer, metrics=["accuracy"], jit_compile=config.jit_compile
            )
    if config.verbose:
        model.summary()
    restored, diverged = _Restored(), Diverged()
    best = BestEpoch(backup, config.patience, diverged) if held_out is not None else None
    callbacks = [
        diverged,  # before BestEpoch, which asks it
        *([best] if best else []),  # before BackupAndRestore: see BestEpoch
        keras.callbacks.BackupAndRestore(str(backup)),
        restored,
        *extra_callbacks,
    ]
    start = time.perf_counter()
    try:
        history = trainer.fit(
            x_fit,
            y_fit,
            batch_size=config.batch_size,
            epochs=config.epochs,
            validation_data=held_out,
            callbacks=callbacks,
            verbose=config.verbose,
            shuffle=True,
        )
    except (ValueError, OSError) as error:
        if config.resume and not restored.done:
            raise StaleBackupError(
                f"--resume: cannot restore the checkpoint in {backup} ({_first_line(error)}); "
                "it was probably written by another run (other --model/--method/"
                f"--compression); drop --resume to start over (which deletes {backup})."
            ) from error
        raise
    wall_time = time.perf_counter() - start
    validation = None
    if held_out is not None:
        loss, accuracy = model.evaluate(*held_out, batch_size=256, verbose=0)
        validation = {
            "fraction": config.validation_split,
            "examples": len(held_out[1]),
            "fit_examples": len(y_fit),
            "accuracy": float(accuracy),
            "loss": float(loss),
            "best_epoch": best.best_epoch + 1,
            "epochs_trained": diverged.epoch
            or (best.stopped_epoch + 1 if best.stopped_epoch else config.epochs),
            "stopped_early": bool(best.stopped_epoch or diverged.epoch),
            "patience": config.patience,
        }
    return Fitted(
        model=model,
        teacher=teacher,
        history={k: [float(v) for v in vs] for k, vs in history.history.items()},
        validation=validation,
        wall_time_s=wall_time,
        replicas=int(strategy.num_replicas_in_sync),
        diverged_at_epoch=diverged.epoch,
    )


def train(config: TrainConfig, extra_callbacks=()) -> dict:
    """Runs ``config``: trains, evaluates and writes the output directory.

    The model is trained by :func:`fit` (with a validation split: on the rest
    of the training split, the best epoch kept); then, once, the test split
    is evaluated. Under ``strategy="multiworker"`` this is one worker of the
    cluster in ``TF_CONFIG``: start the same call (``pipelines.train`` with
    the same flags) on every worker. ``extra_callbacks`` get the Keras
    callback calls of an epoch loop in both cases.

    Returns:
      The metrics dict that the chief also writes to ``<out>/metrics.json``
      (on another worker of a multi-worker run: its own summary, with
      ``"chief": False``; it writes no files but its backup).

    Raises:
      ConfigError: a setting is invalid.
      StaleBackupError: ``resume`` with a backup of another run.
      TrainingError: the cluster failed (multi-worker), or another failure
        with a message that says what to do.
      ValueError, FileNotFoundError: a data set or teacher file is missing or
        does not fit (the message names the flag).
    """
    config.validate()
    out = Path(config.out)
    keras.utils.set_random_seed(config.seed)
    dataset = data.load(config.dataset, config.data_dir, limit=config.limit, seed=config.seed)
    if config.strategy == "multiworker":
        return _train_multiworker(config, dataset, make_strategy(config.strategy), extra_callbacks)
    fitted = fit(config, dataset, extra_callbacks)
    model, teacher = fitted.model, fitted.teacher
    test_loss, test_accuracy = model.evaluate(
        dataset.x_test, dataset.y_test, batch_size=256, verbose=0
    )
    distillation = None
    if teacher is not None:
        teacher_probs = teacher.predict(dataset.x_test, batch_size=256, verbose=0)
        student_probs = model.predict(dataset.x_test, batch_size=256, verbose=0)
        distillation = _distillation_summary(config, dataset, teacher_probs, student_probs)
    model_path = out / "model.keras"
    model.save(model_path)
    metrics = _metrics(config, model, model_path, test_loss, test_accuracy)
    metrics.update(
        {
            "replicas": fitted.replicas,
            "epochs_run_this_session": len(fitted.history.get("loss", [])),
            "wall_time_s": fitted.wall_time_s,
            "history": fitted.history,
            # None, or the teacher, T, a, and the teacher's test accuracy and agreement.
            "distillation": distillation,
            "validation": fitted.validation,
            # The epoch (from 1) whose loss or weights became NaN or infinite, where
            # training stopped.
            "diverged_at_epoch": fitted.diverged_at_epoch,
        }
    )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def _first_line(error, limit=300) -> str:
    """``error``'s message, first line only, at most ``limit`` characters."""
    text = str(error).strip().splitlines()
    text = text[0] if text else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _op_error_reason(error) -> str:
    """The informative line of a failed collective's error (not "Graph execution error")."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if "aborted by" in line or "Connection" in line or "peer" in line:
            return _first_line(line, 160)
    return _first_line(error, 160)


def _distillation_summary(config, dataset, teacher_probs, student_probs) -> dict:
    labels = np.asarray(dataset.y_test).reshape(-1)
    return {
        "teacher": str(config.distill_from),
        "temperature": config.temperature,
        "distill_weight": config.distill_weight,
        "teacher_test_accuracy": float(np.mean(teacher_probs.argmax(-1) == labels)),
        "test_agreement_with_teacher": float(
            np.mean(teacher_probs.argmax(-1) == student_probs.argmax(-1))
        ),
    }


def _metrics(config, model, model_path, test_loss, test_accuracy) -> dict:
    """The metrics of a trained, saved model (without the training history)."""
    metrics = {
        "config": dataclasses.asdict(config),
        "recipe": config.recipe,
        "test_accuracy": float(test_accuracy),
        "test_error_percent": 100.0 * (1.0 - float(test_accuracy)),
        "test_loss": float(test_loss),
        "trainable_parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "stored_size": int(models.stored_size(model)),
        "virtual_size": int(models.virtual_size(model)),
        "stored_bytes": int(
            sum(np.prod(w.shape) * np.dtype(w.dtype).itemsize for w in model.weights)
        ),
        "keras_file_bytes": os.path.getsize(model_path),
        "versions": versions(),
    }
    metrics["compression_achieved"] = metrics["stored_size"] / metrics["virtual_size"]
    return metrics


def versions() -> dict:
    """What produced a result: the numeric stack's package versions and the
    repository's commit (None outside a git checkout; ``+dirty`` with local
    changes). The same code on other versions trains to other numbers."""
    import importlib.metadata
    import platform
    import subprocess

    found = {"python": platform.python_version()}
    for package in ("tensorflow-cpu", "tensorflow", "keras", "numpy"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        root = Path(__file__).resolve().parents[1]
        git = ["git", "-C", str(root)]
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        found["commit"] = (commit + ("+dirty" if dirty else "")) if commit else None
    except (OSError, subprocess.SubprocessError):
        found["commit"] = None
    return found


# --------------------------------------------------------------------------
# Multi-worker training: a custom loop with strategy.run.


@dataclasses.dataclass(frozen=True)
class WorkerRole:
    """Where this process is in a ``MultiWorkerMirroredStrategy`` cluster."""

    task_type: str
    task_id: int
    workers: int
    is_chief: bool

    @classmethod
    def of(cls, strategy) -> WorkerRole:
        resolver = getattr(strategy, "cluster_resolver", None)
        cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
        task_type = getattr(resolver, "task_type", None) or "worker"
        task_id = int(getattr(resolver, "task_id", None) or 0)
        if task_type not in ("worker", "chief"):
            raise TrainingError(
                f"TF_CONFIG: task type {task_type!r} cannot train; --strategy multiworker "
                "runs 'worker' tasks (and at most one 'chief'), so give this process "
                '"task": {"type": "worker", "index": i}.'
            )
        workers = max(1, len(cluster.get("worker", [])) + len(cluster.get("chief", [])))
        is_chief = task_type == "chief" or ("chief" not in cluster and task_id == 0)
        return cls(task_type, task_id, workers, is_chief)

    @property
    def name(self) -> str:
        return f"{self.task_type} {self.task_id}"


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The example order of ``epoch`` (0-based): the same on every worker, and
    the same after a resume."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def weights_digest(model) -> str:
    """SHA-256 of ``model.weights`` (values in order): equal on all workers."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()


class _Loop:
    """The distributed train step and the per-worker checkpoints.

    A step gets the global batch (the same tensor on every worker) and each
    replica trains on its slice ``[b r // R, b (r + 1) // R)`` (``r`` its
    replica id, ``R`` the replicas of all workers, ``b`` the batch's size);
    ``optimizer.apply_gradients`` in the replica context sums the replicas'
    gradients. The loss is ``sum(per-example loss) / b`` per replica, so the
    sum is the gradient of the global batch's mean loss. Non-trainable float
    variables (BatchNormalization's moving statistics) are averaged over the
    replicas after each step, so every worker holds the same weights.
    """

    def __init__(self, model, teacher, strategy, config, input_shape):
        self.model, self.teacher, self.strategy, self.config = model, teacher, strategy, config
        replicas = strategy.num_replicas_in_sync
        self.replicas = replicas
        ce = keras.losses.sparse_categorical_crossentropy
        averaged = (
            [v for v in model.non_trainable_variables if "float" in str(v.dtype)]
            if replicas > 1
            else []
        )

        def replica_step(x, y):
            context = tf.distribute.get_replica_context()
            r = tf.cast(context.replica_id_in_sync_group, tf.int32)
            b = tf.shape(x)[0]
            x_mine, y_mine = (
                x[b * r // replicas : b * (r + 1) // replicas],
                y[b * r // replicas : b * (r + 1) // replicas],
            )
            with tf.GradientTape() as tape:
                probs = model(x_mine, training=True)
                if teacher is None:
                    per_example = ce(y_mine, probs)
                else:
                    teacher_probs = tf.stop_gradient(teacher(x_mine, training=False))
                    per_example = distillation_loss(
                        y_mine, probs, teacher_probs, config.temperature, config.distill_weight
                    )
                per_example = tf.cast(per_example, tf.float32)
                loss = tf.reduce_sum(per_example) / tf.cast(b, tf.float32)
                if model.losses:
                    loss += tf.add_n([tf.cast(v, tf.float32) for v in model.losses]) / replicas
            variables = model.trainable_variables
            grads = tape.gradient(loss, variables)
            model.optimizer.apply_gradients(zip(grads, variables))
            if averaged:
                # Keras 3 creates BatchNormalization's moving statistics with
                # aggregation "none": each replica would update only its own copy
                # from its slice, and the workers would drift apart. Average them,
                # as tf.keras did (aggregation MEAN).
                means = context.all_reduce(
                    tf.distribute.ReduceOp.MEAN, [tf.identity(v.value) for v in averaged]
                )
                for variable, mean in zip(averaged, means):
                    variable.assign(mean)
            hits = tf.cast(
                tf.equal(
                    tf.argmax(probs, axis=-1, output_type=tf.int32), tf.cast(y_mine, tf.int32)
                ),
                tf.float32,
            )
            return tf.reduce_sum(per_example), tf.reduce_sum(hits)

        spec = (tf.TensorSpec((None, *input_shape), tf.float32), tf.TensorSpec((None,), tf.int32))

        @tf.function(input_signature=spec)
        def step(x, y):
            loss_sum, hits = strategy.run(replica_step, args=(x, y))
            total = tf.distribute.ReduceOp.SUM
            return (
                strategy.reduce(total, loss_sum, axis=None),
                strategy.reduce(total, hits, axis=None),
            )

        def replica_gather(value):
            context = tf.distribute.get_replica_context()
            mine = tf.one_hot(context.replica_id_in_sync_group, replicas) * value
            return context.all_reduce(tf.distribute.ReduceOp.SUM, mine)

        @tf.function(input_signature=(tf.TensorSpec((), tf.float32),))
        def gather(value):
            return strategy.run(replica_gather, args=(value,))

        self.step, self._gather = step, gather

    def gather(self, value: float) -> np.ndarray:
        """``value`` of every replica (of every worker), in replica order."""
        result = self.strategy.experimental_local_results(self._gather(tf.constant(float(value))))[
            0
        ]
        return np.asarray(result)

    # Checkpoints: <backup>/epoch-NNNN.npz, the latest two kept.

    def _variables(self):
        return {"model": self.model.variables, "optimizer": self.model.optimizer.variables}

    @staticmethod
    def checkpoints(backup: Path) -> dict:
        """Finished epoch -> its checkpoint file in ``backup``."""
        found = {}
        for path in backup.glob("epoch-*.npz"):
            try:
                found[int(path.stem.split("-")[1])] = path
            except ValueError:
                continue
        return found

    def save(self, backup: Path, epoch: int):
        arrays = {"epoch": np.int64(epoch)}
        for group, variables in self._variables().items():
            for i, variable in enumerate(variables):
                arrays[f"{group}/{i}"] = keras.ops.convert_to_numpy(variable)
            arrays[f"{group}/paths"] = np.array([v.path for v in variables])
        temporary = backup / f".epoch-{epoch:04d}.npz.tmp"
        with open(temporary, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temporary, backup / f"epoch-{epoch:04d}.npz")
        for old, path in self.checkpoints(backup).items():
            if old < epoch - 1:
                path.unlink(missing_ok=True)

    def restore(self, path: Path):
        try:
            with np.load(path) as saved:
                arrays = dict(saved)
        except (OSError, ValueError) as error:
            raise StaleBackupError(
                f"--resume: cannot read the checkpoint {path} ({_first_line(error)}); delete "
                "it to resume from the one before, or drop --resume to start over."
            ) from error
        for group, variables in self._variables().items():
            paths = [str(p) for p in arrays.get(f"{group}/paths", [])]
            if paths != [v.path for v in variables] or any(
                arrays[f"{group}/{i}"].shape != tuple(v.shape) for i, v in enumerate(variables)
            ):
                raise StaleBackupError(
                    f"--resume: the checkpoint {path} holds the {group} variables of another "
                    f"run; resume with that run's flags, or drop --resume to start over "
                    f"(which deletes {path.parent})."
                )
            for i, variable in enumerate(variables):
                variable.assign(arrays[f"{group}/{i}"])
        return int(arrays["epoch"])


def _predict(model, x, batch_size=256) -> np.ndarray:
    """``model(x)`` in batches, eagerly (no Keras ``predict``: the model may
    live under MultiWorkerMirroredStrategy, whose Keras ``predict`` fails)."""
    return np.concatenate(
        [
            keras.ops.convert_to_numpy(model(x[i : i + batch_size], training=False))
            for i in range(0, len(x), batch_size)
        ]
    )


def build_model(config: TrainConfig, dataset: data.Dataset):
    """The untrained zoo model a run of ``config`` on ``dataset`` trains."""
    return models.build(
        config.model,
        config.method,
        input_shape=dataset.input_shape,
        num_classes=dataset.num_classes,
        compression=config.compression,
        width=config.width,
        dropout=config.dropout,
        input_dropout=config.input_dropout,
        seed=config.seed,
    )


def _train_multiworker(config, dataset, strategy, extra_callbacks) -> dict:
    """One worker's part of a ``multiworker`` run (see the module doc)."""
    role = WorkerRole.of(strategy)
    out = Path(config.out)
    backup = out / ("backup" if role.is_chief else f"backup-{role.task_type}{role.task_id}")
    _prepare_backup(config, backup)
    with strategy.scope():
        model = build_model(config, dataset)
        model.compile(
            optimizer=_optimizer(config, -(-len(dataset.x_train) // config.batch_size)),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=["accuracy"],
        )
        model.optimizer.build(model.trainable_variables)
        teacher = None
        if config.distill_from is not None:
            teacher = load_teacher(
                config.distill_from, dataset.input_shape, dataset.num_classes, dataset.x_train[:8]
            )
            teacher.trainable = False
    if config.verbose and role.is_chief:
        model.summary()
    loop = _Loop(model, teacher, strategy, config, dataset.input_shape)

    # Resume at the latest epoch that every worker has a checkpoint of.
    mine = _Loop.checkpoints(backup) if config.resume else {}
    everyone = loop.gather(max(mine, default=0))
    start_epoch = int(everyone.min())
    if start_epoch:
        if start_epoch not in mine:
            raise TrainingError(
                f"--resume: the workers' latest checkpoints are of epochs "
                f"{sorted(set(int(e) for e in everyone))} and {backup} no longer has epoch "
                f"{start_epoch}; drop --resume on every worker to start over."
            )
        loop.restore(mine[start_epoch])
    for epoch, path in mine.items():
        if epoch > start_epoch:  # another worker has none of it: training redoes it
            path.unlink(missing_ok=True)
    if config.verbose:
        where = f"{role.name} of {role.workers}" if role.workers > 1 else "one worker"
        resumed = f", resuming after epoch {start_epoch}" if start_epoch else ""
        print(
            f"multiworker: {where}, {strategy.num_replicas_in_sync} replica(s) in all{resumed}",
            flush=True,
        )

    x_train = np.asarray(dataset.x_train, np.float32)
    y_train = np.asarray(dataset.y_train, np.int32).reshape(-1)
    n, batch = len(x_train), config.batch_size
    steps = -(-n // batch)
    history = keras.callbacks.History()
    callbacks = keras.callbacks.CallbackList(
        [history, *extra_callbacks],
        add_progbar=bool(config.verbose) and role.is_chief,
        model=model,
        verbose=config.verbose if role.is_chief else 0,
        epochs=config.epochs,
        steps=steps,
    )
    start = time.perf_counter()
    callbacks.on_train_begin()
    logs = {}
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, config.epochs):
            callbacks.on_epoch_begin(epoch)
            order = epoch_order(config.seed, epoch, n)
            loss_sum = hits = seen = 0.0
            for i in range(steps):
                callbacks.on_train_batch_begin(i)
                take = order[i * batch : (i + 1) * batch]
                step_loss, step_hits = loop.step(x_train[take], y_train[take])
                loss_sum, hits = loss_sum + float(step_loss), hits + float(step_hits)
                seen += len(take)
                logs = {"loss": loss_sum / seen, "accuracy": hits / seen}
                callbacks.on_train_batch_end(i, logs)
            loop.save(backup, epoch + 1)
            callbacks.on_epoch_end(epoch, logs)
    except tf.errors.OpError as error:
        if role.workers == 1:
            raise
        last = max(_Loop.checkpoints(backup), default=0)
        raise TrainingError(
            f"{role.name}: the cluster failed in epoch {epoch + 1} "
            f"({type(error).__name__}: {_op_error_reason(error)}); restart every worker with "
            f"the same flags plus --resume (this worker's last checkpoint: epoch {last}, in "
            f"{backup})."
        ) from error
    callbacks.on_train_end(logs)
    wall_time = time.perf_counter() - start
    digest = weights_digest(model)
    summary = {
        "chief": role.is_chief,
        "task": role.name,
        "workers": role.workers,
        "replicas": int(strategy.num_replicas_in_sync),
        "resumed_from_epoch": start_epoch,
        "epochs_run_this_session": max(0, config.epochs - start_epoch),
        "wall_time_s": wall_time,
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "weights_sha256": digest,
    }
    if not role.is_chief:
        shutil.rmtree(backup, ignore_errors=True)
        return summary
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "model.keras"
    model.save(model_path)
    # Evaluated as saved, outside the strategy: what a user of model.keras gets.
    saved = keras.models.load_model(model_path)
    test_loss, test_accuracy = saved.evaluate(
        dataset.x_test, dataset.y_test, batch_size=256, verbose=0
    )
    distillation = None
    if teacher is not None:
        distillation = _distillation_summary(
            config,
            dataset,
            _predict(teacher, dataset.x_test),
            saved.predict(dataset.x_test, batch_size=256, verbose=0),
        )
    metrics = _metrics(config, saved, model_path, test_loss, test_accuracy)
    metrics.update(summary)
    metrics["distillation"] = distillation
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    shutil.rmtree(backup, ignore_errors=True)
    return metrics
