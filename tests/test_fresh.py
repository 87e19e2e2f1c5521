"""Tests of FreshNets: FreshConv2D, the frequency-key contract and compress(method="freshnets")."""

from __future__ import annotations

import json
import math
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
import xxhash

from hashed_keras import compress, hashing, summarize
from hashed_keras.layers import FreshConv2D, HashedConv2D, HashedDense
from hk_experiments import models

# ------------------------------------------------ independent references


def ref_xxh32(key, seed):
    return xxhash.xxh32_intdigest(int(key).to_bytes(4, "little"), seed)


def ref_dct(n):
    """The orthonormal DCT-II matrix by the textbook formula, element by element."""
    d = np.zeros((n, n))
    for j in range(n):
        alpha = math.sqrt(1.0 / n) if j == 0 else math.sqrt(2.0 / n)
        for y in range(n):
            d[j, y] = alpha * math.cos(math.pi * (2 * y + 1) * j / (2 * n))
    return d


def ref_band_bucket_and_sign(shape, band_buckets, seed, use_sign=True):
    """The frequency-key contract spelled out with the xxhash package, key by key."""
    kh, kw, cin, cout = shape
    seed_h, seed_s = ref_xxh32(0, seed), ref_xxh32(1, seed)
    offsets = [sum(band_buckets[:b]) for b in range(len(band_buckets))]
    index, sign = [], []
    for j1 in range(kh):
        for j2 in range(kw):
            for c in range(cin):
                for o in range(cout):
                    key = ((j1 * kw + j2) * cin + c) * cout + o
                    assert key == len(index)
                    band = j1 + j2
                    index.append(offsets[band] + ref_xxh32(key, seed_h) % band_buckets[band])
                    negative = use_sign and ref_xxh32(key, seed_s) >= 2**31
                    sign.append(-1.0 if negative else 1.0)
    return np.array(index), np.array(sign)


def ref_kernel(layer):
    """The layer's spatial kernel from its buckets: xxhash contract + explicit inverse DCT."""
    shape = layer.kernel_shape
    index, sign = ref_band_bucket_and_sign(shape, layer.band_buckets, layer.seed, layer.use_sign)
    f = (sign * layer.shared.numpy().astype(np.float64)[index]).reshape(shape)
    dh, dw = ref_dct(shape[0]), ref_dct(shape[1])
    w = np.zeros(shape)
    for y in range(shape[0]):
        for x in range(shape[1]):
            for j1 in range(shape[0]):
                for j2 in range(shape[1]):
                    w[y, x] += dh[j1, y] * dw[j2, x] * f[j1, j2]
    return w, f


def randomize(layer, seed=0):
    rng = np.random.default_rng(seed)
    layer.shared.assign(rng.normal(size=layer.shared.shape).astype("float32"))
    if layer.bias is not None:
        layer.bias.assign(rng.normal(size=layer.bias.shape).astype("float32"))


def image_regression(n=32, size=6, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, size, size, channels)).astype("float32")
    # A smooth target: what a low-frequency filter computes.
    y = x.mean(axis=(1, 2))[:, :1].astype("float32") * 4
    return x, y


def small_model(jit=False, lr=0.02):
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            FreshConv2D(4, 3, compression=0.5, seed=3, activation="tanh", name="fresh"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1, name="out"),
        ]
    )
    model.compile(keras.optimizers.Adam(lr), "mse", jit_compile=jit)
    return model


# ------------------------------------------------------ the contract


def test_dct_matrix_is_the_orthonormal_dct2():
    for n in (1, 2, 3, 5, 7):
        d = hashing.dct_matrix(n)
        np.testing.assert_allclose(d, ref_dct(n), rtol=0, atol=1e-15)
        np.testing.assert_allclose(d @ d.T, np.eye(n), atol=1e-12)
    np.testing.assert_allclose(hashing.dct2_basis(3, 2), np.kron(ref_dct(3), ref_dct(2)))
    kernel = np.random.default_rng(0).normal(size=(3, 2, 2, 3))
    np.testing.assert_allclose(
        hashing.idct2_kernel(hashing.dct2_kernel(kernel)), kernel, atol=1e-12
    )


@pytest.mark.parametrize(
    "shape,band_buckets,seed,use_sign",
    [
        ((3, 3, 2, 4), [4, 6, 5, 2, 1], 42, True),
        ((3, 2, 3, 2), [3, 5, 4, 1], 2**32 - 1, True),
        ((1, 1, 3, 5), [7], 0, True),
        ((2, 3, 2, 2), [2, 3, 4, 2], 1234567, False),
    ],
)
def test_band_bucket_and_sign_matches_xxhash_reference(shape, band_buckets, seed, use_sign):
    index, sign = hashing.band_bucket_and_sign(shape, band_buckets, seed, use_sign=use_sign)
    ref_index, ref_sign = ref_band_bucket_and_sign(shape, band_buckets, seed, use_sign)
    assert index.dtype == np.int32 and sign.dtype == np.float32
    np.testing.assert_array_equal(index, ref_index)
    np.testing.assert_array_equal(sign, ref_sign)
    if use_sign:
        assert set(np.unique(sign)) == {-1.0, 1.0}


# The vectors of docs/hash_contract.md, section 7: FreshConv2D(4, 3,
# compression=1/4, seed=42) on 2 channels. (key, band, bucket, sign).
DOC_VECTORS = [
    (0, 0, 1, 1.0),
    (13, 1, 8, -1.0),
    (34, 2, 12, -1.0),
    (63, 3, 15, 1.0),
    (71, 4, 17, -1.0),
]


def test_documented_test_vectors():
    layer = FreshConv2D(4, 3, compression=1 / 4, seed=42)
    layer.build((None, 5, 5, 2))
    assert layer.kernel_shape == (3, 3, 2, 4) and layer.num_buckets == 18
    assert layer.band_buckets == [4, 6, 5, 2, 1]
    assert layer.band_offsets == [0, 4, 10, 15, 17]
    assert hashing.derived_seeds(42) == (0x7F168140, 0xB22F1493)
    index, sign = layer._index.numpy(), layer._sign.numpy()
    for key, band, bucket, expected_sign in DOC_VECTORS:
        j1, j2 = divmod(key // (2 * 4), 3)
        assert j1 + j2 == band
        assert index[key] == bucket and sign[key] == expected_sign
    assert ref_xxh32(13, 0x7F168140) == 0x8DCBF19A and ref_xxh32(13, 0xB22F1493) == 0xA4CF0812
    layer.shared.assign(np.arange(1, 19, dtype=np.float32) / 8)
    kernel = layer.kernel.numpy()
    assert abs(kernel[0, 0, 0, 0] - 0.53188203) < 1e-6
    assert abs(kernel[1, 2, 1, 3] - 2.75414491) < 1e-6


@pytest.mark.parametrize(
    "shape,buckets,allocation",
    [
        ((3, 3, 4, 6), 27, "beta"),
        ((5, 5, 2, 3), 40, "uniform"),
        ((3, 2, 3, 4), 20, ("beta", 0.5, 4.0)),
        ((2, 2, 3, 3), 12, [0.5, 0.3, 0.2]),
    ],
)
def test_each_band_hits_only_its_pool(shape, buckets, allocation):
    kh, kw, cin, cout = shape
    band_buckets = hashing.allocate_band_buckets(shape, buckets, allocation)
    assert sum(band_buckets) == buckets
    n = hashing.band_sizes(shape)
    assert all(1 <= k <= nb for k, nb in zip(band_buckets, n))
    index, _ = hashing.band_bucket_and_sign(shape, band_buckets, 99)
    band = (
        np.add.outer(np.arange(kh), np.arange(kw))[:, :, None, None]
        + np.zeros((1, 1, cin, cout), int)
    ).reshape(-1)
    offsets = np.cumsum([0] + band_buckets)
    for b in range(kh + kw - 1):
        hits = index[band == b]
        assert hits.size == n[b]
        assert hits.min() >= offsets[b] and hits.max() < offsets[b + 1]
    assert index.min() >= 0 and index.max() < buckets


def test_band_sizes():
    assert hashing.band_sizes((3, 3, 2, 4)) == [8, 16, 24, 16, 8]
    assert hashing.band_sizes((3, 2, 1, 1)) == [1, 2, 2, 1]
    assert hashing.band_sizes((1, 1, 5, 7)) == [35]
    assert hashing.num_bands(3, 2) == 4


@pytest.mark.parametrize(
    "shape,compression",
    [
        ((3, 3, 16, 32), 1 / 8),
        ((3, 3, 16, 32), 1 / 16),
        ((3, 3, 16, 32), 1 / 64),
        ((3, 3, 64, 64), 1 / 64),
        ((5, 5, 8, 16), 1 / 16),
        ((5, 5, 8, 16), 1 / 4),
        ((7, 7, 3, 64), 1 / 8),
        ((3, 3, 4, 8), 1 / 2),
    ],
)
def test_default_schedule_is_non_increasing_per_coefficient(shape, compression):
    total = max(1, round(compression * math.prod(shape)))
    band_buckets = hashing.allocate_band_buckets(shape, total)
    assert sum(band_buckets) == total
    density = np.array(band_buckets) / np.array(hashing.band_sizes(shape))
    assert np.all(np.diff(density) <= 1e-12), density
    assert density[0] > density[-1]


def test_allocation_rule():
    shape = (3, 3, 4, 8)  # n_b = 32, 64, 96, 64, 32; N = 288
    n = np.array(hashing.band_sizes(shape))
    # uniform: proportional to n_b (exact here), i.e. the same density everywhere.
    assert hashing.allocate_band_buckets(shape, 36, "uniform") == list(n // 8)
    # fractions: K * f_b when nothing binds.
    assert hashing.allocate_band_buckets(shape, 100, [0.3, 0.3, 0.2, 0.1, 0.1]) == [
        30,
        30,
        20,
        10,
        10,
    ]
    # Largest remainder, ties to the lower band: 101 * f = 30.3, 30.3, 20.2, 10.1, 10.1.
    assert hashing.allocate_band_buckets(shape, 101, [0.3, 0.3, 0.2, 0.1, 0.1]) == [
        31,
        30,
        20,
        10,
        10,
    ]
    # Caps: band 0 cannot take more than its 32 coefficients; the rest is redistributed
    # in proportion (0.4 : 0.2 : 0.2 : 0.2 of 100 - 32 = 68 -> 27.2, 13.6, 13.6, 13.6).
    assert hashing.allocate_band_buckets(shape, 100, [0.6, 0.1, 0.1, 0.1, 0.1]) == [
        32,
        17,
        17,
        17,
        17,
    ]
    assert hashing.allocate_band_buckets(shape, 120, [0.6, 0.1, 0.1, 0.1, 0.1]) == [
        32,
        22,
        22,
        22,
        22,
    ]
    # Floors: every band keeps one bucket.
    assert hashing.allocate_band_buckets(shape, 20, [0.96, 0.01, 0.01, 0.01, 0.01]) == [
        16,
        1,
        1,
        1,
        1,
    ]
    assert hashing.allocate_band_buckets(shape, 5) == [1, 1, 1, 1, 1]
    assert hashing.allocate_band_buckets(shape, 288) == list(n)
    # "beta" is ("beta", 1, 2.5): the Beta pdf at the band centres, times n_b.
    assert hashing.allocate_band_buckets(shape, 50) == hashing.allocate_band_buckets(
        shape, 50, ("beta", 1, 2.5)
    )
    x = (np.arange(5) + 0.5) / 5
    np.testing.assert_allclose(hashing.band_weights(shape), n * (1 - x) ** 1.5)
    # Against the unrounded water-filled quotas: never more than one bucket off.
    w = hashing.band_weights(shape, ("beta", 0.7, 3.0))
    for total in range(5, 289, 7):
        got = np.array(hashing.allocate_band_buckets(shape, total, ("beta", 0.7, 3.0)))
        lo, hi = 0.0, 1e9
        for _ in range(200):
            lam = 0.5 * (lo + hi)
            lo, hi = (lam, hi) if np.clip(lam * w, 1, n).sum() < total else (lo, lam)
        q = np.clip(lam * w, 1, n)
        assert got.sum() == total and np.all(np.abs(got - q) < 1 + 1e-9), (total, got, q)


def test_random_allocations_are_valid():
    rng = np.random.default_rng(0)
    for trial in range(300):
        kh, kw = (int(v) for v in rng.integers(1, 6, 2))
        cin, cout = (int(v) for v in rng.integers(1, 6, 2))
        shape = (kh, kw, cin, cout)
        size = math.prod(shape)
        if size < kh + kw - 1:
            continue
        total = int(rng.integers(kh + kw - 1, size + 1))
        allocation = [
            "beta",
            "uniform",
            ("beta", float(rng.uniform(0.2, 3)), float(rng.uniform(0.2, 5))),
        ][trial % 3]
        band_buckets = hashing.allocate_band_buckets(shape, total, allocation)
        assert sum(band_buckets) == total
        assert all(1 <= k <= n for k, n in zip(band_buckets, hashing.band_sizes(shape)))


# ----------------------------------------------------------------- layer


@pytest.mark.parametrize(
    "kwargs,shape",
    [
        (dict(filters=4, kernel_size=3, compression=0.3), (2, 7, 7, 3)),
        (dict(filters=3, kernel_size=(3, 2), buckets=11, strides=2, padding="same"), (2, 8, 7, 2)),
        (dict(filters=2, kernel_size=5, compression=0.5, use_sign=False), (1, 6, 6, 2)),
        (
            dict(filters=3, kernel_size=3, compression=0.25, dilation_rate=2, use_bias=False),
            (2, 9, 9, 2),
        ),
        (dict(filters=5, kernel_size=1, compression=0.6, band_allocation="uniform"), (2, 4, 4, 3)),
    ],
)
def test_kernel_and_output_equal_numpy_reference(kwargs, shape):
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    layer = FreshConv2D(seed=2024, **kwargs)
    layer.build(shape)
    randomize(layer)
    kernel, coefficients = ref_kernel(layer)
    np.testing.assert_allclose(layer.kernel.numpy(), kernel, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(layer.frequency_kernel.numpy(), coefficients, rtol=0, atol=0)
    index, sign = ref_band_bucket_and_sign(
        layer.kernel_shape, layer.band_buckets, layer.seed, layer.use_sign
    )
    np.testing.assert_array_equal(layer._index.numpy(), index)
    np.testing.assert_array_equal(layer._sign.numpy(), sign)
    bias = 0.0 if layer.bias is None else layer.bias.numpy()
    expected = (
        tf.nn.conv2d(
            x,
            kernel.astype("float32"),
            strides=layer.strides,
            padding=layer.padding.upper(),
            dilations=layer.dilation_rate,
        ).numpy()
        + bias
    )
    out = layer(x).numpy()
    assert out.shape == expected.shape == tuple(layer.compute_output_shape(shape))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_variables_sizes_and_spec():
    layer = FreshConv2D(6, 3, compression=1 / 8, seed=1)
    layer.build((None, 10, 10, 4))
    assert isinstance(layer, HashedConv2D)  # a HashedConv2D hashed in the frequency domain
    assert layer.num_buckets == 27 == sum(layer.band_buckets)
    assert [v.path.split("/")[-1] for v in layer.trainable_variables] == ["buckets", "bias"]
    assert layer.non_trainable_weights == []
    assert layer.stored_size() == 27 + 6 == layer.count_params()
    assert layer.kernel_size_virtual == 216 and layer.bias_size == 6
    assert not isinstance(layer._index, (tf.Variable, keras.Variable))
    spec = layer.hash_spec()
    assert spec == {
        "contract_version": hashing.CONTRACT_VERSION,
        "scheme": "freshnets",
        "seed": 1,
        "buckets": 27,
        "band_buckets": layer.band_buckets,
        "kernel_shape": [3, 3, 4, 6],
        "use_sign": True,
        "hash_bias": False,
        "bias_size": 6,
    }
    json.dumps(spec)
    # summarize() and models.stored_size() see it as a hashed layer.
    model = keras.Sequential([keras.Input((10, 10, 4)), layer])
    rows = summarize(model)
    assert rows[0]["hashed"] and rows[0]["virtual_size"] == 216 + 6 and rows[0]["stored_size"] == 33
    assert models.stored_size(model) == 33


def test_initialisation_keeps_the_spatial_variance():
    # The DCT is orthonormal: coefficients drawn with the initializer's variance give
    # spatial weights with that variance (U(+-1/sqrt(fan_in)): var = 1 / (3 fan_in)).
    keras.utils.set_random_seed(0)
    layer = FreshConv2D(64, 3, compression=1 / 2, seed=5)
    layer.build((None, 8, 8, 32))
    expected = 1.0 / (3 * 3 * 3 * 32)
    assert abs(np.var(layer.kernel.numpy()) / expected - 1) < 0.1
    assert abs(np.var(layer.frequency_kernel.numpy()) / expected - 1) < 0.1


def test_bucket_gradient_equals_plain_gather_gradient():
    x = np.random.default_rng(5).normal(size=(2, 6, 6, 3)).astype("float32")
    layer = FreshConv2D(4, 3, compression=0.3, seed=9, padding="same")
    layer.build(x.shape)
    randomize(layer, seed=6)

    def loss_of(out):
        return tf.reduce_sum(tf.square(out) * tf.range(1.0, 5.0)) / 10

    with tf.GradientTape() as tape:
        loss = loss_of(layer(x))
    grads = tape.gradient(loss, layer.trainable_variables)
    index, sign = ref_band_bucket_and_sign(layer.kernel_shape, layer.band_buckets, 9)
    buckets = tf.Variable(layer.shared.numpy())
    basis = tf.constant(np.kron(ref_dct(3), ref_dct(3)), tf.float32)
    with tf.GradientTape() as tape:
        f = tf.reshape(tf.gather(buckets, index) * sign.astype("float32"), (9, -1))
        kernel = tf.reshape(tf.transpose(basis) @ f, layer.kernel_shape)
        ref_loss = loss_of(tf.nn.conv2d(x, kernel, 1, "SAME") + layer.bias)
    ref = tf.convert_to_tensor(tape.gradient(ref_loss, buckets)).numpy()
    assert abs(float(loss) - float(ref_loss)) <= 1e-5 * abs(float(ref_loss))
    g = tf.convert_to_tensor(grads[0]).numpy()
    np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    assert all(gr is not None for gr in grads)


def test_mixed_float16_forward():
    keras.mixed_precision.set_global_policy("mixed_float16")
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 2)).astype("float32")
    layer = FreshConv2D(3, 3, compression=0.5, seed=4)
    layer.build(x.shape)
    assert layer.shared.dtype == "float32"
    out = layer(x)
    assert out.dtype == tf.float16
    kernel, _ = ref_kernel(layer)
    expected = tf.nn.conv2d(x, kernel.astype("float32"), 1, "VALID").numpy()
    np.testing.assert_allclose(
        out.numpy().astype("float32"), expected, rtol=2e-2, atol=2e-2 * np.abs(expected).max()
    )


# -------------------------------------------------------------- training


def test_fit_reduces_loss():
    x, y = image_regression()
    keras.utils.set_random_seed(0)
    model = small_model()
    before = [w.copy() for w in model.get_weights()]
    hist = model.fit(x, y, epochs=10, batch_size=8, verbose=0).history["loss"]
    assert np.all(np.isfinite(hist)) and hist[-1] < 0.5 * hist[0]
    assert not np.array_equal(before[0], model.get_weights()[0])  # the buckets moved


def test_jit_compile_fit_matches_non_jit():
    x, y = image_regression()
    keras.utils.set_random_seed(0)
    jit = small_model(jit=True)
    hist = jit.fit(x, y, epochs=3, batch_size=8, verbose=0).history["loss"]
    assert np.all(np.isfinite(hist)) and hist[-1] < hist[0]
    plain = small_model(jit=False)
    plain.set_weights(jit.get_weights())
    np.testing.assert_allclose(
        jit.predict(x, verbose=0), plain.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )


def test_mirrored_strategy_one_device():
    x, y = image_regression()
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = small_model()
    hist = model.fit(x, y, epochs=4, batch_size=8, verbose=0).history["loss"]
    assert strategy.num_replicas_in_sync == 1
    assert np.all(np.isfinite(hist)) and hist[-1] < hist[0]
    assert [list(w.shape) for w in model.get_weights()] == [[36], [4], [4, 1], [1]]


# ---------------------------------------------------------- save / config


def test_keras_save_load_roundtrip(tmp_path):
    x = np.random.default_rng(0).normal(size=(3, 7, 7, 2)).astype("float32")
    inputs = keras.Input((7, 7, 2))
    h = FreshConv2D(
        4,
        3,
        compression=0.25,
        seed=21,
        activation="relu",
        name="fc1",
        band_allocation=("beta", 1, 3),
    )(inputs)
    h = FreshConv2D(
        3, (2, 3), buckets=9, seed=22, name="fc2", band_allocation=[0.4, 0.3, 0.2, 0.1]
    )(h)
    outputs = HashedDense(2, compression=0.5, seed=23, name="hd")(keras.layers.Flatten()(h))
    model = keras.Model(inputs, outputs)
    for layer in (model.get_layer("fc1"), model.get_layer("fc2")):
        randomize(layer, seed=layer.seed)
    path = tmp_path / "fresh.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for name in ("fc1", "fc2"):
        a, b = model.get_layer(name), loaded.get_layer(name)
        assert isinstance(b, FreshConv2D)
        assert (b.seed, b.band_buckets, b.band_allocation) == (
            a.seed,
            a.band_buckets,
            a.band_allocation,
        )
        assert b.get_build_config()["band_buckets"] == a.band_buckets


def test_loaded_model_keeps_its_saved_band_allocation(tmp_path, monkeypatch):
    # If the allocation rule (or its default) ever changes, a saved model still
    # rebuilds with the band pools it was trained with: they are in the build config.
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 2)).astype("float32")
    model = keras.Sequential(
        [keras.Input((6, 6, 2)), FreshConv2D(4, 3, compression=0.5, seed=1, name="f")]
    )
    randomize(model.get_layer("f"))
    path = tmp_path / "m.keras"
    model.save(path)

    original_rule = hashing.allocate_band_buckets

    def changed_rule(shape, total, allocation="beta"):
        return original_rule(shape, total, "uniform")

    monkeypatch.setattr(hashing, "allocate_band_buckets", changed_rule)
    new = FreshConv2D(4, 3, compression=0.5, seed=1)
    new.build((None, 6, 6, 2))
    assert new.band_buckets != model.get_layer("f").band_buckets  # the rule did change
    loaded = keras.models.load_model(path)
    assert loaded.get_layer("f").band_buckets == model.get_layer("f").band_buckets
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize(
    "allocation", ["beta", "uniform", ("beta", 0.8, 2.0), [0.5, 0.25, 0.15, 0.1]]
)
def test_config_roundtrip(allocation):
    layer = FreshConv2D(
        4,
        (3, 2),
        strides=(1, 2),
        padding="same",
        compression=0.5,
        band_allocation=allocation,
        seed=None,
        activation="relu",
    )
    layer.build((None, 6, 6, 2))
    randomize(layer)
    config = json.loads(json.dumps(layer.get_config()))  # as saved in a .keras file
    assert "hash_bias" not in config
    clone = FreshConv2D.from_config(config)
    assert clone.get_config() == layer.get_config()
    assert clone.seed == layer.seed and clone.compression == 0.5 and clone.buckets is None
    assert clone.kernel_size == (3, 2) and clone.strides == (1, 2)
    clone.build((None, 6, 6, 2))
    assert clone.band_buckets == layer.band_buckets
    clone.set_weights(layer.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 2)).astype("float32")
    np.testing.assert_array_equal(clone(x).numpy(), layer(x).numpy())


# -------------------------------------------------------------- errors

ERRORS = [
    (lambda: FreshConv2D(0, 3), "filters"),
    (lambda: FreshConv2D(2.0, 3), "filters"),
    (lambda: FreshConv2D(True, 3), "filters"),
    (lambda: FreshConv2D(2, 0), "kernel_size"),
    (lambda: FreshConv2D(2, (3, 3, 3)), "kernel_size"),
    (lambda: FreshConv2D(2, None), "kernel_size"),
    (lambda: FreshConv2D(2, 3, compression=0), "compression"),
    (lambda: FreshConv2D(2, 3, compression=1.5), "compression"),
    (lambda: FreshConv2D(2, 3, compression="x"), "compression"),
    (lambda: FreshConv2D(2, 3, compression=0.5, buckets=9), "buckets"),
    (lambda: FreshConv2D(2, 3, buckets=0), "buckets"),
    (lambda: FreshConv2D(2, 3, buckets=2.5), "buckets"),
    (lambda: FreshConv2D(2, 3, buckets=4), "buckets"),  # 5 bands
    (lambda: FreshConv2D(2, 3, band_allocation="gaussian"), "band_allocation"),
    (lambda: FreshConv2D(2, 3, band_allocation=("beta", 0, 2)), "band_allocation"),
    (lambda: FreshConv2D(2, 3, band_allocation=("beta", 1)), "band_allocation"),
    (lambda: FreshConv2D(2, 3, band_allocation=("gamma", 1, 2)), "band_allocation"),
    (lambda: FreshConv2D(2, 3, band_allocation=("beta", 1, float("inf"))), "band_allocation"),
    (lambda: FreshConv2D(2, 3, band_allocation=[0.5, 0.5]), "band_allocation"),
    (lambda: FreshConv2D(2, 3, band_allocation=[0.5, 0.2, 0.2, 0.1, 0.0]), "band_allocation"),
    (lambda: FreshConv2D(2, 3, band_allocation=[0.5, 0.2, 0.2, 0.1, 0.1]), "band_allocation"),
    (lambda: FreshConv2D(2, 3, band_allocation=3), "band_allocation"),
    (lambda: FreshConv2D(2, 3, padding="causal"), "padding"),
    (lambda: FreshConv2D(2, 3, strides=0), "strides"),
    (lambda: FreshConv2D(2, 3, dilation_rate=(1, 0)), "dilation_rate"),
    (lambda: FreshConv2D(2, 3, strides=2, dilation_rate=2), "strides"),
    (lambda: FreshConv2D(2, 3, data_format="nhwc"), "data_format"),
    (lambda: FreshConv2D(2, 3, seed=-1), "seed"),
    (lambda: FreshConv2D(2, 3, seed=2**32), "seed"),
    (lambda: FreshConv2D(2, 3, use_sign="yes"), "use_sign"),
    (lambda: FreshConv2D(2, 3, hash_bias=True), "hash_bias"),
]


@pytest.mark.parametrize("make,argument", ERRORS)
def test_argument_errors_name_the_argument(make, argument):
    with pytest.raises(ValueError, match=f"`{argument}"):
        make()


def test_too_few_buckets_for_the_bands_raises_at_build():
    # 3x3x1x4 = 36 coefficients, 5 bands: compression 1/9 gives K = 4 < 5.
    layer = FreshConv2D(4, 3, compression=1 / 9)
    with pytest.raises(ValueError, match="at least 5 buckets") as info:
        layer.build((None, 5, 5, 1))
    assert layer.name in str(info.value)
    ok = FreshConv2D(4, 3, compression=5 / 36)
    ok.build((None, 5, 5, 1))
    assert ok.band_buckets == [1, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="`buckets`"):
        FreshConv2D(2, 3, buckets=19).build((None, 5, 5, 1))  # 18 coefficients
    with pytest.raises(ValueError, match="at least 5"):
        hashing.allocate_band_buckets((3, 3, 1, 4), 4)


# -------------------------------------------------------------- compress


def conv_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
            keras.layers.Conv2D(2, 3, name="tiny"),  # 3*3*8*2 = 144 weights
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(3, name="fc"),
        ],
        name="cnn",
    )


def test_compress_freshnets_structure_projection_and_training():
    model = conv_model()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 8, 8, 2)).astype("float32")
    y = rng.normal(size=(24, 3)).astype("float32")
    model.compile("adam", "mse")
    model.fit(x, y, epochs=1, verbose=0)
    fresh = compress(model, method="freshnets", compression=1 / 4, seed=5)
    assert [type(layer) for layer in fresh.layers] == [
        FreshConv2D,
        FreshConv2D,
        keras.layers.Flatten,
        HashedDense,
    ]
    conv = fresh.get_layer("conv")
    assert conv.seed == 5 and conv.num_buckets == round(3 * 3 * 2 * 8 / 4)
    assert conv.activation is keras.activations.relu
    # Projection: each bucket is the signed mean of the DCT coefficients it holds.
    for name in ("conv", "tiny"):
        dense, hashed = model.get_layer(name), fresh.get_layer(name)
        kernel = dense.kernel.numpy().astype(np.float64)
        d = np.kron(ref_dct(3), ref_dct(3))
        coefficients = (d @ kernel.reshape(9, -1)).reshape(kernel.shape).reshape(-1)
        index, sign = ref_band_bucket_and_sign(
            hashed.kernel_shape, hashed.band_buckets, hashed.seed
        )
        k = hashed.num_buckets
        means = np.bincount(index, coefficients * sign, minlength=k) / np.maximum(
            np.bincount(index, minlength=k), 1
        )
        np.testing.assert_allclose(hashed.shared.numpy(), means, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(hashed.bias.numpy(), dense.bias.numpy())
    # The plain HashedDense is projected as before (spatial = virtual weights).
    fc = fresh.get_layer("fc")
    assert fc.seed == 8 and isinstance(fc, HashedDense)
    fresh.compile(keras.optimizers.Adam(0.01), "mse")
    hist = fresh.fit(x, y, epochs=3, batch_size=8, verbose=0).history["loss"]
    assert np.all(np.isfinite(hist)) and hist[-1] < hist[0]
    rows = {r["name"]: r for r in summarize(fresh)}
    assert rows["conv"]["hashed"] and rows["conv"]["stored_size"] == conv.num_buckets + 8


def test_compress_freshnets_projection_is_exact_at_full_size_for_single_buckets():
    model = conv_model()
    fresh = compress(model, method="freshnets", compression=1.0, seed=3, skip=["tiny"])
    conv = fresh.get_layer("conv")
    coefficients = hashing.dct2_kernel(model.get_layer("conv").kernel.numpy()).reshape(-1)
    index = conv._index.numpy()
    single = np.bincount(index, minlength=conv.num_buckets)[index] == 1
    assert single.sum() > 0.2 * index.size
    np.testing.assert_allclose(
        conv.frequency_kernel.numpy().reshape(-1)[single],
        coefficients[single],
        rtol=1e-5,
        atol=1e-7,
    )


def test_compress_freshnets_leaves_too_small_convs_with_a_warning():
    model = conv_model()
    # At 1/32 'tiny' (144 weights) gets round(4.5) = 4 buckets < 5 bands.
    with pytest.warns(UserWarning, match="tiny.*one per frequency band"):
        fresh = compress(
            model, method="freshnets", compression=1 / 32, seed=1, per_layer={"conv": 1 / 4}
        )
    assert type(fresh.get_layer("tiny")) is keras.layers.Conv2D
    np.testing.assert_array_equal(
        fresh.get_layer("tiny").kernel.numpy(), model.get_layer("tiny").kernel.numpy()
    )
    assert isinstance(fresh.get_layer("conv"), FreshConv2D)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fresh = compress(
            model, method="freshnets", compression=1 / 32, per_layer={"conv": 1 / 4, "tiny": 1 / 8}
        )
    assert not [w for w in caught if "left unchanged" in str(w.message)]
    assert isinstance(fresh.get_layer("tiny"), FreshConv2D)
    # The plain method is unchanged by the new one.
    hashed = compress(model, compression=1 / 32, per_layer={"conv": 1 / 4})
    assert type(hashed.get_layer("tiny")) is HashedConv2D
    with pytest.raises(ValueError, match="freshnets"):
        compress(model, method="fresh")
