"""``compress(model, ...)``: one call turns a Keras model into its hashed twin."""

from __future__ import annotations

import logging
import warnings

import keras
import numpy as np

from hashed_keras import hashing
from hashed_keras.layers import FreshConv2D, HashedConv2D, HashedDense, HashedLayer
from hashed_keras.layers import weight_sharing
from hashed_keras.replaceable import has_kernel, is_sequential_or_functional, replaceable_kind
from hashed_keras.smh import SMHFactors, SMHLayer, compress_smh

METHODS = ("hashed", "freshnets", "smh")

_log = logging.getLogger(__name__)

# Constructor arguments carried over from the dense layer to its hashed twin.
_COMMON_KEYS = ("name", "activation", "use_bias", "bias_initializer", "kernel_regularizer",
                "bias_regularizer", "activity_regularizer", "kernel_constraint",
                "bias_constraint", "dtype", "trainable")
_CONV_KEYS = ("filters", "kernel_size", "strides", "padding", "data_format",
              "dilation_rate")


def _freshnets_too_small(layer, config, compression):
    """Why a built Conv2D cannot be a FreshConv2D at ``compression`` (or None)."""
    if not layer.built:
        return None  # FreshConv2D.build raises its own error if it is too small
    size = int(np.prod(layer.kernel.shape))
    buckets = weight_sharing.resolve_buckets(size, compression)
    bands = hashing.num_bands(*config["kernel_size"])
    if buckets >= bands:
        return None
    return (f"FreshConv2D needs >= {bands} buckets (one per frequency band), compression "
            f"{compression:g} gives {buckets} of {size}: raise it with per_layer, or skip")


def _hashed_twin(layer, compression, seed, method="hashed"):
    kind, reason = replaceable_kind(layer)
    if kind is None:
        return None, reason
    config = layer.get_config()
    kwargs = {k: config[k] for k in _COMMON_KEYS if k in config}
    if kind == "dense":
        return HashedDense(config["units"], compression=compression, seed=seed, **kwargs), None
    if method == "freshnets":
        reason = _freshnets_too_small(layer, config, compression)
        if reason:
            return None, reason
        return FreshConv2D(compression=compression, seed=seed,
                           **{k: config[k] for k in _CONV_KEYS}, **kwargs), None
    return HashedConv2D(compression=compression, seed=seed,
                        **{k: config[k] for k in _CONV_KEYS}, **kwargs), None


def _project(dense_layer, hashed_layer):
    """Least-squares buckets for a trained dense kernel: bucket-wise signed means.

    A FreshConv2D hashes the kernel's DCT coefficients, so those are averaged;
    the DCT is orthonormal, so this is also the least-squares fit of the
    spatial kernel.
    """
    kernel = keras.ops.convert_to_numpy(dense_layer.kernel)
    if isinstance(hashed_layer, FreshConv2D):
        kernel = hashing.dct2_kernel(kernel)
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


def compress(model, method="hashed", compression=1 / 8, skip=(), per_layer=None,
             seed=None, initialize="project", *, target_size=None, fraction=None,
             learn_scale=True):
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

    >>> hashed = hashed_keras.compress(model, compression=1 / 8, skip=["conv1"])
    >>> hashed.compile("adam", "sparse_categorical_crossentropy")
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")
    if method == "smh":
        if per_layer:
            raise ValueError("`per_layer` does not apply to method='smh' (one budget for "
                             "the whole model): use `target_size` or `fraction`, and `skip`.")
        return compress_smh(model, target_size=target_size, fraction=fraction,
                            learn_scale=learn_scale, seed=seed, skip=skip)
    if target_size is not None or fraction is not None:
        raise ValueError(f"`target_size`/`fraction` are for method='smh'; method={method!r} "
                         "takes `compression` (per layer).")
    if initialize not in ("project", "random"):
        raise ValueError(f"`initialize` must be 'project' or 'random', got {initialize!r}.")
    if not is_sequential_or_functional(model):
        raise ValueError(
            "compress() needs a Sequential or functional keras.Model; subclassed models "
            "cannot be cloned layer by layer. Build the model functionally, or use "
            "hashed_keras.layers.HashedDense/HashedConv2D in its definition.")
    per_layer = dict(per_layer or {})
    names = {layer.name for layer in model.layers}
    unknown = sorted((set(skip) | set(per_layer)) - names)
    if unknown:
        raise ValueError(
            f"Layers {unknown} named in `skip`/`per_layer` are not in the model; its "
            f"layers are {sorted(names)}.")
    for name, value in [("compression", compression)] + [
            (f"per_layer[{k!r}]", v) for k, v in per_layer.items()]:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ValueError(f"`{name}` must be in (0, 1], got {value!r}.")

    replaced, unsupported = {}, []
    counter = iter(range(len(model.layers)))

    def clone(layer):
        index = next(counter)
        if layer.name not in skip:
            layer_seed = None if seed is None else (int(seed) + index) % 2**32
            twin, reason = _hashed_twin(layer, per_layer.get(layer.name, compression),
                                        layer_seed, method)
            if twin is not None:
                replaced[layer.name] = (layer, twin)
                return twin
            if reason is None and has_kernel(layer) and not isinstance(layer, HashedLayer):
                reason = f"no hashed twin for {type(layer).__name__}"
            if reason:
                unsupported.append((layer.name, reason))
        return layer.__class__.from_config(layer.get_config())

    new_model = keras.models.clone_model(model, clone_function=clone)
    for old, new in zip(model.layers, new_model.layers):
        if old.name in replaced:
            if initialize == "project" and old.built:
                _project(old, new)
        elif old.weights:
            new.set_weights(old.get_weights())
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
      The rows: a list of dicts with ``name``, ``type``, ``virtual``
      (parameters of the equivalent dense layer), ``stored`` (trainable and
      non-trainable scalars actually stored) and ``hashed`` (bool), one per
      layer with weights, and a final ``"total"`` row.

    Example:

    >>> import keras, hashed_keras
    >>> model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    >>> rows = hashed_keras.summarize(hashed_keras.compress(model, compression=1 / 8),
    ...                               print_fn=None)
    >>> rows[-1]["virtual"], rows[-1]["stored"]
    (650, 90)
    """
    rows = []
    for layer in model.layers:
        if not layer.weights:
            continue
        stored = int(sum(np.prod(w.shape) for w in layer.weights))
        compressed = isinstance(layer, (HashedLayer, SMHLayer, SMHFactors))
        if isinstance(layer, (HashedLayer, SMHLayer)):
            virtual = layer.kernel_size_virtual + layer.bias_size
        elif isinstance(layer, SMHFactors):
            virtual = 0  # storage only: its layers count the virtual weights
        else:
            virtual = stored
        # A layer that stores less than its variables (MaskedDense: kept weights only).
        stored = int(getattr(layer, "stored_parameters", stored))
        rows.append({"name": layer.name, "type": type(layer).__name__,
                     "virtual": int(virtual), "stored": stored, "hashed": compressed})
    rows.append({"name": "total", "type": "",
                 "virtual": sum(r["virtual"] for r in rows),
                 "stored": sum(r["stored"] for r in rows),
                 "hashed": any(r["hashed"] for r in rows)})
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
        ratio = f"{r['stored'] / r['virtual']:.4f}" if r["virtual"] else "(shared)"
        lines.append(f"{r['name'][:28]:<28} {r['type'][:18]:<18} {r['virtual']:>12,} "
                     f"{r['stored']:>10,} {ratio:>15}")
    return "\n".join(lines)
