"""Hyper-parameter search for a training run, with KerasTuner.

:func:`tune` searches a run's learning rate, momentum (SGD), input and hidden
dropout and, when it is distilled, the temperature and the distillation
weight (:func:`search_space`), by KerasTuner's ``BayesianOptimization`` (the
HashedNets paper tuned by Bayesian optimisation too). Each trial is
:func:`hk_experiments.training.fit` of the run with the trial's values, and
its score is the accuracy on the run's validation split (carved from the
training split); the test split is removed from the data before the search
starts, so no trial can see it. The budget is ``trials`` trials in all.

Resumable: the tuner's project directory ``<out>/tuning`` keeps every
finished trial (KerasTuner's own files, ``overwrite=False``), so running the
same search again runs only the trials still missing (none once the budget is
spent; a larger budget adds trials). A project of another run (other model,
method, data, ...: ``tuning/run.json``) is refused, not mixed in.

The result is ``<out>/hparams.json``: the recipe, the chosen settings and
their validation accuracy, and what they were tuned for.
``pipelines.train --hparams <out>/hparams.json`` (and the benchmark) train
with them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from hk_experiments import data, training

# The settings a search may choose: (low, high, sampling). A learning rate's
# range depends on the optimizer.
RANGES = {
    "learning_rate": {"sgd": (1e-3, 0.3, "log"), "adam": (1e-4, 1e-2, "log")},
    "momentum": (0.5, 0.99, "linear"),
    "input_dropout": (0.0, 0.5, "linear"),
    "dropout": (0.0, 0.7, "linear"),
    "temperature": (1.0, 20.0, "log"),
    "distill_weight": (0.1, 0.9, "linear"),
}
OBJECTIVE = "val_accuracy"
# The settings that define a search besides the tuned ones: a project written
# with other values belongs to another search.
_SEARCH_SETTINGS = ("epochs",)


class TuningError(training.TrainingError):
    """A search cannot go on (a project of another run, an unreadable hparams file)."""


def tuned_names(config: training.TrainConfig) -> list[str]:
    """The settings a search of ``config`` chooses."""
    names = ["learning_rate"]
    if config.optimizer == "sgd":
        names.append("momentum")
    names += ["input_dropout", "dropout"]
    if config.distill_from is not None:
        names += ["temperature", "distill_weight"]
    return names


def search_space(config: training.TrainConfig):
    """The ``keras_tuner.HyperParameters`` of a search of ``config``: each
    setting's range (widened to hold ``config``'s value), whose default is
    ``config``'s value -- the first trial's."""
    import keras_tuner

    space = keras_tuner.HyperParameters()
    for name in tuned_names(config):
        low, high, sampling = (
            RANGES[name][config.optimizer] if name == "learning_rate" else RANGES[name]
        )
        value = float(getattr(config, name))
        space.Float(name, min(low, value), max(high, value), sampling=sampling, default=value)
    return space


def at_edge(settings: dict, config: training.TrainConfig) -> list[str]:
    """The chosen ``settings`` of a search of ``config`` that sit on an edge
    of their range (:func:`search_space`), each as ``"name value (top|bottom
    of low-high)"``: the best value may lie beyond, and a wider range
    (:data:`RANGES`) might find it. A dropout rate of 0 is a limit, not an edge."""
    said = []
    for hp in search_space(config).space:
        value = settings.get(hp.name)
        if value is None:
            continue
        side = (
            "top"
            if value >= hp.max_value * (1 - 1e-6)
            else "bottom"
            if value <= hp.min_value * (1 + 1e-6) and hp.min_value > 0
            else None
        )
        if side:
            said.append(f"{hp.name} {value:.4g} ({side} of {hp.min_value:g}-{hp.max_value:g})")
    return said


def initial_points(dimensions: int, trials: int) -> int:
    """How many trials are drawn at random (the first of them: the run's own
    values) before the Gaussian process proposes the rest: KerasTuner's
    default, 3 per dimension, but at most half the budget -- with its default
    a 10-trial search of 4 to 6 settings would be random search only."""
    return max(2, min(3 * dimensions, trials // 2))


def search_settings(config: training.TrainConfig) -> dict:
    """The settings that define a search of ``config`` (all but the tuned ones):
    ``hparams.json`` records them as ``tuned_for``."""
    run = training._run_settings(config)
    for name in tuned_names(config):
        run.pop(name)
    return {**run, **{name: getattr(config, name) for name in _SEARCH_SETTINGS}}


def _check_project(config: training.TrainConfig, project: Path):
    training.check_record(
        project / "run.json",
        search_settings(config),
        TuningError,
        "--tune",
        "the search",
        "tune with that run's flags or use another --out",
        f"delete {project} to start the search over",
    )
    project.mkdir(parents=True, exist_ok=True)
    (project / "run.json").write_text(
        json.dumps({"settings": search_settings(config)}, indent=2) + "\n"
    )


def tune(config: training.TrainConfig, trials: int) -> dict:
    """Searches ``config``'s hyper-parameters; writes and returns ``hparams.json``.

    Args:
      config: the run to tune (its ``out`` holds the search); it needs a
        validation split (``validation_split > 0``, as the ``paper`` recipe).
      trials: the budget, trials in all (finished ones in ``<out>/tuning``
        count).

    Returns:
      The contents of ``<out>/hparams.json``: ``recipe``, ``settings`` (the
      chosen values), ``validation_accuracy``, ``trials``,
      ``trials_run_this_session``, ``search``, ``tuned_for``, ``at_edge``
      (:func:`at_edge`; also said in one line).

    Raises:
      training.ConfigError: a bad setting, no validation split, ``trials < 1``.
      TuningError: ``<out>/tuning`` holds the search of another run.
    """
    import keras_tuner

    config.validate()
    if trials < 1:
        raise training.ConfigError(f"--tune must be >= 1 trial (got {trials}).")
    if not config.validation_split:
        raise training.ConfigError(
            "--tune needs a validation split to score trials on: use --recipe paper or "
            "--validation_split 0.2 (got --validation_split 0)."
        )
    if config.strategy == "multiworker":
        raise training.ConfigError("--tune is not supported with --strategy multiworker.")
    out = Path(config.out)
    project = out / "tuning"
    _check_project(config, project)
    dataset = data.without_test(
        data.load(config.dataset, config.data_dir, limit=config.limit, seed=config.seed)
    )

    class Oracle(keras_tuner.oracles.BayesianOptimizationOracle):
        def populate_space(self, trial_id):
            # The first trial is the run's own values (the recipe's, or the
            # flags'), so the search starts from the known point and its best
            # is never worse on the validation split than the untuned run.
            if not self.trials:
                values = {hp.name: hp.default for hp in self.hyperparameters.space}
                return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING, "values": values}
            return super().populate_space(trial_id)

    class Search(keras_tuner.Tuner):
        def run_trial(self, trial, *args, **kwargs):
            trial_config = dataclasses.replace(
                config,
                **trial.hyperparameters.values,
                out=str(project / f"trial_{trial.trial_id}" / "run"),
                resume=False,
                verbose=0,
            )
            fitted = training.fit(trial_config, dataset)
            return {OBJECTIVE: fitted.validation["accuracy"]}

    space = search_space(config)
    search = Search(
        oracle=Oracle(
            objective=keras_tuner.Objective(OBJECTIVE, direction="max"),
            max_trials=trials,
            num_initial_points=initial_points(len(space.space), trials),
            hyperparameters=space,
            tune_new_entries=False,
            seed=config.seed,
        ),
        directory=str(out),
        project_name="tuning",
        overwrite=False,
    )
    before = _finished(search)
    search.search(verbose=1 if config.verbose else 0)
    best = search.oracle.get_best_trials(1)[0]
    result = {
        "recipe": config.recipe,
        "settings": dict(best.hyperparameters.values),
        "validation_accuracy": float(best.score),
        "trials": _finished(search),
        "trials_run_this_session": _finished(search) - before,
        "best_trial": best.trial_id,
        "search": f"keras_tuner.BayesianOptimization, {OBJECTIVE} (max) on "
        f"{config.validation_split:g} of the training split; trial 1: the run's own values, "
        f"then random ones to {search.oracle.num_initial_points}, then the Gaussian process",
        "tuned_for": search_settings(config),
        "at_edge": at_edge(best.hyperparameters.values, config),
    }
    (out / "hparams.json").write_text(json.dumps(result, indent=2) + "\n")
    if result["at_edge"]:
        print(
            f"tuning {out}: chosen at the edge of the searched range: "
            f"{', '.join(result['at_edge'])}; the best may lie beyond it "
            "(widen hk_experiments.tuning.RANGES to search there)",
            flush=True,
        )
    return result


def _finished(search) -> int:
    return sum(1 for t in search.oracle.trials.values() if t.status == "COMPLETED")


# The settings that say which task a search tuned for; the others (seed, epochs,
# the tuned values themselves) may change when its result is reused.
_TASK_SETTINGS = ("model", "method", "compression", "width", "dataset", "data_dir", "limit")


def transfer_warning(path, config: training.TrainConfig) -> str | None:
    """One line if ``config`` is another task than the one ``path`` (an
    ``hparams.json``) was tuned for, else None. Reusing settings across
    compressions or widths is legitimate (the benchmarks do), so it is said,
    not refused."""
    tuned_for = json.loads(Path(path).read_text()).get("tuned_for", {})
    changed = [
        f"--{name} {tuned_for[name]!r} there, {getattr(config, name)!r} now"
        for name in _TASK_SETTINGS
        if name in tuned_for and tuned_for[name] != getattr(config, name)
    ]
    if not changed:
        return None
    return (
        f"--hparams {path} was tuned for another run ({'; '.join(changed)}); its settings "
        "may not be the best here (tune this run with --tune N for its own)."
    )


def load_hparams(path) -> tuple[str, dict]:
    """``(recipe, settings)`` of an ``hparams.json`` written by :func:`tune`.

    Raises:
      FileNotFoundError: no such file.
      ValueError: not an hparams file, or settings that are not tunable.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"--hparams: {path} does not exist (write one with pipelines.train --tune N "
            "--out DIR; it is DIR/hparams.json)."
        )
    try:
        saved = json.loads(path.read_text())
        recipe, settings = saved["recipe"], dict(saved["settings"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"--hparams: {path} is not an hparams.json of pipelines.train --tune "
            f"({training._first_line(error)})."
        ) from error
    unknown = sorted(set(settings) - set(RANGES))
    if unknown or recipe not in training.RECIPES:
        raise ValueError(
            f"--hparams: {path} names an unknown recipe {recipe!r} or settings {unknown} "
            f"(tunable: {sorted(RANGES)})."
        )
    return recipe, settings
