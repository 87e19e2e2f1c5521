"""The size-accuracy benchmark: every method, measured on its deployed ``.tflite``.

  python -m pipelines.benchmark --suite quick|paper|conv|full [--out results]

Runs a grid of models x methods x compression levels. Every cell's figures come
from the deployed artefact: accuracy computed by the TFLite interpreter (with
the hashed_keras kernels) on the whole test split, bytes from the file on disk
(and gzip -9 of it, the way tfmot reports its gains), batch-1 latency and the
peak memory of a fresh inference process. Each finished cell is a JSON file
``<out>/<suite>/<cell>.json`` and is skipped on the next run (resumable)
while it would be made the same way; a cell made with other settings (epochs,
seeds, data, a bigger tuning budget) is remade, retraining only the runs whose
settings changed. The trained models are kept under ``<out>/<suite>/train/``. Writes
``<out>/<suite>/results.md`` and three figures: ``accuracy_vs_bytes.png``,
``accuracy_vs_gzip.png`` and ``accuracy_vs_memory.png`` (accuracy against
file bytes, gzip bytes and peak inference memory, log scale, a fixed colour and
marker per method, each point labelled by its compression). Prints
``cell i of N (name), ~M min left`` as cells start (each cell left estimated by
the cells of its method run so far) and one line as each ends. The report
also holds the suite's cells finished by earlier commands with the same
settings (other ``--models``/``--methods``/``--compressions``), so a suite
completed across several commands reports as one;
``--verbose`` adds the per-epoch lines and TensorFlow's logs.

Suites (2-core CPU; durations measured or estimated as stated in the README):

* ``quick`` (< 10 min): mlp3 on 6,000 Fashion-MNIST images, 2 epochs, at 1/8
  and 1/64, every method that applies to an MLP.
* ``paper``: the HashedNets paper's table: mlp3 and mlp5, full Fashion-MNIST
  (or ``--dataset mnist --data_dir DIR``), 1/8 and 1/64: dense, small dense
  (NN), LRD, RER, DK, HashedNets, HashNetDK, plus int8 buckets, with the
  paper's recipe (``pipelines.train --recipe paper``: early stopping on a
  validation split, at most 100 epochs). Each cell's hyper-parameters are
  first searched with 16 trials (``hk_experiments.tuning``, on the first
  seed's validation split; ``<out>/paper/train/<cell>/tune/hparams.json``),
  then the cell is trained, deployed and measured with 3 seeds
  (``accuracy`` is their mean, ``accuracy_std`` the standard deviation). The
  distilled cells' teacher is the tuned dense cell of the same seed.
  ``results.md`` adds the paper's layout: our test error beside the paper's
  MNIST figure. ``--trials`` and ``--seeds`` override the budget and the
  seeds; a cell's seeds and its search are resumable one by one.
* ``conv``: LeNet and the small CNN, 5 epochs, 1/16 and 1/64: FreshNets,
  HashedNets, SMH, small dense, PTQ int8, tfmot pruning and clustering.
* ``full``: every method on mlp3, mlp5, cnn and lenet at 1/8, 1/16 and 1/64.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from pathlib import Path

from absl import app, flags

import pipelines
from benchmarks import grid
from hk_experiments import data, training

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Method:
    """How a method's cell is made.

    ``train``: the zoo method trained (None for tfmot, which trains in its own
    process); ``distill``: trained with the suite's dense model as teacher;
    ``export``: ``float`` (``lite.convert``), ``int8`` (``lite.convert`` with
    int8 shared variables), ``ptq`` (TFLite's post-training int8 of the dense
    model), ``prune`` / ``cluster`` (tfmot); ``compressed``: whether the
    compression level applies (dense and PTQ have one cell per model).
    """

    train: str | None
    export: str = "float"
    distill: bool = False
    compressed: bool = True


METHODS = {
    "dense": Method("dense", compressed=False),
    "ptq_int8": Method("dense", export="ptq", compressed=False),
    "small_dense": Method("small_dense"),
    "dk": Method("small_dense", distill=True),
    "lrd": Method("lrd"),
    "rer": Method("rer"),
    "hashed": Method("hashed"),
    "hashed_int8": Method("hashed", export="int8"),
    "hashed_dk": Method("hashed", distill=True),
    "freshnets": Method("freshnets"),
    "smh": Method("smh"),
    "smh_int8": Method("smh", export="int8"),
    "tfmot_prune": Method(None, export="prune"),
    "tfmot_cluster": Method(None, export="cluster"),
}

_MLP = [
    "dense",
    "small_dense",
    "lrd",
    "rer",
    "hashed",
    "hashed_int8",
    "hashed_dk",
    "smh",
    "smh_int8",
    "ptq_int8",
    "tfmot_prune",
    "tfmot_cluster",
]


# The HashedNets paper's table (Chen et al. 2015): test error % on MNIST of the
# 3-layer (mlp3) and 5-layer (mlp5) nets at 1/8 and 1/64, by method.
PAPER_COLUMNS = (
    ("rer", "RER"),
    ("lrd", "LRD"),
    ("small_dense", "NN"),
    ("dk", "DK"),
    ("hashed", "HashNet"),
    ("hashed_dk", "HashNetDK"),
)
PAPER_ERRORS = {
    ("mlp3", 8): (2.19, 1.89, 1.69, 1.71, 1.45, 1.43),
    ("mlp3", 64): (15.03, 28.99, 6.28, 6.32, 2.79, 2.65),
    ("mlp5", 8): (1.24, 1.77, 1.35, 1.26, 1.22, 1.29),
    ("mlp5", 64): (3.20, 28.11, 2.69, 2.16, 1.99, 1.92),
}


@dataclasses.dataclass(frozen=True)
class Suite:
    dataset: str
    models: tuple
    compressions: tuple
    methods: tuple
    epochs: int
    limit: int | None = None
    # The training recipe (pipelines.train --recipe); with trials > 0 each
    # cell's hyper-parameters are first searched with that many trials (on
    # the validation split, hk_experiments.tuning), and every cell is trained,
    # deployed and measured once per seed (mean and standard deviation).
    recipe: str = "adam"
    trials: int = 0
    seeds: int = 1


SUITES = {
    "quick": Suite("fashion_mnist", ("mlp3",), (1 / 8, 1 / 64), tuple(_MLP), epochs=2, limit=6000),
    "paper": Suite(
        "fashion_mnist",
        ("mlp3", "mlp5"),
        (1 / 8, 1 / 64),
        ("dense", "small_dense", "lrd", "rer", "dk", "hashed", "hashed_dk", "hashed_int8"),
        epochs=100,  # the cap: the paper recipe stops early on its validation split
        recipe="paper",
        trials=16,  # 8 left the searches apart by more than the methods (README)
        seeds=3,
    ),
    "conv": Suite(
        "fashion_mnist",
        ("lenet", "cnn"),
        (1 / 16, 1 / 64),
        (
            "dense",
            "small_dense",
            "hashed",
            "freshnets",
            "smh",
            "ptq_int8",
            "tfmot_prune",
            "tfmot_cluster",
        ),
        epochs=5,
    ),
    "full": Suite(
        "fashion_mnist",
        ("mlp3", "mlp5", "cnn", "lenet"),
        (1 / 8, 1 / 16, 1 / 64),
        tuple(METHODS),
        epochs=15,
    ),
}

flags.DEFINE_enum("suite", "quick", list(SUITES), "Which grid to run.")
flags.DEFINE_string("out", "results", "Output directory (one sub-directory per suite).")
flags.DEFINE_string("data_dir", None, "Directory of MNIST-format IDX files.")
flags.DEFINE_list("methods", None, "Run only these methods of the suite.")
flags.DEFINE_list("models", None, "Run only these models of the suite.")
flags.DEFINE_list(
    "compressions",
    None,
    "Run the compressed methods only at these levels (1/N: 1/8, 0.125, ...), not the suite's.",
)
flags.DEFINE_integer("epochs", None, "Override the suite's epochs.")
flags.DEFINE_enum("dataset", None, list(data.DATASETS), "Override the suite's data set.")
flags.DEFINE_integer("limit", None, "Override the suite's training-set limit (0: all).")
flags.DEFINE_integer("seed", 0, "Seed of every run (the first seed, with --seeds).")
flags.DEFINE_integer(
    "seeds", None, "Override the suite's number of seeds per cell (seed, seed + 1, ...)."
)
flags.DEFINE_integer(
    "trials",
    None,
    "Override the suite's tuning budget per cell (0: the recipe's defaults, no tuning).",
)
flags.DEFINE_float("temperature", 4.0, "Distillation temperature (dk, hashed_dk).")
flags.DEFINE_integer("num_threads", 1, "Interpreter threads for latency.")
flags.DEFINE_bool(
    "verbose", False, "Show each cell's model summary and per-epoch lines, and TensorFlow's logs."
)


def _label(c: float) -> str:
    return f"1/{round(1 / c)}"


def _tag(model: str, method: Method, c: float) -> str:
    return (
        f"{model}_{method.train}"
        + ("_dk" if method.distill else "")
        + (f"_{round(1 / c)}" if method.compressed else "")
    )


def _compressions(suite: Suite) -> tuple:
    """The suite's compression levels, or ``--compressions`` (``1/N`` or a fraction)."""
    if not FLAGS.compressions:
        return suite.compressions
    levels = []
    for text in FLAGS.compressions:
        try:
            num, _, den = text.partition("/")
            level = float(num) / float(den) if den else float(num)
        except (ValueError, ZeroDivisionError):
            level = 0.0
        # Cells are named by N = 1/level, so a level must be 1/N exactly.
        if not (0.0 < level < 1.0 and abs(1 / level - round(1 / level)) < 1e-9):
            raise app.UsageError(
                f"--compressions {text!r} is not a compression level: give 1/N with an "
                "integer N >= 2 (or its fraction), e.g. --compressions 1/8,1/64"
            )
        levels.append(level)
    return tuple(levels)


def _seeds(suite: Suite) -> list[int]:
    return list(range(FLAGS.seed, FLAGS.seed + (FLAGS.seeds or suite.seeds)))


def _base_config(
    suite: Suite, root: Path, model: str, method: Method, c: float, epochs: int, seed: int
) -> training.TrainConfig:
    """The cell's run for ``seed`` with the recipe's own settings (a distilled
    method's teacher: the dense cell of the same seed). Trains nothing."""
    train = root / "train" / _tag(model, method, c)
    cfg = training.TrainConfig.of_recipe(
        suite.recipe,
        model=model,
        method=method.train,
        compression=c,
        dataset=suite.dataset,
        data_dir=FLAGS.data_dir,
        limit=suite.limit,
        epochs=epochs,
        seed=seed,
        out=str(train if len(_seeds(suite)) == 1 else train / f"seed{seed}"),
        verbose=2 if FLAGS.verbose else 0,
    )
    if method.distill:
        teacher = _base_config(suite, root, model, METHODS["dense"], 1.0, epochs, seed)
        cfg.distill_from = str(Path(teacher.out) / "model.keras")
        cfg.temperature = FLAGS.temperature
    return cfg


def _train_config(
    suite: Suite,
    root: Path,
    model: str,
    method: Method,
    c: float,
    epochs: int,
    seed: int,
    prepare: bool = True,
) -> training.TrainConfig | None:
    """The cell's run for ``seed``: with a tuning budget, with the settings that
    a search on the first seed's run chose (in ``train/<cell>/tune``).

    With ``prepare`` the search is run first if it is not finished for the
    budget (resumable), and a distilled method's teacher is trained; without,
    nothing is run: None if the search is not finished for the budget.
    """
    if prepare and method.distill:
        for teacher_seed in {FLAGS.seed, seed}:  # the search's teacher, the run's
            teacher = _train_config(suite, root, model, METHODS["dense"], 1.0, epochs, teacher_seed)
            grid.train_cell(teacher, _plan(teacher, suite, root, model, epochs), _made)
    cfg = _base_config(suite, root, model, method, c, epochs, seed)
    trials = suite.trials if FLAGS.trials is None else FLAGS.trials
    if not trials:
        return cfg
    from hk_experiments import tuning

    tune = dataclasses.replace(
        _base_config(suite, root, model, method, c, epochs, FLAGS.seed),
        out=str(root / "train" / _tag(model, method, c) / "tune"),
    )
    path = Path(tune.out) / "hparams.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    if saved.get("trials", 0) < trials or saved.get("tuned_for") != tuning.search_settings(tune):
        if not prepare:
            return None
        print(f"  tuning {_tag(model, method, c)}: {trials} trials", flush=True)
        saved = tuning.tune(tune, trials)
    return dataclasses.replace(cfg, **saved["settings"])


def _hparams(root: Path, model: str, method: Method, c: float) -> Path | None:
    """The cell's ``hparams.json``, if it was tuned."""
    path = root / "train" / _tag(model, method, c) / "tune" / "hparams.json"
    return path if path.exists() else None


def _plan(cfg, suite: Suite, root: Path, model: str, epochs: int) -> dict | None:
    """How a training run is to be made: its settings and, distilled, its
    teacher: the teacher's plan and its trained model's test accuracy (None
    while a search it depends on is unfinished)."""
    if cfg is None:
        return None
    plan = grid.settings(dataclasses.asdict(cfg))
    if cfg.distill_from is not None:
        teacher = _train_config(
            suite, root, model, METHODS["dense"], 1.0, epochs, cfg.seed, prepare=False
        )
        plan["teacher"] = {
            "plan": _plan(teacher, suite, root, model, epochs),
            "test_accuracy": _test_accuracy(Path(cfg.distill_from).parent / "metrics.json"),
        }
    return plan


def _test_accuracy(metrics: Path) -> float | None:
    """A trained model's test accuracy, as a distilled run records its
    teacher's (4 decimals); it tells a retrained teacher from the one learnt."""
    if not metrics.is_file():
        return None
    return round(json.loads(metrics.read_text())["test_accuracy"], 4)


def _made(train_dir: str | None) -> dict | None:
    """How the finished training run in ``train_dir`` was made, in the form of
    :func:`_plan` (its teacher's settings: the teacher run's now)."""
    path = Path(train_dir) / "metrics.json" if train_dir else None
    if path is None or not path.is_file():
        return None
    metrics = json.loads(path.read_text())
    made = grid.settings(metrics["config"])
    distillation = metrics.get("distillation")
    if distillation:
        teacher = Path(distillation["teacher"]).parent / "metrics.json"
        made["teacher"] = {
            "plan": grid.settings(json.loads(teacher.read_text())["config"])
            if teacher.is_file()
            else None,
            "test_accuracy": round(distillation["teacher_test_accuracy"], 4),
        }
    return made


def _export(method: Method, cfg: training.TrainConfig, cell_dir: Path, dataset) -> dict:
    """Writes the cell's .tflite from its trained model; returns what it knows of it.

    Raises:
      grid.Diverged: the model's weights are not finite.
    """
    import keras
    import numpy as np

    from hashed_keras import layers, lite, smh  # noqa: F401  (register the layers for loading)

    model = keras.models.load_model(Path(cfg.out) / "model.keras")
    grid.check_finite(model, cfg)
    path = cell_dir / "model.tflite"
    if method.export == "ptq":
        from hk_experiments.baselines import ptq

        ptq.convert_int8(model, path, np.asarray(dataset.x_train[:500], np.float32))
        return {"path": str(path), "stored_bytes": None}
    report = lite.convert(
        model,
        path,
        shared_dtype="int8" if method.export == "int8" else "float32",
        sample_inputs=np.asarray(dataset.x_test[:64], np.float32),
    )
    return {"path": str(path), "stored_bytes": report.stored_bytes}


def _tfmot_params(method: Method, suite: Suite, c: float, epochs: int, seed: int) -> dict:
    """The tfmot worker's flags for a cell's seed."""
    params = {"epochs": epochs, "seed": seed}
    if suite.limit:
        params["limit"] = suite.limit
    if FLAGS.data_dir:
        params["data_dir"] = FLAGS.data_dir
    if method.export == "prune":
        params["sparsity"] = 1.0 - c
    else:  # as many bits per weight as the compression leaves of 32: 1/8 -> 16 clusters
        params["clusters"] = max(2, round(2 ** (32 * c)))
    return params


def _tfmot(
    method: Method, suite: Suite, model: str, c: float, epochs: int, seed: int, cell_dir: Path
) -> dict:
    from hk_experiments.baselines.tfmot import run_tfmot

    params = _tfmot_params(method, suite, c, epochs, seed)
    metrics = run_tfmot(
        model,
        method.export,
        suite.dataset,
        cell_dir,
        reuse=True,
        log=print if FLAGS.verbose else None,
        **params,
    )
    return {
        "path": str(cell_dir / "model.tflite"),
        "stored_bytes": None,
        "command": " ".join(metrics.get("command", []))
        if isinstance(metrics.get("command"), list)
        else metrics.get("command"),
        "tfmot": {k: metrics[k] for k in ("sparsity", "clusters") if k in metrics},
    }


def cell_name(model: str, name: str, c: float) -> str:
    return f"{model}_{name}" + (f"_{round(1 / c)}" if METHODS[name].compressed else "")


def _seed_dir(root: Path, cell: str, seeds: list[int], seed: int) -> Path:
    return root / "cells" / cell if len(seeds) == 1 else root / "cells" / cell / f"seed{seed}"


def _made_with(method: Method, suite, root, model, c, epochs, seed, cfg) -> dict | None:
    """How a cell's seed is made: its training run's :func:`_plan` (``cfg``;
    None while its search is unfinished), or the tfmot worker's flags."""
    if method.train is None:
        params = _tfmot_params(method, suite, c, epochs, seed)
        return {"tfmot": method.export, "model": model, "dataset": suite.dataset, **params}
    return _plan(cfg, suite, root, model, epochs)


def _recorded(record: dict, train_dir: str | None) -> dict | None:
    """How a seed's result was made: its record, or (a result from before
    records were kept) how the training run it was made from was made."""
    return record["made_with"] if "made_with" in record else _made(train_dir)


def _run_seed(
    suite: Suite, root: Path, model: str, name: str, c: float, seed: int, out: Path, dataset
):
    """One seed of a cell: trains (or reads), exports, measures in a fresh
    process; the result is kept in ``out/seed.json`` and reused while the seed
    would be made the same way (same training settings, or tfmot flags)."""
    from hk_experiments import measure

    method = METHODS[name]
    epochs = FLAGS.epochs or suite.epochs
    cfg = None
    if method.train is not None:
        cfg = _train_config(suite, root, model, method, c, epochs, seed)
    made_with = _made_with(method, suite, root, model, c, epochs, seed, cfg)
    done = out / "seed.json"
    if done.exists():
        record = json.loads(done.read_text())
        before = _recorded(record, cfg and cfg.out)
        if before == made_with:
            if "made_with" not in record:  # made before records were kept
                record["made_with"] = made_with
                done.write_text(json.dumps(record, indent=2))
            return record
        print(f"  redoing {out}: {grid.differences(before, made_with)}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    if cfg is None:
        exported = _tfmot(method, suite, model, c, epochs, seed, out)
        trained = {}
    else:
        trained = grid.train_cell(cfg, made_with, _made)
        exported = _export(method, cfg, out, dataset)
        exported["command"] = grid.command(cfg, _hparams(root, model, method, c))
    measured = measure.measure_in_fresh_process(
        exported["path"],
        suite.dataset,
        FLAGS.data_dir,
        num_threads=FLAGS.num_threads,
        latency_runs=50,
    )
    result = {
        **{k: measured[k] for k in MEASURED},
        "stored_bytes": exported["stored_bytes"],
        "keras_accuracy": trained.get("test_accuracy"),
        "validation_accuracy": (trained.get("validation") or {}).get("accuracy"),
        "stored_size": trained.get("stored_size"),
        "train_command": exported.get("command"),
        **({"tfmot": exported["tfmot"]} if "tfmot" in exported else {}),
        "made_with": made_with,
    }
    done.write_text(json.dumps(result, indent=2))
    return result


def current_cell(suite: Suite, root: Path, model: str, name: str, c: float) -> dict | None:
    """The cell's finished result if it was made as it would be made now (the
    same seeds, each with the same training settings: tuning budget, epochs,
    data, ...); None if it is to be made or remade. Runs nothing."""
    cell = cell_name(model, name, c)
    path = root / f"{cell}.json"
    if not path.exists():
        return None
    result = json.loads(path.read_text())
    method, seeds = METHODS[name], _seeds(suite)
    if result.get("seeds", seeds) != seeds:
        return None
    epochs = FLAGS.epochs or suite.epochs
    for i, seed in enumerate(seeds):
        cfg = None
        if method.train is not None:
            cfg = _train_config(suite, root, model, method, c, epochs, seed, prepare=False)
        now = _made_with(method, suite, root, model, c, epochs, seed, cfg)
        if "made_with" in result:
            before = result["made_with"][i]
        else:  # made before records were kept: its seeds' records
            record = _seed_dir(root, cell, seeds, seed) / "seed.json"
            if not record.is_file():
                return None
            before = _recorded(json.loads(record.read_text()), cfg and cfg.out)
        if now is None or before != now:
            return None
    return result


# What a cell reports of each seed's deployed file (from measure_in_fresh_process).
MEASURED = (
    "accuracy",
    "file_bytes",
    "gzip_bytes",
    "latency_ms_median",
    "peak_rss_bytes",
    "peak_rss_over_baseline_bytes",
)


def run_cell(
    suite_name: str, suite: Suite, root: Path, model: str, name: str, c: float, dataset
) -> dict:
    """Makes (or reads) one cell: every seed trained, exported and measured.

    ``accuracy`` is the mean over the seeds (``accuracy_std`` their sample
    standard deviation, ``accuracy_per_seed`` each); the sizes, latency and
    memory are the first seed's (the seeds' files differ only in values).
    """
    method = METHODS[name]
    cell = cell_name(model, name, c)
    result_path = root / f"{cell}.json"
    if (done := current_cell(suite, root, model, name, c)) is not None:
        return done
    if result_path.exists():
        print(f"  {cell}: made before with other seeds or settings; redoing what changed")
    start = time.time()
    seeds = _seeds(suite)
    runs, diverged = [], []
    for seed in seeds:
        seed_dir = _seed_dir(root, cell, seeds, seed)
        try:
            runs.append(_run_seed(suite, root, model, name, c, seed, seed_dir, dataset))
        except grid.Diverged as error:
            diverged.append(error)
    if diverged:
        cfg = diverged[0].config
        raise grid.Diverged(
            f"training diverged for {len(diverged)} of {len(seeds)} seeds "
            f"({'; '.join(map(str, diverged))}) at {grid.rates(cfg)}"
            ": tune the cell (--trials N) or lower its learning rate",
            cfg,
        )
    accuracies = [r["accuracy"] for r in runs]
    first = runs[0]
    result = {
        "suite": suite_name,
        "model": model,
        "method": name,
        "compression": c if method.compressed else 1.0,
        **first,
        "accuracy": statistics.fmean(accuracies),
        "accuracy_std": statistics.stdev(accuracies) if len(runs) > 1 else 0.0,
        "accuracy_per_seed": accuracies,
        "seeds": seeds,
        "keras_accuracy": _mean(r["keras_accuracy"] for r in runs),
        "validation_accuracy": _mean(r["validation_accuracy"] for r in runs),
        "recipe": suite.recipe,
        "hparams": str(_hparams(root, model, method, c) or "") or None,
        "wall_seconds": time.time() - start,
        "made_with": [r["made_with"] for r in runs],
    }
    result_path.write_text(json.dumps(result, indent=2))
    print(
        f"  accuracy {_percent(result)} % (interpreter), {result['file_bytes']:,} B "
        f"({result['gzip_bytes']:,} B gzipped), {result['wall_seconds']:.0f} s",
        flush=True,
    )
    return result


def _mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def _percent(row, error: bool = False) -> str:
    """The cell's accuracy (or error) in %, ``mean ± std`` over several seeds."""
    value = 100 * (1 - row["accuracy"]) if error else 100 * row["accuracy"]
    if len(row.get("seeds", [0])) < 2:
        return f"{value:.2f}"
    return f"{value:.2f} ± {100 * row['accuracy_std']:.2f}"


def paper_table(rows, diverged=()) -> str:
    """The HashedNets paper's table layout: test error % of our deployed files
    (mean ± std over the seeds), the paper's MNIST figure in brackets;
    ``diverged``: the names of the cells left out because training diverged."""
    lines = [
        "| model | compression | " + " | ".join(label for _, label in PAPER_COLUMNS) + " |",
        "|---|---|" + "---|" * len(PAPER_COLUMNS),
    ]
    found = {(r["model"], r["method"], round(1 / r["compression"])): r for r in rows}
    for (model, inverse), paper in PAPER_ERRORS.items():
        cells = [found.get((model, method, inverse)) for method, _ in PAPER_COLUMNS]
        gone = [cell_name(model, method, 1 / inverse) in diverged for method, _ in PAPER_COLUMNS]
        if not any(cells) and not any(gone):
            continue
        text = [
            (_percent(row, error=True) if row else "diverged" if lost else "—") + f" ({figure:.2f})"
            for row, lost, figure in zip(cells, gone, paper)
        ]
        lines.append(f"| {model} | 1/{inverse} | " + " | ".join(text) + " |")
    return "\n".join(lines) if len(lines) > 2 else ""


def cell_minutes(rows) -> str:
    """How long each cell took: every seed trained, deployed and measured, its
    search and a distilled cell's teacher included when that sitting ran them."""
    return (
        "Minutes per cell (all seeds, as timed by the sitting that finished it): "
        + ", ".join(
            f"{cell_name(r['model'], r['method'], r['compression'])} {r['wall_seconds'] / 60:.1f}"
            for r in rows
        )
        + "."
    )


def table(rows) -> str:
    lines = [
        "| model | method | compression | .tflite accuracy % | file bytes | gzip bytes | "
        "latency ms | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["model"], -r["compression"], r["method"])):
        label = "1" if r["compression"] == 1.0 else _label(r["compression"])
        lines.append(
            f"| {r['model']} | {r['method']} | {label} | {_percent(r)} | "
            f"{r['file_bytes']:,} | {r['gzip_bytes']:,} | "
            f"{r['latency_ms_median']:.3f} | "
            f"{r['peak_rss_over_baseline_bytes'] / 2**20:.1f} |"
        )
    return "\n".join(lines)


# A fixed colour and marker per method, the same in every suite and figure.
STYLES = {
    "dense": ("#000000", "s"),
    "ptq_int8": ("#7f7f7f", "D"),
    "small_dense": ("#8c564b", "v"),
    "dk": ("#bcbd22", "^"),
    "lrd": ("#9467bd", "<"),
    "rer": ("#e377c2", ">"),
    "hashed": ("#1f77b4", "o"),
    "hashed_int8": ("#17becf", "h"),
    "hashed_dk": ("#0b2a6f", "p"),
    "freshnets": ("#b8860b", "*"),
    "smh": ("#2ca02c", "P"),
    "smh_int8": ("#7fbf3f", "X"),
    "tfmot_prune": ("#ff7f0e", "d"),
    "tfmot_cluster": ("#d62728", "8"),
}

DESCRIPTIONS = {
    "dense": "dense (uncompressed)",
    "ptq_int8": "ptq_int8: TFLite int8 of dense",
    "small_dense": "small_dense: narrower dense net",
    "dk": "dk: small dense, distilled",
    "lrd": "lrd: low-rank factors",
    "rer": "rer: random edge removal",
    "hashed": "hashed: HashedNets",
    "hashed_int8": "hashed_int8: int8 buckets",
    "hashed_dk": "hashed_dk: HashNetDK",
    "freshnets": "freshnets: FreshNets",
    "smh": "smh: SMH",
    "smh_int8": "smh_int8: int8 factors",
    "tfmot_prune": "tfmot_prune: magnitude pruning",
    "tfmot_cluster": "tfmot_cluster: weight clustering",
}

# The figures: (row field, file name, x-axis label, tick unit).
FIGURES = (
    ("file_bytes", "accuracy_vs_bytes.png", ".tflite file size (log scale)", "bytes"),
    ("gzip_bytes", "accuracy_vs_gzip.png", "gzip -9 of the .tflite (log scale)", "bytes"),
    (
        "peak_rss_over_baseline_bytes",
        "accuracy_vs_memory.png",
        "peak memory of the inference process over its baseline, RSS (log scale)",
        "MiB",
    ),
)

_BAND = 12.0  # accuracy points below the dense model that the y-axis shows
_MARKER = 8.0  # marker size, points


def _compression_label(row) -> str:
    """``1/8``, ``1/64``; the uncompressed cells (dense, ptq_int8): their method."""
    return row["method"] if row["compression"] == 1.0 else _label(row["compression"])


def y_band(accuracies, reference=None, band: float = _BAND) -> tuple[float, float]:
    """The y-range (accuracy %) worth looking at: from ``band`` points below the
    reference (the dense model's accuracy; the median without one) to just
    above the best; without points below that, from just under the worst."""
    import statistics

    accuracies = list(accuracies)
    top = max(accuracies) + 1.0
    ref = statistics.median(accuracies) if reference is None else reference
    low = ref - band
    if min(accuracies) >= low:
        return min(accuracies) - 1.0, top
    return float(int(low)), top


def _ticks(lo: float, hi: float, unit: str):
    import math

    scale = 2**20 if unit == "MiB" else 1.0
    decades = math.log10(hi / lo)
    steps = (
        (1, 2, 5)
        if decades > 1.2
        else (1, 1.5, 2, 3, 4, 5, 6, 8)
        if decades > 0.6
        else (1, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 9)
    )
    ticks = [m * 10**k * scale for k in range(-3, 10) for m in steps]
    ticks = [t for t in ticks if lo <= t <= hi]

    def fmt(v, _pos=None):
        if unit == "MiB":
            return f"{v / scale:g} MiB"
        if v >= 1e6:
            return f"{v / 1e6:g} MB"
        return f"{v / 1e3:g} kB" if v >= 1e3 else f"{v:g} B"

    return ticks, fmt


def _dodge(ax, points, diameter: float) -> None:
    """Moves markers that would overlap sideways (beeswarm), in place:
    ``points``: dicts with ``x``, ``y`` (data); adds ``dx`` (data x drawn)."""
    import numpy as np

    trans = ax.transData
    placed = []
    order = sorted(range(len(points)), key=lambda i: (points[i]["x"], -points[i]["y"]))
    for i in order:
        px, py = trans.transform((points[i]["x"], points[i]["y"]))
        for k in (0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7):
            cx = px + k * 0.6 * diameter
            if all((cx - qx) ** 2 + (py - qy) ** 2 >= diameter**2 for qx, qy in placed):
                break
        placed.append((cx, py))
        points[i]["dx"] = float(trans.inverted().transform((cx, py))[0])
        points[i]["px"] = np.array([cx, py])


def _place_labels(ax, points, renderer, diameter: float, obstacles) -> list:
    """Writes each point's label next to it where it overlaps no marker, no
    other label and stays inside the axes (greedy, crowded points first);
    far placements get a leader line. Returns the annotations."""
    boxes = list(obstacles)
    r = diameter / 2
    for p in points:
        boxes.append((p["px"][0] - r, p["px"][1] - r, p["px"][0] + r, p["px"][1] + r))
    frame = ax.bbox

    def overlap(box):
        total = 0.0
        for b in boxes:
            w = min(box[2], b[2]) - max(box[0], b[0])
            h = min(box[3], b[3]) - max(box[1], b[1])
            if w > 0 and h > 0:
                total += w * h
        outside = box[0] < frame.x0 or box[2] > frame.x1 or box[1] < frame.y0 or box[3] > frame.y1
        return total + (1e9 if outside else 0.0)

    def crowd(p):
        return -sum(
            1
            for q in points
            if q is not p
            and abs(q["px"][0] - p["px"][0]) < 4 * diameter
            and abs(q["px"][1] - p["px"][1]) < 2 * diameter
        )

    annotations = []
    for p in sorted((p for p in points if p["text"]), key=crowd):
        probe = ax.text(0, 0, p["text"], fontsize=p["fontsize"])
        extent = probe.get_window_extent(renderer)
        probe.remove()
        w, h = extent.width, extent.height
        best = None
        for distance in (1.0, 2.2, 3.6, 5.0):
            g = r * distance + 2
            for ux, uy in (
                (1, 0),
                (-1, 0),
                (0.7, 0.7),
                (0.7, -0.7),
                (0, 1),
                (0, -1),
                (-0.7, 0.7),
                (-0.7, -0.7),
            ):
                cx, cy = p["px"][0] + ux * g, p["px"][1] + uy * g
                x0 = cx if ux > 0 else cx - w if ux < 0 else cx - w / 2
                y0 = cy if uy > 0 else cy - h if uy < 0 else cy - h / 2
                box = (x0, y0, x0 + w, y0 + h)
                score = overlap(box)
                if best is None or score < best[0]:
                    best = (score, box, distance)
                if score == 0:
                    break
            if best[0] == 0:
                break
        _, box, distance = best
        boxes.append(box)
        center = ((box[0] + box[2]) / 2 - p["px"][0], (box[1] + box[3]) / 2 - p["px"][1])
        annotations.append(
            ax.annotate(
                p["text"],
                xy=(p["dx"], p["y"]),
                xytext=center,
                textcoords="offset pixels",
                ha="center",
                va="center",
                fontsize=p["fontsize"],
                color=p["color"],
                arrowprops=dict(
                    arrowstyle="-", color=p["color"], lw=0.6, alpha=0.7, shrinkA=0, shrinkB=r
                )
                if distance > 1.0
                else None,
            )
        )
    return annotations


def figure(rows, field: str, xlabel: str, unit: str, title: str, command: str):
    """One figure of accuracy against ``field`` (log x), one panel per model."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker
    from matplotlib.lines import Line2D

    models = sorted({r["model"] for r in rows})
    dpi = 110
    fig, axes = plt.subplots(
        1, len(models), figsize=(4.0 + 7.0 * len(models), 6.6), dpi=dpi, sharey=True, squeeze=False
    )
    fig.subplots_adjust(
        left=0.07 / len(models) ** 0.5,
        right=1 - 3.3 / fig.get_figwidth(),
        bottom=0.16,
        top=0.84,
        wspace=0.08,
    )
    diameter = _MARKER * dpi / 72
    present = [m for m in METHODS if any(r["method"] == m for r in rows)]
    dense = [100 * r["accuracy"] for r in rows if r["method"] == "dense"]
    low, top = y_band([100 * r["accuracy"] for r in rows], max(dense) if dense else None)
    bottom = low - 0.06 * (top - low)
    renderer = fig.canvas.get_renderer()
    for ax, model in zip(axes[0], models):
        cells = [r for r in rows if r["model"] == model and r.get(field)]
        xs = [r[field] for r in cells]
        pad = 10 ** max(0.06, 0.08 * math.log10(max(xs) / min(xs)))
        lo, hi = min(xs) / pad, max(xs) * pad
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(bottom, top)
        ticks, fmt = _ticks(lo, hi, unit)
        ax.xaxis.set_major_locator(ticker.FixedLocator(ticks))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(fmt))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.grid(True, which="major", alpha=0.35)
        ax.grid(True, which="minor", axis="x", alpha=0.12)
        ax.set_xlabel(xlabel)
        if len(models) > 1:
            ax.set_title(model)
        # Below the band: a grey strip where those points sit at the edge.
        ax.axhspan(bottom, low, color="0.9", zorder=0)
        obstacles = []
        model_dense = [100 * r["accuracy"] for r in cells if r["method"] == "dense"]
        if model_dense:
            ax.axhline(model_dense[0], color="black", lw=0.8, ls=":", zorder=1)
            t = ax.text(
                0.005,
                model_dense[0],
                f" dense {model_dense[0]:.2f}%",
                transform=ax.get_yaxis_transform(),
                ha="left",
                va="bottom",
                fontsize=7,
            )
            e = t.get_window_extent(renderer)
            obstacles.append((e.x0, e.y0, e.x1, e.y1))
            line_y = ax.transData.transform((lo, model_dense[0]))[1]
            obstacles.append((ax.bbox.x0, line_y - 1.5, ax.bbox.x1, line_y + 1.5))
        points = []
        for r in cells:
            color, marker = STYLES.get(r["method"], ("#555555", "o"))
            accuracy = 100 * r["accuracy"]
            clamped = accuracy < low
            text = _compression_label(r)
            if clamped:
                text = (text + " " if text else "") + f"\u2193{accuracy:.1f}%"
            points.append(
                {
                    "row": r,
                    "x": r[field],
                    "y": (bottom + low) / 2 if clamped else accuracy,
                    "clamped": clamped,
                    "text": text,
                    "color": color,
                    "marker": marker,
                    "fontsize": 7.5 if clamped else 7,
                }
            )
        _dodge(ax, points, diameter * 1.05)
        for name in present:
            mine = sorted((p for p in points if p["row"]["method"] == name), key=lambda p: p["x"])
            if not mine:
                continue
            color, marker = STYLES.get(name, ("#555555", "o"))
            # A line joins a method's levels where they differ in x; points
            # stacked at one x (a dense-layout file, the memory floor) need none.
            for p, q in zip(mine, mine[1:]):
                if abs(q["px"][0] - p["px"][0]) > 3 * diameter:
                    ax.plot(
                        [p["dx"], q["dx"]],
                        [p["y"], q["y"]],
                        color=color,
                        lw=1.0,
                        alpha=0.45,
                        zorder=2,
                    )
            for p in mine:
                ax.plot(
                    [p["dx"]],
                    [p["y"]],
                    marker=marker,
                    color=color,
                    ms=_MARKER,
                    mec="white" if not p["clamped"] else color,
                    mew=0.6,
                    mfc=color if not p["clamped"] else "white",
                    ls="none",
                    zorder=3,
                )
        _place_labels(ax, points, renderer, diameter, obstacles)
    # The strip's tick says what it holds.
    yticks = [t for t in axes[0][0].get_yticks() if low < t <= top]
    axes[0][0].yaxis.set_major_locator(ticker.FixedLocator(yticks + [(bottom + low) / 2]))
    axes[0][0].yaxis.set_major_formatter(
        ticker.FuncFormatter(lambda v, _pos: f"< {low:g}" if v < low else f"{v:g}")
    )
    axes[0][0].set_ylabel("test accuracy % (TFLite interpreter, whole test split)")
    handles = [
        Line2D(
            [],
            [],
            color=STYLES.get(m, ("#555555", "o"))[0],
            marker=STYLES.get(m, ("#555555", "o"))[1],
            ms=_MARKER,
            mec="white",
            mew=0.6,
            lw=1.0,
            label=DESCRIPTIONS.get(m, m),
        )
        for m in present
    ]
    fig.legend(
        handles=handles,
        loc="upper left",
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(1 - 3.2 / fig.get_figwidth(), 0.84),
        title="method",
        title_fontsize=8,
        alignment="left",
    )
    fig.suptitle(title, fontsize=11.5, y=0.985, va="top", linespacing=1.5)
    fig.text(0.5, 0.875, command, ha="center", fontsize=8.5, family="monospace", color="0.25")
    fig.text(
        0.01,
        0.015,
        "Labels: compression (stored / dense parameters). Markers at (nearly) the same "
        "x are dodged sideways; exact figures in results.md. Grey strip, hollow "
        f"markers: accuracy below {low:g}%, written next to them.",
        fontsize=7,
        color="0.3",
    )
    return fig


def plot(rows, out_dir: Path, about: str, command: str) -> list[Path]:
    """Writes accuracy against file bytes, gzip bytes and peak inference
    memory (log x, one colour and marker per method, each point labelled by its
    compression) to ``out_dir``; returns the paths."""
    import matplotlib.pyplot as plt

    paths = []
    for field, name, xlabel, unit in FIGURES:
        if not any(r.get(field) for r in rows):
            continue
        what = {
            "file_bytes": ".tflite file size",
            "gzip_bytes": "gzipped .tflite size",
            "peak_rss_over_baseline_bytes": "peak inference memory",
        }[field]
        fig = figure(rows, field, xlabel, unit, f"Accuracy vs {what}\n{about}", command)
        path = Path(out_dir) / name
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def _earlier_cells(suite: Suite, root: Path, models, methods, asked: set) -> list[dict]:
    """The finished cells of ``root`` that this command did not ask for (other
    models, methods or levels of the suite, or of the command) and that were
    made as they would be made now (:func:`current_cell`), so a suite completed
    across several commands reports as one. Runs nothing."""
    levels = dict.fromkeys([*suite.compressions, *_compressions(suite)])
    found = []
    for model in dict.fromkeys([*models, *suite.models]):
        for name in dict.fromkeys([*methods, *suite.methods]):
            for c in levels if METHODS[name].compressed else (1.0,):
                if cell_name(model, name, c) in asked:
                    continue
                if (done := current_cell(suite, root, model, name, c)) is not None:
                    found.append(done)
    return found


def _command() -> str:
    parts = [f"python -m pipelines.benchmark --suite {FLAGS.suite}"]
    names = ("dataset", "limit", "epochs", "seeds", "trials", "models", "methods", "compressions")
    for name in (*names, "out"):
        value = getattr(FLAGS, name)
        if value is not None and not (name == "out" and value == "results"):
            parts.append(f"--{name} {','.join(value) if isinstance(value, list) else value}")
    return " ".join(parts)


DATASET_NAMES = {
    "fashion_mnist": "Fashion-MNIST",
    "mnist": "MNIST",
    "digits": "scikit-learn digits",
}


def about(suite: Suite, models, epochs: int, seeds, trials: int = 0) -> str:
    """What was run, for titles: models, data, recipe, epochs, seeds."""
    return (
        f"{', '.join(models)} on {DATASET_NAMES.get(suite.dataset, suite.dataset)}"
        + (f" (first {suite.limit:,} training images)" if suite.limit else "")
        + (f", recipe {suite.recipe}" if suite.recipe != "adam" else "")
        + (f" tuned with {trials} trials per cell" if trials else "")
        + (" (its defaults, untuned)" if suite.recipe != "adam" and not trials else "")
        + (f", at most {epochs} epochs" if suite.recipe == "paper" else f", {epochs} epochs")
        + (f", seed {seeds[0]}" if len(seeds) == 1 else f", mean of seeds {seeds[0]}-{seeds[-1]}")
    )


def main(argv):
    del argv

    suite = SUITES[FLAGS.suite]
    if FLAGS.dataset or FLAGS.limit is not None:
        suite = dataclasses.replace(
            suite,
            dataset=FLAGS.dataset or suite.dataset,
            limit=suite.limit if FLAGS.limit is None else (FLAGS.limit or None),
        )
    methods = FLAGS.methods or list(suite.methods)
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise app.UsageError(f"unknown methods {unknown}; known: {sorted(METHODS)}")
    dataset = data.load_or_exit(suite.dataset, FLAGS.data_dir)
    root = Path(FLAGS.out) / FLAGS.suite
    root.mkdir(parents=True, exist_ok=True)
    models = FLAGS.models or list(suite.models)
    cells = [
        (model, name, c)
        for model in models
        for name in methods
        for c in (_compressions(suite) if METHODS[name].compressed else (1.0,))
    ]
    names = [cell_name(*cell) for cell in cells]
    method_of = {n: name for n, (_, name, _) in zip(names, cells)}
    progress = grid.Progress(
        names,
        done=[n for n, cell in zip(names, cells) if current_cell(suite, root, *cell) is not None],
        kind=method_of.get,
        out=lambda line: print(line, flush=True),
    )
    print(f"{FLAGS.suite}: {progress.summary(str(root))}", flush=True)
    start = time.time()
    rows, left_out = [], {}
    for (model, name, c), cell in zip(cells, names):
        if cell not in progress.done:
            progress.start(cell)
        with pipelines.stderr_shown_on_failure(quiet=not FLAGS.verbose):
            try:
                rows.append(run_cell(FLAGS.suite, suite, root, model, name, c, dataset))
            except grid.Diverged as error:
                left_out[cell] = str(error)
                print(f"  {cell}: left out: {error}", flush=True)
        if cell not in progress.done:
            progress.finish(cell)
    earlier = _earlier_cells(suite, root, models, methods, set(names))
    if earlier:
        print(
            f"results: {len(earlier)} cell(s) made earlier with these settings kept: "
            + ", ".join(cell_name(r["model"], r["method"], r["compression"]) for r in earlier),
            flush=True,
        )
        rows += earlier
        models = list(dict.fromkeys([*models, *(r["model"] for r in earlier)]))
    text = table(rows)
    if left_out:
        text += "\n\n" + grid.left_out_note(f"{cell}: {why}" for cell, why in left_out.items())
    epochs = FLAGS.epochs or suite.epochs
    trials = suite.trials if FLAGS.trials is None else FLAGS.trials
    described = about(suite, models, epochs, _seeds(suite), trials)
    header = f"Suite `{FLAGS.suite}` ({described}): `{_command()}`\n\n"
    if earlier:
        header += (
            f"With {len(earlier)} cell(s) made by earlier commands with the same settings "
            "(read back, as the command without --models/--methods/--compressions reads "
            "them).\n\n"
        )
    paper = paper_table(rows, left_out)
    if paper:
        text += (
            "\n\nIn the HashedNets paper's layout: test error % of the deployed .tflite"
            + (" (mean ± standard deviation over the seeds)" if len(_seeds(suite)) > 1 else "")
            + "; in brackets the paper's MNIST figure.\n\n"
            + paper
            + ("\n\n" + cell_minutes(rows) if rows else "")
        )
    (root / "results.md").write_text(header + text + "\n")
    paths = plot(rows, root, described, _command())
    print("\n" + header + text)
    print(
        "\nwrote "
        + ", ".join([str(root / "results.md"), *(p.name for p in paths)])
        + f" ({time.time() - start:.0f} s this run)"
    )


if __name__ == "__main__":
    app.run(main)
