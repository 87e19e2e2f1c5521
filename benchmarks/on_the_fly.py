"""Memory, latency and setup of the two execution modes, beside the dense file, in one run.

  python -m benchmarks.on_the_fly [--models mlp3,mlp5,cnn] [--compressions 0.125,0.015625]
      [--rounds 9] [--invokes 50] [--setup_rounds 7]

For each model and compression (the cnn at the first compression only) the
dense and the hashed file are converted (untrained: memory and time do not
depend on the values) and measured side by side:

* peak resident memory of a fresh process over its baseline, one process per
  file and mode: the runtime and kernels are loaded and warmed up on a tiny
  dense file first (~1 KB, so the memory it frees hides nothing), then the
  peak counter is reset (``hk_experiments.measure``'s VmHWM helpers) and the
  interpreter made, allocated and invoked 20 times at batch 1 (no data set is
  loaded: memory it freed would be reused unseen);
* setup (interpreter construction and allocation, verification included) and
  batch-1 and batch-32 latency, in alternating rounds in this process, one
  interpreter per file and mode, one thread: medians over rounds.

The hashed file runs ``rebuilt`` (every weight tensor rebuilt once) and
``on_the_fly`` (``lite.Interpreter(path, weights="on_the_fly")``). Printed
beside them: the file's stored shared variables (bytes) and the ratios the
issue asks about: on-the-fly peak memory over the stored bytes, and
on-the-fly/dense batch-1 latency.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import numpy as np
from absl import app, flags

import pipelines  # first: TensorFlow loads with its banners off, as for every command

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["mlp3", "mlp5", "cnn"], "Zoo models (28x28x1 inputs).")
flags.DEFINE_list("compressions", ["0.125", "0.015625"], "Compressions of the hashed files.")
flags.DEFINE_integer("rounds", 9, "Alternating latency rounds.")
flags.DEFINE_integer("invokes", 50, "Invokes per round and batch size.")
flags.DEFINE_integer("setup_rounds", 7, "Alternating setup rounds.")

MODES = (("dense", "rebuilt"), ("hashed", "rebuilt"), ("hashed", "on_the_fly"))
BATCHES = (1, 32)


def _interpreter(path, weights):
    from hashed_keras.lite import measure

    return measure.timed_setup(path, num_threads=1, weights=weights)


def _mean_invoke(interpreter, x):
    from hashed_keras.lite import measure

    return measure.mean_invoke_seconds(interpreter, x, FLAGS.invokes)


def _fresh(queue, path, weights, warm_up):
    """In a new process: the peak RSS of one file's inference over the baseline."""
    from hk_experiments.measure import _peak_rss_bytes, _reset_peak_rss, _rss_bytes

    x = np.zeros((1, 28, 28, 1), np.float32)
    interpreter, _ = _interpreter(warm_up, weights)  # loads and warms up the runtime
    interpreter.invoke()
    del interpreter
    if not _reset_peak_rss():
        queue.put(None)
        return
    baseline = _rss_bytes()
    interpreter, _ = _interpreter(path, weights)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    for _ in range(20):
        interpreter.invoke()
    queue.put(_peak_rss_bytes() - baseline)


def _peak_rss(path, weights, warm_up):
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_fresh, args=(queue, str(path), weights, str(warm_up)))
    process.start()
    result = queue.get(timeout=600)
    process.join(timeout=60)
    if result is None:
        raise RuntimeError("cannot reset the peak RSS counter (/proc/self/clear_refs)")
    return result


def _measure(paths, warm_up):
    """{mode: {"rss", "setup", 1, 32}} for the files of one model."""
    rows = {mode: {} for mode in MODES}
    for mode in MODES:
        rows[mode]["rss"] = _peak_rss(paths[mode[0]], mode[1], warm_up)
    setups = {mode: [] for mode in MODES}
    interpreters = {}
    for _ in range(FLAGS.setup_rounds):
        for mode in MODES:
            interpreters[mode], seconds = _interpreter(paths[mode[0]], mode[1])
            setups[mode].append(seconds)
    for mode in MODES:
        rows[mode]["setup"] = statistics.median(setups[mode])
    rng = np.random.default_rng(0)
    for batch in BATCHES:
        x = rng.random((batch, 28, 28, 1), dtype=np.float32)
        for interpreter in interpreters.values():
            interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], x.shape)
            interpreter.allocate_tensors()
            _mean_invoke(interpreter, x)  # warm-up
        times = {mode: [] for mode in MODES}
        for _ in range(FLAGS.rounds):
            for mode in MODES:
                times[mode].append(_mean_invoke(interpreters[mode], x))
        for mode in MODES:
            rows[mode][batch] = statistics.median(times[mode])
    return rows


def main(argv):
    del argv
    import keras

    from hashed_keras import lite
    from hk_experiments import models

    work = Path(tempfile.mkdtemp(prefix="on_the_fly_"))
    warm_up = work / "warm_up.tflite"
    tiny = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    lite.convert(tiny, warm_up, dense=True, num_samples=2)  # smaller than anything measured
    compressions = [float(c) for c in FLAGS.compressions]
    print(
        "| model | file | stored B | mode | peak RSS over baseline | setup ms "
        "| batch 1 us | batch 32 us |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    summary = []
    for name in FLAGS.models:
        for compression in compressions[:1] if name == "cnn" else compressions:
            keras.utils.set_random_seed(0)
            paths, reports = {}, {}
            for method in ("dense", "hashed"):
                model = models.build(name, method, compression=compression, seed=0)
                paths[method] = work / f"{name}_{compression:g}_{method}.tflite"
                reports[method] = lite.convert(
                    model, paths[method], dense=(method == "dense"), num_samples=2
                )
            rows = _measure(paths, warm_up)
            label = f"{name} 1/{round(1 / compression)}"
            for mode in MODES:
                r, report = rows[mode], reports[mode[0]]
                print(
                    f"| {label} | {report.file_bytes:,} | {report.stored_bytes:,} "
                    f"| {mode[0]} {mode[1]} | {r['rss']:,} | {r['setup'] * 1e3:.2f} "
                    f"| {r[1] * 1e6:,.0f} | {r[32] * 1e6:,.0f} |"
                )
            fly, dense = rows[("hashed", "on_the_fly")], rows[("dense", "rebuilt")]
            summary.append(
                f"{label}: on-the-fly peak RSS / stored bytes = "
                f"{fly['rss'] / reports['hashed'].stored_bytes:.2f}; "
                f"rebuilt/on-the-fly peak RSS = "
                f"{rows[('hashed', 'rebuilt')]['rss'] / max(fly['rss'], 1):.1f}; latency "
                f"on-the-fly/dense batch 1 = {fly[1] / dense[1]:.1f}, "
                f"batch 32 = {fly[32] / dense[32]:.1f}"
            )
    print()
    print("\n".join(summary))


if __name__ == "__main__":
    app.run(pipelines.quietly(main))
