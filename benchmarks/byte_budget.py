"""The best model for a byte budget: what each method reaches in a .tflite of at most B bytes.

  python -m benchmarks.byte_budget --dataset fashion_mnist --budgets 16384,65536,262144 \
      --seeds 0,1,2 --out runs/byte_budget

The question users ask: "my app can ship B bytes of model; what is the most
accurate model of each kind that fits?". For every budget and method, the
candidates are the 3-layer net (``mlp3``'s shape) at each ``--hidden`` width
(virtual units for the compressed methods) with float32 or int8 weights:

* ``dense``: the widest dense net whose file fits (the width is what the
  budget decides; ``--hidden`` does not apply), float32 or TFLite's
  post-training int8 (``ptq``);
* ``hashed`` and ``smh``: at each width, the compression that fills the
  budget, shared variables in float32 or int8.

Each candidate is sized on untrained models (two conversions give the file
size's line in the compression or width, a third checks the chosen point, which
is shrunk until the file fits), trained with ``--recipe`` (the paper's protocol
by default) on the training split minus its validation part, converted, and
scored by the interpreter on the validation part (never the test split). The
candidate with the best validation accuracy is each method's choice; only the
choices are retrained with the other ``--seeds`` and their test error (from the
deployed file) is reported as mean ± standard deviation. Everything is
resumable (``<out>/sizing.json``, whose entries are reused while they were made
by the current sizer, ``SIZER``; one directory per trained run, reused while
it was trained with the same settings: other ``--epochs`` or ``--recipe``
retrain it). Writes
``<out>/results.md``, ``results.json`` and ``accuracy_vs_budget.png``: this
command's rows and the earlier rows of ``<out>`` for the budgets and methods it
did not run, while they were made with the same data, recipe, seeds and
candidates (:data:`SHARED`), so a grid run in parts reports as one.
"""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

from absl import app, flags

import pipelines  # noqa: F401  (first: TensorFlow loads with its banners off, as for every command)
from benchmarks import grid
from hk_experiments import data, training

FLAGS = flags.FLAGS
METHODS = ("dense", "hashed", "smh")  # also the order of a budget's rows
flags.DEFINE_enum("dataset", "fashion_mnist", list(data.DATASETS), "Data set.")
flags.DEFINE_string("data_dir", None, "Directory of MNIST-format IDX files.")
flags.DEFINE_integer("limit", None, "Use only this many training examples (quick runs).")
flags.DEFINE_list("budgets", ["16384", "65536", "262144"], "File budgets in bytes.")
flags.DEFINE_list("methods", list(METHODS), "Methods.")
flags.DEFINE_list("hidden", ["250", "1000", "4000"], "Virtual hidden units tried (hashed, smh).")
flags.DEFINE_list("dtypes", ["float32", "int8"], "Weight types tried.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "The first selects; the choice is rerun with all.")
flags.DEFINE_enum("recipe", "paper", list(training.RECIPES), "Training recipe (pipelines.train).")
flags.DEFINE_integer(
    "epochs", None, "Epochs (the most, with early stopping); default: the recipe's."
)
flags.DEFINE_float("validation_split", 0.2, "Validation part of the training split (selection).")
flags.DEFINE_string("out", "runs/byte_budget", "Output directory.")

ARCH_HIDDEN = 1000  # mlp3's hidden units (hk_experiments.zoo)
SHRINK = 0.97  # a candidate over budget is shrunk by this factor until it fits
# Which sizer made a sizing.json entry: an entry of another (or of none, the
# first sizer's, which probed only 1/256 and 1/32 and so missed candidates that
# fit) is sized again. Raise it whenever `size` changes what it finds.
SIZER = 2
# The flags every row of one results.md shares: an earlier command's rows in
# the same --out (budgets and methods this command did not run) are kept while
# these were the same, so a grid run in parts reports as one.
SHARED = (
    "dataset",
    "data_dir",
    "limit",
    "recipe",
    "epochs",
    "validation_split",
    "seeds",
    "hidden",
    "dtypes",
)


class Candidate:
    """One (method, weight type, width) point and the size that fills a budget."""

    def __init__(self, method, dtype, hidden, budget):
        self.method, self.dtype, self.hidden, self.budget = method, dtype, hidden, budget
        self.compression = 1.0
        self.file_bytes = None

    @property
    def name(self) -> str:
        width = "" if self.method == "dense" else f"_h{self.hidden}"
        return f"b{self.budget}_{self.method}_{self.dtype}{width}"

    @property
    def export(self) -> str:
        if self.dtype == "float32":
            return "dense" if self.method == "dense" else "float"
        return "ptq" if self.method == "dense" else "int8"

    def variable(self) -> float:
        """What the budget decides: the width (dense) or the compression."""
        return self.hidden if self.method == "dense" else self.compression

    def set_variable(self, value):
        if self.method == "dense":
            self.hidden = max(1, int(value))
        else:
            self.compression = min(1.0, value)


def _probe(candidate, dataset):
    """The candidate's model as training would build it, with non-zero biases
    (TFLite's converter drops all-zero ones, which a trained model does not have)."""
    import numpy as np

    from hk_experiments import models

    recipe = training.TrainConfig.of_recipe(FLAGS.recipe)
    model = models.build(
        "mlp3",
        candidate.method,
        input_shape=dataset.input_shape,
        num_classes=dataset.num_classes,
        compression=candidate.compression,
        width=candidate.hidden / ARCH_HIDDEN,
        dropout=recipe.dropout,
        input_dropout=recipe.input_dropout,
        seed=0,
    )
    for variable in model.weights:
        if "bias" in variable.path:
            variable.assign(np.full(variable.shape, 0.01, np.float32))
    return model


@functools.cache
def _dataset(seed):
    """The data set as a run with ``seed`` sees it (``--limit`` subsets are seeded);
    loaded once per seed, not once per candidate. A data set that cannot be
    loaded ends the command with one line, at the first call, before any work."""
    return data.load_or_exit(FLAGS.dataset, FLAGS.data_dir, limit=FLAGS.limit, seed=seed)


def _export(model, path, export, dataset):
    """Writes ``model``'s .tflite as ``export`` says; returns its bytes."""
    import numpy as np

    from hashed_keras import lite

    if export == "ptq":
        from hk_experiments.baselines import ptq

        ptq.convert_int8(model, path, np.asarray(dataset.x_train[:200], np.float32))
    else:
        lite.convert(
            model,
            path,
            dense=export == "dense",
            shared_dtype="int8" if export == "int8" else "float32",
            num_samples=2,
        )
    return Path(path).stat().st_size


def _smallest_fitting(file_bytes, budget, start=1 / 256, floor=1 / 4096):
    """A compression near ``start`` whose model builds and whose file fits
    ``budget``, and that file's bytes: halved while the file is too big (down
    to ``floor``), doubled while the model cannot be built (SMH's smallest
    model, ``2n + L`` stored values, is more than ``start`` of a narrow
    net's). ``(value, None)`` when there is none."""
    value, got = start, file_bytes(start)
    while got is None and value < 1.0:
        value = min(1.0, 2 * value)
        got = file_bytes(value)
    while got is not None and got > budget and value / 2 >= floor:
        smaller = file_bytes(value / 2)
        if smaller is None:
            break
        value, got = value / 2, smaller
    return value, got


def size(candidate, dataset, folder) -> bool:
    """Sets the candidate's variable to fill its budget; False if nothing fits."""

    def file_bytes(value):
        import keras

        candidate.set_variable(value)
        try:
            # Saved and loaded, as a trained run's model is: the loaded graph
            # converts to a slightly larger file (dynamic batch, longer names).
            _probe(candidate, dataset).save(folder / "probe.keras")
            model = keras.models.load_model(folder / "probe.keras", compile=False)
            return _export(model, folder / "probe.tflite", candidate.export, dataset)
        except (ValueError, RuntimeError):  # e.g. fewer buckets than a layer needs
            return None

    if candidate.method == "dense":
        low, high = 1, 64
        at_low = file_bytes(low)
    else:  # a compression that builds and fits, then a larger one for the slope
        low, at_low = _smallest_fitting(file_bytes, candidate.budget)
        high = min(1.0, 8 * low)
    at_high = file_bytes(high) if at_low is not None else None
    if at_low is None or at_high is None or at_low > candidate.budget:
        return False
    slope = (at_high - at_low) / (high - low) if high > low else 0.0
    value = low + (candidate.budget - at_low) / slope if slope > 0 else low
    if candidate.method != "dense":
        value = min(value, 1.0)
    for _ in range(40):
        if value <= low:  # the point known to fit
            candidate.set_variable(low)
            candidate.file_bytes = at_low
            return True
        got = file_bytes(value)
        if got is not None and got <= candidate.budget:
            candidate.file_bytes = got
            return True
        value *= SHRINK
    return False


def _config(candidate, seed) -> training.TrainConfig:
    given = {"epochs": FLAGS.epochs} if FLAGS.epochs else {}
    return training.TrainConfig.of_recipe(
        FLAGS.recipe,
        **given,
        model="mlp3",
        method=candidate.method,
        compression=candidate.compression,
        width=candidate.hidden / ARCH_HIDDEN,
        dataset=FLAGS.dataset,
        data_dir=FLAGS.data_dir,
        limit=FLAGS.limit,
        validation_split=FLAGS.validation_split,
        seed=seed,
        out=str(Path(FLAGS.out) / "runs" / f"{candidate.name}_seed{seed}"),
        verbose=2,
    )


def scored(candidate, seed) -> dict:
    """Trains (or reads) a candidate's run, exports it, scores the file on the
    run's validation part and, for the record, its test split."""
    import keras

    from hashed_keras import layers, lite  # noqa: F401  (registers the layers for loading)
    from hashed_keras.lite import measure

    cfg = _config(candidate, seed)
    result_path = Path(cfg.out) / "budget.json"
    record = grid.derived_record(result_path, cfg)
    if record is not None and "error" not in record:  # a refusal is asked again: cheap,
        return record  # and a later converter may accept the file
    metrics = grid.train_cell(cfg)
    dataset = _dataset(seed)
    path = Path(cfg.out) / "model.tflite"
    model = keras.models.load_model(Path(cfg.out) / "model.keras", compile=False)
    try:
        file_bytes = _export(model, path, candidate.export, dataset)
    except lite.ConversionError as error:  # e.g. a training that diverged: not a choice
        result = {"error": str(error), "command": grid.command(cfg)}
        result_path.write_text(json.dumps(result, indent=2))
        return result
    _, held = data.validation_indices(len(dataset.x_train), cfg.validation_split, cfg.seed)
    validation = measure.measure(path, dataset.x_train[held], dataset.y_train[held], latency_runs=1)
    test = measure.measure(path, dataset.x_test, dataset.y_test, latency_runs=1)
    result = {
        "validation_accuracy": validation["accuracy"],
        "test_accuracy": test["accuracy"],
        "file_bytes": file_bytes,
        "stored_size": metrics["stored_size"],
        "wall_time_s": metrics["wall_time_s"],
        "command": grid.command(cfg),
    }
    result_path.write_text(json.dumps(result, indent=2))
    return result


def _sized(dataset) -> list[Candidate]:
    """Every candidate that fits its budget, sized once (cached in sizing.json)."""
    cache_path = Path(FLAGS.out) / "sizing.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    fitting = []
    with tempfile.TemporaryDirectory() as folder:
        for budget in (int(b) for b in FLAGS.budgets):
            for method in FLAGS.methods:
                widths = [ARCH_HIDDEN] if method == "dense" else [int(h) for h in FLAGS.hidden]
                for dtype in FLAGS.dtypes:
                    for hidden in widths:
                        candidate = Candidate(method, dtype, hidden, budget)
                        key = candidate.name
                        if cache.get(key, {}).get("sizer") != SIZER:
                            if key in cache:
                                print(f"{key}: sized by another sizer, sizing again", flush=True)
                            fits = size(candidate, dataset, Path(folder))
                            cache[key] = {
                                "sizer": SIZER,
                                "fits": fits,
                                "hidden": candidate.hidden,
                                "compression": candidate.compression,
                                "file_bytes": candidate.file_bytes,
                            }
                            cache_path.parent.mkdir(parents=True, exist_ok=True)
                            cache_path.write_text(json.dumps(cache, indent=2))
                        entry = cache[key]
                        if entry["fits"]:
                            candidate.hidden = entry["hidden"]
                            candidate.compression = entry["compression"]
                            candidate.file_bytes = entry["file_bytes"]
                            fitting.append(candidate)
                        else:
                            print(f"{key}: nothing of this kind fits {budget:,} B", flush=True)
    return fitting


def main(argv):
    del argv
    seeds = [int(s) for s in FLAGS.seeds]
    candidates = _sized(_dataset(0))
    print(f"{len(candidates)} candidates fit their budgets; selecting with seed {seeds[0]}")
    rows = []
    for budget in (int(b) for b in FLAGS.budgets):
        for method in FLAGS.methods:
            pool = [c for c in candidates if c.budget == budget and c.method == method]
            if not pool:
                continue
            scores = [(scored(c, seeds[0]), c) for c in pool]
            for s, c in scores:
                if "error" in s:
                    print(f"{c.name}: not a choice, {s['error']}", flush=True)
            scores = [(s, c) for s, c in scores if "error" not in s]
            over = [c.name for s, c in scores if s["file_bytes"] > budget]
            if over:  # sized on untrained models; a trained one should not differ
                print(f"over the {budget:,} B budget after training, not chosen: {over}")
            scores = [(s, c) for s, c in scores if s["file_bytes"] <= budget]
            if not scores:
                continue
            best_score, best = max(scores, key=lambda s: s[0]["validation_accuracy"])
            runs = [best_score] + [scored(best, seed) for seed in seeds[1:]]
            for seed, run in zip(seeds, runs):
                if "error" in run:
                    print(f"{best.name} seed {seed}: left out, {run['error']}", flush=True)
            runs = [r for r in runs if "error" not in r]
            errors = [100 * (1 - r["test_accuracy"]) for r in runs]
            rows.append(
                {
                    "budget": budget,
                    "method": method,
                    "dtype": best.dtype,
                    "hidden_units": best.hidden,
                    "compression": best.compression,
                    "file_bytes": max(r["file_bytes"] for r in runs),
                    "validation_accuracy": best_score["validation_accuracy"],
                    **grid.error_spread(errors),
                    "candidates": len(pool),
                    "wall_time_s": sum(s["wall_time_s"] for s, _ in scores)
                    + sum(r["wall_time_s"] for r in runs[1:]),
                }
            )
    rows = grid.with_earlier(
        FLAGS.out, rows, ("budget", "method"), grid.flag_settings(FLAGS, SHARED), _order
    )
    header = (
        "| budget | method | chosen: weights, hidden units, compression | .tflite bytes | "
        "validation acc % (seed 0) | test error % (mean ± sd) | seeds | candidates | "
        "train time s |"
    )
    table = grid.write_results(
        FLAGS.out,
        rows,
        header,
        lambda r: (
            f"| {r['budget'] // 1024} KiB | {r['method']} | {r['dtype']}, {r['hidden_units']:,}, "
            f"{r['compression']:.4g} | {r['file_bytes']:,} | "
            f"{100 * r['validation_accuracy']:.2f} | {r['error_mean']:.2f} ± {r['error_sd']:.2f} | "
            f"{r['seeds']} | {r['candidates']} | {r['wall_time_s']:.0f} |"
        ),
    )
    plot(rows, Path(FLAGS.out) / "accuracy_vs_budget.png")
    print(table)
    print(f"wrote {FLAGS.out}/results.md, results.json, accuracy_vs_budget.png")


def _order(row):
    method = row["method"]
    return row["budget"], METHODS.index(method) if method in METHODS else len(METHODS)


def plot(rows, path):
    budgets = sorted({r["budget"] for r in rows})
    grid.errorbar_plot(
        path,
        {
            m: [
                (r["budget"] / 1024, r["error_mean"], r["error_sd"])
                for r in rows
                if r["method"] == m
            ]
            for m in dict.fromkeys(r["method"] for r in rows)
        },
        xlabel=".tflite budget (KiB)",
        xticks=([b / 1024 for b in budgets], [f"{b / 1024:g}" for b in budgets]),
        ylabel="test error % of the best fitting model",
        title=f"Best model per byte budget, {FLAGS.dataset}",
    )


if __name__ == "__main__":
    app.run(main)
