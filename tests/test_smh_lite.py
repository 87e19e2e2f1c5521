"""SMH on device: the ``SMHWeights`` kernel against numpy and Keras.

* ``hk_smh_weights`` (ctypes) against ``lite.ops.reference_smh_weights`` and
  the Keras layer; bad options and lengths refused with a message.
* ``lite.convert`` of a ResNet-style SMH model (BatchNormalization folded
  into a conv, a residual Add): U and V stored once. The round trip all
  families share (runtimes, corrupted options) is in test_lite_families.py.
"""

from __future__ import annotations

import ctypes

import lite_families
import numpy as np
import pytest
from flatbuffers import flexbuffers

from hashed_keras import lite, smh
from hashed_keras.lite import flatbuffer, ops
from hashed_keras.lite.kernel_library import HK_ERROR_ARGUMENTS, HK_ERROR_OPTIONS, HK_OK

F32P = ctypes.POINTER(ctypes.c_float)


def smh_weights(lib, options, u, v, scales, out_len, bias_len=0, channel=None):
    """Calls hk_smh_weights: (status, weights, bias, message)."""
    arrays = [
        None if a is None else np.ascontiguousarray(a, np.float32) for a in (u, v, scales, channel)
    ]
    out = np.full(max(out_len, 1), np.nan, np.float32)
    bias = np.full(bias_len, np.nan, np.float32) if bias_len else None

    def ptr(a):
        return None if a is None else a.ctypes.data_as(F32P)

    def size(a):
        return 0 if a is None else a.size

    error = ctypes.create_string_buffer(512)
    options = bytes(options)
    u, v, scales, channel = arrays
    status = lib.hk_smh_weights(
        options,
        len(options),
        ptr(u),
        size(u),
        ptr(v),
        size(v),
        ptr(scales),
        size(scales),
        ptr(channel),
        size(channel),
        ptr(out),
        out_len,
        ptr(bias),
        bias_len,
        error,
        len(error),
    )
    return status, out[:out_len], bias, error.value.decode()


@pytest.fixture(scope="module")
def smh_model():
    return lite_families.smh_model()


@pytest.mark.parametrize("name,layout", [("c1", "ohwi"), ("c2", "ohwi"), ("fc", "fc")])
def test_kernel_matches_numpy_and_keras(lib, smh_model, name, layout):
    layer = smh_model.get_layer(name)
    factors = smh.smh_factors(smh_model)
    spec = layer.smh_spec()
    u, v = factors.U.numpy(), factors.V.numpy()
    want, want_bias = ops.reference_smh_weights(spec, u, v, layout)
    kernel, bias = layer.smh_kernel_and_bias([factors.U, factors.V])
    np.testing.assert_allclose(
        want, np.transpose(kernel.numpy(), ops.LAYOUTS[layout]), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(want_bias, bias.numpy(), rtol=1e-5, atol=1e-6)
    options = ops.smh_weights_options(spec, layout, with_bias=True)
    status, got, got_bias, message = smh_weights(
        lib, options, u, v, ops.smh_scales(spec), want.size, want_bias.size
    )
    assert status == HK_OK, message
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_bias, want_bias, rtol=1e-5, atol=1e-6)


GOOD = {
    "contract_version": 1,
    "n": 9,
    "rank": 3,
    "start": 5,
    "kernel_shape": [6, 4],
    "layout": "fc",
    "bias_size": 4,
}

BAD_OPTIONS = [
    ("no n", {k: v for k, v in GOOD.items() if k != "n"}, "missing key 'n'"),
    ("n = 0", dict(GOOD, n=0), "key 'n' = 0 must be in [1, 2^30]"),
    ("rank = 0", dict(GOOD, rank=0), "key 'rank' = 0 must be >= 1"),
    ("rank * n too big", dict(GOOD, n=2**20, rank=2**12), "rank * n <= 2^30"),
    ("negative start", dict(GOOD, start=-1), "do not fit the 9 x 9 matrix"),
    ("past the matrix", dict(GOOD, start=60), "do not fit the 9 x 9 matrix"),
    ("bias_size wrong", dict(GOOD, bias_size=3), "key 'bias_size' = 3 must be 0 or"),
    ("layout", dict(GOOD, layout="nhwc"), "key 'layout' = 'nhwc' is not one of 'fc', 'ohwi'"),
    ("rank 4 for fc", dict(GOOD, kernel_shape=[1, 2, 3, 4]), "has 4 dims; layout 'fc'"),
    ("start a string", dict(GOOD, start="5"), "key 'start' must be an int"),
    ("contract", dict(GOOD, contract_version=3), "unsupported contract_version 3"),
]


@pytest.mark.parametrize("name,options,expected", BAD_OPTIONS, ids=[c[0] for c in BAD_OPTIONS])
def test_bad_options_are_refused_with_a_message(lib, name, options, expected):
    ones = np.ones(27)
    status, _, _, message = smh_weights(lib, flexbuffers.Dumps(options), ones, ones, [1, 1], 24, 4)
    assert status == HK_ERROR_OPTIONS, (name, message)
    assert expected in message, message


def test_bad_lengths_are_refused(lib):
    options = flexbuffers.Dumps(GOOD)
    ones = np.ones(27)
    assert smh_weights(lib, options, ones, ones, [1, 1], 24, 4)[0] == HK_OK
    for args, kwargs, expected in [
        ((np.ones(26), ones, [1, 1], 24, 4), {}, "U and V must have rank * n = 27"),
        ((ones, ones, [1], 24, 4), {}, "scales has 1 values; expected 2"),
        ((ones, ones, [1, 1], 23, 4), {}, "output has 23 values"),
        ((ones, ones, [1, 1], 24, 0), {}, "bias output has 0 values"),
        ((ones, ones, [1, 1], 24, 4), {"channel": np.ones(3)}, "channel scale has 3"),
    ]:
        status, _, _, message = smh_weights(lib, options, *args, **kwargs)
        assert status == HK_ERROR_ARGUMENTS and expected in message, message


@pytest.fixture(scope="module")
def smh_file(smh_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("smh") / "smh.tflite"
    report = lite.convert(smh_model, path, num_samples=4)
    x = np.random.default_rng(3).random((3, 10, 10, 3), dtype=np.float32)
    return {"path": path, "report": report, "x": x, "y": smh_model.predict(x, verbose=0)}


def test_convert_stores_the_factors_once(smh_file, smh_model):
    report = smh_file["report"]
    assert report.max_relative_error <= 1e-5
    assert report.file_bytes <= report.size_bound_bytes
    model = flatbuffer.read(smh_file["path"].read_bytes())
    subgraph = model.subgraphs[0]
    names = [flatbuffer.opcode_name(model, op.opcodeIndex) for op in subgraph.operators]
    assert names.count("SMHWeights") == 3
    factors = smh.smh_factors(smh_model)
    shapes = [
        tuple(t.shape) for t in subgraph.tensors if flatbuffer.constant_value(model, t) is not None
    ]
    assert shapes.count(tuple(factors.U.shape)) == 2  # U and V, once each
    assert "per-channel scale" in {r.name: r for r in report.layers}["c1"].note
