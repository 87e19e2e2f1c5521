"""FreshNets on device: the ``FreshWeights`` kernel against numpy and Keras.

* ``hk_fresh_weights`` (ctypes) against the numpy reference
  (``lite.ops.reference_fresh_weights``) and the layer's own kernel; every
  bad option refused with a message that names it.
* ``lite.convert`` of models with FreshConv2D (a BatchNormalization folded in,
  and ``compress(method="freshnets")``): only the buckets stored. The round
  trip all families share (runtimes, corrupted options) is in
  test_lite_families.py.
"""

from __future__ import annotations

import ctypes

import keras
import numpy as np
import pytest
from flatbuffers import flexbuffers
from lite_families import fresh_model

import hashed_keras
from hashed_keras import lite
from hashed_keras.layers import FreshConv2D
from hashed_keras.lite import flatbuffer, ops
from hashed_keras.lite.kernel_library import HK_ERROR_ARGUMENTS, HK_ERROR_OPTIONS, HK_OK

F32P = ctypes.POINTER(ctypes.c_float)


def fresh_weights(lib, options, buckets, out_len, scale=None):
    """Calls hk_fresh_weights: (status, OHWI weights, message)."""
    options = bytes(options)
    buckets = np.ascontiguousarray(buckets, np.float32)
    out = np.full(max(out_len, 1), np.nan, np.float32)
    scale = None if scale is None else np.ascontiguousarray(scale, np.float32)
    error = ctypes.create_string_buffer(512)

    def ptr(a):
        return None if a is None else a.ctypes.data_as(F32P)

    status = lib.hk_fresh_weights(
        options,
        len(options),
        ptr(buckets),
        buckets.size,
        ptr(scale),
        0 if scale is None else scale.size,
        ptr(out),
        out_len,
        error,
        len(error),
    )
    return status, out[:out_len], error.value.decode()


def _built(filters=5, kernel_size=3, channels=3, **kwargs):
    layer = FreshConv2D(filters, kernel_size, **kwargs)
    layer.build((None, 9, 9, channels))
    layer.shared.assign(np.random.default_rng(1).standard_normal(layer.num_buckets))
    return layer


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(compression=1 / 4, seed=42),
        dict(kernel_size=(5, 3), compression=1 / 8, seed=7, use_sign=False),
        dict(kernel_size=1, compression=1 / 2, seed=3),
        dict(kernel_size=7, compression=1 / 16, seed=2**32 - 1, band_allocation="uniform"),
    ],
)
def test_kernel_matches_numpy_and_keras(lib, kwargs):
    layer = _built(**kwargs)
    spec = layer.hash_spec()
    buckets = layer.shared.numpy()
    want = ops.reference_fresh_weights(spec, buckets)
    keras_ohwi = np.transpose(layer.kernel.numpy(), (3, 0, 1, 2))
    np.testing.assert_allclose(want, keras_ohwi, rtol=1e-5, atol=1e-6)
    status, got, message = fresh_weights(lib, ops.fresh_weights_options(spec), buckets, want.size)
    assert status == HK_OK, message
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-5, atol=1e-6)
    scale = np.linspace(0.5, 2.0, spec["kernel_shape"][-1]).astype(np.float32)
    status, got, message = fresh_weights(
        lib, ops.fresh_weights_options(spec), buckets, want.size, scale=scale
    )
    assert status == HK_OK, message
    np.testing.assert_allclose(
        got.reshape(want.shape), want * scale[:, None, None, None], rtol=1e-5, atol=1e-6
    )


GOOD = {
    "contract_version": 1,
    "seed": 42,
    "buckets": 18,
    "band_buckets": [4, 6, 5, 2, 1],
    "kernel_shape": [3, 3, 2, 4],
    "layout": "ohwi",
    "use_sign": True,
}

BAD_OPTIONS = [
    (
        "no band_buckets",
        {k: v for k, v in GOOD.items() if k != "band_buckets"},
        "missing key 'band_buckets'",
    ),
    (
        "band_buckets too short",
        dict(GOOD, band_buckets=[4, 6, 5, 3]),
        "key 'band_buckets' has 4 entries; a 3x3 filter has 5 frequency bands",
    ),
    (
        "band_buckets not ints",
        dict(GOOD, band_buckets="many"),
        "key 'band_buckets' must be a vector of int",
    ),
    (
        "a band with 0 buckets",
        dict(GOOD, band_buckets=[4, 6, 5, 3, 0]),
        "key 'band_buckets'[4] = 0 must be in [1, 8]",
    ),
    (
        "a band above its size",
        dict(GOOD, band_buckets=[9, 6, 1, 1, 1]),
        "key 'band_buckets'[0] = 9 must be in [1, 8]",
    ),
    ("negative band", dict(GOOD, band_buckets=[4, -6, 5, 2, 1]), "'band_buckets'[1] = -6"),
    ("K not the sum", dict(GOOD, buckets=17), "key 'buckets' = 17 must equal the sum"),
    ("K = 0", dict(GOOD, buckets=0), "key 'buckets' = 0"),
    ("layout fc", dict(GOOD, layout="fc"), "key 'layout' must be 'ohwi'"),
    ("rank 2", dict(GOOD, kernel_shape=[3, 3]), "key 'kernel_shape' has 2 dims"),
    ("filter too large", dict(GOOD, kernel_shape=[33, 3, 1, 1]), "larger than the supported"),
    ("zero channels", dict(GOOD, kernel_shape=[3, 3, 0, 4]), "'kernel_shape'[2] = 0"),
    ("too many weights", dict(GOOD, kernel_shape=[3, 3, 2**20, 2**20]), "more than 2^32 weights"),
    ("contract 2", dict(GOOD, contract_version=2), "unsupported contract_version 2"),
    ("seed negative", dict(GOOD, seed=-1), "key 'seed' = -1"),
    ("use_sign int", dict(GOOD, use_sign=1), "key 'use_sign' must be a bool"),
    ("not a map", [1, 2, 3], "not a map"),
]


@pytest.mark.parametrize("name,options,expected", BAD_OPTIONS, ids=[c[0] for c in BAD_OPTIONS])
def test_bad_options_are_refused_with_a_message(lib, name, options, expected):
    status, _, message = fresh_weights(lib, flexbuffers.Dumps(options), np.ones(18), 72)
    assert status == HK_ERROR_OPTIONS, (name, message)
    assert expected in message, message


def test_bad_lengths_and_garbage_are_refused(lib):
    options = flexbuffers.Dumps(GOOD)
    assert fresh_weights(lib, options, np.ones(18), 72)[0] == HK_OK
    for buckets, out_len, scale, expected in [
        (np.ones(17), 72, None, "buckets has 17 values; key 'buckets' says 18"),
        (np.ones(18), 71, None, "output has 71 values; kernel_shape needs 72"),
        (np.ones(18), 72, np.ones(3), "scale has 3 values; expected 4"),
    ]:
        status, _, message = fresh_weights(lib, options, buckets, out_len, scale)
        assert status == HK_ERROR_ARGUMENTS and expected in message, message
    raw = bytes(options)
    for n in range(len(raw)):  # every truncation: a message, never a crash
        status, _, message = fresh_weights(lib, raw[:n], np.ones(18), 72)
        assert status == HK_ERROR_OPTIONS and message


# ------------------------------------------------------------------ .tflite


@pytest.fixture(scope="module")
def fresh_file(tmp_path_factory):
    model = fresh_model()
    path = tmp_path_factory.mktemp("fresh") / "fresh.tflite"
    report = lite.convert(model, path, num_samples=4)
    x = np.random.default_rng(5).random((3, 10, 10, 2), dtype=np.float32)
    return {
        "model": model,
        "path": path,
        "report": report,
        "x": x,
        "y": model.predict(x, verbose=0),
    }


def test_convert_stores_only_the_buckets(fresh_file):
    report = fresh_file["report"]
    assert report.max_relative_error <= 1e-5
    assert report.file_bytes <= report.size_bound_bytes
    rows = {r.name: r for r in report.layers}
    assert "per-channel scale" in rows["f1"].note
    model = flatbuffer.read(fresh_file["path"].read_bytes())
    names = [flatbuffer.opcode_name(model, op.opcodeIndex) for op in model.subgraphs[0].operators]
    assert names.count("FreshWeights") == 2 and names.count("HashedWeights") == 1


def test_compress_freshnets_model_converts(tmp_path):
    keras.utils.set_random_seed(1)
    dense = keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            keras.layers.Conv2D(8, 3, activation="relu", name="c1"),
            keras.layers.Conv2D(8, 3, activation="relu", name="c2"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, name="fc"),
        ]
    )
    fresh = hashed_keras.compress(dense, method="freshnets", compression=1 / 4, seed=0)
    report = lite.convert(fresh, tmp_path / "c.tflite", num_samples=4)
    assert report.max_relative_error <= 1e-5
    assert report.file_bytes <= report.size_bound_bytes
