"""The machinery every hashed layer shares: bucket count, seeds, materialisation.

A hashed layer owns a *virtual* weight tensor (its Keras-layout kernel, plus its
bias when ``hash_bias``) and stores only ``K`` shared variables, the buckets.
Virtual weight ``i`` reads ``sign[i] * buckets[index[i]]`` where ``index`` and
``sign`` come from :mod:`hashed_keras.hashing`. ``index`` and ``sign`` are
constants recomputed from the layer seed at ``build``: they are never variables,
never trained and never saved.
"""

from __future__ import annotations

import random

import tensorflow as tf

from hashed_keras import hashing, validate


def resolve_buckets(virtual_size: int, compression=None, buckets=None) -> int:
    """The bucket count ``K`` for a virtual tensor of ``virtual_size`` weights.

    Exactly one of ``compression`` (a fraction in (0, 1]: ``K =
    max(1, round(compression * virtual_size))``) or ``buckets`` (``K``
    itself) is used; ``buckets`` wins when both are given.

    Raises:
      ValueError: naming the argument, if ``K`` would be invalid.
    """
    if buckets is not None:
        if virtual_size < buckets:
            raise ValueError(
                f"`buckets`={buckets} is more than the layer's {virtual_size} virtual "
                f"weights; pass at most {virtual_size} buckets (or use a plain layer)."
            )
        return int(buckets)
    return max(1, int(round(float(compression) * virtual_size)))


def validate_sharing_args(compression, buckets):
    """Checks ``compression``/``buckets`` as given to a layer constructor."""
    if buckets is not None:
        buckets = validate.integer(buckets, "buckets", 1)
        if compression is not None:
            raise ValueError(
                "Pass either `compression` or `buckets`, not both "
                f"(got compression={compression!r}, buckets={buckets!r})."
            )
        return None, int(buckets)
    if compression is None:
        compression = 1 / 8
    return validate.fraction(compression, "compression"), None


def validate_seed(seed) -> int:
    """A layer seed: the given one, checked, or a fresh one from Python's RNG.

    Fresh seeds come from :mod:`random`, which ``keras.utils.set_random_seed``
    seeds, so a seeded program builds the same hash patterns every run, while
    two layers of one model never share a pattern.
    """
    if seed is None:
        return random.getrandbits(32)
    return validate.seed(seed)


def hash_constants(virtual_size: int, num_buckets: int, seed: int, use_sign: bool):
    """Eager ``(index, sign)`` constants for a layer, created outside any graph."""
    index, sign = hashing.bucket_and_sign(virtual_size, num_buckets, seed, use_sign=use_sign)
    with tf.init_scope():
        return tf.constant(index), tf.constant(sign)


@tf.function(jit_compile=True, autograph=False)
def _signed_gather(buckets, index, sign):
    return tf.gather(buckets, index) * tf.cast(sign, buckets.dtype)


@tf.function(jit_compile=True, autograph=False)
def _signed_scatter(grad, index, sign, num_buckets):
    values = tf.cast(grad, tf.float32) * sign
    return tf.math.unsorted_segment_sum(values, index, num_buckets)


def gather_shared(buckets, index, sign):
    """Virtual weights ``sign * buckets[index]`` with a fast bucket gradient.

    TensorFlow's CPU gather and the ``IndexedSlices`` gradient of
    ``tf.gather`` (an unsorted scatter in the optimizer) made a hashed layer
    8x slower to train than a dense one. Here both directions are small
    XLA-compiled functions (a fused gather-and-sign and a dense segment sum,
    accumulated in float32), which run about 5x faster on CPU and also inline
    into a model compiled with ``jit_compile=True``.

    Args:
      buckets: the 1-D shared variables (any float dtype).
      index: 1-D int32 bucket index of each virtual weight.
      sign: 1-D float32 sign (+1/-1) of each virtual weight.

    Returns:
      A 1-D tensor of virtual weights, in ``buckets``' dtype.
    """

    @tf.custom_gradient
    def _gather(b):
        def grad(dw):
            num = tf.shape(b, out_type=tf.int32)[0]
            return tf.cast(_signed_scatter(dw, index, sign, num), b.dtype)

        return _signed_gather(b, index, sign), grad

    # Read the variable outside the custom gradient: a variable read inside it
    # makes tf.custom_gradient demand a `variables` argument in `grad`.
    return _gather(tf.convert_to_tensor(buckets))


class VirtualShapeInitializer:
    """Draws buckets with the distribution of a virtual tensor's initializer.

    With random signs, a virtual weight has the distribution of its bucket, so
    buckets are drawn as the first ``K`` entries of the initializer evaluated
    on the *virtual* shape (fan-in and fan-out of the full layer).
    """

    def __init__(self, initializer, virtual_shape):
        self.initializer = initializer
        self.virtual_shape = tuple(virtual_shape)

    def __call__(self, shape, dtype=None):
        full = self.initializer(self.virtual_shape, dtype=dtype)
        return tf.reshape(full, [-1])[: shape[0]]
