"""int8 shared variables: buckets and SMH factors stored as int8 with a scale.

``lite.convert(..., shared_dtype="int8")`` quantizes every shared variable
(symmetric, per tensor), the kernels dequantize while rebuilding, and the
converter verifies the file exactly against the Keras model with the rounded
variables (then puts the float values back). Bad quantization parameters fail
``allocate_tensors()`` with a message.
"""

from __future__ import annotations

import sys

import keras
import numpy as np
import pytest
from test_kernels import _assert_close, _interpreter, _run, _run_subprocess, _tflite214_python

import hashed_keras
from hashed_keras import lite
from hashed_keras.lite import flatbuffer
from hk_experiments import data, models

CASES = [("mlp3", "hashed"), ("cnn", "freshnets"), ("cnn", "smh")]


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


@pytest.fixture(scope="module", params=CASES, ids=["-".join(c) for c in CASES])
def converted(request, digits, tmp_path_factory):
    name, method = request.param
    keras.utils.set_random_seed(0)
    model = models.build(name, method, input_shape=(8, 8, 1), compression=1 / 4, seed=0)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(digits.x_train[:400], digits.y_train[:400], epochs=2, verbose=0)
    before = [w.copy() for w in model.get_weights()]
    folder = tmp_path_factory.mktemp(f"{name}_{method}")
    samples = digits.x_test[:32]
    f32 = lite.convert(model, folder / "f32.tflite", sample_inputs=samples)
    int8 = lite.convert(model, folder / "int8.tflite", shared_dtype="int8", sample_inputs=samples)
    return {
        "model": model,
        "before": before,
        "f32": f32,
        "int8": int8,
        "path": folder / "int8.tflite",
        "x": samples,
    }


def test_int8_file_is_verified_smaller_and_leaves_the_model_alone(converted):
    f32, int8 = converted["f32"], converted["int8"]
    assert int8.max_relative_error <= 1e-5
    assert int8.file_bytes <= int8.size_bound_bytes
    assert int8.stored_bytes < f32.stored_bytes / 2.5
    assert int8.file_bytes < f32.file_bytes / 2.5, (int8.file_bytes, f32.file_bytes)
    for a, b in zip(converted["before"], converted["model"].get_weights()):
        np.testing.assert_array_equal(a, b)  # the float variables are back


def test_int8_tensors_carry_a_scale(converted):
    model = flatbuffer.read(converted["path"].read_bytes())
    int8 = [t for t in model.subgraphs[0].tensors if t.type == flatbuffer.schema.TensorType.INT8]
    assert int8, "no int8 tensor in the file"
    for tensor in int8:
        assert len(tensor.quantization.scale) == 1 and tensor.quantization.scale[0] > 0
        assert list(tensor.quantization.zeroPoint) == [0]


def test_int8_outputs_are_close_to_the_float_model(converted):
    interpreter = _interpreter("ai_edge_litert", converted["path"].read_bytes())
    got = _run(interpreter, converted["x"])
    want = converted["model"].predict(converted["x"], verbose=0)
    assert np.abs(got - want).max() < 0.05  # probabilities, after int8 rounding
    assert (got.argmax(-1) == want.argmax(-1)).mean() >= 0.9


def test_int8_in_tf_lite_and_tflite_runtime(converted, tmp_path):
    content = converted["path"].read_bytes()
    reference = _run(_interpreter("ai_edge_litert", content), converted["x"])
    _assert_close(_run(_interpreter("tf.lite", content), converted["x"]), reference)
    python = _tflite214_python()
    (tmp_path / "good.tflite").write_bytes(content)
    np.save(tmp_path / "x.npy", converted["x"])
    lines, _ = _run_subprocess(python, "tflite_runtime", tmp_path, ["good"])
    assert lines["good"] == "OK"
    _assert_close(np.load(tmp_path / "good.out.npy"), reference)


@pytest.mark.parametrize("scale,zero_point", [(0.0, 0), (-1.0, 0), (0.01, 3), (float("inf"), 0)])
def test_bad_quantization_fails_allocate_tensors(converted, tmp_path, scale, zero_point):
    model = flatbuffer.read(converted["path"].read_bytes())
    tensor = next(
        t for t in model.subgraphs[0].tensors if t.type == flatbuffer.schema.TensorType.INT8
    )
    tensor.quantization.scale = [scale]
    tensor.quantization.zeroPoint = [zero_point]
    (tmp_path / "bad.tflite").write_bytes(flatbuffer.write(model))
    np.save(tmp_path / "x.npy", converted["x"])
    lines, _ = _run_subprocess(sys.executable, "ai_edge_litert", tmp_path, ["bad"])
    assert lines["bad"].startswith("ERROR"), lines["bad"]
    assert "int8 with a per-tensor scale > 0 and zero point 0" in lines["bad"], lines["bad"]


def test_bad_arguments(tmp_path):
    dense = models.build("mlp3", "dense", input_shape=(8, 8, 1))
    with pytest.raises(ValueError, match="shared_dtype"):
        lite.convert(dense, tmp_path / "x.tflite", shared_dtype="int4")
    with pytest.raises(lite.ConversionError, match="post-training quantization"):
        lite.convert(dense, tmp_path / "x.tflite", shared_dtype="int8")
    hashed = hashed_keras.compress(dense, compression=1 / 4, seed=0)
    with pytest.raises(lite.ConversionError, match="dense=True"):
        lite.convert(hashed, tmp_path / "x.tflite", dense=True, shared_dtype="int8")
