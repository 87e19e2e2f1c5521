"""The HashedNets paper's fixed-storage experiment: more virtual units, same bytes.

  python -m benchmarks.fixed_storage --dataset fashion_mnist --seeds 0,1,2 \
      --out runs/fixed_storage

The stored budget is that of a 3-layer net with ``--hidden`` units (50: the
paper's 784-50-10). HashedNets spends it on a virtual hidden layer inflated
``k`` times (``--inflations``: 784-50k-10 at compression 1/k per layer); the
dense net of the same stored size (``small_dense``: its width matched to the
hashed net's stored size, so about ``--hidden`` units at every k) is the
baseline. It is trained once per width and seed
(``small_dense_<units>u_seed<s>``): that run serves every k that gives the same
width. Every cell trains with ``--recipe`` (the paper's protocol by default:
SGD, dropout, early stopping on a validation split of the training set; with
``--hparams_dir DIR`` a method's ``DIR/<method>/hparams.json`` from
``pipelines.train --tune N --out DIR/<method>`` is used), is converted to
``.tflite`` and its test error is computed by the interpreter. Cells are
resumable (a finished cell is read back while it was made with the same
settings), and a command run for some inflations keeps the earlier rows of its
``--out`` for the others while they were made with the same flags, so the grid
can be run in parts and reports as one. Writes ``<out>/results.md``,
``results.json`` and ``error_vs_inflation.png``: test error mean ± standard
deviation over ``--seeds``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from absl import app, flags

import pipelines  # noqa: F401  (first: TensorFlow loads with its banners off, as for every command)
from benchmarks import grid
from hk_experiments import data, training, tuning

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", "fashion_mnist", list(data.DATASETS), "Data set.")
flags.DEFINE_string("data_dir", None, "Directory of MNIST-format IDX files.")
flags.DEFINE_integer("limit", None, "Use only this many training examples (quick runs).")
flags.DEFINE_integer("hidden", 50, "Hidden units of the net whose stored size is the budget.")
flags.DEFINE_list("inflations", ["1", "2", "4", "8", "16"], "Virtual hidden units / --hidden.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds: each cell is trained once per seed.")
flags.DEFINE_enum("recipe", "paper", list(training.RECIPES), "Training recipe (pipelines.train).")
flags.DEFINE_integer(
    "epochs", None, "Epochs (the most, with early stopping); default: the recipe's."
)
flags.DEFINE_string("hparams_dir", None, "A directory with <method>/hparams.json (tuned).")
flags.DEFINE_string("out", "runs/fixed_storage", "Output directory.")

METHODS = ("hashed", "small_dense")
# The flags every row of one results.md shares: an earlier command's rows in
# the same --out (inflations this command did not run) are kept while these
# were the same (grid.with_earlier), so a grid run in parts reports as one.
SHARED = ("dataset", "data_dir", "limit", "hidden", "seeds", "recipe", "epochs", "hparams_dir")
ARCH_HIDDEN = 1000  # mlp3's hidden units (hk_experiments.zoo)


def cell_config(method, inflation, seed) -> training.TrainConfig:
    """The run of one cell: mlp3 at ``--hidden * inflation`` (virtual) hidden units."""
    recipe, tuned = FLAGS.recipe, {}
    if FLAGS.hparams_dir and (Path(FLAGS.hparams_dir) / method / "hparams.json").exists():
        recipe, tuned = tuning.load_hparams(Path(FLAGS.hparams_dir) / method / "hparams.json")
    given = {"epochs": FLAGS.epochs} if FLAGS.epochs else {}
    return training.TrainConfig.of_recipe(
        recipe,
        **tuned,
        **given,
        model="mlp3",
        method=method,
        compression=1 / inflation,
        width=FLAGS.hidden * inflation / ARCH_HIDDEN,
        dataset=FLAGS.dataset,
        data_dir=FLAGS.data_dir,
        limit=FLAGS.limit,
        seed=seed,
        out=str(Path(FLAGS.out) / f"{method}_x{inflation}_seed{seed}"),
        verbose=2,
    )


def summarize(rows) -> list[dict]:
    """One row per (inflation, method): error mean and spread over the seeds."""
    out = []
    for inflation in sorted({r["inflation"] for r in rows}):
        for method in METHODS:
            runs = [r for r in rows if r["inflation"] == inflation and r["method"] == method]
            if not runs:
                continue
            errors = [r["error_percent"] for r in runs]
            out.append(
                {
                    "inflation": inflation,
                    "method": method,
                    "hidden_units": runs[0]["hidden_units"],
                    "stored_size": runs[0]["stored_size"],
                    "file_bytes": runs[0]["file_bytes"],
                    **grid.error_spread(errors),
                    "wall_time_s": sum(r["wall_time_s"] for r in runs),
                }
            )
    return out


def plot(summary, path):
    labels = {"hashed": "HashedNets (virtual units inflated)", "small_dense": "dense, same storage"}
    inflations = sorted({r["inflation"] for r in summary})
    grid.errorbar_plot(
        path,
        {
            labels[m]: [
                (r["inflation"], r["error_mean"], r["error_sd"])
                for r in summary
                if r["method"] == m
            ]
            for m in METHODS
        },
        xlabel=f"inflation (virtual hidden units / {FLAGS.hidden})",
        ylabel="test error % (.tflite)",
        title=f"Fixed storage: a {FLAGS.hidden}-hidden-unit budget, {FLAGS.dataset}",
        xticks=(inflations, [f"{k}×" for k in inflations]),
    )


def main(argv):
    del argv
    inflations = [int(k) for k in FLAGS.inflations]
    seeds = [int(s) for s in FLAGS.seeds]
    dataset = data.load_or_exit(FLAGS.dataset, FLAGS.data_dir, limit=FLAGS.limit)
    shared = {}  # (hidden units, seed) -> the one small_dense run of that net
    configs = []
    for k in inflations:
        for method in METHODS:
            for seed in seeds:
                cfg = cell_config(method, k, seed)
                if method == "small_dense":
                    # The same storage gives the same dense net at most
                    # inflations (only the hashed net's biases grow): train it once.
                    units = _dense_units(cfg, dataset)
                    out = Path(FLAGS.out) / f"small_dense_{units}u_seed{seed}"
                    cfg = shared.setdefault((units, seed), dataclasses.replace(cfg, out=str(out)))
                configs.append((k, method, seed, cfg))
    method_of = {Path(c.out).name: method for _, method, _, c in configs}
    progress = grid.Progress(
        list(dict.fromkeys(Path(c.out).name for *_, c in configs)),
        kind=method_of.get,
        done=[
            Path(c.out).name
            for *_, c in configs
            if grid.derived_record(Path(c.out) / "tflite.json", c) is not None
        ],
    )
    print(progress.summary(FLAGS.out), flush=True)
    rows, diverged = [], {}
    for k, method, seed, cfg in configs:
        name = Path(cfg.out).name
        if name in diverged:  # a shared cell, said once
            continue
        fresh = name not in progress.done  # a shared cell is done after its first row
        if fresh:
            progress.start(name)
        try:
            result = grid.cell(cfg)
        except grid.Diverged as error:
            diverged[name] = grid.left_out(error)
            continue
        finally:
            if fresh:
                progress.finish(name)
        rows.append(
            {
                "inflation": k,
                "method": method,
                "seed": seed,
                "hidden_units": _hidden_units(cfg),
                "error_percent": 100 * (1 - result["tflite_accuracy"]),
                **{key: result[key] for key in ("stored_size", "file_bytes", "wall_time_s")},
            }
        )
    summary = grid.with_earlier(
        FLAGS.out,
        summarize(rows),
        ("inflation", "method"),
        grid.flag_settings(FLAGS, SHARED),
        lambda r: (r["inflation"], METHODS.index(r["method"])),
    )
    header = (
        "| inflation | method | hidden units | stored size | .tflite bytes | "
        "test error % (mean ± sd) | seeds | train time s |"
    )
    table = grid.write_results(
        FLAGS.out,
        summary,
        header,
        lambda r: (
            f"| {r['inflation']}× | {r['method']} | {r['hidden_units']:,} | "
            f"{r['stored_size']:,} | {r['file_bytes']:,} | "
            f"{r['error_mean']:.2f} ± {r['error_sd']:.2f} | {r['seeds']} | "
            f"{r['wall_time_s']:.0f} |"
        ),
        diverged.values(),
    )
    plot(summary, Path(FLAGS.out) / "error_vs_inflation.png")
    print(table)
    print(f"wrote {FLAGS.out}/results.md, results.json, error_vs_inflation.png")


def _dense_units(cfg, dataset) -> int:
    """The hidden units of the ``small_dense`` net ``cfg`` builds (not trained)."""
    return int(training.build_model(cfg, dataset).get_layer("fc1").units)


def _hidden_units(cfg) -> int:
    """The hidden layer's units of the cell's trained model."""
    import keras

    from hashed_keras import layers  # noqa: F401  (registers the layers for loading)

    model = keras.models.load_model(Path(cfg.out) / "model.keras", compile=False)
    return int(model.get_layer("fc1").output.shape[-1])


if __name__ == "__main__":
    app.run(main)
