"""SMH layout planning: the virtual matrix's size and where each layer starts, and
the per-layer initial scale (the std of the original kernel initializer)."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras.src.initializers.random_initializers import compute_fans

from hashed_keras import validate


def initializer_std(initializer, shape) -> float:
    """The standard deviation of ``initializer``'s draws for a kernel of ``shape``.

    Exact for ``VarianceScaling`` and its subclasses (Glorot, He, LeCun:
    ``sqrt(scale / fan)``, which Keras keeps also after truncation), and for
    ``RandomNormal``/``RandomUniform``/``TruncatedNormal``; otherwise measured
    on one draw. A zero std (e.g. ``"zeros"``) falls back to Glorot's
    ``sqrt(2 / (fan_in + fan_out))``.

    Args:
      initializer: a Keras initializer, its name or its config.
      shape: the Keras-layout kernel shape.

    Returns:
      A positive float.

    Example:

    >>> round(initializer_std("glorot_uniform", (3, 3, 16, 16)), 4)  # sqrt(2/288)
    0.0833
    """
    init = keras.initializers.get(initializer)
    fan_in, fan_out = compute_fans(shape)
    std = None
    if isinstance(init, keras.initializers.VarianceScaling):
        fan_in, fan_out = compute_fans(
            shape, getattr(init, "input_axes", None), getattr(init, "output_axes", None)
        )
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[init.mode]
        std = math.sqrt(float(init.scale) / max(1.0, fan))
    elif isinstance(init, keras.initializers.TruncatedNormal):
        # Keras' truncated normal: cut at 2 stddev; the std after truncation.
        std = 0.8796256610342398 * float(init.get_config()["stddev"])
    elif isinstance(init, keras.initializers.RandomNormal):
        std = float(init.get_config()["stddev"])
    elif isinstance(init, keras.initializers.RandomUniform):
        cfg = init.get_config()
        std = (float(cfg["maxval"]) - float(cfg["minval"])) / math.sqrt(12.0)
    else:
        try:
            std = float(np.std(keras.ops.convert_to_numpy(init(tuple(shape)))))
        except Exception:  # noqa: BLE001 - any initializer we cannot evaluate
            std = 0.0
    if not (std and math.isfinite(std) and std > 0):
        std = math.sqrt(2.0 / max(1, fan_in + fan_out))
    return std


def plan_layout(sizes, target_size=None, fraction=None):
    """The SMH geometry for layers of ``sizes`` virtual weights (in order).

    Args:
      sizes: per layer, kernel size plus bias size, in tiling order.
      target_size: the wanted stored size ``T`` (``2 * M * n`` plus one
        scale per layer), or
      fraction: ``T = round(fraction * N)`` with ``N = sum(sizes)``.

    Returns:
      ``dict(N=..., n=..., M=..., starts=[...], target_size=T, stored_size=...)``
      with ``n0 = ceil(sqrt(N))`` (the paper's ``n``), ``M = max(1, floor((T -
      L) / (2 n0)))`` and ``n = max(n0, round((T - L) / (2 M)))``: the paper's
      ``M = ceil(T / 2n)`` moves the size in steps of ``2n`` (4% of a small
      target); widening the virtual matrix by a few columns instead puts the
      stored size ``2 M n + L`` within ``M`` of ``T``. Layer ``l`` starts at
      ``sum(sizes[:l])``.

    Raises:
      ValueError: if both or neither of ``target_size``/``fraction`` are
        given, ``fraction`` is outside (0, 1], or ``T`` is larger than ``N``
        or smaller than the smallest SMH size ``2 n + L`` (``M = 1``).
    """
    if (target_size is None) == (fraction is None):
        raise ValueError(
            "Pass exactly one of `target_size` (stored scalars) or `fraction` (of the "
            f"model's weights), got target_size={target_size!r}, fraction={fraction!r}."
        )
    sizes = [int(s) for s in sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"Layer sizes must be positive, got {sizes}.")
    total = sum(sizes)
    n = math.isqrt(total - 1) + 1  # ceil(sqrt(N)), exact for big N
    layers = len(sizes)
    smallest = 2 * n + layers
    if fraction is not None:
        what = f"the fraction of the model's {total} weights that is stored"
        target = int(round(validate.fraction(fraction, "fraction", what) * total))
        what = f"`fraction`={fraction!r} gives a target of {target} stored scalars, which"
    else:
        target = validate.integer(target_size, "target_size")
        if target > total:
            raise ValueError(
                f"`target_size`={target} is larger than the {total} weights it would "
                "compress; pass at most that (or keep the dense model)."
            )
        what = f"`target_size`={target}"
    if target < smallest:
        raise ValueError(
            f"{what} is below the smallest SMH model of these {layers} layers: "
            f"2*n + {layers} = {smallest} (M = 1: U and V are 1 x n each with n = {n} "
            f"= ceil(sqrt({total})), plus one scale per layer). Use target_size >= "
            f"{smallest} (fraction >= {smallest / total:.3g})."
        )
    # M as large as n = ceil(sqrt(N)) allows, then n widened so that
    # 2 M n + L lands within M of T (n^2 >= N still holds): the size is within
    # 1/(2n) of the target instead of in steps of 2n.
    rank = max(1, (target - layers) // (2 * n))
    n = max(n, int(round((target - layers) / (2 * rank))))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist()
    return {
        "N": total,
        "n": n,
        "rank": rank,
        "starts": starts,
        "target_size": target,
        "stored_size": 2 * rank * n + layers,
    }
