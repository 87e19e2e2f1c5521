"""Tests of hashed_keras.compress (compress, summarize) and the models zoo."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import hashed_keras
from hashed_keras import compress, hashing, summarize
from hashed_keras.layers import FreshConv2D, HashedConv2D, HashedDense, HashedLayer
from hk_experiments import models

REPLACEMENT = {keras.layers.Dense: HashedDense, keras.layers.Conv2D: HashedConv2D}


def sequential_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(10, activation="softmax", name="fc"),
        ],
        name="seq",
    )


def branch_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,), name="x")
    trunk = keras.layers.Dense(8, activation="relu", name="trunk")(inputs)
    head_a = keras.layers.Dense(3, name="head_a")(trunk)
    head_b = keras.layers.Dense(5, use_bias=False, name="head_b")(trunk)
    outputs = keras.layers.Concatenate(name="cat")([head_a, head_b])
    return keras.Model(inputs, outputs, name="branchy")


def image_data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8, 8, 1)).astype("float32"), rng.integers(0, 10, n)


def assert_structure_preserved(original, hashed):
    assert [layer.name for layer in hashed.layers] == [layer.name for layer in original.layers]
    for old, new in zip(original.layers, hashed.layers):
        expected = REPLACEMENT.get(type(old), type(old))
        assert type(new) is expected, (old.name, type(new))
    assert hashed.name == original.name
    assert hashed.output_shape == original.output_shape


def assert_projected(dense_layer, hashed_layer):
    """Buckets are the bucket-wise signed means of the dense kernel (by hand)."""
    kernel = dense_layer.kernel.numpy().astype(np.float64).reshape(-1)
    index, sign = hashing.bucket_and_sign(kernel.size, hashed_layer.num_buckets, hashed_layer.seed)
    buckets = hashed_layer.shared.numpy()
    # One bucket by hand: the one the first virtual weight reads.
    b = int(index[0])
    members = np.flatnonzero(index == b)
    assert np.isclose(buckets[b], np.mean(kernel[members] * sign[members]), atol=1e-6)
    # All of them, vectorised.
    k = hashed_layer.num_buckets
    counts = np.bincount(index, minlength=k)
    means = np.bincount(index, kernel * sign, minlength=k) / np.maximum(counts, 1)
    np.testing.assert_allclose(buckets, means, rtol=1e-5, atol=1e-7)
    if dense_layer.use_bias:
        np.testing.assert_array_equal(hashed_layer.bias.numpy(), dense_layer.bias.numpy())


# ---------------------------------------------------------------- Sequential


def test_compress_sequential_structure_and_training():
    model = sequential_model()
    x, y = image_data()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)  # non-trivial kernels and BN statistics
    hashed = compress(model, compression=1 / 4, seed=5)
    assert hashed is not model
    assert_structure_preserved(model, hashed)
    conv, fc = hashed.get_layer("conv"), hashed.get_layer("fc")
    assert conv.num_buckets == round(3 * 3 * 1 * 4 / 4) and conv.filters == 4
    assert fc.num_buckets == round(6 * 6 * 4 * 10 / 4) and fc.units == 10
    assert conv.activation is keras.activations.relu
    assert fc.activation is keras.activations.softmax
    assert (conv.seed, fc.seed) == (5, 8)  # seed + layer position
    # The untouched layer keeps its weights (incl. BN moving statistics).
    for a, b in zip(model.get_layer("bn").get_weights(), hashed.get_layer("bn").get_weights()):
        np.testing.assert_array_equal(a, b)
    # The original model is untouched.
    assert type(model.get_layer("fc")) is keras.layers.Dense
    # It trains.
    hashed.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    hist = hashed.fit(x, y, epochs=5, batch_size=8, verbose=0).history["loss"]
    assert np.all(np.isfinite(hist)) and hist[-1] < hist[0]


def test_compress_project_initialisation():
    model = sequential_model()
    hashed = compress(model, compression=1 / 4, seed=1, initialize="project")
    assert_projected(model.get_layer("fc"), hashed.get_layer("fc"))
    assert_projected(model.get_layer("conv"), hashed.get_layer("conv"))
    # "random" keeps the hashed layer's own initialisation instead.
    random_init = compress(model, compression=1 / 4, seed=1, initialize="random")
    assert not np.allclose(
        random_init.get_layer("fc").shared.numpy(), hashed.get_layer("fc").shared.numpy()
    )


def test_compress_full_compression_projection_is_exact_where_buckets_are_unique():
    # With compression 1 every bucket that holds exactly one weight reproduces it.
    model = sequential_model()
    hashed = compress(model, compression=1.0, seed=3, skip=["conv"])
    fc = hashed.get_layer("fc")
    kernel = model.get_layer("fc").kernel.numpy().reshape(-1)
    virtual = fc.kernel.numpy().reshape(-1)
    index = fc._index.numpy()
    single = np.bincount(index, minlength=fc.num_buckets)[index] == 1
    assert single.sum() > 0.2 * kernel.size
    np.testing.assert_allclose(virtual[single], kernel[single], rtol=1e-6)


def test_compress_skip_and_per_layer():
    model = sequential_model()
    hashed = compress(model, compression=1 / 8, skip=["conv"], per_layer={"fc": 0.5})
    conv, fc = hashed.get_layer("conv"), hashed.get_layer("fc")
    assert type(conv) is keras.layers.Conv2D
    for a, b in zip(model.get_layer("conv").get_weights(), conv.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert isinstance(fc, HashedDense)
    assert fc.num_buckets == 720  # 0.5 * 144 * 10
    rows = {row["name"]: row for row in summarize(hashed)}
    assert rows["conv"]["stored_size"] == 3 * 3 * 4 + 4 and not rows["conv"]["hashed"]
    assert rows["fc"]["stored_size"] == 720 + 10 == fc.stored_size()
    assert rows["fc"]["virtual_size"] == 1440 + 10 and rows["fc"]["hashed"]
    # per_layer for one layer, the default compression for the other.
    other = compress(model, compression=1 / 8, per_layer={"conv": 1.0})
    assert other.get_layer("conv").num_buckets == 36
    assert other.get_layer("fc").num_buckets == 180


def test_summarize_totals():
    model = sequential_model()
    hashed = compress(model, compression=1 / 4, seed=0)
    rows = summarize(hashed)
    assert [r["name"] for r in rows] == ["conv", "bn", "fc", "total"]  # flat has no weights
    total = rows[-1]
    assert total["name"] == "total" and total["hashed"]
    assert total["stored_size"] == sum(r["stored_size"] for r in rows[:-1]) == hashed.count_params()
    assert (
        total["virtual_size"] == sum(r["virtual_size"] for r in rows[:-1]) == model.count_params()
    )
    assert rows[0] == {
        "name": "conv",
        "type": "HashedConv2D",
        "virtual_size": 40,
        "stored_size": 9 + 4,
        "hashed": True,
    }
    assert rows[1]["stored_size"] == rows[1]["virtual_size"] == 16  # gamma, beta, mean, variance
    assert rows[2]["stored_size"] == 360 + 10 and rows[2]["virtual_size"] == 1450
    dense_rows = summarize(model)
    assert dense_rows[-1]["stored_size"] == dense_rows[-1]["virtual_size"] == model.count_params()
    assert not dense_rows[-1]["hashed"]


def test_summarize_prints_a_table_like_model_summary(capsys):
    hashed = compress(sequential_model(), compression=1 / 4, seed=0)
    rows = summarize(hashed)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["layer", "type", "virtual", "stored", "stored/virtual"]
    assert any(line.split()[:2] == ["conv", "HashedConv2D"] for line in printed)
    assert printed[-1].split()[:3] == [
        "total",
        f"{rows[-1]['virtual_size']:,}",
        f"{rows[-1]['stored_size']:,}",
    ]
    lines = []
    assert summarize(hashed, print_fn=lines.append) == rows and len(lines) == 1
    assert summarize(hashed, print_fn=None) == rows
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------- functional


def test_compress_functional_branch():
    model = branch_model()
    hashed = compress(model, compression=0.5, seed=0)
    assert_structure_preserved(model, hashed)
    for name in ("trunk", "head_a", "head_b"):
        assert_projected(model.get_layer(name), hashed.get_layer(name))
    assert hashed.get_layer("head_b").bias is None
    seeds = [hashed.get_layer(n).seed for n in ("trunk", "head_a", "head_b")]
    assert len(set(seeds)) == 3
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = rng.normal(size=(32, 8)).astype("float32")
    assert hashed.predict(x, verbose=0).shape == (32, 8)
    hashed.compile(keras.optimizers.Adam(0.01), "mse")
    hist = hashed.fit(x, y, epochs=5, batch_size=8, verbose=0).history["loss"]
    assert hist[-1] < hist[0]


def test_compress_seed_none_gives_fresh_seeds():
    model = branch_model()
    a, b = compress(model), compress(model)
    assert a.get_layer("trunk").seed != b.get_layer("trunk").seed


# ---------------------------------------------------------------- unsupported


def test_unsupported_layers_are_left_and_named_in_warning():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            keras.layers.DepthwiseConv2D(3, name="dw"),
            keras.layers.Reshape((36, 2), name="reshape"),
            keras.layers.Conv1D(2, 3, name="c1d"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(2, name="fc"),
        ]
    )
    with pytest.warns(UserWarning, match="dw") as record:
        hashed = compress(model, compression=0.5)
    message = " ".join(str(w.message) for w in record if issubclass(w.category, UserWarning))
    assert "dw" in message and "c1d" in message
    assert "reshape" not in message and "flat" not in message and "fc (" not in message
    assert type(hashed.get_layer("dw")) is keras.layers.DepthwiseConv2D
    assert type(hashed.get_layer("c1d")) is keras.layers.Conv1D
    assert isinstance(hashed.get_layer("fc"), HashedDense)
    for name in ("dw", "c1d"):
        for a, b in zip(model.get_layer(name).get_weights(), hashed.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_skipping_unsupported_layers_does_not_warn(recwarn):
    model = keras.Sequential(
        [
            keras.Input((6, 2)),
            keras.layers.Conv1D(2, 3, name="c1d"),
            keras.layers.Flatten(),
            keras.layers.Dense(2, name="fc"),
        ]
    )
    compress(model, skip=["c1d"])
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(skip=["nope"]), "nope"),
        (dict(per_layer={"missing": 0.5}), "missing"),
        (dict(compression=0), "compression"),
        (dict(compression=1.5), "compression"),
        (dict(compression="x"), "compression"),
        (dict(per_layer={"fc": 2.0}), "per_layer"),
        (dict(method="pruned"), "method"),
        (dict(initialize="zeros"), "initialize"),
    ],
)
def test_compress_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compress(sequential_model(), **kwargs)


def test_compress_subclassed_model_raises():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, inputs):
            return self.dense(inputs)

    model = Subclassed()
    model(np.zeros((1, 3), "float32"))
    with pytest.raises(ValueError, match="ubclassed"):
        compress(model)


# ---------------------------------------------------------------- models zoo


@pytest.mark.parametrize("method", models.METHODS)
@pytest.mark.parametrize("name", models.MODELS)
def test_zoo_builds(name, method):
    model = models.build(
        name, method, input_shape=(8, 8, 1), num_classes=10, compression=1 / 8, seed=1
    )
    assert model.name == f"{name}_{method}"
    assert model.input_shape == (None, 8, 8, 1) and model.output_shape == (None, 10)
    hashed_layers = [
        layer
        for layer in model.layers
        if isinstance(layer, (HashedLayer, hashed_keras.smh.SMHLayer))
    ]
    if method in ("hashed", "freshnets", "smh", "smh_fixed_scale"):
        assert hashed_layers
        assert not any(
            type(layer) in (keras.layers.Dense, keras.layers.Conv2D) for layer in model.layers
        )
        stored, virtual = models.stored_size(model), models.virtual_size(model)
        # ~1/8 of the weights, plus the unhashed biases (SMH: sizes come in steps of 2n)
        assert stored < virtual / (6 if method in ("hashed", "freshnets") else 3)
    elif method == "rer":  # masked dense layers: only the kept weights (1/8) count
        assert not hashed_layers
        assert models.stored_size(model) < models.virtual_size(model) / 6
    else:
        assert not hashed_layers
        assert models.stored_size(model) == models.virtual_size(model)
    probs = model.predict(np.zeros((2, 8, 8, 1), "float32"), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", models.MODELS)
def test_zoo_small_dense_matches_hashed_stored_size(name):
    hashed = models.build(
        name, "hashed", input_shape=(8, 8, 1), num_classes=10, compression=1 / 8, seed=1
    )
    small = models.build(
        name, "small_dense", input_shape=(8, 8, 1), num_classes=10, compression=1 / 8, seed=1
    )
    dense = models.build(name, "dense", input_shape=(8, 8, 1), num_classes=10)
    target = models.stored_size(hashed)
    got = models.stored_size(small)
    assert abs(got - target) <= 0.02 * target, (got, target)
    assert models.virtual_size(hashed) == models.stored_size(dense)
    assert [type(layer) for layer in small.layers] == [type(layer) for layer in dense.layers]


@pytest.mark.parametrize("name", ["cnn", "lenet"])
def test_zoo_freshnets_stores_as_much_as_hashed(name):
    fresh = models.build(name, "freshnets", compression=1 / 64, seed=1)
    hashed = models.build(name, "hashed", compression=1 / 64, seed=1)
    assert any(isinstance(layer, FreshConv2D) for layer in fresh.layers)
    assert models.stored_size(fresh) == models.stored_size(hashed)
    # A tiny first conv keeps one bucket per frequency band (9 for 5x5).
    first = fresh.get_layer("conv1")
    assert first.num_buckets >= first.kernel_shape[0] + first.kernel_shape[1] - 1


def test_compress_smh_routes_and_summarizes():
    keras.utils.set_random_seed(0)
    dense = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(20, name="a"), keras.layers.Dense(3, name="b")]
    )
    model = hashed_keras.compress(dense, method="smh", fraction=0.5, seed=0)
    rows = {r["name"]: r for r in hashed_keras.summarize(model)}
    assert rows["a"]["type"] == "SMHDense" and rows["a"]["virtual_size"] == 6 * 20 + 20
    assert rows["total"]["virtual_size"] == dense.count_params()
    assert rows["total"]["stored_size"] == hashed_keras.smh.smh_summary(model)["stored_size"]
    with pytest.raises(ValueError, match="per_layer"):
        hashed_keras.compress(dense, method="smh", fraction=0.5, per_layer={"a": 0.5})
    with pytest.raises(ValueError, match="are for method='smh'"):
        hashed_keras.compress(dense, method="hashed", fraction=0.5)
