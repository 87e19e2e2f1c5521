"""The seed files: tiny models converted by ``hashed_keras.lite.convert``.

Every operator (``HashedWeights``, ``FreshWeights``, ``SMHWeights``) with both
shared dtypes (float32, int8), on an MLP and a CNN with 8x8x1 inputs: each
converts (and is verified against Keras by ``convert``) in a second or two.
The files are cached in a folder (one ``.tflite`` per seed, plus the input and
the outputs of the unmutated file, which the "silent wrong result" check uses).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OPERATORS = ("hashed", "freshnets", "smh")
SHARED_DTYPES = ("float32", "int8")
# FreshNets only changes convolutions (its dense layers are HashedDense): a CNN only.
ARCHS = {"hashed": ("mlp", "cnn"), "freshnets": ("cnn",), "smh": ("mlp", "cnn")}
INPUT_SHAPE = (8, 8, 1)
VERSION = 1  # bump when the models below change, to rebuild cached seeds


def seed_names(operators=OPERATORS, shared_dtypes=SHARED_DTYPES) -> list[str]:
    """``"hashed-mlp-float32"``, ... for the chosen operators and dtypes."""
    return [
        f"{op}-{arch}-{dtype}" for op in operators for arch in ARCHS[op] for dtype in shared_dtypes
    ]


def _dense_model(arch):
    import keras

    layers = keras.layers
    inputs = keras.Input(INPUT_SHAPE, name="image")
    if arch == "mlp":
        x = layers.Flatten(name="flatten")(inputs)
        x = layers.Dense(24, activation="relu", name="fc1")(x)
    else:
        x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(inputs)
        x = layers.MaxPooling2D(2, name="pool1")(x)
        x = layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv2")(x)
        x = layers.BatchNormalization(name="bn2")(x)  # folded: a per-channel scale input
        x = layers.ReLU(name="relu2")(x)
        x = layers.MaxPooling2D(2, name="pool2")(x)
        x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(10, activation="softmax", name="logits")(x)
    return keras.Model(inputs, outputs, name=f"{arch}_dense")


def _hashed_mlp():
    """HashedDense layers directly: one with a hashed bias (output 1 of the op)."""
    import keras

    from hashed_keras.layers import HashedDense

    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    x = HashedDense(24, compression=1 / 4, hash_bias=True, seed=11, activation="relu", name="fc1")(
        x
    )
    outputs = HashedDense(10, compression=1 / 4, seed=12, activation="softmax", name="logits")(x)
    return keras.Model(inputs, outputs, name="mlp_hashed")


def build_model(operator: str, arch: str):
    """The Keras model of one seed (random weights, seeded)."""
    import keras

    import hashed_keras

    keras.utils.set_random_seed(0)
    if operator == "hashed" and arch == "mlp":
        model = _hashed_mlp()
    elif operator == "smh":
        model = hashed_keras.compress(_dense_model(arch), method="smh", fraction=1 / 4, seed=5)
    else:
        model = hashed_keras.compress(
            _dense_model(arch), method=operator, compression=1 / 4, seed=5, initialize="random"
        )
    # Non-trivial BatchNormalization statistics, so its folded channel scale is not 1.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            rng = np.random.default_rng(1)
            layer.set_weights(
                [
                    rng.uniform(0.5, 2, gamma.shape).astype(np.float32),
                    beta,
                    mean,
                    rng.uniform(0.5, 2, var.shape).astype(np.float32),
                ]
            )
    return model


def sample_input(shape, dtype) -> np.ndarray:
    """The fixed input every mutant (and its seed) is run with."""
    rng = np.random.default_rng(1234)
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.random(shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(dtype)
    if dtype.kind in "iu":
        return rng.integers(0, 3, shape).astype(dtype)
    return np.zeros(shape, dtype)


def build_seeds(folder, names, log=print) -> dict[str, Path]:
    """Converts (or finds in ``folder``) every seed file; returns ``{name: path}``.

    Imports Keras (and TensorFlow, for the converter) only when a seed is missing.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in names:
        path = folder / f"{name}.tflite"
        meta = folder / f"{name}.json"
        paths[name] = path
        if (
            path.is_file()
            and meta.is_file()
            and json.loads(meta.read_text()).get("version") == VERSION
        ):
            continue
        operator, arch, dtype = name.split("-")
        import pipelines  # first: TensorFlow loads with its banners off
        from hashed_keras import lite

        # The converter's and LiteRT's chatter (XNNPACK, retracing) only if it fails.
        with pipelines.stderr_shown_on_failure():
            model = build_model(operator, arch)
            # The converter's own check is replaced by ours (below), which runs the file
            # through the bare delegate: the seeds do not depend on the loader under test.
            report = lite.convert(model, path, shared_dtype=dtype, verify=False)
            content = path.read_bytes()
            x = sample_input((1, *INPUT_SHAPE), np.float32)
            got = run_bare(content, x)
            want = model.predict(x, verbose=0)
        if shared_dtype_is_exact(dtype):
            error = float(np.abs(got - want).max() / np.abs(want).max())
            if error > 1e-4:
                path.unlink()
                raise RuntimeError(
                    f"seed {name}: the file's outputs differ from Keras' "
                    f"by {error:.1e} (relative); fix the converter first."
                )
        else:
            error = None  # int8 rounding: only that it runs
        meta.write_text(
            json.dumps(
                {
                    "version": VERSION,
                    "operator": operator,
                    "arch": arch,
                    "shared_dtype": dtype,
                    "bytes": len(content),
                    "stored_bytes": report.stored_bytes,
                    "max_relative_error": error,
                }
            )
        )
        log(
            f"seed {name}: {len(content):,} bytes"
            + ("" if error is None else f" (max relative error vs Keras {error:.1e})")
        )
    return paths


def shared_dtype_is_exact(dtype: str) -> bool:
    return dtype == "float32"


def run_bare(content: bytes, x: np.ndarray) -> np.ndarray:
    """The file's output for ``x``: stock ai_edge_litert plus the kernels' delegate."""
    from ai_edge_litert import interpreter as litert

    from hashed_keras.lite.kernel_library import library_path

    interpreter = litert.Interpreter(
        model_content=content, experimental_delegates=[litert.load_delegate(library_path())]
    )
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
