"""One small converted model per layer family, for the shared .tflite round trip.

``FAMILIES[name]`` builds a Keras model whose compressed layers all belong to
that family (HashedNets, FreshNets, SMH), with a BatchNormalization folded into
a conv by the converter, and says which custom operator the file holds and
which corruptions of that operator's options ``allocate_tensors()`` must refuse
(the option key changed, the fragment of the expected message).
Used by test_lite_families.py (the shared round trip) and by the family files'
own tests (what only that family stores).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
import numpy as np

import hashed_keras
from hashed_keras import smh
from hashed_keras.layers import FreshConv2D, HashedConv2D, HashedDense


def _set_batch_norm(layer, rng):
    n = layer.gamma.shape[0]
    layer.set_weights(
        [
            rng.uniform(0.5, 2, n),
            rng.normal(size=n),
            rng.normal(size=n) * 0.1,
            rng.uniform(0.5, 2, n),
        ]
    )


def hashed_model():
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            HashedConv2D(4, 3, compression=1 / 4, name="c1"),
            keras.layers.BatchNormalization(name="bn"),  # folded into c1 by TFLite
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            HashedDense(16, compression=1 / 8, activation="relu", hash_bias=True, name="d1"),
            HashedDense(3, compression=1 / 2, use_sign=False, activation="softmax", name="d2"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((32, 12, 12, 1), dtype=np.float32)
    model.fit(x, np.arange(32) % 3, epochs=2, verbose=0)
    return model


def fresh_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((10, 10, 2))
    x = FreshConv2D(6, 3, compression=1 / 4, padding="same", name="f1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)  # folded into f1's weights
    x = keras.layers.ReLU()(x)
    x = FreshConv2D(8, 5, compression=1 / 8, name="f2", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    outputs = HashedDense(4, compression=1 / 8, name="d")(x)
    model = keras.Model(inputs, outputs)
    _set_batch_norm(model.get_layer("bn"), np.random.default_rng(0))
    return model


def smh_model():
    """A ResNet-style block (a residual Add) compressed by SMH, distinct scales."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((10, 10, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="c1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU()(x)
    y = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.Add()([x, y])
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(4, name="fc")(x)
    model = hashed_keras.compress(keras.Model(inputs, outputs), method="smh", fraction=0.4, seed=0)
    rng = np.random.default_rng(0)
    _set_batch_norm(model.get_layer("bn"), rng)
    for layer in smh.smh_layers(model):
        layer.scale.assign(rng.uniform(0.5, 1.5))
    return model


@dataclasses.dataclass(frozen=True)
class Family:
    build: Callable[[], keras.Model]
    op_name: str
    # (name, change of the first op's decoded options, fragment of the error)
    corruptions: tuple


def _last_dim_plus_one(options):
    shape = options["kernel_shape"]
    return {**options, "kernel_shape": shape[:-1] + [shape[-1] + 1]}


FAMILIES = {
    "hashed": Family(
        hashed_model,
        "HashedWeights",
        (
            ("kernel_shape", _last_dim_plus_one, "output 0 (weights) must be float32"),
            ("contract", lambda o: {**o, "contract_version": 9}, "unsupported contract_version 9"),
        ),
    ),
    "freshnets": Family(
        fresh_model,
        "FreshWeights",
        (
            (
                "bands",
                lambda o: {**o, "band_buckets": o["band_buckets"][:-1]},
                "frequency bands",
            ),
            ("kernel_shape", _last_dim_plus_one, "output 0 (weights) must be float32"),
            (
                "buckets",
                lambda o: {**o, "buckets": o["buckets"] + 1},
                "must equal the sum of 'band_buckets'",
            ),
            ("contract", lambda o: {**o, "contract_version": 9}, "unsupported contract_version 9"),
        ),
    ),
    "smh": Family(
        smh_model,
        "SMHWeights",
        (
            (
                "n",
                lambda o: {**o, "n": o["n"] + 1},
                "input 0 (U) (keys 'rank', 'n') must be float32",
            ),
            ("start", lambda o: {**o, "start": 10**9}, "do not fit the"),
            (
                "rank",
                lambda o: {**o, "rank": o["rank"] + 1},
                "input 0 (U) (keys 'rank', 'n') must be float32",
            ),
            (
                "kernel_shape",
                lambda o: {**o, "kernel_shape": [1] + o["kernel_shape"][1:]},
                "output 0 (weights) must be float32",
            ),
        ),
    ),
}
