"""Tests of Structured Multi-Hashing (hashed_keras.smh)."""

from __future__ import annotations

import json
import math
import warnings
import zipfile

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from hashed_keras import smh
from hashed_keras.smh import (
    SMHConv2D,
    SMHDense,
    SMHFactors,
    compress_smh,
    smh_factors,
    smh_layers,
    smh_summary,
    smh_weights,
)

# ----------------------------------------------------------------- models


def conv_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(12, activation="relu", name="fc1"),
            keras.layers.Dense(10, name="fc2"),
        ],
        name="seq",
    )


def mlp(width=200, out=100):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((width,), name="x")
    h = keras.layers.Dense(width, activation="tanh", name="d1")(inputs)
    outputs = keras.layers.Dense(out, name="d2", use_bias=False)(h)
    return keras.Model(inputs, outputs, name="mlp")


def resnet_block_model():
    """A tiny ResNet-style net: stem, one identity block, one projection block."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    # Identity block.
    y = keras.layers.Conv2D(
        8, 3, padding="same", use_bias=False, name="b1_conv1", kernel_initializer="he_normal"
    )(x)
    y = keras.layers.BatchNormalization(name="b1_bn1")(y)
    y = keras.layers.ReLU(name="b1_relu1")(y)
    y = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="b1_conv2")(y)
    y = keras.layers.BatchNormalization(name="b1_bn2")(y)
    x = keras.layers.ReLU(name="b1_out")(keras.layers.Add(name="b1_add")([x, y]))
    # Down-sampling block with a 1x1 projection shortcut.
    y = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="b2_conv1")(x)
    y = keras.layers.BatchNormalization(name="b2_bn1")(y)
    y = keras.layers.ReLU(name="b2_relu1")(y)
    y = keras.layers.Conv2D(16, 3, padding="same", name="b2_conv2")(y)
    shortcut = keras.layers.Conv2D(16, 1, strides=2, name="b2_proj")(x)
    x = keras.layers.ReLU(name="b2_out")(keras.layers.Add(name="b2_add")([shortcut, y]))
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(5, name="logits")(x)
    return keras.Model(inputs, outputs, name="tiny_resnet")


def image_data(n=32, shape=(8, 8, 1), classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n,) + shape).astype("float32"), rng.integers(0, classes, n)


def dense_twin(original, smh_model):
    """The original architecture carrying the SMH model's materialised weights."""
    twin = keras.models.clone_model(original)
    weights = smh_weights(smh_model)
    for layer in twin.layers:
        if layer.name in weights:
            kernel, bias = weights[layer.name]
            layer.set_weights([kernel] + ([] if bias is None else [bias]))
        elif layer.weights:
            layer.set_weights(smh_model.get_layer(layer.name).get_weights())
    return twin


def _quiet_compress(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compress_smh(*args, **kwargs)


# ---------------------------------------------------------- layout, forward


def test_layout_is_contiguous_in_creation_order():
    model = conv_model()
    s = _quiet_compress(model, fraction=0.5, seed=1)
    sizes = {"conv": 3 * 3 * 1 * 4 + 4, "fc1": 36 * 12 + 12, "fc2": 12 * 10 + 10}
    total = sum(sizes.values())
    n = math.ceil(math.sqrt(total))
    report = smh_summary(s)
    assert report["n"] == n and report["virtual_size"] == total
    assert [r["name"] for r in report["layers"]] == ["conv", "fc1", "fc2"]
    start = 0
    for row in report["layers"]:
        spec = s.get_layer(row["name"]).smh_spec()
        assert spec["start"] == start and spec["size"] == sizes[row["name"]]
        assert spec["bias_start"] == start + spec["kernel_weights"]  # kernel, then bias
        assert spec["rows"] == [start // n, (start + spec["size"] - 1) // n]
        start += spec["size"]
    factors = smh_factors(s)
    assert tuple(factors.U.shape) == tuple(factors.V.shape) == (report["rank"], n)


def test_forward_equals_dense_model_with_reconstructed_weights():
    model = conv_model()
    x, y = image_data()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)  # non-trivial BN statistics
    s = _quiet_compress(model, fraction=0.5, seed=1)
    assert isinstance(s, keras.Model) and not isinstance(s, keras.Sequential)
    assert s.name == "seq"
    assert [layer.name for layer in s.layers if not isinstance(layer, SMHFactors)][1:] == [
        layer.name for layer in model.layers
    ]
    assert type(s.get_layer("conv")) is SMHConv2D and type(s.get_layer("fc1")) is SMHDense
    assert s.get_layer("fc1").activation is keras.activations.relu
    # BatchNormalization keeps its weights (moving statistics included).
    for a, b in zip(model.get_layer("bn").get_weights(), s.get_layer("bn").get_weights()):
        np.testing.assert_array_equal(a, b)
    twin = dense_twin(model, s)
    np.testing.assert_allclose(
        s.predict(x, verbose=0), twin.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )


def test_spec_alone_rebuilds_the_weights_from_only_the_needed_rows():
    """What an on-device kernel does: U, V, the spec; rows r0..r1 only."""
    s = _quiet_compress(conv_model(), fraction=0.6, seed=3)
    factors = smh_factors(s)
    fspec = factors.smh_spec()
    u, v = factors.U.numpy().astype(np.float64), factors.V.numpy().astype(np.float64)
    assert fspec["n"] == u.shape[1] and fspec["rank"] == u.shape[0]
    reference = smh_weights(s)
    for layer in smh_layers(s):
        spec = layer.smh_spec()
        assert set(spec) >= {
            "n",
            "rank",
            "start",
            "size",
            "kernel_shape",
            "kernel_weights",
            "use_bias",
            "bias_size",
            "bias_start",
            "bias_scale",
            "rows",
            "scale",
            "learn_scale",
            "layout",
            "version",
        }
        json.dumps(spec)  # plain types only
        r0, r1 = spec["rows"]
        rows = u[:, r0 : r1 + 1].T @ v  # (r1 - r0 + 1) x n, never n x n
        flat = rows.reshape(-1)
        off = spec["start"] - r0 * spec["n"]
        kernel = spec["scale"] * flat[off : off + spec["kernel_weights"]]
        np.testing.assert_allclose(
            kernel.reshape(spec["kernel_shape"]), reference[layer.name][0], rtol=1e-12
        )
        b = spec["bias_start"] - r0 * spec["n"]
        bias = spec["scale"] * spec["bias_scale"] * flat[b : b + spec["bias_size"]]
        np.testing.assert_allclose(bias, reference[layer.name][1], rtol=1e-12)
        # The layer's own tensors agree with the numpy reference.
        kt, bt = layer.smh_kernel_and_bias([factors.U, factors.V])
        np.testing.assert_allclose(kt.numpy(), reference[layer.name][0], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(bt.numpy(), reference[layer.name][1], rtol=1e-4, atol=1e-6)


def test_layers_compute_only_their_rows_never_the_full_matrix():
    model = resnet_block_model()
    s = _quiet_compress(model, fraction=0.5, seed=0, use_xla=False)
    n = smh_factors(s).n
    layers = smh_layers(s)
    # In the traced graph no matmul (nor anything else) has an n x n output.
    graph = (
        tf.function(lambda t: s(t, training=True))
        .get_concrete_function(tf.TensorSpec((2, 8, 8, 3)))
        .graph
    )
    shapes = [
        tuple(o.shape.as_list())
        for op in graph.get_operations()
        for o in op.outputs
        if o.shape.rank == 2
    ]
    assert (n, n) not in shapes
    matmul_rows = sorted(
        o.shape[0]
        for op in graph.get_operations()
        if op.type in ("MatMul", "BatchMatMulV2")
        for o in op.outputs
        if o.shape[1] == n
    )
    assert sorted(matmul_rows) == sorted(layer.rows for layer in layers)
    # Summed over the model, about one matrix of rows (n + one per layer), not L.
    assert sum(matmul_rows) <= n + len(layers) and max(matmul_rows) < n


# ------------------------------------------------------------ init, sizes


def test_initialisation_statistics():
    model = mlp()
    s = _quiet_compress(model, fraction=0.25, seed=7)
    factors = smh_factors(s)
    m = factors.rank
    u, v = factors.U.numpy(), factors.V.numpy()
    assert abs(u.std() - m**-0.25) < 0.05 * m**-0.25
    assert abs(v.std() - m**-0.25) < 0.05 * m**-0.25
    m_hat = u.T.astype(np.float64) @ v
    assert abs(m_hat.std() - 1.0) < 0.05 and abs(m_hat.mean()) < 0.05
    weights = smh_weights(s)
    for name, (fan_in, fan_out) in {"d1": (200, 200), "d2": (200, 100)}.items():
        glorot = math.sqrt(2.0 / (fan_in + fan_out))
        layer = s.get_layer(name)
        assert layer.scale_init == pytest.approx(glorot)
        assert float(layer.scale.numpy()) == pytest.approx(glorot, rel=1e-6)
        assert weights[name][0].std() == pytest.approx(glorot, rel=0.1)
    assert weights["d2"][1] is None  # use_bias=False: nothing tiled for it


@pytest.mark.parametrize(
    "init,shape,expected",
    [
        ("glorot_uniform", (3, 3, 16, 32), math.sqrt(2 / (144 + 288))),
        ("he_normal", (3, 3, 16, 32), math.sqrt(2 / 144)),
        ("lecun_normal", (20, 5), math.sqrt(1 / 20)),
        (keras.initializers.VarianceScaling(2.0, "fan_out", "uniform"), (4, 6), math.sqrt(2 / 6)),
        (keras.initializers.RandomNormal(stddev=0.3), (4, 6), 0.3),
        (keras.initializers.RandomUniform(-0.5, 0.5), (4, 6), 1 / math.sqrt(12)),
        ("zeros", (10, 30), math.sqrt(2 / 40)),  # a degenerate std falls back to Glorot
    ],
)
def test_initializer_std(init, shape, expected):
    assert smh.initializer_std(init, shape) == pytest.approx(expected, rel=1e-6)


def test_initializer_std_matches_keras_draws():
    for name in ("glorot_uniform", "he_normal", "he_uniform", "lecun_normal"):
        drawn = keras.initializers.get(name)((64, 64, 3)).numpy().std()
        assert smh.initializer_std(name, (64, 64, 3)) == pytest.approx(drawn, rel=0.03)


@pytest.mark.parametrize(
    "kwargs",
    [dict(fraction=0.5), dict(fraction=0.9), dict(target_size=20_000), dict(target_size=45_000)],
)
def test_stored_size_within_one_percent_of_target(kwargs):
    model = mlp()
    total = 200 * 200 + 200 + 200 * 100
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no off-target warning here
        s = compress_smh(model, seed=0, **kwargs)
    target = kwargs.get("target_size") or round(kwargs["fraction"] * total)
    report = smh_summary(s)
    n, m = report["n"], report["rank"]
    # n is ceil(sqrt(N)), or a few columns more to land on the target.
    assert n >= math.ceil(math.sqrt(total)) and report["virtual_size"] == total
    assert report["stored_size"] == 2 * m * n + 2 == report["factors_size"] + report["scales"]
    assert abs(report["stored_size"] - target) <= 0.01 * target
    # The reported size is what Keras holds and counts.
    assert report["stored_size"] == s.count_params()
    assert report["rows"][-1]["stored_size"] == s.count_params()
    assert (
        smh_factors(s).stored_size() + sum(layer.stored_size() for layer in smh_layers(s))
        == report["stored_size"]
    )


def test_small_targets_land_within_one_percent_and_too_small_targets_raise():
    model = conv_model()  # N = 614, n0 = 25, L = 3: the smallest SMH model is 53
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "off the target" warning
        s = compress_smh(model, target_size=100, seed=0)
    report = smh_summary(s)
    # M = floor(97 / 50) = 1, n widened to round(97 / 2) = 48: 2*1*48 + 3 = 99.
    assert report["rank"] == 1 and report["n"] == 48 and report["stored_size"] == 99
    ok = _quiet_compress(model, target_size=53, seed=0)
    assert smh_summary(ok)["stored_size"] == 53
    with pytest.raises(ValueError, match=r"below the smallest SMH model.*2\*n \+ 3 = 53"):
        compress_smh(model, target_size=52)
    with pytest.raises(ValueError, match=r"`fraction`=0.05 .*below the smallest"):
        compress_smh(model, fraction=0.05)


def test_learn_scale_false_keeps_scales_fixed_and_counts_them():
    model = conv_model()
    x, y = image_data()
    s = _quiet_compress(model, fraction=0.5, seed=2, learn_scale=False)
    scales = [layer.scale for layer in smh_layers(s)]
    assert all(not w.trainable for w in scales)
    before = [float(w.numpy()) for w in scales]
    s.compile(
        keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    s.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert [float(w.numpy()) for w in scales] == before
    assert smh_summary(s)["stored_size"] == s.count_params() - 16  # minus BN: 4 x 4
    assert len(s.trainable_weights) == 2 + 2  # U, V + BN gamma, beta


def wide_mlp():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((784,), name="x")
    h = keras.layers.Dense(1000, activation="relu", name="fc1")(inputs)
    return keras.Model(inputs, keras.layers.Dense(10, name="fc2")(h), name="wide")


def test_a_learned_scale_gets_its_gradient_divided_by_its_layer_size():
    x, y = image_data(n=16, shape=(784,))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    grads = {}
    for learn in (True, False):
        s = _quiet_compress(wide_mlp(), fraction=1 / 64, seed=0, learn_scale=learn)
        scales = [layer.scale for layer in smh_layers(s)]
        with tf.GradientTape() as tape:
            tape.watch([w.value for w in scales])
            value = loss(y, s(x))
        grads[learn] = [g.numpy() for g in tape.gradient(value, [w.value for w in scales])]
        grads[learn, "loss"] = float(value)
    assert grads[True, "loss"] == grads[False, "loss"]  # the same forward value
    sizes = [layer.virtual_size for layer in smh_layers(s)]
    assert sizes == [785_000, 10_010]
    for learned, plain, size in zip(grads[True], grads[False], sizes):
        assert plain != 0 and learned == pytest.approx(plain / size, rel=1e-5)


def test_learned_scales_train_under_sgd_with_momentum():
    # Undivided, the scale's gradient (a sum over 785,000 weights) sent this
    # net to NaN within a few steps of the paper recipe's optimizer.
    x, y = image_data(n=400, shape=(784,))
    s = _quiet_compress(wide_mlp(), fraction=1 / 64, seed=0)
    before = [float(layer.scale.numpy()) for layer in smh_layers(s)]
    s.compile(
        keras.optimizers.SGD(0.01, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    hist = s.fit(x, y, epochs=2, batch_size=50, verbose=0).history["loss"]
    assert np.all(np.isfinite(hist)) and hist[-1] < hist[0]
    after = [float(layer.scale.numpy()) for layer in smh_layers(s)]
    assert after != before
    assert all(0.5 < a / b < 2 for a, b in zip(after, before))


# ------------------------------------------------------------ Keras guarantees


def _compiled(model, jit=False, lr=0.02):
    model.compile(
        keras.optimizers.Adam(lr),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    return model


def test_fit_lowers_the_loss():
    x, y = image_data(n=64)
    s = _compiled(_quiet_compress(conv_model(), fraction=0.5, seed=4))
    before = [w.copy() for w in s.get_weights()]
    hist = s.fit(x, y, epochs=8, batch_size=16, verbose=0).history["loss"]
    assert np.all(np.isfinite(hist)) and hist[-1] < 0.8 * hist[0]
    moved = [not np.array_equal(a, b) for a, b in zip(before, s.get_weights())]
    assert moved[0] and moved[1]  # U and V were trained


def test_resnet_block_compresses_trains_and_matches_reference():
    model = resnet_block_model()
    x, y = image_data(n=32, shape=(8, 8, 3), classes=5)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        s = compress_smh(model, fraction=0.3, seed=0)
    assert not any("left unchanged" in str(r.message) for r in record)
    names = [layer.name for layer in model.layers]
    assert [layer.name for layer in s.layers if layer.name != "smh_factors"] == names
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.name for layer in smh_layers(s)] == convs + ["logits"]
    assert type(s.get_layer("b1_add")) is keras.layers.Add
    np.testing.assert_allclose(
        s.predict(x, verbose=0), dense_twin(model, s).predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )
    _compiled(s, lr=0.01)
    hist = s.fit(x, y, epochs=6, batch_size=8, verbose=0).history["loss"]
    assert np.all(np.isfinite(hist)) and hist[-1] < hist[0]


def _h5_datasets(keras_file, tmp_path):
    with zipfile.ZipFile(keras_file) as archive:
        archive.extract("model.weights.h5", tmp_path)
    shapes = {}
    with h5py.File(tmp_path / "model.weights.h5") as f:
        f.visititems(
            lambda name, obj: (
                shapes.__setitem__(name, obj.shape) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return shapes


def test_keras_save_load_identical_outputs_and_shared_factors(tmp_path):
    model = resnet_block_model()
    x, y = image_data(n=16, shape=(8, 8, 3), classes=5)
    s = _compiled(_quiet_compress(model, fraction=0.3, seed=5))
    s.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "smh.keras"
    s.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), s.predict(x, verbose=0))
    factors = smh_factors(loaded)
    m, n = factors.rank, factors.n
    # U and V are stored once: exactly two (M, n) arrays, and nothing else that big.
    shapes = _h5_datasets(path, tmp_path)
    layer_shapes = [shape for name, shape in shapes.items() if name.startswith("layers/")]
    assert sorted(layer_shapes).count((m, n)) == 2
    assert sum(int(np.prod(shape)) for shape in layer_shapes) == s.count_params()
    # After loading, every SMH layer is fed by the one factors layer...
    for layer in smh_layers(loaded):
        parents = {p.operation.name for p in layer._inbound_nodes[0].parent_nodes}
        assert factors.name in parents
    # ... and shares it: zeroing V zeroes every SMH kernel and bias at once.
    saved_v = factors.V.numpy()
    factors.V.assign(np.zeros_like(saved_v))
    assert all(
        np.all(k == 0) and (b is None or np.all(b == 0)) for k, b in smh_weights(loaded).values()
    )
    for layer in smh_layers(loaded):
        kernel, _ = layer.smh_kernel_and_bias(
            [keras.ops.convert_to_tensor(factors.U), keras.ops.convert_to_tensor(factors.V)]
        )
        assert not np.any(kernel.numpy())
    factors.V.assign(saved_v)
    # Training continues identically from the saved state.
    loaded.compile(
        keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    s.compile(
        keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    s.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(s.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_layer_and_model_config_roundtrip():
    s = _quiet_compress(conv_model(), fraction=0.5, seed=8, bias_scale=0.5)
    for layer in [smh_factors(s)] + smh_layers(s):
        config = json.loads(json.dumps(layer.get_config()))
        clone = type(layer).from_config(config)
        assert clone.get_config() == layer.get_config()
    conv = s.get_layer("conv")
    assert conv.get_config()["bias_scale"] == 0.5 and conv.get_config()["n"] == conv.n
    config = json.loads(json.dumps(s.get_config()))
    rebuilt = keras.Model.from_config(config)
    rebuilt.set_weights(s.get_weights())
    x, _ = image_data(n=5)
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), s.predict(x, verbose=0))
    assert smh_factors(rebuilt).seed == 8
    assert smh_summary(rebuilt)["stored_size"] == smh_summary(s)["stored_size"]


def test_jit_compile_fit_and_predictions_match():
    x, y = image_data(n=32)
    model = conv_model()
    jit = _compiled(_quiet_compress(model, fraction=0.5, seed=9), jit=True)
    plain = _compiled(_quiet_compress(model, fraction=0.5, seed=9), jit=False)
    plain.set_weights(jit.get_weights())
    jit.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    plain.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(jit.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        jit.predict(x, verbose=0), plain.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )


def test_functional_model_with_shared_layer_and_two_inputs():
    keras.utils.set_random_seed(0)
    a, b = keras.Input((6,), name="a"), keras.Input((6,), name="b")
    shared = keras.layers.Dense(8, activation="relu", name="shared")
    h = keras.layers.Concatenate(name="cat")([shared(a), shared(b)])
    out = keras.layers.Dense(3, name="head")(h)
    model = keras.Model([a, b], out, name="two")
    s = _quiet_compress(model, fraction=0.8, seed=0)
    assert [x.name for x in s.inputs] == ["a", "b"]
    assert smh_summary(s)["virtual_size"] == 6 * 8 + 8 + 16 * 3 + 3  # "shared" once
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(4, 6)).astype("float32"), rng.normal(size=(4, 6)).astype("float32")
    np.testing.assert_allclose(
        s.predict([xa, xb], verbose=0),
        dense_twin(model, s).predict([xa, xb], verbose=0),
        rtol=1e-4,
        atol=1e-5,
    )


def test_skip_and_unsupported_layers_stay_with_their_weights():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            keras.layers.DepthwiseConv2D(3, name="dw"),
            keras.layers.Conv2D(4, 1, name="pw"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(6, name="fc"),
            keras.layers.Dense(3, name="out"),
        ]
    )
    with pytest.warns(
        UserWarning,
        match=r"left unchanged: dw \(no SMH twin for "
        r"DepthwiseConv2D\)",
    ):
        s = compress_smh(model, target_size=782, seed=0, skip=["out"])  # M = 13 exactly
    assert type(s.get_layer("dw")) is keras.layers.DepthwiseConv2D
    assert type(s.get_layer("out")) is keras.layers.Dense
    for name in ("dw", "out"):
        for a, b in zip(model.get_layer(name).get_weights(), s.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    assert [layer.name for layer in smh_layers(s)] == ["pw", "fc"]
    assert smh_summary(s)["virtual_size"] == 2 * 4 + 4 + 144 * 6 + 6


# ------------------------------------------------------------ distribution

# ------------------------------------------------------------ argument errors


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.fc = keras.layers.Dense(3)

    def call(self, x):
        return self.fc(x)


def _subclassed():
    model = Subclassed()
    model(np.zeros((1, 4), "float32"))
    return model


def _no_weights():
    return keras.Sequential(
        [keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.BatchNormalization()]
    )


MODEL_ERRORS = [
    (lambda: compress_smh(conv_model(), target_size=100, fraction=0.5), "exactly one"),
    (lambda: compress_smh(conv_model()), "exactly one"),
    (lambda: compress_smh(conv_model(), fraction=0), "`fraction`"),
    (lambda: compress_smh(conv_model(), fraction=-0.5), "`fraction`"),
    (lambda: compress_smh(conv_model(), fraction=1.5), "`fraction`"),
    (lambda: compress_smh(conv_model(), fraction=float("nan")), "`fraction`"),
    (lambda: compress_smh(conv_model(), fraction="half"), "`fraction`"),
    (lambda: compress_smh(conv_model(), fraction=True), "`fraction`"),
    (lambda: compress_smh(conv_model(), target_size=615), "larger than the 614"),
    (lambda: compress_smh(conv_model(), target_size=52), "below the smallest"),
    (lambda: compress_smh(conv_model(), target_size=0), "below the smallest"),
    (lambda: compress_smh(conv_model(), target_size=100.0), "`target_size`"),
    (lambda: compress_smh(conv_model(), target_size=True), "`target_size`"),
    (lambda: compress_smh(conv_model(), fraction=0.5, learn_scale="yes"), "`learn_scale`"),
    (lambda: compress_smh(conv_model(), fraction=0.5, seed=-1), "`seed`"),
    (lambda: compress_smh(conv_model(), fraction=0.5, seed=1.5), "`seed`"),
    (lambda: compress_smh(conv_model(), fraction=0.5, bias_scale=0), "`bias_scale`"),
    (lambda: compress_smh(conv_model(), fraction=0.5, skip=["nope"]), r"\['nope'\]"),
    (lambda: compress_smh(_subclassed(), fraction=0.5), "subclassed"),
    (lambda: compress_smh(keras.layers.Dense(3), fraction=0.5), "subclassed"),
    (lambda: compress_smh(keras.Sequential([keras.layers.Dense(3)]), fraction=0.5), "built model"),
    (lambda: compress_smh(_no_weights(), fraction=0.5), "no Dense or Conv2D"),
    (
        lambda: compress_smh(conv_model(), fraction=0.5, skip=["conv", "fc1", "fc2"]),
        "no Dense or Conv2D",
    ),
]


@pytest.mark.parametrize("make,message", MODEL_ERRORS)
def test_compress_smh_argument_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_already_compressed_model_is_refused():
    s = _quiet_compress(conv_model(), fraction=0.5)
    with pytest.raises(ValueError, match="already holds SMH layers"):
        compress_smh(s, fraction=0.5)


LAYER_ERRORS = [
    (lambda: SMHDense(0, n=4, start=0), "`units`"),
    (lambda: SMHDense(3, n=0, start=0), "`n`"),
    (lambda: SMHDense(3, n=4, start=-1), "`start`"),
    (lambda: SMHDense(3, n=4, start=0, learn_scale=1), "`learn_scale`"),
    (lambda: SMHDense(3, n=4, start=0, scale_init=float("inf")), "`scale_init`"),
    (lambda: SMHConv2D(2, 3, padding="causal", n=4, start=0), "`padding`"),
    (lambda: SMHConv2D(2, 0, n=4, start=0), "`kernel_size`"),
    (lambda: SMHConv2D(2, 3), "`n` and `start`"),
    (lambda: SMHFactors(n=4, rank=0), "`rank`"),
    (lambda: SMHFactors(n=4, rank=2, virtual_size=17), "`virtual_size`"),
]


@pytest.mark.parametrize("make,message", LAYER_ERRORS)
def test_layer_argument_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_layer_span_beyond_the_matrix_raises_at_build():
    inputs = keras.Input((4,))
    factors = SMHFactors(n=5, rank=2)(inputs)
    with pytest.raises(ValueError, match=r"beyond its n\*n = 25"):
        SMHDense(4, n=5, start=10)(inputs, factors)  # 20 weights from position 10
    with pytest.raises(ValueError, match="factors of shape"):
        SMHDense(2, n=6, start=0)(inputs, factors)


# ------------------------------------------------------------ variants


def test_xla_rebuild_matches_plain_rebuild_in_outputs_and_gradients():
    model = resnet_block_model()
    x, y = image_data(n=8, shape=(8, 8, 3), classes=5)
    plain = _quiet_compress(model, fraction=0.3, seed=3, use_xla=False)
    xla = _quiet_compress(model, fraction=0.3, seed=3, use_xla=True)
    xla.set_weights(plain.get_weights())
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    grads = []
    for m in (plain, xla):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, m(x, training=False))
        grads.append(
            [tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, m.trainable_variables)]
        )
    np.testing.assert_allclose(xla(x).numpy(), plain(x).numpy(), rtol=1e-4, atol=1e-5)
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5 * max(1.0, np.abs(a).max()))


def test_mixed_float16_trains_with_float32_factors():
    keras.mixed_precision.set_global_policy("mixed_float16")
    x, y = image_data(n=32)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(10, name="fc"),
            keras.layers.Activation("linear", dtype="float32", name="out"),
        ]
    )
    s = _compiled(_quiet_compress(model, fraction=0.5, seed=0), lr=0.01)
    assert smh_factors(s).U.dtype == "float32"
    assert s.get_layer("fc").output.dtype == "float16"
    hist = s.fit(x, y, epochs=4, batch_size=8, verbose=0).history["loss"]
    assert np.all(np.isfinite(hist)) and hist[-1] < hist[0]
    assert all(v.dtype == "float32" for v in s.trainable_variables)
