"""The model zoo: the HashedNets paper's MLPs and small CNNs, in every method.

``build(name, method, input_shape, num_classes, compression)`` returns an
uncompiled Keras model. ``method`` is ``"dense"``, ``"hashed"`` (HashedNets
layers in place of Dense/Conv2D), ``"freshnets"`` (FreshConv2D for the convs,
HashedDense for the dense layers, as in the FreshNets paper) or
``"smh"`` / ``"smh_fixed_scale"`` (Structured Multi-Hashing of the whole
model, with or without the learned per-layer scale) or ``"small_dense"`` (the
paper's "NN" baseline: the same architecture, narrower, with about as many
stored parameters as the hashed model). ``resnet20`` is built dense and then
converted by :func:`hashed_keras.compress` (random initialisation).

Two more of the HashedNets paper's baselines are built from the dense model by
rewriting its layers (so every architecture, ``resnet20`` included, has them):

- ``"lrd"`` (low-rank decomposition): each Dense layer ``fcN`` becomes
  ``fcN_u = Dense(r, use_bias=False)`` then ``fcN_v = Dense(units)`` (with the
  original activation and bias), each Conv2D ``convN`` becomes
  ``convN_u = Conv2D(r, k, strides, no bias)`` then a 1x1 ``convN_v =
  Conv2D(filters)``. Layer ``l`` gets rank ``r_l = round(s * a_l b_l / (a_l +
  b_l))`` (``a x b`` its kernel as a matrix, ``a b / (a + b)`` the rank at
  which the factors store as much as the kernel), clipped to ``[1, min(a,
  b)]``, except that a layer with at most 16 outputs or inputs keeps its full
  rank (a rank-1 classifier cannot separate 10 classes); a layer whose factors
  would store as much as its kernel stays dense. The one scale
  ``s`` is chosen by the same bisection as
  ``small_dense`` so that the model stores about as many parameters as the
  hashed model. Ranks are integers with that floor, so a small model (or a
  high compression) can miss that target; a warning says so beyond 5%.
- ``"rer"`` (random edge removal): the dense architecture with
  :class:`~hashed_keras.layers.MaskedDense` / ``MaskedConv2D`` layers, each
  keeping a fixed random ``compression`` fraction of its kernel (the mask is
  recomputed from the layer seed). Stored parameters are the kept weights plus
  the biases, as many as the hashed model stores (up to the per-band minimum
  of the hashed zoo convs, below); virtual parameters are the dense model's.

A compressed conv layer keeps at least ``kh + kw - 1`` buckets (one per
frequency band of FreshNets; for a 3x3 conv, 5), in both ``hashed`` and
``freshnets``, so the two always store the same number of variables; this
only matters for a tiny first conv at a high compression.
"""

from __future__ import annotations

import functools
import warnings

import keras
import numpy as np

from hashed_keras import hashing
from hashed_keras.compress import compress, summarize
from hashed_keras.layers import (
    FreshConv2D,
    HashedConv2D,
    HashedDense,
    MaskedConv2D,
    MaskedDense,
    weight_sharing,
)
from hashed_keras.replaceable import replaceable_kind, rewrite
from hk_experiments import zoo

MODELS = (*zoo.ARCHS, "resnet20")
METHODS = ("dense", "hashed", "freshnets", "smh", "smh_fixed_scale", "small_dense", "lrd", "rer")


def _zoo_model(arch, width, layer_fn, input_shape, num_classes, dropout, input_dropout):
    """A :data:`hk_experiments.zoo.ARCHS` architecture, its layers made by ``layer_fn``."""
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    if input_dropout:
        x = keras.layers.Dropout(input_dropout, name="input_dropout")(x)
    for i, filters in enumerate(arch.convs):
        layer_pad = zoo.conv_padding(arch.pad, *x.shape[1:3])
        x = layer_fn(
            "conv",
            max(1, round(filters * width)),
            f"conv{i + 1}",
            activation="relu",
            padding=layer_pad,
            in_channels=x.shape[-1],
        )(x)
        if min(x.shape[1:3]) >= 2:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(arch.dense):
        x = layer_fn("dense", max(1, round(units * width)), f"fc{i + 1}", activation="relu")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
    outputs = layer_fn("dense", num_classes, "logits", activation="softmax")(x)
    return inputs, outputs


def _resnet(
    width, layer_fn, input_shape, num_classes, dropout, input_dropout, blocks=3, widths=(16, 32, 64)
):
    """ResNet-20 (He et al. 2016, the CIFAR variant): a 3x3 stem, three stages of
    ``blocks`` basic blocks (16/32/64 filters, stride 2 between stages, 1x1
    projection shortcuts), global average pooling, a softmax layer. Built
    dense; the compressed methods convert it (see :func:`build`). No dropout:
    it has BatchNormalization instead."""
    del layer_fn, dropout, input_dropout
    layers = keras.layers
    widths = [max(1, round(w * width)) for w in widths]
    inputs = keras.Input(input_shape, name="image")
    x = layers.Conv2D(widths[0], 3, padding="same", use_bias=False, name="stem")(inputs)
    x = layers.ReLU(name="stem_relu")(layers.BatchNormalization(name="stem_bn")(x))
    for stage, filters in enumerate(widths):
        for block in range(blocks):
            name = f"s{stage + 1}b{block + 1}"
            strides = 2 if stage > 0 and block == 0 else 1
            y = layers.Conv2D(
                filters,
                3,
                strides=strides,
                padding="same",
                use_bias=False,
                kernel_initializer="he_normal",
                name=f"{name}_conv1",
            )(x)
            y = layers.ReLU(name=f"{name}_relu1")(layers.BatchNormalization(name=f"{name}_bn1")(y))
            y = layers.Conv2D(
                filters,
                3,
                padding="same",
                use_bias=False,
                kernel_initializer="he_normal",
                name=f"{name}_conv2",
            )(y)
            y = layers.BatchNormalization(name=f"{name}_bn2")(y)
            if strides > 1 or x.shape[-1] != filters:
                x = layers.Conv2D(filters, 1, strides=strides, use_bias=False, name=f"{name}_proj")(
                    x
                )
                x = layers.BatchNormalization(name=f"{name}_proj_bn")(x)
            x = layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([x, y]))
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="logits")(x)
    return inputs, outputs


# Built dense, then turned into their compressed twin by compress() (random init).
_COMPRESSED_AFTER_BUILD = ("resnet20",)

_ARCHS = {
    **{name: functools.partial(_zoo_model, arch) for name, arch in zoo.ARCHS.items()},
    "resnet20": _resnet,
}


def _layer_factory(method, compression, seed):
    counter = [0]

    def make(kind, size, name, activation, padding="same", in_channels=None):
        counter[0] += 1
        layer_seed = None if seed is None else (seed * 1000 + counter[0]) % 2**32
        kernel = zoo.kernel_size(padding)
        if kind == "dense":
            if method in ("hashed", "freshnets"):
                return HashedDense(
                    size, compression=compression, seed=layer_seed, activation=activation, name=name
                )
            return keras.layers.Dense(size, activation=activation, name=name)
        if method in ("hashed", "freshnets"):
            virtual = kernel * kernel * int(in_channels) * size
            buckets = max(
                weight_sharing.resolve_buckets(virtual, compression),
                hashing.num_bands(kernel, kernel),
            )
            conv = HashedConv2D if method == "hashed" else FreshConv2D
            return conv(
                size,
                kernel,
                padding=padding,
                buckets=buckets,
                seed=layer_seed,
                activation=activation,
                name=name,
            )
        return keras.layers.Conv2D(size, kernel, padding=padding, activation=activation, name=name)

    return make


def _match_scale(stored_at, target, low=1e-3, high=1.0, steps=40):
    """The scale in ``[low, high]`` whose ``stored_at(scale)`` (non-decreasing)
    is closest to ``target``, by bisection."""
    for _ in range(steps):
        mid = (low + high) / 2
        if stored_at(mid) > target:
            high = mid
        else:
            low = mid
    return min((low, high), key=lambda w: abs(stored_at(w) - target))


def _rebuild(model, replace):
    """A fresh (re-initialised) copy of functional ``model`` in which
    ``replace(layer)`` (a list of layers, applied in a chain, or None: a plain
    copy) stands for each layer."""
    return rewrite(model, replace, keep_weights=False)


def _factor_sides(layer, kind):
    """``(a, b)``: the layer's kernel as an ``a x b`` matrix (rows: inputs, for a
    conv its ``kh * kw * in_channels`` window)."""
    shape = [int(d) for d in layer.kernel.shape]
    return (shape[0], shape[1]) if kind == "dense" else (shape[0] * shape[1] * shape[2], shape[3])


# A layer with at most this many outputs (or inputs) keeps its full rank: a
# rank-1 classifier cannot separate 10 classes, which made LRD look far worse
# than the method is.
LRD_FULL_RANK_BELOW = 16


def _lrd_rank(a, b, scale):
    """The layer's rank, or None when factoring would not store less than the kernel."""
    floor = min(a, b) if min(a, b) <= LRD_FULL_RANK_BELOW else 1
    rank = int(min(min(a, b), max(floor, round(scale * a * b / (a + b)))))
    return None if rank * (a + b) >= a * b else rank


def _lrd_stored(model, scale):
    """Parameters ``model`` stores after :func:`_low_rank` at ``scale`` (no build)."""
    total = 0
    for layer in model.layers:
        kind, _ = replaceable_kind(layer)
        if kind is None:
            total += int(sum(np.prod(w.shape) for w in layer.weights))
            continue
        a, b = _factor_sides(layer, kind)
        bias = int(np.prod(layer.bias.shape)) if layer.bias is not None else 0
        rank = _lrd_rank(a, b, scale)
        total += (a * b if rank is None else rank * (a + b)) + bias
    return total


def _low_rank(model, scale):
    """``model`` with each Dense/Conv2D a product of two factors (``*_u``, ``*_v``)."""

    def replace(layer):
        kind, _ = replaceable_kind(layer)
        if kind is None:
            return None
        config = layer.get_config()
        rank = _lrd_rank(*_factor_sides(layer, kind), scale)
        if rank is None:
            return None  # kept dense: its factors would be as large
        common = {
            "use_bias": False,
            "kernel_initializer": config["kernel_initializer"],
            "dtype": config["dtype"],
            "name": f"{layer.name}_u",
        }
        if kind == "dense":
            first = keras.layers.Dense(rank, **common)
            second = {**config, "name": f"{layer.name}_v"}
        else:
            first = keras.layers.Conv2D(
                rank,
                config["kernel_size"],
                strides=config["strides"],
                padding=config["padding"],
                data_format=config["data_format"],
                dilation_rate=config["dilation_rate"],
                **common,
            )
            second = {
                **config,
                "kernel_size": (1, 1),
                "strides": (1, 1),
                "padding": "valid",
                "dilation_rate": (1, 1),
                "name": f"{layer.name}_v",
            }
        return [first, type(layer).from_config(second)]

    return _rebuild(model, replace)


def _edge_removed(model, compression, seed):
    """``model`` with each Dense/Conv2D masked to keep ``compression`` of its kernel."""
    counter = [0]

    def replace(layer):
        kind, _ = replaceable_kind(layer)
        if kind is None:
            return None
        counter[0] += 1
        layer_seed = None if seed is None else (seed * 1000 + counter[0]) % 2**32
        masked = MaskedDense if kind == "dense" else MaskedConv2D
        return [
            masked.from_config(
                {**layer.get_config(), "compression": compression, "seed": layer_seed}
            )
        ]

    return _rebuild(model, replace)


def stored_size(model) -> int:
    """Scalars stored by a model (trainable and non-trainable variables)."""
    return summarize(model, print_fn=None)[-1]["stored_size"]


def virtual_size(model) -> int:
    """Parameters of the model's dense equivalent."""
    return summarize(model, print_fn=None)[-1]["virtual_size"]


def build(
    name,
    method="dense",
    *,
    input_shape=(28, 28, 1),
    num_classes=10,
    compression=1 / 8,
    width=1.0,
    dropout=0.0,
    input_dropout=0.0,
    seed=None,
):
    """Builds a zoo model.

    Args:
      name: one of :data:`MODELS`.
      method: one of :data:`METHODS`.
      input_shape: shape of one example, e.g. ``(28, 28, 1)``.
      num_classes: output classes (softmax outputs).
      compression: for ``hashed`` and ``freshnets`` the fraction of weights
        stored per layer; for ``smh`` (learned per-layer scale) and
        ``smh_fixed_scale`` the whole model's stored size as a fraction of its
        Dense/Conv2D weights;
        for ``small_dense`` and ``lrd`` the target ratio of stored parameters to
        the dense model's (matched to the hashed model's stored size); for
        ``rer`` the fraction of each kernel's weights kept.
      width: multiplies the architecture's hidden units and conv filters (the
        virtual ones, for the compressed methods): ``mlp3`` at ``width=0.05`` is
        784-50-10. ``small_dense`` and ``lrd`` match the hashed model of this width.
      dropout: dropout rate after each hidden dense layer (0 disables).
      input_dropout: dropout rate on the input image (0 disables), as the
        HashedNets paper's recipe (after Srivastava et al. 2014) used.
        ``resnet20`` has neither dropout.
      seed: base seed of the layers' hash patterns and ``rer`` masks (None: fresh).

    Returns:
      An uncompiled ``keras.Model`` named ``f"{name}_{method}"``.
    """
    if name not in _ARCHS:
        raise ValueError(f"Unknown model {name!r}; choose one of {MODELS}.")
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")
    arch = _ARCHS[name]

    def make(width, how):
        layer_how = "dense" if name in _COMPRESSED_AFTER_BUILD else how
        layer_how = "dense" if how.startswith("smh") else layer_how
        inputs, outputs = arch(
            width,
            _layer_factory(layer_how, compression, seed),
            tuple(input_shape),
            num_classes,
            dropout,
            input_dropout,
        )
        model = keras.Model(inputs, outputs, name=f"{name}_{method}")
        if how.startswith("smh"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a target off by a step of 2n
                return compress(
                    model, method="smh", fraction=compression, seed=seed, learn_scale=(how == "smh")
                )
        if layer_how != how:
            return compress(
                model, method=how, compression=compression, seed=seed, initialize="random"
            )
        return model

    if method == "rer":
        return _edge_removed(make(width, "dense"), compression, seed)
    if method not in ("small_dense", "lrd"):
        return make(width, method)
    target = stored_size(make(width, "hashed"))
    if method == "lrd":
        dense = make(width, "dense")
        scale = _match_scale(lambda s: _lrd_stored(dense, s), target)
        got = _lrd_stored(dense, scale)
        if abs(got - target) > 0.05 * target:
            warnings.warn(
                f"{name} lrd at compression {compression:g} stores {got:,} "
                f"parameters, not the hashed model's {target:,}: the closest with "
                "integer ranks >= 1.",
                stacklevel=2,
            )
        return _low_rank(dense, scale)
    # bisect the width multiplier to match the stored size
    best = _match_scale(lambda w: stored_size(make(w, "dense")), target, high=width)
    return make(best, "dense")


def converted_pair(name, folder, compression=1 / 8, seed=0) -> dict:
    """The zoo model ``name`` dense and hashed at ``compression`` (untrained, seeded),
    each converted to ``folder/<name>_<method>.tflite``: ``{method: path}``.

    The pair the speed benchmarks compare side by side.
    """
    from pathlib import Path

    from hashed_keras import lite

    paths = {}
    for method in ("dense", "hashed"):
        model = build(name, method, compression=compression, seed=seed)
        paths[method] = Path(folder) / f"{name}_{method}.tflite"
        lite.convert(model, paths[method], dense=(method == "dense"), num_samples=2)
    return paths
