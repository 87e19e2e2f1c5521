"""Writes tests/verify_samples/*.tflite: tiny real files of every operator and
both shared dtypes (a few KB each), written by ``hashed_keras.lite.convert``
from small seeded models on 8x8x1 inputs. The C++ verifier driver
(verify_test.cc) checks that they pass and corrupts them; the libFuzzer target
fuzz_verify starts from them.

Run from the repository root (about 30 s):
    python hashed_keras/lite/kernels/tests/make_verify_samples.py
"""

from pathlib import Path

import keras
import numpy as np

import hashed_keras
from hashed_keras import lite
from hashed_keras.layers import HashedDense

SAMPLES = [  # (operator, architecture, shared dtype)
    ("hashed", "mlp", "float32"),
    ("hashed", "cnn", "int8"),
    ("freshnets", "cnn", "float32"),
    ("freshnets", "cnn", "int8"),
    ("smh", "mlp", "int8"),
    ("smh", "cnn", "float32"),
]


def _dense(arch):
    layers = keras.layers
    inputs = keras.Input((8, 8, 1))
    if arch == "mlp":
        x = layers.Dense(16, activation="relu", name="fc1")(layers.Flatten()(inputs))
    else:
        x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Conv2D(6, 3, padding="same", use_bias=False, name="conv2")(x)
        x = layers.BatchNormalization(name="bn2")(x)  # folded: a channel-scale input
        x = layers.MaxPooling2D(2)(layers.ReLU()(x))
        x = layers.Flatten()(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax", name="out")(x))


def build(operator, arch):
    keras.utils.set_random_seed(0)
    if operator == "hashed" and arch == "mlp":  # a hashed bias: the op's output 1
        inputs = keras.Input((8, 8, 1))
        x = HashedDense(16, compression=1 / 4, hash_bias=True, seed=3, activation="relu")(
            keras.layers.Flatten()(inputs)
        )
        return keras.Model(inputs, HashedDense(10, compression=1 / 4, seed=4)(x))
    if operator == "smh":
        return hashed_keras.compress(_dense(arch), method="smh", fraction=1 / 4, seed=5)
    return hashed_keras.compress(
        _dense(arch), method=operator, compression=1 / 4, seed=5, initialize="random"
    )


def main():
    out = Path(__file__).resolve().parent / "verify_samples"
    out.mkdir(exist_ok=True)
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    for operator, arch, dtype in SAMPLES:
        path = out / f"{operator}-{arch}-{dtype}.tflite"
        lite.convert(build(operator, arch), path, shared_dtype=dtype, sample_inputs=x)
        print(path.name, path.stat().st_size)


if __name__ == "__main__":
    main()
