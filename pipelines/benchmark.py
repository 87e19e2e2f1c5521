"""The size-accuracy benchmark: every method, measured on its deployed ``.tflite``.

  python -m pipelines.benchmark --suite quick|paper|conv|full [--out results]

Runs a grid of models x methods x compression levels. Every cell's figures come
from the deployed artefact: accuracy computed by the TFLite interpreter (with
the hashed_keras kernels) on the whole test split, bytes from the file on disk
(and gzip -9 of it, the way tfmot reports its gains), batch-1 latency and the
peak memory of a fresh inference process. Each finished cell is a JSON file
``<out>/<suite>/<cell>.json`` and is skipped on the next run (resumable); the
trained models are kept under ``<out>/<suite>/train/``. Writes
``<out>/<suite>/results.md`` and ``<out>/<suite>/accuracy_vs_bytes.png``
(accuracy against file bytes, log scale, one line per method).

Suites (2-core CPU; durations measured or estimated as stated in the README):

* ``quick`` (< 10 min): mlp3 on 6,000 Fashion-MNIST images, 2 epochs, at 1/8
  and 1/64, every method that applies to an MLP.
* ``paper``: the HashedNets paper's table: mlp3 and mlp5, full Fashion-MNIST,
  15 epochs, 1/8 and 1/64: dense, small dense (NN), LRD, RER, DK, HashedNets,
  HashNetDK, plus int8 buckets.
* ``conv``: LeNet and the small CNN, 5 epochs, 1/16 and 1/64: FreshNets,
  HashedNets, SMH, small dense, PTQ int8, tfmot pruning and clustering.
* ``full``: every method on mlp3, mlp5, cnn and lenet at 1/8, 1/16 and 1/64.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from absl import app, flags

from hashed_keras import data, training

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

_MLP = ["dense", "small_dense", "lrd", "rer", "hashed", "hashed_int8", "hashed_dk", "smh",
        "smh_int8", "ptq_int8", "tfmot_prune", "tfmot_cluster"]


@dataclasses.dataclass(frozen=True)
class Suite:
    dataset: str
    models: tuple
    compressions: tuple
    methods: tuple
    epochs: int
    limit: int | None = None


SUITES = {
    "quick": Suite("fashion_mnist", ("mlp3",), (1 / 8, 1 / 64), tuple(_MLP), epochs=2,
                   limit=6000),
    "paper": Suite("fashion_mnist", ("mlp3", "mlp5"), (1 / 8, 1 / 64),
                   ("dense", "small_dense", "lrd", "rer", "dk", "hashed", "hashed_dk",
                    "hashed_int8"), epochs=15),
    "conv": Suite("fashion_mnist", ("lenet", "cnn"), (1 / 16, 1 / 64),
                  ("dense", "small_dense", "hashed", "freshnets", "smh", "ptq_int8",
                   "tfmot_prune", "tfmot_cluster"), epochs=5),
    "full": Suite("fashion_mnist", ("mlp3", "mlp5", "cnn", "lenet"), (1 / 8, 1 / 16, 1 / 64),
                  tuple(METHODS), epochs=15),
}

flags.DEFINE_enum("suite", "quick", list(SUITES), "Which grid to run.")
flags.DEFINE_string("out", "results", "Output directory (one sub-directory per suite).")
flags.DEFINE_string("data_dir", None, "Directory of MNIST-format IDX files.")
flags.DEFINE_list("methods", None, "Run only these methods of the suite.")
flags.DEFINE_list("models", None, "Run only these models of the suite.")
flags.DEFINE_integer("epochs", None, "Override the suite's epochs.")
flags.DEFINE_enum("dataset", None, list(data.DATASETS), "Override the suite's data set.")
flags.DEFINE_integer("limit", None, "Override the suite's training-set limit (0: all).")
flags.DEFINE_integer("seed", 0, "Seed of every run.")
flags.DEFINE_float("temperature", 4.0, "Distillation temperature (dk, hashed_dk).")
flags.DEFINE_integer("num_threads", 1, "Interpreter threads for latency.")


def _label(c: float) -> str:
    return f"1/{round(1 / c)}"


def _train_config(suite: Suite, root: Path, model: str, method: Method, c: float,
                  epochs: int) -> training.TrainConfig:
    tag = f"{model}_{method.train}" + ("_dk" if method.distill else "") + (
        f"_{round(1 / c)}" if method.compressed else "")
    cfg = training.TrainConfig(model=model, method=method.train, compression=c,
                               dataset=suite.dataset, data_dir=FLAGS.data_dir,
                               limit=suite.limit, epochs=epochs, seed=FLAGS.seed,
                               out=str(root / "train" / tag), verbose=2)
    if method.distill:
        teacher = _train_config(suite, root, model, METHODS["dense"], 1.0, epochs)
        _trained(teacher)
        cfg.distill_from = str(Path(teacher.out) / "model.keras")
        cfg.temperature = FLAGS.temperature
    return cfg


def _trained(cfg: training.TrainConfig) -> dict:
    path = Path(cfg.out) / "metrics.json"
    if path.exists():
        return json.loads(path.read_text())
    cfg.resume = True
    return training.train(cfg)


def _export(method: Method, cfg: training.TrainConfig, cell_dir: Path, dataset) -> dict:
    """Writes the cell's .tflite from its trained model; returns what it knows of it."""
    import keras
    import numpy as np

    import hashed_keras  # noqa: F401  (registers the layers for loading)
    from hashed_keras import lite

    model = keras.models.load_model(Path(cfg.out) / "model.keras")
    path = cell_dir / "model.tflite"
    if method.export == "ptq":
        from hashed_keras.baselines import ptq
        ptq.convert_int8(model, path, np.asarray(dataset.x_train[:500], np.float32))
        return {"path": str(path), "stored_bytes": None}
    report = lite.convert(model, path,
                          shared_dtype="int8" if method.export == "int8" else "float32",
                          sample_inputs=np.asarray(dataset.x_test[:64], np.float32))
    return {"path": str(path), "stored_bytes": report.stored_bytes}


def _tfmot(method: Method, suite: Suite, model: str, c: float, epochs: int,
           cell_dir: Path) -> dict:
    from hashed_keras.baselines.tfmot import run_tfmot
    params = {"epochs": epochs, "seed": FLAGS.seed}
    if suite.limit:
        params["limit"] = suite.limit
    if FLAGS.data_dir:
        params["data_dir"] = FLAGS.data_dir
    if method.export == "prune":
        params["sparsity"] = 1.0 - c
    else:  # as many bits per weight as the compression leaves of 32: 1/8 -> 16 clusters
        params["clusters"] = max(2, round(2 ** (32 * c)))
    metrics = run_tfmot(model, method.export, suite.dataset, cell_dir, reuse=True, **params)
    return {"path": str(cell_dir / "model.tflite"), "stored_bytes": None,
            "command": " ".join(metrics.get("command", [])) if isinstance(
                metrics.get("command"), list) else metrics.get("command"),
            "tfmot": {k: metrics[k] for k in ("sparsity", "clusters") if k in metrics}}


def run_cell(suite_name: str, suite: Suite, root: Path, model: str, name: str,
             c: float, dataset) -> dict:
    """Makes (or reads) one cell: trains, exports, measures in a fresh process."""
    from hashed_keras.lite import measure

    method = METHODS[name]
    cell = f"{model}_{name}" + (f"_{round(1 / c)}" if method.compressed else "")
    result_path = root / f"{cell}.json"
    if result_path.exists():
        return json.loads(result_path.read_text())
    print(f"\n=== {suite_name}: {cell}", flush=True)
    start = time.time()
    epochs = FLAGS.epochs or suite.epochs
    cell_dir = root / "cells" / cell
    cell_dir.mkdir(parents=True, exist_ok=True)
    if method.train is None:
        exported = _tfmot(method, suite, model, c, epochs, cell_dir)
        trained = {}
    else:
        cfg = _train_config(suite, root, model, method, c, epochs)
        trained = _trained(cfg)
        exported = _export(method, cfg, cell_dir, dataset)
        from benchmarks.grid import command
        exported["command"] = command(cfg) + (
            f" --distill_from {cfg.distill_from} --temperature {cfg.temperature:g}"
            if method.distill else "")
    measured = measure.measure_in_fresh_process(
        exported["path"], suite.dataset, FLAGS.data_dir, num_threads=FLAGS.num_threads,
        latency_runs=50)
    result = {
        "suite": suite_name, "model": model, "method": name,
        "compression": c if method.compressed else 1.0,
        "accuracy": measured["accuracy"], "file_bytes": measured["file_bytes"],
        "gzip_bytes": measured["gzip_bytes"], "stored_bytes": exported["stored_bytes"],
        "latency_ms_median": measured["latency_ms_median"],
        "peak_rss_bytes": measured["peak_rss_bytes"],
        "peak_rss_over_baseline_bytes": measured["peak_rss_over_baseline_bytes"],
        "keras_accuracy": trained.get("test_accuracy"),
        "stored_parameters": trained.get("stored_parameters"),
        "train_command": exported.get("command"),
        "wall_seconds": time.time() - start,
    }
    if "tfmot" in exported:
        result["tfmot"] = exported["tfmot"]
    result_path.write_text(json.dumps(result, indent=2))
    print(f"{cell}: accuracy {result['accuracy']:.4f} (interpreter), {result['file_bytes']:,} B "
          f"({result['gzip_bytes']:,} B gzipped)", flush=True)
    return result


def table(rows) -> str:
    lines = ["| model | method | compression | .tflite accuracy % | file bytes | gzip bytes | "
             "latency ms | peak RSS MB |", "|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["model"], -r["compression"], r["method"])):
        label = "1" if r["compression"] == 1.0 else _label(r["compression"])
        lines.append(f"| {r['model']} | {r['method']} | {label} | {100 * r['accuracy']:.2f} | "
                     f"{r['file_bytes']:,} | {r['gzip_bytes']:,} | "
                     f"{r['latency_ms_median']:.3f} | {r['peak_rss_over_baseline_bytes'] / 2**20:.1f} |")
    return "\n".join(lines)


# Methods whose file keeps the dense layout (zeros or repeated values): also
# plotted at their gzip size, the way tfmot reports its gains.
_GZIP_TOO = ("rer", "tfmot_prune", "tfmot_cluster")


def plot(rows, path: Path, title: str) -> None:
    """Accuracy against file bytes (log x), one line per method (and model);
    dense-layout methods also at their gzip size (dashed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 6.5))
    models = sorted({r["model"] for r in rows})
    colors = plt.get_cmap("tab20").colors
    markers = "osD^v<>pPX*hH8d"
    for i, name in enumerate(METHODS):
        for j, model in enumerate(models):
            cells = sorted((r for r in rows if r["method"] == name and r["model"] == model),
                           key=lambda r: r["file_bytes"])
            if not cells:
                continue
            label = name + (f" ({model})" if len(models) > 1 else "")
            style = dict(color=colors[(2 * i) % 20 + (i // 10) % 2],
                         marker=markers[i % len(markers)],
                         linestyle=["-", ":", "-.", (0, (5, 1))][j % 4])
            accuracy = [100 * r["accuracy"] for r in cells]
            ax.plot([r["file_bytes"] for r in cells], accuracy, label=label, **style)
            if name in _GZIP_TOO:
                ax.plot([r["gzip_bytes"] for r in cells], accuracy, label=label + ", gzip",
                        alpha=0.6, **dict(style, linestyle="--", marker="x"))
    ax.set_xscale("log")
    ax.set_xlabel(".tflite bytes on disk (log scale)")
    ax.set_ylabel("test accuracy % (TFLite interpreter)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _command() -> str:
    parts = [f"python -m pipelines.benchmark --suite {FLAGS.suite}"]
    for name in ("dataset", "limit", "epochs", "models", "methods", "out"):
        value = getattr(FLAGS, name)
        if value is not None and not (name == "out" and value == "results"):
            parts.append(f"--{name} {','.join(value) if isinstance(value, list) else value}")
    return " ".join(parts)


def main(argv):
    del argv
    suite = SUITES[FLAGS.suite]
    if FLAGS.dataset or FLAGS.limit is not None:
        suite = dataclasses.replace(
            suite, dataset=FLAGS.dataset or suite.dataset,
            limit=suite.limit if FLAGS.limit is None else (FLAGS.limit or None))
    methods = FLAGS.methods or list(suite.methods)
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise app.UsageError(f"unknown methods {unknown}; known: {sorted(METHODS)}")
    root = Path(FLAGS.out) / FLAGS.suite
    root.mkdir(parents=True, exist_ok=True)
    dataset = data.load(suite.dataset, FLAGS.data_dir)
    start = time.time()
    rows = []
    for model in FLAGS.models or suite.models:
        for name in methods:
            levels = suite.compressions if METHODS[name].compressed else (1.0,)
            for c in levels:
                rows.append(run_cell(FLAGS.suite, suite, root, model, name, c, dataset))
    text = table(rows)
    header = (f"Suite `{FLAGS.suite}` ({suite.dataset}"
              + (f", first {suite.limit} training images" if suite.limit else "")
              + f", {FLAGS.epochs or suite.epochs} epochs, seed {FLAGS.seed}): "
              f"`{_command()}`\n\n")
    (root / "results.md").write_text(header + text + "\n")
    plot(rows, root / "accuracy_vs_bytes.png",
         f"{FLAGS.suite}: accuracy vs size of the deployed .tflite")
    print("\n" + header + text)
    print(f"\nwrote {root / 'results.md'} and {root / 'accuracy_vs_bytes.png'} "
          f"({time.time() - start:.0f} s this run)")


if __name__ == "__main__":
    app.run(main)
