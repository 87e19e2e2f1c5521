"""Training step time of hashed vs dense, measured alternately in one process.

  python -m benchmarks.train_step [--model mlp3] [--compression 0.125] [--rounds 7]

Prints the median step time of each and their ratio (goal: hashed/dense <= 1.2
for mlp3 at batch 50), then how long building the hash indices of a
4096x4096 layer takes and the hash's raw throughput.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from absl import app, flags

import pipelines  # first: TensorFlow loads with its banners off, as for every command
from benchmarks import alternating

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "mlp3", "Zoo model.")
flags.DEFINE_float("compression", 1 / 8, "Compression of the hashed model.")
flags.DEFINE_integer("batch_size", 50, "Batch size.")
flags.DEFINE_integer("steps", 200, "Steps per timed block.")
flags.DEFINE_integer("rounds", 7, "Alternating rounds (dense block, hashed block).")
flags.DEFINE_bool("jit_compile", False, "Compile the train steps with XLA.")
flags.DEFINE_integer("index_size", 4096, "Side of the square layer whose index build is timed.")


def _model(method):
    import keras

    from hk_experiments import models

    model = models.build(FLAGS.model, method, compression=FLAGS.compression, seed=1)
    model.compile(
        keras.optimizers.Adam(1e-3),
        "sparse_categorical_crossentropy",
        jit_compile=FLAGS.jit_compile,
    )
    return model


def main(argv):
    del argv
    import keras

    from hashed_keras import hashing

    keras.utils.set_random_seed(0)
    n = FLAGS.batch_size * FLAGS.steps
    x = np.random.rand(n, 28, 28, 1).astype("float32")
    y = np.random.randint(0, 10, n)
    contenders = {"dense": _model("dense"), "hashed": _model("hashed")}
    times = alternating.fit_step_times(
        contenders, x, y, batch_size=FLAGS.batch_size, rounds=FLAGS.rounds, steps=FLAGS.steps
    )
    med = {name: statistics.median(t) for name, t in times.items()}
    ratios = [h / d for h, d in zip(times["hashed"], times["dense"])]
    print(
        f"{FLAGS.model} batch {FLAGS.batch_size} compression {FLAGS.compression:g} "
        f"jit_compile={FLAGS.jit_compile}, {FLAGS.rounds} alternating rounds of "
        f"{FLAGS.steps} steps"
    )
    print(f"  dense  step: {med['dense'] * 1e3:.2f} ms (median)")
    print(f"  hashed step: {med['hashed'] * 1e3:.2f} ms (median)")
    print(
        f"  hashed/dense: {statistics.median(ratios):.3f} (median of per-round ratios; goal <= 1.2)"
    )
    keys = np.arange(1 << 24, dtype=np.uint32)
    start = time.perf_counter()
    hashing.xxh32(keys, 1691)
    rate = keys.size / (time.perf_counter() - start)
    print(f"  xxh32 (numpy, one core): {rate / 1e6:.1f} M keys/s (goal >= 20)")
    side = FLAGS.index_size
    size = side * side
    start = time.perf_counter()
    hashing.bucket_and_sign(size, size // 64, seed=7)
    build = time.perf_counter() - start
    print(
        f"  index+sign build for a {side}x{side} layer ({size:,} weights): {build:.2f} s "
        f"({size / build / 1e6:.1f} M weights/s)"
    )


if __name__ == "__main__":
    app.run(pipelines.quietly(main))
