"""The on-the-fly execution mode: FULLY_CONNECTED and CONV_2D computed from the shared variables.

``lite.Interpreter(path, weights="on_the_fly")`` (the delegate option
``weights = on_the_fly``) takes every FULLY_CONNECTED and CONV_2D node whose
filter one of our operators makes and computes it a tile of weights at a time,
holding no rebuilt weights. Checked here against the rebuilt mode (1e-5
relative) in ai_edge_litert, tf.lite and tflite_runtime 2.14, for HashedWeights
(float32 and int8 buckets, a hashed bias, RELU and RELU6 fused), SMHWeights,
the zoo's CNN, convolutions with stride 2 and SAME padding, a folded
BatchNormalization (a per-channel scale), VALID padding with dilation, and
FreshWeights' CNN (its convolutions keep the rebuilt path); at batch 1 and
after a resize to 7;
that the nodes really ran on the fly (the delegate's log) and that the
delegate's memory is below one layer's weights (``max_rebuild_bytes``);
that a node whose buckets are fed at run time keeps the rebuilt path.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
from test_kernels import _assert_close, _interpreter, _run, _run_subprocess, _tflite214_python

from hashed_keras import lite
from hashed_keras.layers import HashedConv2D, HashedDense
from hashed_keras.lite import flatbuffer
from hk_experiments import models

ON_THE_FLY = {"weights": "on_the_fly"}


def _mlp():
    keras.utils.set_random_seed(3)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            HashedDense(256, compression=1 / 8, activation="relu", hash_bias=True, name="d1"),
            HashedDense(16, compression=1 / 4, activation="relu6", name="d2"),
            HashedDense(3, compression=1 / 2, use_sign=False, activation="softmax", name="d3"),
        ]
    )


def _smh():
    keras.utils.set_random_seed(4)
    return models.build("mlp3", "smh", input_shape=(8, 8, 1), compression=1 / 4, seed=0)


def _cnn():
    keras.utils.set_random_seed(5)
    return models.build("cnn", "hashed", input_shape=(8, 8, 1), compression=1 / 4, seed=0)


def _fresh():
    keras.utils.set_random_seed(6)
    return models.build("cnn", "freshnets", input_shape=(8, 8, 1), compression=1 / 4, seed=0)


def _convs():
    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            HashedConv2D(6, 3, strides=2, padding="same", compression=1 / 2, name="c1"),
            keras.layers.BatchNormalization(name="bn"),  # folded into c1: a channel scale
            keras.layers.ReLU(),
            HashedConv2D(5, 2, dilation_rate=2, activation="relu6", compression=1 / 2, name="c2"),
            keras.layers.Flatten(),
            HashedDense(3, compression=1 / 2, name="d"),
        ]
    )
    model.compile("adam", "mse")  # a step, so that the BatchNormalization is not the identity
    x = np.random.default_rng(1).random((16, 8, 8, 1), dtype=np.float32)
    model.fit(x, np.zeros((16, 3), np.float32), epochs=1, verbose=0)
    return model


# (builder, shared dtype, FULLY_CONNECTED and CONV_2D nodes on the fly)
CASES = {
    "mlp": (_mlp, "float32", 3),
    "mlp-int8": (_mlp, "int8", 3),
    "smh": (_smh, "float32", 2),
    "cnn": (_cnn, "float32", 4),
    "convs": (_convs, "float32", 3),
    "fresh": (_fresh, "float32", 2),  # its two convolutions are rebuilt
}


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).random((7, 8, 8, 1), dtype=np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory, x):
    folder = tmp_path_factory.mktemp("on_the_fly")
    paths = {}
    for name, (build, dtype, _) in CASES.items():
        paths[name] = folder / f"{name}.tflite"
        lite.convert(build(), paths[name], shared_dtype=dtype, sample_inputs=x)
    return paths


def _fused(stderr):
    counts = re.findall(r"(\d+) FULLY_CONNECTED / CONV_2D on the fly", stderr)
    assert counts, stderr
    return int(counts[-1])


@pytest.mark.parametrize("runtime", ["ai_edge_litert", "tf.lite"])
@pytest.mark.parametrize("case", list(CASES))
def test_same_outputs_as_the_rebuilt_mode(files, x, runtime, case, capfd):
    content = files[case].read_bytes()
    rebuilt = _interpreter(runtime, content)
    fly = _interpreter(runtime, content, verbose=True, options=ON_THE_FLY)
    for batch in (x[:1], x):  # one interpreter each, resized between invokes
        _assert_close(_run(fly, batch), _run(rebuilt, batch))
    assert _fused(capfd.readouterr().err) == CASES[case][2]


def test_tflite_runtime_214(files, x, tmp_path):
    python = _tflite214_python()
    for case in CASES:
        (tmp_path / f"{case}.tflite").write_bytes(files[case].read_bytes())
    np.save(tmp_path / "x.npy", x)
    lines, err = _run_subprocess(python, "tflite_runtime", tmp_path, list(CASES), ON_THE_FLY)
    assert [int(n) for n in re.findall(r"(\d+) FULLY_CONNECTED / CONV_2D on the fly", err)] == [
        fused for _, _, fused in CASES.values()
    ]
    for case in CASES:
        assert lines[case] == "OK"
        want = _run(_interpreter("ai_edge_litert", files[case].read_bytes()), x)
        _assert_close(np.load(tmp_path / f"{case}.out.npy"), want)


def test_holds_less_than_one_layers_weights(files, x):
    """d1's rebuilt weights alone are 64 KiB; on the fly all three layers hold ~34 KiB.

    (The delegate's own limit; the verifier counts rebuilt weights in both modes.)
    """
    content = files["mlp"].read_bytes()
    cap = {"max_rebuild_bytes": str(48 << 10)}
    rebuilt = _interpreter("ai_edge_litert", content, options=cap)
    with pytest.raises(RuntimeError, match="over the limit max_rebuild_bytes"):
        rebuilt.allocate_tensors()
    fly = _interpreter("ai_edge_litert", content, options={**cap, **ON_THE_FLY})
    _assert_close(_run(fly, x), _run(lite.Interpreter(str(files["mlp"])), x))
    _assert_close(_run(lite.Interpreter(str(files["mlp"]), weights="on_the_fly"), x), _run(fly, x))


def test_the_mode_is_checked(files):
    with pytest.raises(ValueError, match="weights='fast'"):
        lite.Interpreter(str(files["mlp"]), weights="fast")
    with pytest.raises(ValueError):
        _interpreter("ai_edge_litert", files["mlp"].read_bytes(), options={"weights": "fast"})


def test_buckets_fed_at_run_time_keep_the_rebuilt_path(files, x, capfd):
    """d2's buckets made a graph input: its weights are rebuilt at every invoke."""
    model = flatbuffer.read(files["mlp"].read_bytes())
    graph = model.subgraphs[0]
    ours = [
        op
        for op in graph.operators
        if flatbuffer.opcode_name(model, op.opcodeIndex) == "HashedWeights"
    ]
    buckets = int(ours[1].inputs[0])
    tensor = graph.tensors[buckets]
    values = np.frombuffer(bytes(model.buffers[tensor.buffer].data), np.float32).copy()
    tensor.buffer = 0  # the empty buffer: an activation
    graph.inputs = [*graph.inputs, buckets]
    fly = _interpreter("ai_edge_litert", flatbuffer.write(model), verbose=True, options=ON_THE_FLY)
    got = _run(fly, x, extra=[(buckets, values)])
    _assert_close(got, _run(_interpreter("ai_edge_litert", files["mlp"].read_bytes()), x))
    assert _fused(capfd.readouterr().err) == 2
