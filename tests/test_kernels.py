"""Tests of the C++ kernels (hashed_keras/lite/kernels) with the real runtimes.

* ``hk_xxh32`` / ``hk_hashed_weights`` through ctypes against the numpy
  reference (``hashed_keras.hashing``), and every bad-input case.
* End to end: Keras models with hashed layers, converted by TFLiteConverter,
  rewritten here (weights dropped, a ``HashedWeights`` op added; see
  docs/tflite_format.md), run with the delegate plugin in ai_edge_litert,
  tf.lite and tflite_runtime 2.14 (its own venv, numpy<2), and compared with
  Keras. Corrupted files must fail ``allocate_tensors()`` with a message, in a
  subprocess (a crash would show as a signal).
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from flatbuffers import flexbuffers

from hashed_keras import hashing
from hashed_keras.layers import HashedConv2D, HashedDense
from hashed_keras.lite import flatbuffer
from hashed_keras.lite.kernel_library import (
    ENV_VAR,
    HK_ERROR_ARGUMENTS,
    HK_ERROR_OPTIONS,
    HK_OK,
    library_path,
)

TFLITE214_VENV = Path(os.environ.get("HK_TFLITE214_VENV", "/tmp/tfl214"))


# ------------------------------------------------------------------ ctypes API


def _ptr(array):
    if array is None:
        return None
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def hashed_weights(
    lib, options: bytes, buckets, scale=None, out_len=None, bias_len=None, spec=None
):
    """Calls hk_hashed_weights; returns (status, weights, bias, message).

    Lengths default to the ones ``spec`` implies (or 0 without a spec).
    """
    options = bytes(options)
    buckets = np.ascontiguousarray(buckets, np.float32)
    if out_len is None:
        out_len = int(np.prod(spec["kernel_shape"])) if spec else 0
    if bias_len is None:
        bias_len = spec["bias_size"] if spec and spec["hash_bias"] else 0
    out = np.full(max(out_len, 1), np.nan, np.float32)
    bias = np.full(bias_len, np.nan, np.float32) if bias_len else None
    scale = None if scale is None else np.ascontiguousarray(scale, np.float32)
    error = ctypes.create_string_buffer(512)
    status = lib.hk_hashed_weights(
        options,
        len(options),
        _ptr(buckets),
        buckets.size,
        _ptr(scale),
        0 if scale is None else scale.size,
        _ptr(out),
        out_len,
        _ptr(bias),
        bias_len,
        error,
        len(error),
    )
    return status, out[:out_len], bias, error.value.decode()


def make_spec(kernel_shape, buckets, seed=1234, *, use_sign=True, hash_bias=False, layout="fc"):
    out = kernel_shape[-1]
    return {
        "contract_version": 1,
        "seed": seed,
        "buckets": buckets,
        "kernel_shape": list(kernel_shape),
        "layout": layout,
        "use_sign": use_sign,
        "hash_bias": hash_bias,
        "bias_size": out if hash_bias else 0,
    }


def reference_weights(spec, layout, buckets, scale=None):
    """numpy: ``sign * buckets[index]`` in the TFLite layout (and the bias)."""
    shape = [int(d) for d in spec["kernel_shape"]]
    kernel_size = int(np.prod(shape))
    size = kernel_size + (spec["bias_size"] if spec["hash_bias"] else 0)
    index, sign = hashing.bucket_and_sign(
        size, spec["buckets"], spec["seed"], use_sign=spec["use_sign"]
    )
    virtual = (sign * np.asarray(buckets, np.float32)[index]).astype(np.float32)
    kernel = virtual[:kernel_size].reshape(shape)
    kernel = kernel.T if layout == "fc" else kernel.transpose(3, 0, 1, 2)
    if scale is not None:
        kernel = kernel * np.asarray(scale, np.float32).reshape((-1,) + (1,) * (kernel.ndim - 1))
    bias = virtual[kernel_size:] if spec["hash_bias"] else None
    return np.ascontiguousarray(kernel, np.float32), bias


def test_library_path_finds_the_built_library(monkeypatch, tmp_path):
    path = library_path()
    assert Path(path).is_file() and Path(path).name == "libhashed_keras_kernels.so"
    monkeypatch.setenv(ENV_VAR, path)
    assert library_path() == str(Path(path).resolve())
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing.so"))
    with pytest.raises(FileNotFoundError, match=ENV_VAR):
        library_path()


def test_xxh32_matches_the_numpy_reference(lib):
    rng = np.random.default_rng(0)
    keys = np.concatenate(
        [
            np.array([0, 1, 2**31 - 1, 2**31, 2**32 - 1], np.uint32),
            rng.integers(0, 2**32, 400, dtype=np.uint64).astype(np.uint32),
        ]
    )
    for seed in [0, 1, 42, 1691, 2**31, 2**32 - 1, *rng.integers(0, 2**32, 8).tolist()]:
        want = hashing.xxh32(keys, int(seed))
        got = np.array([lib.hk_xxh32(int(k), int(seed)) for k in keys], np.uint32)
        np.testing.assert_array_equal(got, want)
    assert lib.hk_xxh32(123456789, 42) == 0xA77BD4E9


@pytest.mark.parametrize(
    "case",
    [
        dict(kernel_shape=[12, 8], buckets=20, layout="fc"),
        dict(kernel_shape=[7, 5], buckets=35, layout="fc", seed=2**32 - 1),
        dict(kernel_shape=[3, 3, 4, 6], buckets=50, layout="ohwi"),
        dict(kernel_shape=[12, 8], buckets=20, layout="fc", scale=True),
        dict(kernel_shape=[2, 3, 4, 5], buckets=17, layout="ohwi", scale=True),
        dict(kernel_shape=[12, 8], buckets=30, layout="fc", hash_bias=True),
        dict(kernel_shape=[3, 2, 2, 4], buckets=9, layout="ohwi", hash_bias=True),
        dict(kernel_shape=[12, 8], buckets=20, layout="fc", use_sign=False),
        dict(
            kernel_shape=[1, 1, 3, 2],
            buckets=1,
            layout="ohwi",
            use_sign=False,
            hash_bias=True,
            scale=True,
        ),
    ],
)
def test_hashed_weights_matches_numpy(lib, case):
    case = dict(case)
    want_scale = case.pop("scale", False)
    layout = case.pop("layout")
    spec = make_spec(case.pop("kernel_shape"), case.pop("buckets"), layout=layout, **case)
    rng = np.random.default_rng(7)
    buckets = rng.standard_normal(spec["buckets"]).astype(np.float32)
    out_size = spec["kernel_shape"][-1]
    scale = rng.uniform(0.5, 2, out_size).astype(np.float32) if want_scale else None
    status, weights, bias, message = hashed_weights(
        lib, flexbuffers.Dumps(spec), buckets, scale, spec=spec
    )
    assert status == HK_OK, message
    want, want_bias = reference_weights(spec, layout, buckets, scale)
    np.testing.assert_array_equal(weights, want.reshape(-1))
    if spec["hash_bias"]:
        np.testing.assert_array_equal(bias, want_bias)


def _typed_options(spec, *, shape_kind="typed", int_kind="uint"):
    """The same options with other FlexBuffers encodings (typed vectors, uints)."""
    b = flexbuffers.Builder()
    with b.Map():
        for key in ("contract_version", "seed", "buckets", "bias_size"):
            {"uint": b.UInt, "indirect": b.IndirectInt, "int": b.Int}[int_kind](key, spec[key])
        if shape_kind == "typed":
            b.TypedVectorFromElements("kernel_shape", spec["kernel_shape"])
        else:
            b.FixedTypedVectorFromElements("kernel_shape", spec["kernel_shape"])
        b.String("layout", spec["layout"])
        b.Bool("use_sign", spec["use_sign"])
        b.Bool("hash_bias", spec["hash_bias"])
    return bytes(b.Finish())


@pytest.mark.parametrize(
    "shape_kind,int_kind", [("typed", "uint"), ("fixed", "indirect"), ("typed", "int")]
)
def test_other_flexbuffers_encodings(lib, shape_kind, int_kind):
    spec = make_spec([4, 3, 2, 6], 40, seed=3_000_000_000, layout="ohwi", hash_bias=True)
    buckets = np.arange(40, dtype=np.float32) - 20
    status, weights, bias, message = hashed_weights(
        lib, _typed_options(spec, shape_kind=shape_kind, int_kind=int_kind), buckets, spec=spec
    )
    assert status == HK_OK, message
    want, want_bias = reference_weights(spec, "ohwi", buckets)
    np.testing.assert_array_equal(weights, want.reshape(-1))
    np.testing.assert_array_equal(bias, want_bias)


# ------------------------------------------------------------- bad inputs


def _without(key):
    return lambda spec: {k: v for k, v in spec.items() if k != key}


def _with(**changes):
    return lambda spec: {**spec, **changes}


BAD_OPTIONS = [
    *[
        (f"missing {key}", _without(key), f"missing key '{key}'")
        for key in (
            "contract_version",
            "seed",
            "buckets",
            "kernel_shape",
            "layout",
            "use_sign",
            "hash_bias",
            "bias_size",
        )
    ],
    ("seed is a string", _with(seed="12"), "key 'seed' must be an int, got string"),
    ("buckets is a float", _with(buckets=20.0), "key 'buckets' must be an int, got float"),
    ("use_sign is an int", _with(use_sign=1), "key 'use_sign' must be a bool, got int"),
    ("hash_bias is a string", _with(hash_bias="no"), "key 'hash_bias' must be a bool"),
    ("layout is an int", _with(layout=3), "key 'layout' must be a string, got int"),
    (
        "kernel_shape is an int",
        _with(kernel_shape=12),
        "key 'kernel_shape' must be a vector of int, got int",
    ),
    ("kernel_shape has floats", _with(kernel_shape=[12.0, 8.0]), "key 'kernel_shape'"),
    (
        "kernel_shape has strings",
        _with(kernel_shape=["a", "b"]),
        "key 'kernel_shape' must be a vector of int",
    ),
    ("contract_version 2", _with(contract_version=2), "unsupported contract_version 2"),
    ("contract_version 0", _with(contract_version=0), "unsupported contract_version 0"),
    ("negative seed", _with(seed=-1), "key 'seed' = -1 is outside [0, 2^32)"),
    ("seed 2^32", _with(seed=2**32), "key 'seed' = 4294967296 is outside [0, 2^32)"),
    ("negative dim", _with(kernel_shape=[12, -8]), "'kernel_shape'[1] = -8 must be positive"),
    ("zero dim", _with(kernel_shape=[0, 8]), "'kernel_shape'[0] = 0 must be positive"),
    ("too many weights", _with(kernel_shape=[65536, 65537]), "more than 2^32 weights"),
    ("overflowing product", _with(kernel_shape=[2**62, 2**62]), "more than 2^32 weights"),
    ("dims overflow int64 product", _with(kernel_shape=[2**40, 2**40]), "more than 2^32 weights"),
    (
        "kernel plus bias too many",
        _with(kernel_shape=[65536, 65536], hash_bias=True, bias_size=65536),
        "more than 2^32 weights",
    ),
    (
        "dimension not int32",
        _with(kernel_shape=[1, 2**31], buckets=1),
        "does not fit a tensor dimension",
    ),
    ("rank 1 for fc", _with(kernel_shape=[12]), "has 1 dims; layout 'fc' needs 2"),
    ("rank 2 for ohwi", _with(layout="ohwi"), "has 2 dims; layout 'ohwi' needs 4"),
    ("rank 9", _with(kernel_shape=[1] * 9), "has 9 dims"),
    ("K = 0", _with(buckets=0), "key 'buckets' = 0 must be in [1, 96]"),
    ("K negative", _with(buckets=-5), "key 'buckets' = -5 must be in [1, 96]"),
    ("K above virtual size", _with(buckets=97), "key 'buckets' = 97 must be in [1, 96]"),
    ("bad layout", _with(layout="nchw"), "key 'layout' = 'nchw' is not one of 'fc', 'ohwi'"),
    ("empty layout", _with(layout=""), "key 'layout' = '' is not one of"),
    (
        "bias_size with hash_bias",
        _with(hash_bias=True, bias_size=7),
        "key 'bias_size' = 7 must equal the output size 8",
    ),
    ("bias_size neither 0 nor out", _with(bias_size=3), "key 'bias_size' = 3 must be 0"),
    ("root is a vector", lambda spec: [1, 2, 3], "not a map"),
]


@pytest.mark.parametrize("name,mutate,expected", BAD_OPTIONS, ids=[c[0] for c in BAD_OPTIONS])
def test_bad_options_are_refused_with_a_message(lib, name, mutate, expected):
    spec = make_spec([12, 8], 20)
    options = flexbuffers.Dumps(mutate(spec))
    status, _, _, message = hashed_weights(lib, options, np.ones(20), out_len=96)
    assert status == HK_ERROR_OPTIONS, (name, message)
    assert expected in message, message


def test_bad_lengths_are_refused_with_a_message(lib):
    spec = make_spec([12, 8], 20, hash_bias=True)
    options = flexbuffers.Dumps(spec)
    ok = hashed_weights(lib, options, np.ones(20), spec=spec)
    assert ok[0] == HK_OK, ok[3]
    cases = [
        (dict(buckets=np.ones(19)), "buckets has 19 values; key 'buckets' says 20"),
        (dict(buckets=np.ones(21)), "buckets has 21 values"),
        (dict(out_len=95), "output has 95 values; kernel_shape needs 96"),
        (dict(out_len=97), "output has 97 values"),
        (dict(bias_len=7), "bias output has 7 values; key 'bias_size' says 8"),
        (dict(bias_len=0), "bias output has 0 values"),
        (dict(scale=np.ones(7)), "scale has 7 values; expected 8"),
    ]
    for kwargs, expected in cases:
        kwargs = dict(kwargs)
        buckets = kwargs.pop("buckets", np.ones(20))
        status, _, _, message = hashed_weights(lib, options, buckets, spec=spec, **kwargs)
        assert status == HK_ERROR_ARGUMENTS, (kwargs, message)
        assert expected in message, message
    no_bias = make_spec([12, 8], 20)
    status, _, _, message = hashed_weights(
        lib, flexbuffers.Dumps(no_bias), np.ones(20), spec=no_bias, bias_len=8
    )
    assert status == HK_ERROR_ARGUMENTS and "hash_bias is false" in message


def test_truncated_and_garbage_bytes_never_crash(lib):
    spec = make_spec([3, 3, 4, 6], 50, layout="ohwi", hash_bias=True)
    options = flexbuffers.Dumps(spec)
    buckets = np.ones(50, np.float32)

    def call(data):
        status, out, _, message = hashed_weights(lib, bytes(data), buckets, spec=spec)
        assert status in (HK_OK, HK_ERROR_OPTIONS, HK_ERROR_ARGUMENTS)
        if status != HK_OK:
            assert message, bytes(data)
        return status, message

    for n in range(len(options)):  # every truncation
        assert call(options[:n])[0] != HK_OK or n == len(options)
        call(options[n:])
    assert "not a valid FlexBuffers map" in call(b"\x01\x02")[1]
    rng = np.random.default_rng(3)
    data = bytearray(options)
    for _ in range(3000):  # random corruptions
        mutated = bytearray(data)
        for i in rng.integers(0, len(mutated), rng.integers(1, 4)):
            mutated[i] = int(rng.integers(0, 256))
        call(mutated)
    for _ in range(3000):  # random bytes
        call(rng.integers(0, 256, rng.integers(0, 200), dtype=np.uint8).tobytes())


# ------------------------------------------------------ end to end with .tflite


def _find_constant(model, subgraph, value):
    """Index of the float32 constant tensor whose data equals ``value``."""
    for index, tensor in enumerate(subgraph.tensors):
        data = flatbuffer.constant_value(model, tensor)
        if data is not None and data.shape == value.shape and np.array_equal(data, value):
            return index
    raise AssertionError(f"no constant tensor of shape {value.shape} holds the weights")


def rewrite_with_hashed_weights(
    content: bytes, layers, *, corrupt=None, buckets_as_input=False, scales=None
):
    """The converted model with each layer's weights made by a HashedWeights op.

    Built from the same flatbuffer editing functions as the converter, but with
    knobs the converter does not have: ``layers``: [(keras layer, "fc" |
    "ohwi")]. ``corrupt(options) -> options`` edits the custom options. With
    ``buckets_as_input`` the buckets become model inputs (so the weights are
    recomputed at every invoke). ``scales``: per layer, None or a
    per-output-channel scale added as input 1.
    Returns (bytes, info) with info per layer: weight / bucket tensor indices.
    """
    model = flatbuffer.read(content)
    subgraph = model.subgraphs[0]
    info, new_ops = [], []
    for n, (layer, layout) in enumerate(layers):
        spec = layer.hash_spec()
        buckets = np.asarray(layer.shared.numpy(), np.float32)
        weights, bias = reference_weights(spec, layout, buckets)
        outputs = [_find_constant(model, subgraph, weights)]
        if spec["hash_bias"]:
            outputs.append(_find_constant(model, subgraph, bias))
        for index in outputs:
            flatbuffer.make_computed(model, subgraph, index)
        bucket_index = flatbuffer.add_constant(model, subgraph, f"{layer.name}/buckets", buckets)
        if buckets_as_input:
            flatbuffer.make_computed(model, subgraph, bucket_index)
            subgraph.inputs = np.append(subgraph.inputs, bucket_index).astype(np.int32)
        inputs = [bucket_index]
        scale = None if scales is None else scales[n]
        if scale is not None:
            scale = np.asarray(scale, np.float32)
            inputs.append(flatbuffer.add_constant(model, subgraph, f"{layer.name}/scale", scale))
            weights, _ = reference_weights(spec, layout, buckets, scale)
        options = dict(spec, layout=layout)
        if corrupt is not None:
            options = corrupt(options)
        new_ops.append((inputs, outputs, bytes(flexbuffers.Dumps(options))))
        info.append(
            {"weights": outputs[0], "buckets": bucket_index, "expected": weights, "values": buckets}
        )
    for inputs, outputs, options in reversed(new_ops):  # node i is layer i
        flatbuffer.prepend_custom_op(model, subgraph, "HashedWeights", inputs, outputs, options)
    return flatbuffer.write(model), info


def _convert(model):
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


@pytest.fixture(scope="module")
def dense_case():
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((12,)),
            HashedDense(8, buckets=20, activation="relu", seed=11, name="h1"),
            HashedDense(5, buckets=17, use_sign=False, hash_bias=True, seed=2**32 - 1, name="h2"),
        ]
    )
    rng = np.random.default_rng(2)
    for layer in model.layers:
        layer.shared.assign(rng.standard_normal(layer.shared.shape).astype(np.float32))
    model.get_layer("h1").bias.assign(rng.standard_normal(8).astype(np.float32))
    x = rng.standard_normal((4, 12)).astype(np.float32)
    content = _convert(model)
    layers = [(model.get_layer("h1"), "fc"), (model.get_layer("h2"), "fc")]
    hashed, info = rewrite_with_hashed_weights(content, layers)
    return {
        "model": model,
        "layers": layers,
        "x": x,
        "y": model.predict(x, verbose=0),
        "plain": content,
        "tflite": hashed,
        "info": info,
    }


@pytest.fixture(scope="module")
def conv_case():
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input((7, 6, 3)),
            HashedConv2D(4, 3, buckets=30, padding="same", activation="relu", seed=5, name="c1"),
            HashedConv2D(2, (2, 3), buckets=9, hash_bias=True, seed=6, name="c2"),
            keras.layers.Flatten(),
            HashedDense(3, buckets=25, seed=7, name="d"),
        ]
    )
    rng = np.random.default_rng(3)
    for layer in model.layers:
        if hasattr(layer, "shared"):
            layer.shared.assign(rng.standard_normal(layer.shared.shape).astype(np.float32))
    model.get_layer("c1").bias.assign(rng.standard_normal(4).astype(np.float32))
    x = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
    content = _convert(model)
    layers = [
        (model.get_layer("c1"), "ohwi"),
        (model.get_layer("c2"), "ohwi"),
        (model.get_layer("d"), "fc"),
    ]
    hashed, info = rewrite_with_hashed_weights(content, layers)
    return {
        "model": model,
        "layers": layers,
        "x": x,
        "y": model.predict(x, verbose=0),
        "plain": content,
        "tflite": hashed,
        "info": info,
    }


RUNTIMES = ["ai_edge_litert", "tf.lite"]


def _runtime(name):
    if name == "ai_edge_litert":
        from ai_edge_litert import interpreter as module

        return module.Interpreter, module.load_delegate
    import tensorflow as tf

    return tf.lite.Interpreter, tf.lite.experimental.load_delegate


def _interpreter(name, content, verbose=False, options=None):
    interpreter_class, load_delegate = _runtime(name)
    delegate = load_delegate(
        library_path(), {"verbose": "1" if verbose else "0", **(options or {})}
    )
    return interpreter_class(model_content=content, experimental_delegates=[delegate])


def _run(interpreter, x, extra=()):
    inputs = interpreter.get_input_details()
    interpreter.resize_tensor_input(inputs[0]["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inputs[0]["index"], x)
    for index, value in extra:
        interpreter.set_tensor(index, value)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def _assert_close(got, want):
    scale = max(float(np.max(np.abs(want))), 1e-6)
    assert float(np.max(np.abs(got - want))) <= 1e-5 * scale, (got, want)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("case_name", ["dense_case", "conv_case"])
def test_delegate_matches_keras(request, runtime, case_name, capfd):
    case = request.getfixturevalue(case_name)
    interpreter = _interpreter(runtime, case["tflite"], verbose=True)
    interpreter.allocate_tensors()
    # Constant buckets: the weights were computed in Prepare, before invoke.
    for info in case["info"]:
        np.testing.assert_array_equal(interpreter.get_tensor(info["weights"]), info["expected"])
    _assert_close(_run(interpreter, case["x"]), case["y"])
    _assert_close(_run(interpreter, case["x"][:1]), case["y"][:1])  # resized, again
    err = capfd.readouterr().err
    # The ABI the delegate measured in this runtime (see tflite_abi.h).
    assert "TfLiteRegistration 88 bytes [measured" in err, err
    assert "TfLiteTensor 112 bytes [plausible]" in err, err


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_delegate_recomputes_non_constant_buckets(dense_case, runtime):
    content, info = rewrite_with_hashed_weights(
        dense_case["plain"], dense_case["layers"], buckets_as_input=True
    )
    interpreter = _interpreter(runtime, content)
    feeds = [(i["buckets"], i["values"]) for i in info]
    _assert_close(_run(interpreter, dense_case["x"], feeds), dense_case["y"])
    # Other bucket values at the next invoke: the weights follow.
    h1 = dense_case["model"].get_layer("h1")
    twice = [(i["buckets"], 2 * i["values"] if n == 0 else i["values"]) for n, i in enumerate(info)]
    h1_out = np.maximum(dense_case["x"] @ (2 * np.asarray(h1.kernel)) + np.asarray(h1.bias), 0)
    want = dense_case["model"].get_layer("h2")(h1_out).numpy()
    _assert_close(_run(interpreter, dense_case["x"], twice), want)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_delegate_applies_the_per_channel_scale(conv_case, runtime):
    scales = [
        2.0 ** (np.arange(layer.hash_spec()["kernel_shape"][-1]) % 3 - 1)
        for layer, _ in conv_case["layers"]
    ]
    content, info = rewrite_with_hashed_weights(
        conv_case["plain"], conv_case["layers"], scales=scales
    )
    interpreter = _interpreter(runtime, content)
    interpreter.allocate_tensors()
    for entry in info:
        np.testing.assert_array_equal(interpreter.get_tensor(entry["weights"]), entry["expected"])
    assert np.all(np.isfinite(_run(interpreter, conv_case["x"])))


def test_model_without_hashed_ops_is_left_alone(dense_case):
    interpreter = _interpreter("ai_edge_litert", dense_case["plain"])
    _assert_close(_run(interpreter, dense_case["x"]), dense_case["y"])


CORRUPTIONS = {
    "K wrong": (
        lambda o: {**o, "buckets": o["buckets"] - 1},
        [
            "HashedWeights node 0",
            "input 0 (buckets, key 'buckets') must be float32",
            "of shape [19]",
            "got float32 [20]",
        ],
    ),
    "kernel_shape mismatch": (
        lambda o: {**o, "kernel_shape": [12, 9], "bias_size": 9},
        [
            "HashedWeights node 0",
            "output 0 (weights) must be float32 [9, 12]",
            "got float32 [8, 12]",
        ],
    ),
    "bad layout": (
        lambda o: {**o, "layout": "oihw"},
        ["invalid custom options", "key 'layout' = 'oihw'"],
    ),
    "contract_version": (
        lambda o: {**o, "contract_version": 7},
        ["unsupported contract_version 7"],
    ),
}


def _corrupt_first(fn):
    """Corrupts only the first layer's options."""
    state = {"done": False}

    def apply(options):
        if state["done"]:
            return options
        state["done"] = True
        return fn(options)

    return apply


@pytest.fixture(scope="module")
def corrupted_models(dense_case, tmp_path_factory):
    folder = tmp_path_factory.mktemp("corrupt")
    paths = {}
    for name, (fn, _) in CORRUPTIONS.items():
        content, _ = rewrite_with_hashed_weights(
            dense_case["plain"], dense_case["layers"], corrupt=_corrupt_first(fn)
        )
        path = folder / (name.replace(" ", "_") + ".tflite")
        path.write_bytes(content)
        paths[name] = path
    good = folder / "good.tflite"
    good.write_bytes(dense_case["tflite"])
    np.save(folder / "x.npy", dense_case["x"])
    return folder, paths


RUNNER = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    runtime, library, folder = sys.argv[1:4]
    options = {"verbose": "1", **json.loads(os.environ.get("HK_TEST_DELEGATE_OPTIONS", "{}"))}
    if runtime == "tflite_runtime":
        from tflite_runtime.interpreter import Interpreter, load_delegate
    else:
        from ai_edge_litert.interpreter import Interpreter, load_delegate
    for name in sys.argv[4:]:
        delegate = load_delegate(library, options)
        try:
            it = Interpreter(model_path=f"{folder}/{name}.tflite",
                             experimental_delegates=[delegate])
            x = np.load(f"{folder}/x.npy")
            inp = it.get_input_details()[0]
            it.resize_tensor_input(inp["index"], x.shape)
            it.allocate_tensors()
        except Exception as e:  # the expected failure of corrupted models
            print(f"{name}: ERROR {type(e).__name__}: {e}".replace("\\n", " | "))
            continue
        it.set_tensor(inp["index"], x)
        it.invoke()
        np.save(f"{folder}/{name}.out.npy", it.get_tensor(it.get_output_details()[0]["index"]))
        print(f"{name}: OK")
""")


def _run_subprocess(python, runtime, folder, names, options=None):
    """Runs RUNNER: each name's file in `runtime` with the delegate (plus `options`)."""
    result = subprocess.run(
        [str(python), "-c", RUNNER, runtime, library_path(), str(folder), *names],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "HK_TEST_DELEGATE_OPTIONS": json.dumps(options or {}),
        },
    )
    # A crash shows as a negative return code (the signal).
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    return lines, result.stderr


def _check_corrupted(lines, folder, dense_case):
    for name, (_, fragments) in CORRUPTIONS.items():
        message = lines[name.replace(" ", "_")]
        assert message.startswith("ERROR"), (name, message)
        for fragment in fragments:
            assert fragment in message, (name, message)
    assert lines["good"] == "OK"
    _assert_close(np.load(folder / "good.out.npy"), dense_case["y"])


def test_corrupted_models_fail_allocate_tensors_with_a_message(corrupted_models, dense_case):
    folder, paths = corrupted_models
    names = [p.stem for p in paths.values()] + ["good"]
    lines, _ = _run_subprocess(sys.executable, "ai_edge_litert", folder, names)
    _check_corrupted(lines, folder, dense_case)


def test_corrupted_model_in_tf_lite_raises(dense_case):
    content, _ = rewrite_with_hashed_weights(
        dense_case["plain"],
        dense_case["layers"],
        corrupt=_corrupt_first(CORRUPTIONS["kernel_shape mismatch"][0]),
    )
    interpreter = _interpreter("tf.lite", content)
    with pytest.raises(RuntimeError, match=r"output 0 \(weights\) must be float32 \[9, 12\]"):
        interpreter.allocate_tensors()


# ------------------------------------------------------------ tflite_runtime 2.14


def _tflite214_python():
    """The python of a venv with tflite-runtime 2.14 (and numpy<2), made if needed."""
    python = TFLITE214_VENV / "bin" / "python"
    check = [str(python), "-c", "import tflite_runtime.interpreter"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    try:
        subprocess.run(
            ["python3", "-m", "venv", str(TFLITE214_VENV)],
            check=True,
            capture_output=True,
            timeout=300,
        )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "tflite-runtime==2.14.0", "numpy<2"],
            check=True,
            capture_output=True,
            timeout=900,
        )
    except (subprocess.SubprocessError, OSError) as error:
        output = getattr(error, "stderr", b"") or b""
        pytest.skip(
            f"cannot make a tflite-runtime 2.14 venv at {TFLITE214_VENV} "
            f"(no network?): {error} {output.decode(errors='replace')[-300:]}"
        )
    if subprocess.run(check, capture_output=True).returncode != 0:
        pytest.skip("tflite-runtime 2.14 does not import in its venv")
    return python


def test_tflite_runtime_214(corrupted_models, dense_case, conv_case):
    python = _tflite214_python()
    folder, paths = corrupted_models
    names = [p.stem for p in paths.values()] + ["good"]
    lines, err = _run_subprocess(python, "tflite_runtime", folder, names)
    _check_corrupted(lines, folder, dense_case)
    assert "TfLiteRegistration 88 bytes [measured" in err, err
    # The conv model too (its own input).
    conv_folder = folder / "conv"
    conv_folder.mkdir(exist_ok=True)
    (conv_folder / "good.tflite").write_bytes(conv_case["tflite"])
    np.save(conv_folder / "x.npy", conv_case["x"])
    lines, _ = _run_subprocess(python, "tflite_runtime", conv_folder, ["good"])
    assert lines["good"] == "OK"
    _assert_close(np.load(conv_folder / "good.out.npy"), conv_case["y"])
