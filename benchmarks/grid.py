"""Cells of the experiment grids: train once (resumable), deploy, measure.

A cell is one ``pipelines.train`` run (:func:`train_cell`: reused while its
``metrics.json`` says it was made with the same settings, else retrained)
and, for the deployed figures, its ``.tflite`` (:func:`deploy_cell`:
converted with verification, then accuracy computed by the interpreter on the
whole test split; reused while ``tflite.json`` is newer than the run it was
made from, :func:`derived_record`).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from pathlib import Path

import numpy as np

from hk_experiments import data, training


def minutes_left(ran, to_run) -> float | None:
    """Minutes the cells still to run will take; None before the first has run.

    ``ran``: ``(kind, seconds)`` of the cells run so far in this run;
    ``to_run``: the kinds of the cells still to run. Each is estimated by the
    mean of the cells of its kind run so far (a HashNet cell can take eight
    times an NN cell), or of all cells run so far when none of its kind has.
    """
    if not ran:
        return None
    everything = [seconds for _, seconds in ran]
    total = 0.0
    for kind in to_run:
        same = [seconds for k, seconds in ran if k == kind] or everything
        total += sum(same) / len(same)
    return total / 60


def _cells(n: int) -> str:
    return f"{n} cell" if n == 1 else f"{n} cells"


def progress_line(i: int, n: int, name: str, left: float | None) -> str:
    """``cell i of n (name), ~M min left`` (``left``: :func:`minutes_left`)."""
    when = "time left known after this cell" if left is None else f"~{max(1, round(left))} min left"
    return f"cell {i} of {n} ({name}), {when}"


class Progress:
    """Prints ``cell i of N (name), ~M min left`` as a grid's cells start.

    ``done``: the names of the cells finished before this run (resumed: they
    count as done and take no time); ``kind(name)``: what makes cells take
    alike long (the method; default: all alike). The estimate sums, over the
    cells still to run, the mean duration of the cells of their kind run so
    far in this run (:func:`minutes_left`).
    """

    def __init__(self, names, done=(), kind=lambda name: None, clock=time.monotonic, out=print):
        self.names, self.done, self.kind = list(names), set(done), kind
        self.ran, self.clock, self.out = [], clock, out
        self._started = None

    def summary(self, where: str = "") -> str:
        n, resumed = len(self.names), [c for c in self.names if c in self.done]
        if not resumed:
            return f"{_cells(n)} to run"
        if len(resumed) == n:
            return f"all {_cells(n)} done before (resumed{' from ' + where if where else ''})"
        return (
            f"{_cells(n)}: {len(resumed)} done before (resumed"
            f"{' from ' + where if where else ''}: {', '.join(resumed)}), "
            f"{n - len(resumed)} to run"
        )

    def start(self, name: str) -> str:
        """Call as cell ``name`` starts (not for resumed cells); returns the line printed."""
        i = self.names.index(name) + 1
        to_run = [self.kind(c) for c in self.names[i - 1 :] if c not in self.done]
        line = progress_line(i, len(self.names), name, minutes_left(self.ran, to_run))
        self.out(line)
        self._started = self.clock()
        return line

    def finish(self, name: str) -> float:
        """Call as cell ``name`` ends; returns its seconds."""
        seconds = self.clock() - self._started
        self.ran.append((self.kind(name), seconds))
        self.done.add(name)
        return seconds


def command(cfg: training.TrainConfig, hparams=None) -> str:
    """The ``pipelines.train`` command line of a cell (``hparams``: the tuned
    ``hparams.json`` it was trained with, whose values the line leaves to it)."""
    tuned = json.loads(Path(hparams).read_text())["settings"] if hparams else {}
    recipe = training.TrainConfig.of_recipe(cfg.recipe)
    return (
        f"python -m pipelines.train --model {cfg.model} --method {cfg.method} "
        f"--compression {cfg.compression:g} --dataset {cfg.dataset} "
        + (f"--width {cfg.width:g} " if cfg.width != 1 else "")
        + f"--epochs {cfg.epochs} --seed {cfg.seed} --out {cfg.out}"
        + (f" --limit {cfg.limit}" if cfg.limit else "")
        + (f" --batch_size {cfg.batch_size}" if cfg.batch_size != 50 else "")
        + (f" --recipe {cfg.recipe}" if cfg.recipe != "adam" else "")
        + (f" --hparams {hparams}" if hparams else "")
        + (
            f" --learning_rate {cfg.learning_rate:g}"
            if cfg.learning_rate != recipe.learning_rate and "learning_rate" not in tuned
            else ""
        )
        + (f" --distill_from {cfg.distill_from}" if cfg.distill_from else "")
        + (
            f" --temperature {cfg.temperature:g}"
            if cfg.distill_from and "temperature" not in tuned
            else ""
        )
    )


# What makes two training runs the same run: every TrainConfig field but these.
NOT_COMPARED = ("out", "resume", "verbose")


def settings(config: dict) -> dict:
    """A run's settings (``dataclasses.asdict`` of a TrainConfig, or the
    ``config`` its metrics.json records) as compared for reuse: a field missing
    from an older record has its default; where it is written is left out."""
    defaults = {
        f.name: f.default
        for f in dataclasses.fields(training.TrainConfig)
        if f.default is not dataclasses.MISSING
    }
    merged = json.loads(json.dumps({**defaults, **config}))
    return {k: v for k, v in sorted(merged.items()) if k not in NOT_COMPARED}


def made(out) -> dict | None:
    """How the finished run in ``out`` was made (:func:`settings`), or None."""
    path = Path(out) / "metrics.json"
    if not path.is_file():
        return None
    return settings(json.loads(path.read_text())["config"])


def differences(before: dict | None, now: dict) -> str:
    """What changed between two runs' settings, for one line."""
    if before is None:
        return "no record of its settings"
    keys = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))

    def change(key):
        if key == "teacher":
            return "its teacher was retrained or changed"
        was, new = before.get(key), now.get(key)
        short = [f"{v:.4g}" if isinstance(v, float) else repr(v) for v in (was, new)]
        return f"{key} {' -> '.join(short if short[0] != short[1] else (repr(was), repr(new)))}"

    said = [change(k) for k in keys]
    return ", ".join(said[:4]) + (", ..." if len(said) > 4 else "")


def train_cell(cfg: training.TrainConfig, plan: dict | None = None, how_made=made) -> dict:
    """The run's metrics: its finished training if that was made as ``plan``
    says (default: ``settings`` of ``cfg``; ``how_made(out)`` reads how a
    finished run was made), else trained now, with one line saying what
    changed (resumed from its last epoch if interrupted)."""
    plan = settings(dataclasses.asdict(cfg)) if plan is None else plan
    path = Path(cfg.out) / "metrics.json"
    if path.exists():
        before = how_made(cfg.out)
        if before == plan:
            return json.loads(path.read_text())
        print(f"  retraining {cfg.out}: {differences(before, plan)}", flush=True)
        path.unlink()  # stale; an interrupted retraining resumes from its own backup
    if cfg.verbose:
        print(f"\n=== {command(cfg)}", flush=True)
    cfg.resume = True
    try:
        return training.train(cfg)
    except training.StaleBackupError as stale:  # a checkpoint of other settings
        print(f"  starting {cfg.out} over: {stale}", flush=True)
        cfg.resume = False
        return training.train(cfg)


def derived_record(path, cfg: training.TrainConfig) -> dict | None:
    """The JSON record at ``path`` made from the run in ``cfg.out`` (its
    ``.tflite`` figures, a score), if that run is finished with ``cfg``'s
    settings and the record was written after it; else None (to be redone)."""
    path, metrics = Path(path), Path(cfg.out) / "metrics.json"
    if not (path.is_file() and metrics.is_file()):
        return None
    if path.stat().st_mtime_ns < metrics.stat().st_mtime_ns:
        return None
    if made(cfg.out) != settings(dataclasses.asdict(cfg)):
        return None
    return json.loads(path.read_text())


class Diverged(Exception):
    """A run's training diverged before any good epoch: its weights are NaN or
    infinite, so there is no file to deploy. The message says which seed and
    when; ``config``: the run's settings."""

    def __init__(self, message: str, config: training.TrainConfig):
        super().__init__(message)
        self.config = config


def check_finite(model, cfg: training.TrainConfig) -> None:
    """Raises :class:`Diverged` if ``model`` (the run in ``cfg.out``, loaded)
    holds a NaN or an infinity."""
    from hashed_keras.lite.convert import non_finite_variable

    if non_finite_variable(model) is None:
        return
    epoch = json.loads((Path(cfg.out) / "metrics.json").read_text()).get("diverged_at_epoch")
    raise Diverged(
        f"seed {cfg.seed}: "
        + (f"loss or weights NaN or infinite in epoch {epoch}" if epoch else "weights not finite"),
        cfg,
    )


def rates(cfg: training.TrainConfig) -> str:
    """``learning rate L[, momentum M]``: what to lower when a run diverged."""
    return f"learning rate {cfg.learning_rate:g}" + (
        f", momentum {cfg.momentum:g}" if cfg.optimizer == "sgd" else ""
    )


def left_out(error: Diverged) -> str:
    """Prints and returns the line for a cell left out of a grid because its
    training diverged (:func:`cell` raised ``error``)."""
    line = (
        f"{Path(error.config.out).name}: training diverged ({error}) at "
        f"{rates(error.config)}: retrain it with a lower learning rate"
    )
    print(f"  left out: {line}", flush=True)
    return line


def left_out_note(lines) -> str:
    """The paragraph under a grid's table naming the cells left out (:func:`left_out`)."""
    lines = list(lines)
    return "Left out (no file to deploy): " + "; ".join(lines) if lines else ""


def deploy_cell(cfg: training.TrainConfig) -> dict:
    """Converts the cell's model to .tflite and measures it with the interpreter.

    Raises:
      Diverged: the model's weights are not finite (:func:`check_finite`).
    """
    out = Path(cfg.out)
    path = out / "tflite.json"
    if (record := derived_record(path, cfg)) is not None:
        return record
    import keras

    from hashed_keras import layers, lite, smh  # noqa: F401  (register the layers for loading)
    from hashed_keras.lite import measure

    model = keras.models.load_model(out / "model.keras")
    check_finite(model, cfg)
    split = data.load(cfg.dataset, cfg.data_dir)
    report = lite.convert(
        model, out / "model.tflite", sample_inputs=np.asarray(split.x_test[:64], np.float32)
    )
    measured = measure.measure(
        out / "model.tflite", split.x_test, split.y_test, num_threads=1, latency_runs=50
    )
    result = {
        "tflite_accuracy": measured["accuracy"],
        "file_bytes": report.file_bytes,
        "stored_bytes": report.stored_bytes,
        "max_relative_error": report.max_relative_error,
        "latency_ms_median": measured["latency_ms_median"],
    }
    path.write_text(json.dumps(result, indent=2))
    print(
        f"deployed: {out / 'model.tflite'} {report.file_bytes:,} B, accuracy "
        f"{measured['accuracy']:.4f} (interpreter)",
        flush=True,
    )
    return result


def cell(cfg: training.TrainConfig) -> dict:
    """Trains and deploys a cell: the figures every grid reports about it.

    Raises:
      Diverged: its training diverged; the grid leaves it out (:func:`left_out`)
        and goes on, and a rerun tries it again.
    """
    metrics = train_cell(cfg)
    return {
        "keras_accuracy": metrics["test_accuracy"],
        **deploy_cell(cfg),
        "stored_size": metrics["stored_size"],
        "wall_time_s": metrics["wall_time_s"],
        "command": command(cfg),
    }


def write_results(out, rows, header: str, format_row, diverged=()) -> str:
    """Writes ``results.md`` (a markdown table: ``header`` then ``format_row(row)``
    per row, then the lines of the cells left out, ``diverged``:
    :func:`left_out_note`) and
    ``results.json`` to ``out``; returns the text of ``results.md``."""
    columns = header.count("|") - 1
    table = "\n".join([header, "|" + "---|" * columns] + [format_row(r) for r in rows])
    if diverged:
        table += "\n\n" + left_out_note(diverged)
    Path(out, "results.md").write_text(table + "\n")
    Path(out, "results.json").write_text(json.dumps(rows, indent=2))
    return table


def flag_settings(flags_, names) -> dict:
    """The values of the absl flags ``names``, as a results.json row records
    them (:func:`with_earlier`)."""
    return json.loads(json.dumps({name: flags_[name].value for name in names}))


def with_earlier(out, rows, key, settings: dict, order=None) -> list[dict]:
    """``rows`` of this command (each stamped with its ``settings``) and the
    rows of ``out``'s results.json that it did not redo, so a grid run in
    parts reports as one.

    An earlier row is kept when no row of this command has its ``key`` (the
    fields naming a cell, e.g. ``("budget", "method")``) and it was made with
    the same ``settings`` (the flags that make two rows comparable: data,
    recipe, seeds, ...); the others are left out. One line each says how
    many were kept and how many left out and why. A results.json that is not
    JSON (cut short, edited) costs its rows, not the command. Sorted by
    ``order`` (a key function) if given, else earlier rows first.
    """
    rows = [{**r, "settings": settings} for r in rows]
    path = Path(out) / "results.json"
    try:
        earlier = json.loads(path.read_text()) if path.is_file() else []
    except ValueError as error:  # rewritten by write_results
        print(f"results: {path} is not JSON ({error}); its rows left out", flush=True)
        earlier = []
    earlier = [r for r in earlier if isinstance(r, dict)] if isinstance(earlier, list) else []

    def named(row):
        return json.dumps([row.get(field) for field in key])

    redone = {named(r) for r in rows}
    earlier = [r for r in earlier if named(r) not in redone]
    kept = [r for r in earlier if r.get("settings") == settings]
    if other := [r for r in earlier if r.get("settings") != settings]:
        print(
            f"results: {len(other)} earlier row(s) of {out} left out, made with "
            f"other settings ({differences(other[0].get('settings'), settings)})",
            flush=True,
        )
    if kept:
        print(f"results: {len(kept)} earlier row(s) of {out} kept", flush=True)
    return sorted(kept + rows, key=order) if order else kept + rows


def error_spread(errors) -> dict:
    """``error_mean``, ``error_sd`` (sample standard deviation; 0 for one run)
    and ``seeds`` of a cell's test errors, one per seed."""
    errors = list(errors)
    return {
        "error_mean": statistics.fmean(errors),
        "error_sd": statistics.stdev(errors) if len(errors) > 1 else 0.0,
        "seeds": len(errors),
    }


def errorbar_plot(path, series: dict, xlabel: str, ylabel: str, title: str, xticks=None):
    """Saves a figure of one error-bar line per ``series`` entry
    (``label -> [(x, mean, sd), ...]``) on a log2 x axis to ``path``;
    ``xticks`` is an optional ``(positions, labels)`` pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for label, points in series.items():
        if points:
            xs, means, sds = zip(*points)
            ax.errorbar(xs, means, yerr=sds, marker="o", capsize=3, label=label)
    ax.set_xscale("log", base=2)
    if xticks is not None:
        ax.set_xticks(*xticks)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
