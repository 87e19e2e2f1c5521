"""``compress(model, ...)``: one call turns a Keras model into its hashed twin."""

from __future__ import annotations

import logging
import warnings

import keras
import numpy as np

from hashed_keras import validate
from hashed_keras.layers import FreshConv2D, HashedConv2D, HashedDense, HashedLayer
from hashed_keras.layers.compressed import CompressedLayer
from hashed_keras.replaceable import (
    check_rebuildable,
    has_kernel,
    make_twin,
    replaceable_kind,
    rewrite,
)
from hashed_keras.smh import compress_smh

# The registry of compression methods: what `compress` turns a Dense ("dense") or a
# Conv2D ("conv") into, layer by layer; or the function that compresses the whole model.
TWINS = {
    "hashed": {"dense": HashedDense, "conv": HashedConv2D},
    "freshnets": {"dense": HashedDense, "conv": FreshConv2D},
}
WHOLE_MODEL = {"smh": compress_smh}
METHODS = (*TWINS, *WHOLE_MODEL)

_log = logging.getLogger(__name__)

# Constructor arguments carried over from the dense layer to its hashed twin.
_COMMON_KEYS = (
    "name",
    "activation",
    "use_bias",
    "bias_initializer",
    "kernel_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "bias_constraint",
    "dtype",
    "trainable",
)


def _project(dense_layer, hashed_layer):
    """Least-squares buckets for a trained dense kernel: bucket-wise signed means.

    A FreshConv2D hashes the kernel's DCT coefficients, so those are averaged;
    the DCT is orthonormal, so this is also the least-squares fit of the
    spatial kernel.
    """
    kernel = hashed_layer.hashed_kernel(keras.ops.convert_to_numpy(dense_layer.kernel))
    values = [kernel.reshape(-1)]
    if hashed_layer.hash_bias:
        values.append(keras.ops.convert_to_numpy(dense_layer.bias))
    virtual = np.concatenate(values).astype(np.float64)
    index = hashed_layer._index.numpy()
    sign = hashed_layer._sign.numpy().astype(np.float64)
    k = hashed_layer.num_buckets
    sums = np.bincount(index, weights=virtual * sign, minlength=k)
    counts = np.maximum(np.bincount(index, minlength=k), 1)
    hashed_layer.shared.assign((sums / counts).astype(hashed_layer.shared.dtype))
    if hashed_layer.bias is not None:
        hashed_layer.bias.assign(keras.ops.convert_to_numpy(dense_layer.bias))


def compress(
    model,
    method="hashed",
    compression=1 / 8,
    skip=(),
    per_layer=None,
    seed=None,
    initialize="project",
    *,
    target_size=None,
    fraction=None,
    learn_scale=True,
):
    """Returns a trainable copy of ``model`` with Dense/Conv2D layers hashed.

    Sequential and functional structure is preserved (the model is rebuilt with
    ``keras.models.clone_model``); layers that are not replaced keep their
    weights. Like ``tfmot.clustering.keras.cluster_weights``, one call does it.

    Args:
      model: a built Sequential or functional ``keras.Model``.
      method: ``"smh"`` (Structured Multi-Hashing: every Dense/Conv2D kernel
        and bias read from one shared ``U^T V``, sized by ``target_size`` or
        ``fraction``), ``"hashed"`` (HashedNets: Dense -> HashedDense, Conv2D ->
        HashedConv2D) or ``"freshnets"`` (FreshNets: Dense -> HashedDense,
        Conv2D -> FreshConv2D, hashed in the frequency domain; a Conv2D too
        small for one bucket per frequency band at its compression is left
        as it is, with the reason in the warning).
      compression: the fraction of each layer's virtual weights to store.
      skip: names of layers to leave dense (e.g. a small first conv).
      per_layer: ``{layer_name: compression}`` overriding ``compression``.
      seed: base seed; layer ``i`` gets seed ``seed + i`` (None: fresh seeds).
      target_size, fraction, learn_scale: for ``method="smh"`` only (one of
        the first two): the whole model's stored size, as a count or as a
        fraction of its compressible weights, and whether the per-layer scale
        is learned (:func:`hashed_keras.smh.compress_smh`; ``compression``,
        ``per_layer`` and ``initialize`` do not apply).
      initialize: ``"project"`` sets each layer's buckets to the
        least-squares fit of the original (trained) kernel (for FreshConv2D,
        of its DCT coefficients) and copies its bias;
        ``"random"`` uses the hashed layer's initializer.

    Returns:
      The new model. Layers that hold weights but have no hashed twin are left
      as they are, and listed in a warning; :func:`summarize` shows all.

    Raises:
      ValueError: for an unknown method, a subclassed model, names in ``skip``
        or ``per_layer`` that are not layers of the model, or a compression
        outside (0, 1].

    Example:

    >>> model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(
    ...     8, 3, name="conv1"), keras.layers.Flatten(), keras.layers.Dense(10)])
    >>> hashed = hashed_keras.compress(model, compression=1 / 8, skip=["conv1"])
    >>> [type(layer).__name__ for layer in hashed.layers]
    ['Conv2D', 'Flatten', 'HashedDense']
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")
    if method in WHOLE_MODEL:
        if per_layer:
            raise ValueError(
                f"`per_layer` does not apply to method={method!r} (one budget "
                "for the whole model): use `target_size` or `fraction`, and "
                "`skip`."
            )
        return WHOLE_MODEL[method](
            model,
            target_size=target_size,
            fraction=fraction,
            learn_scale=learn_scale,
            seed=seed,
            skip=skip,
        )
    if target_size is not None or fraction is not None:
        raise ValueError(
            f"`target_size`/`fraction` are for method='smh'; method={method!r} "
            "takes `compression` (per layer)."
        )
    if initialize not in ("project", "random"):
        raise ValueError(f"`initialize` must be 'project' or 'random', got {initialize!r}.")
    check_rebuildable(model, "compress", "hashed_keras.layers.HashedDense/HashedConv2D")
    per_layer = dict(per_layer or {})
    names = {layer.name for layer in model.layers}
    unknown = sorted((set(skip) | set(per_layer)) - names)
    if unknown:
        raise ValueError(
            f"Layers {unknown} named in `skip`/`per_layer` are not in the model; its "
            f"layers are {sorted(names)}."
        )
    for name, value in [("compression", compression)] + [
        (f"per_layer[{k!r}]", v) for k, v in per_layer.items()
    ]:
        validate.fraction(value, name)

    replaced, unsupported = [], []
    counter = iter(range(len(model.layers)))

    def replace(layer):
        index = next(counter)
        if layer.name in skip:
            return None
        rate = per_layer.get(layer.name, compression)
        kind, reason = replaceable_kind(layer)
        twin = TWINS[method][kind] if kind else None
        reason = reason or (twin and twin.cannot_replace(layer, rate))
        if twin is not None and not reason:
            new = make_twin(
                twin,
                layer,
                kind,
                _COMMON_KEYS,
                compression=rate,
                seed=None if seed is None else (int(seed) + index) % 2**32,
            )
            replaced.append((layer, new))
            return new
        if reason is None and has_kernel(layer) and not isinstance(layer, HashedLayer):
            reason = f"no hashed twin for {type(layer).__name__}"
        if reason:
            unsupported.append((layer.name, reason))
        return None

    new_model = rewrite(model, replace)
    for old, new in replaced:
        if initialize == "project" and old.built:
            _project(old, new)
    if unsupported:
        listing = ", ".join(f"{n} ({r})" for n, r in unsupported)
        warnings.warn(f"compress(): left unchanged: {listing}.", stacklevel=2)
    _log.info("compress(): hashed %d layers, left %d", len(replaced), len(unsupported))
    return new_model


def summarize(model, print_fn=print):
    """Prints the per-layer sizes of a (possibly hashed) model, like ``model.summary()``.

    Args:
      model: a Keras model.
      print_fn: called with the table's text; ``None`` prints nothing.

    Returns:
      The rows: a list of dicts with ``name``, ``type``, ``virtual_size``
      (parameters of the equivalent dense layer), ``stored_size`` (trainable and
      non-trainable scalars actually stored) and ``hashed`` (bool), one per
      layer with weights, and a final ``"total"`` row.

    Example:

    >>> import keras, hashed_keras
    >>> model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    >>> rows = hashed_keras.summarize(hashed_keras.compress(model, compression=1 / 8),
    ...                               print_fn=None)
    >>> rows[-1]["virtual_size"], rows[-1]["stored_size"]
    (650, 90)
    """
    rows = []
    for layer in model.layers:
        if not layer.weights:
            continue
        virtual = stored = int(sum(np.prod(w.shape) for w in layer.weights))
        compressed = isinstance(layer, CompressedLayer)
        if compressed:
            virtual, stored = layer.dense_size(), layer.stored_size()
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "virtual_size": int(virtual),
                "stored_size": int(stored),
                "hashed": compressed and layer.shares_weights,
            }
        )
    rows.append(
        {
            "name": "total",
            "type": "",
            "virtual_size": sum(r["virtual_size"] for r in rows),
            "stored_size": sum(r["stored_size"] for r in rows),
            "hashed": any(r["hashed"] for r in rows),
        }
    )
    if print_fn is not None:
        print_fn(format_summary(rows))
    return rows


def format_summary(rows) -> str:
    """The rows of :func:`summarize` as a text table."""
    head = f"{'layer':<28} {'type':<18} {'virtual':>12} {'stored':>10} {'stored/virtual':>15}"
    lines = [head, "-" * len(head)]
    for r in rows:
        if r["name"] == "total":
            lines.append("-" * len(head))
        ratio = f"{r['stored_size'] / r['virtual_size']:.4f}" if r["virtual_size"] else "(shared)"
        lines.append(
            f"{r['name'][:28]:<28} {r['type'][:18]:<18} {r['virtual_size']:>12,} "
            f"{r['stored_size']:>10,} {ratio:>15}"
        )
    return "\n".join(lines)
