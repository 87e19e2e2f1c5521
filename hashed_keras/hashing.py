"""The hash contract shared by training, the converter and the on-device kernels.

Everything that decides *which* shared variable a virtual weight reads, and with
which sign, lives in this module and nowhere else. The contract (version 1) is
documented in ``docs/hash_contract.md``; the C++ kernels implement the same
functions and are tested bit-for-bit against :func:`xxh32`.

Contract v1, in short:

* ``xxh32(key, seed)`` is xxHash32 of the key's 4 little-endian bytes.
* The key of a virtual weight is its flat row-major index in the Keras-layout
  virtual tensor (Dense ``[in, out]``, Conv2D ``[kh, kw, in, out]``; with
  ``hash_bias`` the bias is one more row appended after the kernel).
* A layer seed ``s`` gives two derived seeds: ``seed_h = xxh32(0, s)`` for the
  bucket and ``seed_s = xxh32(1, s)`` for the sign.
* ``bucket = xxh32(key, seed_h) mod K`` and
  ``sign = +1 if xxh32(key, seed_s) < 2**31 else -1`` (the top bit).
"""

from __future__ import annotations

import numpy as np

CONTRACT_VERSION = 1

PRIME32_1 = 0x9E3779B1
PRIME32_2 = 0x85EBCA77
PRIME32_3 = 0xC2B2AE3D
PRIME32_4 = 0x27D4EB2F
PRIME32_5 = 0x165667B1

# Largest virtual tensor whose keys fit in the contract's uint32 key space.
MAX_VIRTUAL_SIZE = 2**32


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}.")
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}.")
    return seed


def xxh32(keys, seed) -> np.ndarray:
    """xxHash32 of each uint32 key's 4 little-endian bytes (vectorised numpy).

    Equals ``xxhash.xxh32_intdigest(int(k).to_bytes(4, "little"), seed)`` for
    every key ``k``.

    Args:
      keys: array-like of integers in ``[0, 2**32)``; any shape.
      seed: integer seed in ``[0, 2**32)``.

    Returns:
      A ``uint32`` array of the same shape as ``keys``.

    Example:
    >>> hex(int(xxh32(np.array([0], np.uint32), 0)[0]))
    '0x8d6d969'
    """
    seed = _check_seed(seed)
    k = np.asarray(keys)
    if k.dtype != np.uint32:
        if k.size and (np.min(k) < 0 or np.max(k) >= 2**32):
            raise ValueError("keys must be in [0, 2**32).")
        k = k.astype(np.uint32)
    u = np.uint32
    with np.errstate(over="ignore"):
        h = k * u(PRIME32_3)
        h += u((seed + PRIME32_5 + 4) & 0xFFFFFFFF)
        h = (h << u(17)) | (h >> u(15))
        h *= u(PRIME32_4)
        h ^= h >> u(15)
        h *= u(PRIME32_2)
        h ^= h >> u(13)
        h *= u(PRIME32_3)
        h ^= h >> u(16)
    return h


def derived_seeds(seed) -> tuple[int, int]:
    """Returns ``(seed_h, seed_s)``: the bucket and sign seeds of a layer seed."""
    seed = _check_seed(seed)
    hs = xxh32(np.array([0, 1], np.uint32), seed)
    return int(hs[0]), int(hs[1])


def check_virtual_size(size: int, buckets: int) -> None:
    """Validates a (virtual size, bucket count) pair against the contract."""
    for name, value in (("size", size), ("buckets", buckets)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {value!r}.")
    if size < 1 or size > MAX_VIRTUAL_SIZE:
        raise ValueError(
            f"virtual tensor has {size} weights; the hash contract supports 1 to "
            f"2**32 weights per layer.")
    if buckets < 1 or buckets > size:
        raise ValueError(
            f"buckets must be in [1, {size}] (the layer's virtual size), got {buckets}.")


def bucket_and_sign(size: int, buckets: int, seed, *, use_sign: bool = True,
                    offset: int = 0):
    """Bucket index and sign of the virtual weights ``offset .. offset+size-1``.

    Args:
      size: number of virtual weights (keys ``offset .. offset + size - 1``).
      buckets: the number of shared variables ``K``.
      seed: the layer seed; bucket and sign seeds derive from it.
      use_sign: if False every sign is +1.
      offset: first key (lets callers hash a tensor in chunks).

    Returns:
      ``(index, sign)``: an ``int32`` array in ``[0, K)`` (``int64`` if ``K``
      exceeds int32) and a ``float32`` array of ``+1/-1``, each of length ``size``.
    """
    check_virtual_size(offset + size, buckets)
    seed_h, seed_s = derived_seeds(seed)
    keys = np.arange(offset, offset + size, dtype=np.uint32)
    h = xxh32(keys, seed_h)
    index = h % np.uint32(buckets)
    index = index.astype(np.int32 if buckets < 2**31 else np.int64)
    if use_sign:
        negative = xxh32(keys, seed_s) >= np.uint32(2**31)
        sign = np.where(negative, np.float32(-1.0), np.float32(1.0))
    else:
        sign = np.ones(size, np.float32)
    return index, sign


# --------------------------------------------------------------------------
# The same contract in TensorFlow ops: identical results in-graph.
# --------------------------------------------------------------------------

def tf_xxh32(keys, seed):
    """xxHash32 in TensorFlow ops; bit-identical to :func:`xxh32`.

    Args:
      keys: a ``uint32`` tensor (any shape).
      seed: a Python integer in ``[0, 2**32)``.

    Returns:
      A ``uint32`` tensor of hashes.
    """
    import tensorflow as tf

    seed = _check_seed(seed)
    k = tf.convert_to_tensor(keys)
    if k.dtype != tf.uint32:
        k = tf.cast(k, tf.uint32)

    def c(v):
        return tf.constant(v & 0xFFFFFFFF, tf.uint32)

    rshift = tf.bitwise.right_shift
    lshift = tf.bitwise.left_shift
    xor = tf.bitwise.bitwise_xor
    h = k * c(PRIME32_3) + c(seed + PRIME32_5 + 4)
    h = tf.bitwise.bitwise_or(lshift(h, c(17)), rshift(h, c(15)))
    h = h * c(PRIME32_4)
    h = xor(h, rshift(h, c(15)))
    h = h * c(PRIME32_2)
    h = xor(h, rshift(h, c(13)))
    h = h * c(PRIME32_3)
    h = xor(h, rshift(h, c(16)))
    return h


def tf_bucket_and_sign(size: int, buckets: int, seed, *, use_sign: bool = True):
    """In-graph :func:`bucket_and_sign`: ``(int32 index, float32 sign)`` tensors."""
    import tensorflow as tf

    check_virtual_size(size, buckets)
    if buckets >= 2**31:
        raise ValueError("tf_bucket_and_sign supports at most 2**31 - 1 buckets.")
    seed_h, seed_s = derived_seeds(seed)
    keys = tf.range(size, dtype=tf.int64)
    keys = tf.cast(keys, tf.uint32)
    h = tf_xxh32(keys, seed_h)
    index = tf.cast(h % tf.constant(buckets, tf.uint32), tf.int32)
    if use_sign:
        top = tf.bitwise.right_shift(tf_xxh32(keys, seed_s), tf.constant(31, tf.uint32))
        sign = 1.0 - 2.0 * tf.cast(top, tf.float32)
    else:
        sign = tf.ones([size], tf.float32)
    return index, sign
