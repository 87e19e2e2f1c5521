"""Training step time of SMH vs dense vs per-layer HashedNets, alternately in one process.

  python -m benchmarks.smh_train_step [--fraction 0.25] [--rounds 5] [--steps 10]

Builds the zoo's ResNet-20 (``hk_experiments.models``, CIFAR variant: a 3x3 stem,
three stages of three basic blocks with 16/32/64 filters, 1x1 projection
shortcuts, global average pooling, a 10-way dense layer; ~0.27 M weights) on
Fashion-MNIST-shaped inputs (``--image_size 32 --channels 3``: CIFAR), then
three contenders:

* ``dense``: the model itself;
* ``smh``: ``hashed_keras.smh.compress_smh(model, fraction=F)``;
* ``hashed``: ``hashed_keras.compress(model, method="hashed", compression=C)``
  with ``C`` chosen so that its stored size (buckets plus the unhashed
  biases) equals SMH's (``2 M n`` plus one scale per layer).

Each round times one block of ``--steps`` training steps of each contender
(Adam, random data of the input shape); the report gives the median step time of
each and the medians of the per-round ratios SMH/dense (goal <= 1.3) and
SMH/hashed, and the same ratios of the best rounds (robust to other load on
a shared machine).
"""

from __future__ import annotations

import statistics

import numpy as np
from absl import app, flags

import pipelines  # first: TensorFlow loads with its banners off, as for every command
from benchmarks import alternating

FLAGS = flags.FLAGS
flags.DEFINE_float("fraction", 0.25, "SMH stored size as a fraction of the compressible weights.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_integer("image_size", 28, "Side of the square input images.")
flags.DEFINE_integer(
    "channels", 1, "Input channels (1: the Fashion-MNIST experiment's net; 3: CIFAR)."
)
flags.DEFINE_integer("steps", 10, "Training steps per timed block.")
flags.DEFINE_integer("rounds", 5, "Alternating rounds (dense, smh, hashed blocks).")
flags.DEFINE_bool("jit_compile", False, "Compile the train steps with XLA.")
flags.DEFINE_bool("smh_xla", False, "SMH layers rebuild their weights in an XLA sub-function.")


def _compressible(model):
    """(kernel weights, bias weights) of the model's Dense and Conv2D layers."""
    import keras

    kernels = biases = 0
    for layer in model.layers:
        if type(layer) in (keras.layers.Dense, keras.layers.Conv2D):
            kernels += int(np.prod(layer.kernel.shape))
            biases += int(np.prod(layer.bias.shape)) if layer.use_bias else 0
    return kernels, biases


def _compile(model):
    import keras

    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(),
        jit_compile=FLAGS.jit_compile,
    )
    return model


def main(argv):
    del argv
    import warnings

    import keras

    import hashed_keras
    from hashed_keras import smh

    keras.utils.set_random_seed(0)
    from hk_experiments import models

    dense = models.build(
        "resnet20", "dense", input_shape=(FLAGS.image_size, FLAGS.image_size, FLAGS.channels)
    )
    kernels, biases = _compressible(dense)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        smh_model = smh.compress_smh(dense, fraction=FLAGS.fraction, seed=1, use_xla=FLAGS.smh_xla)
    report = smh.smh_summary(smh_model)
    # HashedNets at the same stored size: buckets + unhashed biases = SMH's 2Mn + L.
    compression = (report["stored_size"] - biases) / kernels
    hashed = hashed_keras.compress(dense, method="hashed", compression=compression, seed=1)
    hashed_stored = sum(
        layer.stored_size()
        for layer in hashed.layers
        if isinstance(layer, hashed_keras.layers.HashedLayer)
    )
    contenders = {"dense": _compile(dense), "smh": _compile(smh_model), "hashed": _compile(hashed)}

    n = FLAGS.batch_size * FLAGS.steps
    rng = np.random.default_rng(0)
    x = rng.random((n, FLAGS.image_size, FLAGS.image_size, FLAGS.channels), dtype=np.float32)
    y = rng.integers(0, 10, n)
    times = alternating.fit_step_times(
        contenders, x, y, batch_size=FLAGS.batch_size, rounds=FLAGS.rounds, steps=FLAGS.steps
    )
    med = {name: statistics.median(t) for name, t in times.items()}
    vs_dense = alternating.median_ratio(times["smh"], times["dense"])
    vs_hashed = alternating.median_ratio(times["smh"], times["hashed"])
    print(
        f"{dense.name} ({FLAGS.image_size}x{FLAGS.image_size}x{FLAGS.channels}, "
        f"batch {FLAGS.batch_size}, "
        f"jit_compile={FLAGS.jit_compile}, smh_xla={FLAGS.smh_xla}), {FLAGS.rounds} "
        f"alternating rounds of {FLAGS.steps} steps"
    )
    print(
        f"  compressible weights N = {report['virtual_size']:,} ({kernels:,} kernel + "
        f"{biases:,} bias) in {report['scales']} layers"
    )
    print(
        f"  SMH: n = {report['n']}, rank = {report['rank']}, stored {report['stored_size']:,} "
        f"({report['stored_size'] / report['virtual_size']:.3f} of N); hashed: "
        f"compression {compression:.4f}, stored {hashed_stored:,}"
    )
    for name in contenders:
        print(
            f"  {name:<6} step: {med[name] * 1e3:8.2f} ms (median), "
            f"{min(times[name]) * 1e3:8.2f} ms (best round)"
        )
    print(f"  smh/dense:  {vs_dense:.3f} (median of per-round ratios; goal <= 1.3)")
    print(f"  smh/hashed: {vs_hashed:.3f} (median of per-round ratios)")
    print(
        f"  best-round ratios: smh/dense {min(times['smh']) / min(times['dense']):.3f}, "
        f"smh/hashed {min(times['smh']) / min(times['hashed']):.3f}"
    )


if __name__ == "__main__":
    app.run(pipelines.quietly(main))
