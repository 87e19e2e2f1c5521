"""Batch-1 latency and setup time of hashed vs dense .tflite, measured alternately.

  python -m benchmarks.tflite_latency [--models mlp3,cnn] [--compression 0.125] [--num_threads 1]

Both files of a model are converted here, loaded into the same runtime with the
same thread count, and timed in alternating rounds in one process; the ratio
hashed/dense of the medians is printed (goal <= 1.10). Setup time is
interpreter construction plus ``allocate_tensors()`` (where the hashed kernels
rebuild the weights, once).
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import numpy as np
from absl import app, flags

import pipelines  # first: TensorFlow loads with its banners off, as for every command

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["mlp3", "cnn"], "Zoo models.")
flags.DEFINE_float("compression", 1 / 8, "Compression of the hashed model.")
flags.DEFINE_integer("num_threads", 1, "Interpreter threads.")
flags.DEFINE_integer("rounds", 15, "Alternating rounds.")
flags.DEFINE_integer("invokes", 200, "Invocations per round.")
flags.DEFINE_string(
    "runtime", None, "ai_edge_litert | tensorflow | tflite_runtime (default: first)."
)


def main(argv):
    del argv
    import keras

    from hashed_keras.lite import measure
    from hk_experiments import models

    keras.utils.set_random_seed(0)
    work = Path(tempfile.mkdtemp(prefix="tflite_latency_"))
    for name in FLAGS.models:
        paths = models.converted_pair(name, work, FLAGS.compression)
        x = np.random.default_rng(0).random((1, 28, 28, 1), dtype=np.float32)
        interpreters, setup = {}, {m: [] for m in paths}
        for _ in range(5):
            for method, path in paths.items():
                interpreters[method], seconds = measure.timed_setup(
                    path, num_threads=FLAGS.num_threads, runtime=FLAGS.runtime
                )
                setup[method].append(seconds)
        latency = {m: [] for m in paths}
        for method in paths:  # warm-up
            measure.mean_invoke_seconds(interpreters[method], x, FLAGS.invokes)
        for _ in range(FLAGS.rounds):
            for method in paths:
                latency[method].append(
                    measure.mean_invoke_seconds(interpreters[method], x, FLAGS.invokes)
                )
        med = {m: statistics.median(v) for m, v in latency.items()}
        set_med = {m: statistics.median(v) for m, v in setup.items()}
        print(
            f"{name} (compression {FLAGS.compression:g}, {FLAGS.num_threads} thread(s), "
            f"{FLAGS.rounds} alternating rounds of {FLAGS.invokes} invokes)"
        )
        for method in paths:
            print(
                f"  {method:<6} file {paths[method].stat().st_size:>10,} B  latency "
                f"{med[method] * 1e6:8.1f} us  setup {set_med[method] * 1e3:7.2f} ms"
            )
        print(
            f"  latency hashed/dense: {med['hashed'] / med['dense']:.3f} (goal <= 1.10); "
            f"setup hashed/dense: {set_med['hashed'] / set_med['dense']:.2f}"
        )


if __name__ == "__main__":
    app.run(pipelines.quietly(main))
