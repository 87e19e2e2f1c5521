"""Reports on an SMH model: its layers, sizes, and the numpy reference of its weights."""

from __future__ import annotations

import keras
import numpy as np

from hashed_keras.layers.smh import SMHLayer
from hashed_keras.layers.smh_factors import SMHFactors


def smh_layers(model):
    """The model's :class:`SMHLayer` layers, in tiling order (by ``start``)."""
    return sorted(
        (layer for layer in model.layers if isinstance(layer, SMHLayer)),
        key=lambda layer: layer.start,
    )


def smh_factors(model):
    """The model's :class:`SMHFactors` layer.

    Raises:
      ValueError: if the model has none, or more than one.
    """
    found = [layer for layer in model.layers if isinstance(layer, SMHFactors)]
    if len(found) != 1:
        raise ValueError(
            f"Expected one SMHFactors layer in model '{model.name}', found {len(found)}."
        )
    return found[0]


def smh_summary(model) -> dict:
    """Sizes of an SMH model: per layer and global.

    Returns:
      A dict with ``n``, ``rank``, ``virtual_size`` (``N``: weights read from
      ``M_hat``), ``factors_size`` (``2 M n``), ``scales`` (``L``),
      ``stored_size`` (``2 M n + L``), ``compression`` (``stored_size / N``),
      ``layers`` (per SMH layer: ``name``, ``type``, ``start``, ``kernel_weights``,
      ``bias_size``, ``virtual``, ``rows``, ``scale``) and ``rows``: the same
      per-layer table as :func:`hashed_keras.summarize` (``name``, ``type``,
      ``virtual``, ``stored``, ``hashed``; the factors' row holds the shared
      ``2 M n``, and a final ``"total"`` row).

    Example:

    >>> model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(16, 3),
    ...                           keras.layers.Flatten(), keras.layers.Dense(10)])
    >>> report = smh_summary(compress_smh(model, fraction=1 / 8, seed=0))
    >>> report["stored_size"], report["virtual_size"]
    (13522, 108330)
    """
    factors = smh_factors(model)
    layers = smh_layers(model)
    per_layer = []
    for layer in layers:
        spec = layer.smh_spec()
        per_layer.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "start": spec["start"],
                "kernel_weights": spec["kernel_weights"],
                "bias_size": spec["bias_size"],
                "virtual_size": spec["size"],
                "rows": spec["rows"],
                "scale": spec["scale"],
            }
        )
    virtual = sum(r["virtual_size"] for r in per_layer)
    stored = factors.stored_size() + len(layers)
    from hashed_keras.compress import summarize  # which imports this package

    rows = summarize(model, print_fn=None)
    return {
        "n": factors.n,
        "rank": factors.rank,
        "virtual_size": virtual,
        "factors_size": factors.stored_size(),
        "scales": len(layers),
        "stored_size": stored,
        "compression": stored / max(1, virtual),
        "layers": per_layer,
        "rows": rows,
    }


def smh_weights(model) -> dict:
    """The virtual kernel and bias of every SMH layer, rebuilt in numpy (float64).

    This is the reference implementation of the layout contract
    (``docs/smh.md``): ``flat = (U^T @ V).reshape(-1)``; layer ``l``'s kernel
    is ``scale * flat[start : start + kernel_size]`` reshaped to
    ``kernel_shape``, its bias ``scale * bias_scale * flat[bias_start :
    bias_start + bias_size]``. (It forms the full ``M_hat``, which a layer
    never does; it is meant for tests and inspection.)

    Returns:
      ``{layer_name: (kernel, bias_or_None)}``.
    """
    factors = smh_factors(model)
    u = keras.ops.convert_to_numpy(factors.U).astype(np.float64)
    v = keras.ops.convert_to_numpy(factors.V).astype(np.float64)
    flat = (u.T @ v).reshape(-1)
    out = {}
    for layer in smh_layers(model):
        spec = layer.smh_spec()
        scale = float(keras.ops.convert_to_numpy(layer.scale))
        kernel = scale * flat[spec["start"] : spec["start"] + spec["kernel_weights"]]
        bias = None
        if spec["use_bias"]:
            b0 = spec["bias_start"]
            bias = scale * spec["bias_scale"] * flat[b0 : b0 + spec["bias_size"]]
        out[layer.name] = (kernel.reshape(spec["kernel_shape"]), bias)
    return out
