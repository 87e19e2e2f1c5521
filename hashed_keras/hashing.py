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

from hashed_keras import validate

CONTRACT_VERSION = 1

PRIME32_1 = 0x9E3779B1
PRIME32_2 = 0x85EBCA77
PRIME32_3 = 0xC2B2AE3D
PRIME32_4 = 0x27D4EB2F
PRIME32_5 = 0x165667B1

# Largest virtual tensor whose keys fit in the contract's uint32 key space.
MAX_VIRTUAL_SIZE = 2**32


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
    seed = validate.seed(seed)
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
    seed = validate.seed(seed)
    hs = xxh32(np.array([0, 1], np.uint32), seed)
    return int(hs[0]), int(hs[1])


def check_virtual_size(size: int, buckets: int) -> None:
    """Validates a (virtual size, bucket count) pair against the contract."""
    validate.integer(size, "size"), validate.integer(buckets, "buckets")
    if size < 1 or size > MAX_VIRTUAL_SIZE:
        raise ValueError(
            f"virtual tensor has {size} weights; the hash contract supports 1 to "
            f"2**32 weights per layer."
        )
    if buckets < 1 or buckets > size:
        raise ValueError(
            f"buckets must be in [1, {size}] (the layer's virtual size), got {buckets}."
        )


def bucket_and_sign(size: int, buckets: int, seed, *, use_sign: bool = True, offset: int = 0):
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

    seed = validate.seed(seed)
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


# --------------------------------------------------------------------------
# FreshNets: frequency keys (scheme "freshnets" of contract v1).
#
# A FreshConv2D layer hashes the 2-D DCT-II coefficients of its filters instead
# of their spatial weights. Coefficient F[j1, j2, c, o] of a [kh, kw, in, out]
# kernel has the plain contract's key ((j1*kw + j2)*in + c)*out + o and lies in
# frequency band b = j1 + j2. Each band has its own pool of K_b buckets; the
# pools are concatenated in band order into one bucket vector, and inside its
# pool a coefficient is hashed exactly as a plain weight is (same xxh32, same
# derived seeds, same sign rule). Spatial weights are the inverse DCT of the
# coefficients. docs/hash_contract.md, "Frequency keys (FreshNets)", has it all.
# --------------------------------------------------------------------------

FRESHNETS_SCHEME = "freshnets"

# Default band allocation: Beta(a=1, b=2.5) density over the band centres.
DEFAULT_BETA = (1.0, 2.5)


def dct_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix ``D`` of size ``n`` (float64).

    ``D[j, y] = alpha_j * cos(pi * (2*y + 1) * j / (2*n))`` with ``alpha_0 =
    sqrt(1/n)`` and ``alpha_j = sqrt(2/n)`` for ``j > 0``. ``D`` is orthogonal
    (``D @ D.T == I``): the forward transform of a length-``n`` signal ``x`` is
    ``D @ x``, the inverse is ``D.T @ X``.

    Args:
      n: a positive integer (a filter's height or width).

    Returns:
      A ``float64`` array of shape ``[n, n]``, indexed ``[frequency, position]``.

    Example:
    >>> np.round(dct_matrix(2), 4)
    array([[ 0.7071,  0.7071],
           [ 0.7071, -0.7071]])
    """
    validate.integer(n, "n", 1)
    j = np.arange(n, dtype=np.float64)[:, None]
    y = np.arange(n, dtype=np.float64)[None, :]
    alpha = np.where(j == 0, np.sqrt(1.0 / n), np.sqrt(2.0 / n))
    return alpha * np.cos(np.pi * (2.0 * y + 1.0) * j / (2.0 * n))


def dct2_basis(kh: int, kw: int) -> np.ndarray:
    """``kron(dct_matrix(kh), dct_matrix(kw))``: the 2-D DCT of a ``kh x kw`` filter.

    Row ``j1*kw + j2`` (a frequency), column ``y*kw + x`` (a position):
    ``basis[j1*kw + j2, y*kw + x] = D_h[j1, y] * D_w[j2, x]``. Orthogonal, so a
    filter's coefficients are ``basis @ w`` and its weights ``basis.T @ f``
    (``w``, ``f`` flattened row-major).
    """
    return np.kron(dct_matrix(kh), dct_matrix(kw))


def dct2_kernel(kernel) -> np.ndarray:
    """Frequency coefficients ``F`` of a Keras ``[kh, kw, in, out]`` kernel (float64).

    ``F[j1, j2, c, o] = sum_{y, x} D_h[j1, y] D_w[j2, x] W[y, x, c, o]``.
    """
    w = np.asarray(kernel, np.float64)
    if w.ndim != 4:
        raise ValueError(f"kernel must be 4-D [kh, kw, in, out], got shape {w.shape}.")
    kh, kw = w.shape[:2]
    return (dct2_basis(kh, kw) @ w.reshape(kh * kw, -1)).reshape(w.shape)


def idct2_kernel(coefficients) -> np.ndarray:
    """Spatial kernel ``W`` of frequency coefficients ``F`` (inverse of :func:`dct2_kernel`).

    ``W[y, x, c, o] = sum_{j1, j2} D_h[j1, y] D_w[j2, x] F[j1, j2, c, o]``.
    """
    f = np.asarray(coefficients, np.float64)
    if f.ndim != 4:
        raise ValueError(f"coefficients must be 4-D [kh, kw, in, out], got shape {f.shape}.")
    kh, kw = f.shape[:2]
    return (dct2_basis(kh, kw).T @ f.reshape(kh * kw, -1)).reshape(f.shape)


def _kernel_shape(kernel_shape) -> tuple[int, int, int, int]:
    shape = tuple(kernel_shape)
    if len(shape) != 4 or any(not validate.is_int(d) or d < 1 for d in shape):
        raise ValueError(
            f"kernel_shape must be four positive integers [kh, kw, in, out], got {kernel_shape!r}."
        )
    return tuple(int(d) for d in shape)


def num_bands(kh: int, kw: int) -> int:
    """Number of frequency bands ``b = j1 + j2`` of a ``kh x kw`` filter: ``kh + kw - 1``."""
    return int(kh) + int(kw) - 1


def band_sizes(kernel_shape) -> list[int]:
    """``n_b``: the number of frequency coefficients in each band ``b = j1 + j2``.

    ``n_b = #{(j1, j2): j1 + j2 = b, 0 <= j1 < kh, 0 <= j2 < kw} * in * out``.
    """
    kh, kw, cin, cout = _kernel_shape(kernel_shape)
    counts = np.zeros(num_bands(kh, kw), np.int64)
    for j1 in range(kh):
        for j2 in range(kw):
            counts[j1 + j2] += 1
    return [int(c) * cin * cout for c in counts]


def normalize_band_allocation(allocation, bands: int):
    """Checks a ``band_allocation`` argument; returns its canonical form.

    Accepted: ``"beta"`` (the default ``Beta(1, 2.5)``), ``"uniform"``,
    ``("beta", a, b)`` (a list too, as after a JSON round trip) with ``a, b >
    0``, or a sequence of ``bands`` positive per-band fractions summing to 1.

    Returns:
      ``"beta"``, ``"uniform"``, ``("beta", a, b)`` or a tuple of floats.

    Raises:
      ValueError: naming ``band_allocation``.
    """
    if isinstance(allocation, str):
        if allocation in ("beta", "uniform"):
            return allocation
        raise ValueError(
            f"`band_allocation` must be 'beta', 'uniform', ('beta', a, b) or a list of "
            f"per-band fractions, got {allocation!r}."
        )
    try:
        items = tuple(allocation)
    except TypeError:
        raise ValueError(
            f"`band_allocation` must be 'beta', 'uniform', ('beta', a, b) or a list of "
            f"{bands} per-band fractions, got {allocation!r}."
        ) from None

    if items and isinstance(items[0], str):
        if (
            len(items) != 3
            or items[0] != "beta"
            or not all(map(validate.is_number, items[1:]))
            or min(items[1:]) <= 0
        ):
            raise ValueError(
                "`band_allocation` as a tuple must be ('beta', a, b) with finite shape "
                f"parameters a > 0 and b > 0, got {allocation!r}."
            )
        return ("beta", float(items[1]), float(items[2]))
    if len(items) != bands or not all(validate.is_number(v) and v > 0 for v in items):
        raise ValueError(
            f"`band_allocation` as per-band fractions needs {bands} positive numbers (one "
            f"per band j1 + j2 = 0..{bands - 1}), got {allocation!r}."
        )
    if abs(sum(float(v) for v in items) - 1.0) > 1e-6:
        raise ValueError(
            f"`band_allocation` fractions must sum to 1 (they are the share of the layer's "
            f"buckets each band gets), got sum {sum(float(v) for v in items)!r}."
        )
    return tuple(float(v) for v in items)


def band_weights(kernel_shape, allocation="beta") -> np.ndarray:
    """The unnormalised band weights ``w_b`` of an allocation (float64).

    * ``"beta"`` / ``("beta", a, b)``: ``w_b = n_b * x_b**(a-1) * (1-x_b)**(b-1)``,
      ``x_b = (b + 0.5) / B`` (the Beta pdf at the band centre, without its
      constant, which cancels), so buckets *per coefficient* follow the pdf.
    * ``"uniform"``: ``w_b = n_b`` (the same density in every band).
    * fractions ``f_b``: ``w_b = f_b``.
    """
    kh, kw = _kernel_shape(kernel_shape)[:2]
    bands = num_bands(kh, kw)
    allocation = normalize_band_allocation(allocation, bands)
    n = np.asarray(band_sizes(kernel_shape), np.float64)
    if allocation == "uniform":
        return n
    if allocation == "beta" or allocation[0] == "beta":
        a, b = DEFAULT_BETA if allocation == "beta" else allocation[1:]
        x = (np.arange(bands, dtype=np.float64) + 0.5) / bands
        return n * x ** (a - 1.0) * (1.0 - x) ** (b - 1.0)
    return np.asarray(allocation, np.float64)


def allocate_band_buckets(kernel_shape, buckets: int, allocation="beta") -> list[int]:
    """Splits ``K`` buckets over the frequency bands of a kernel: ``[K_0, ..., K_{B-1}]``.

    The rule (training-side only: kernels read the result from ``hash_spec``):

    1. Quotas ``q_b = clip(lam * w_b, 1, n_b)`` with ``w_b`` from
       :func:`band_weights` and ``lam`` the one value for which ``sum q_b = K``
       (water-filling: a band never gets fewer than 1 or more than ``n_b``
       buckets; the others stay proportional to ``w_b``).
    2. Largest remainder: ``K_b = floor(q_b)``, then the ``K - sum floor(q_b)``
       bands with the largest ``q_b - floor(q_b)`` (ties: lower band first) and
       ``K_b < n_b`` get one more.

    Args:
      kernel_shape: ``[kh, kw, in, out]``.
      buckets: ``K``, with ``B <= K <= kh*kw*in*out`` (``B = kh + kw - 1``).
      allocation: see :func:`normalize_band_allocation`.

    Returns:
      A list of ``B`` integers, ``1 <= K_b <= n_b``, summing to ``K``.

    Example:
    >>> allocate_band_buckets((3, 3, 2, 4), 18)
    [4, 6, 5, 2, 1]
    """
    shape = _kernel_shape(kernel_shape)
    n = np.asarray(band_sizes(shape), np.float64)
    bands = len(n)
    w = band_weights(shape, allocation)
    total = validate.integer(buckets, "buckets")
    if total < bands:
        raise ValueError(
            f"FreshNets needs at least one bucket per frequency band: a {shape[0]}x{shape[1]} "
            f"filter has {bands} bands (j1 + j2 = 0..{bands - 1}) but only {total} buckets "
            f"were asked for; raise `compression`/`buckets` to at least {bands} buckets."
        )
    if total > n.sum():
        raise ValueError(
            f"`buckets`={total} is more than the layer's {int(n.sum())} virtual weights."
        )

    def quotas(lam):
        return np.clip(lam * w, 1.0, n)

    # sum(quotas(lam)) is piecewise linear and non-decreasing in lam, with kinks
    # at 1/w_b and n_b/w_b: find the segment holding K, then solve it exactly.
    kinks = np.unique(np.concatenate([1.0 / w, n / w]))
    sums = np.array([quotas(t).sum() for t in kinks])
    i = int(np.searchsorted(sums, total, side="left"))
    if i == 0:
        lam = kinks[0]
    elif i == len(kinks):
        lam = kinks[-1]
    else:
        lo, hi = kinks[i - 1], kinks[i]
        mid = 0.5 * (lo + hi)  # the bands strictly between their bounds on this segment
        free = (mid * w > 1.0) & (mid * w < n)
        fixed = quotas(mid)[~free].sum()
        lam = (total - fixed) / w[free].sum() if free.any() else lo
    q = quotas(lam)
    k = np.floor(q).astype(np.int64)
    k = np.clip(k, 1, n.astype(np.int64))
    frac = q - k
    order = sorted(range(bands), key=lambda b: (-frac[b], b))
    while k.sum() < total:  # hand out the remaining buckets, largest remainder first
        for b in order:
            if k.sum() < total and k[b] < n[b]:
                k[b] += 1
    while k.sum() > total:  # only from float round-off: take back, smallest first
        for b in reversed(order):
            if k.sum() > total and k[b] > 1:
                k[b] -= 1
    return [int(v) for v in k]


def check_band_buckets(kernel_shape, band_buckets, buckets=None) -> list[int]:
    """Validates a per-band bucket list for a kernel; returns it as ints."""
    n = band_sizes(kernel_shape)
    try:
        values = list(band_buckets)
    except TypeError:
        values = None
    if values is None or len(values) != len(n) or not all(map(validate.is_int, values)):
        raise ValueError(
            f"band_buckets must be {len(n)} integers (one per band), got {band_buckets!r}."
        )
    values = [int(v) for v in values]
    if any(not 1 <= v <= nb for v, nb in zip(values, n)):
        raise ValueError(f"band_buckets {values} must satisfy 1 <= K_b <= n_b = {n}.")
    if buckets is not None and sum(values) != buckets:
        raise ValueError(
            f"band_buckets {values} sum to {sum(values)}, not to the layer's {buckets} buckets."
        )
    return values


def band_offsets(band_buckets) -> list[int]:
    """``offset_b = sum_{b' < b} K_b'``: where each band's pool starts."""
    return [int(v) for v in np.concatenate([[0], np.cumsum(band_buckets)[:-1]])]


def band_bucket_and_sign(kernel_shape, band_buckets, seed, *, use_sign: bool = True):
    """Bucket index and sign of every frequency coefficient of a FreshNets kernel.

    Coefficient ``F[j1, j2, c, o]`` has key ``((j1*kw + j2)*in + c)*out + o``
    and band ``b = j1 + j2``; its bucket is ``offset_b + (xxh32(key, seed_h)
    mod K_b)`` and its sign the plain contract's. The keys of one frequency
    ``(j1, j2)`` are a contiguous run, so each run is hashed by
    :func:`bucket_and_sign` with ``K_b`` buckets: the same code, not a copy.

    Args:
      kernel_shape: ``[kh, kw, in, out]``.
      band_buckets: ``[K_0, ..., K_{B-1}]`` (see :func:`allocate_band_buckets`).
      seed: the layer seed.
      use_sign: if False every sign is +1.

    Returns:
      ``(index, sign)`` as :func:`bucket_and_sign`: length ``kh*kw*in*out``, in
      key order, ``index`` in ``[0, sum K_b)``.
    """
    kh, kw, cin, cout = _kernel_shape(kernel_shape)
    band_buckets = check_band_buckets((kh, kw, cin, cout), band_buckets)
    total = sum(band_buckets)
    size = kh * kw * cin * cout
    check_virtual_size(size, total)
    offsets = band_offsets(band_buckets)
    run = cin * cout
    index = np.empty(size, np.int32 if total < 2**31 else np.int64)
    sign = np.empty(size, np.float32)
    for j1 in range(kh):
        for j2 in range(kw):
            band = j1 + j2
            start = (j1 * kw + j2) * run
            idx, sgn = bucket_and_sign(
                run, band_buckets[band], seed, use_sign=use_sign, offset=start
            )
            index[start : start + run] = idx.astype(index.dtype) + offsets[band]
            sign[start : start + run] = sgn
    return index, sign
