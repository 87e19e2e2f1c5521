"""The model zoo: the HashedNets paper's MLPs and small CNNs, in every method.

``build(name, method, input_shape, num_classes, compression)`` returns an
uncompiled Keras model. ``method`` is ``"dense"``, ``"hashed"`` (HashedNets
layers in place of Dense/Conv2D), ``"freshnets"`` (FreshConv2D for the convs,
HashedDense for the dense layers, as in the FreshNets paper) or
``"small_dense"`` (the paper's "NN" baseline: the same architecture, narrower,
with about as many stored parameters as the hashed model).

A compressed conv layer keeps at least ``kh + kw - 1`` buckets (one per
frequency band of FreshNets; for a 3x3 conv, 5), in both ``hashed`` and
``freshnets``, so the two always store the same number of variables; this
only matters for a tiny first conv at a high compression.
"""

from __future__ import annotations

import keras

from hashed_keras.compress import summarize
from hashed_keras import hashing
from hashed_keras.layers import FreshConv2D, HashedConv2D, HashedDense
from hashed_keras.layers import weight_sharing

MODELS = ("mlp3", "mlp5", "cnn", "lenet")
METHODS = ("dense", "hashed", "freshnets", "small_dense")


def _mlp(hidden, width, layer_fn, input_shape, num_classes, dropout):
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(hidden):
        x = layer_fn("dense", max(1, round(units * width)), f"fc{i + 1}", activation="relu")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
    outputs = layer_fn("dense", num_classes, "logits", activation="softmax")(x)
    return inputs, outputs


def _cnn(convs, dense, width, layer_fn, input_shape, num_classes, dropout, pad="same"):
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, filters in enumerate(convs):
        # A valid 5x5 window does not fit a map smaller than 5 (LeNet's second conv on
        # 8x8 digits): fall back to a "same" conv there, as pooling is skipped below 2.
        layer_pad = "same" if pad == "valid" and min(x.shape[1:3]) < 5 else pad
        x = layer_fn("conv", max(1, round(filters * width)), f"conv{i + 1}",
                     activation="relu", padding=layer_pad, in_channels=x.shape[-1])(x)
        if min(x.shape[1:3]) >= 2:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense):
        x = layer_fn("dense", max(1, round(units * width)), f"fc{i + 1}", activation="relu")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
    outputs = layer_fn("dense", num_classes, "logits", activation="softmax")(x)
    return inputs, outputs


_ARCHS = {
    # The HashedNets paper's 3-layer (784-1000-10) and 5-layer (784-1000-1000-1000-10) nets.
    "mlp3": lambda *a: _mlp([1000], *a),
    "mlp5": lambda *a: _mlp([1000, 1000, 1000], *a),
    # A small CNN: two 3x3 convs with pooling and one hidden dense layer.
    "cnn": lambda *a: _cnn([32, 64], [128], *a),
    # LeNet-5 style: 5x5 convs 20 and 50 filters, 500 hidden units.
    "lenet": lambda w, f, i, n, d: _cnn([20, 50], [500], w, f, i, n, d, pad="valid"),
}


def _layer_factory(method, compression, seed):
    counter = [0]

    def make(kind, size, name, activation, padding="same", in_channels=None):
        counter[0] += 1
        layer_seed = None if seed is None else (seed * 1000 + counter[0]) % 2**32
        kernel = 3 if padding == "same" else 5
        if kind == "dense":
            if method in ("hashed", "freshnets"):
                return HashedDense(size, compression=compression, seed=layer_seed,
                                   activation=activation, name=name)
            return keras.layers.Dense(size, activation=activation, name=name)
        if method in ("hashed", "freshnets"):
            virtual = kernel * kernel * int(in_channels) * size
            buckets = max(weight_sharing.resolve_buckets(virtual, compression),
                          hashing.num_bands(kernel, kernel))
            conv = HashedConv2D if method == "hashed" else FreshConv2D
            return conv(size, kernel, padding=padding, buckets=buckets, seed=layer_seed,
                        activation=activation, name=name)
        return keras.layers.Conv2D(size, kernel, padding=padding, activation=activation,
                                   name=name)

    return make


def stored_parameters(model) -> int:
    """Scalars stored by a model (trainable and non-trainable variables)."""
    return summarize(model)[-1]["stored"]


def virtual_parameters(model) -> int:
    """Parameters of the model's dense equivalent."""
    return summarize(model)[-1]["virtual"]


def build(name, method="dense", *, input_shape=(28, 28, 1), num_classes=10,
          compression=1 / 8, dropout=0.0, seed=None):
    """Builds a zoo model.

    Args:
      name: one of :data:`MODELS`.
      method: one of :data:`METHODS`.
      input_shape: shape of one example, e.g. ``(28, 28, 1)``.
      num_classes: output classes (softmax outputs).
      compression: for ``hashed`` and ``freshnets`` the fraction of weights
        stored per layer;
        for ``small_dense`` the target ratio of stored parameters to the dense
        model's (matched to the hashed model's stored size).
      dropout: dropout rate after each hidden dense layer (0 disables).
      seed: base seed of the layers' hash patterns (None: fresh).

    Returns:
      An uncompiled ``keras.Model`` named ``f"{name}_{method}"``.
    """
    if name not in _ARCHS:
        raise ValueError(f"Unknown model {name!r}; choose one of {MODELS}.")
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")
    arch = _ARCHS[name]

    def make(width, how):
        inputs, outputs = arch(width, _layer_factory(how, compression, seed),
                               tuple(input_shape), num_classes, dropout)
        return keras.Model(inputs, outputs, name=f"{name}_{method}")

    if method != "small_dense":
        return make(1.0, method)
    target = stored_parameters(make(1.0, "hashed"))
    low, high = 1e-3, 1.0
    for _ in range(40):  # bisect the width multiplier to match the stored size
        mid = (low + high) / 2
        if stored_parameters(make(mid, "dense")) > target:
            high = mid
        else:
            low = mid
    best = min((low, high), key=lambda w: abs(stored_parameters(make(w, "dense")) - target))
    return make(best, "dense")
