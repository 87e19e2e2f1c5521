"""Tests of HashedDense and HashedConv2D (hashed_keras.layers)."""

from __future__ import annotations

import json
import os
import zipfile

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from hashed_keras import hashing
from hashed_keras.layers import HashedConv2D, HashedDense


def virtual_weights(layer):
    """``sign[i] * buckets[index[i]]`` from the numpy contract and the layer's buckets."""
    index, sign = hashing.bucket_and_sign(
        layer.virtual_size, layer.num_buckets, layer.seed, use_sign=layer.use_sign
    )
    return sign.astype(np.float64) * layer.shared.numpy().astype(np.float64)[index]


def manual_kernel_and_bias(layer):
    v = virtual_weights(layer)
    n = layer.kernel_size_virtual
    kernel = v[:n].reshape(layer.kernel_shape)
    if layer.hash_bias:
        bias = v[n:]
    elif layer.bias is not None:
        bias = layer.bias.numpy().astype(np.float64)
    else:
        bias = 0.0
    return kernel, bias


def randomize(layer, seed=0):
    """Non-trivial buckets and bias (the default bias is all zeros)."""
    rng = np.random.default_rng(seed)
    layer.shared.assign(rng.normal(size=layer.shared.shape).astype("float32"))
    if layer.bias is not None:
        layer.bias.assign(rng.normal(size=layer.bias.shape).astype("float32"))


def regression_data(n=64, d=8, out=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = (x @ rng.normal(size=(d, out))).astype("float32")
    return x, y


# ------------------------------------------------------------ forward pass

DENSE_CASES = [
    dict(),
    dict(hash_bias=True),
    dict(use_sign=False),
    dict(use_bias=False),
    dict(hash_bias=True, use_sign=False),
]


@pytest.mark.parametrize("kwargs", DENSE_CASES)
def test_dense_output_equals_manual_computation(kwargs):
    x = np.random.default_rng(1).normal(size=(5, 6)).astype("float32")
    layer = HashedDense(4, compression=0.3, seed=1234, **kwargs)
    layer.build((None, 6))
    randomize(layer)
    kernel, bias = manual_kernel_and_bias(layer)
    expected = x.astype(np.float64) @ kernel + bias
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    # The `kernel` property materialises the same virtual kernel.
    np.testing.assert_allclose(layer.kernel.numpy(), kernel, rtol=1e-6)
    # The eager hash constants are the contract's.
    index, sign = hashing.bucket_and_sign(
        layer.virtual_size, layer.num_buckets, 1234, use_sign=layer.use_sign
    )
    np.testing.assert_array_equal(layer._index.numpy(), index)
    np.testing.assert_array_equal(layer._sign.numpy(), sign)


def test_dense_activation_and_3d_input():
    x = np.random.default_rng(2).normal(size=(2, 3, 6)).astype("float32")
    layer = HashedDense(4, buckets=9, seed=5, activation="relu")
    layer.build((None, None, 6))
    randomize(layer)
    kernel, bias = manual_kernel_and_bias(layer)
    expected = np.maximum(np.einsum("btd,du->btu", x, kernel) + bias, 0)
    out = layer(x).numpy()
    assert out.shape == (2, 3, 4)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


CONV_CASES = [
    dict(),
    dict(hash_bias=True),
    dict(use_sign=False),
    dict(strides=2, padding="same"),
    dict(kernel_size=(3, 2), dilation_rate=2),
    dict(use_bias=False, padding="same"),
]


@pytest.mark.parametrize("kwargs", CONV_CASES)
def test_conv_output_equals_manual_convolution(kwargs):
    kwargs = dict(kwargs)
    kernel_size = kwargs.pop("kernel_size", 3)
    x = np.random.default_rng(3).normal(size=(2, 9, 8, 3)).astype("float32")
    layer = HashedConv2D(4, kernel_size, compression=0.25, seed=77, **kwargs)
    layer.build(x.shape)
    randomize(layer)
    kernel, bias = manual_kernel_and_bias(layer)
    expected = (
        tf.nn.conv2d(
            x,
            kernel.astype("float32"),
            strides=kwargs.get("strides", 1),
            padding=kwargs.get("padding", "valid").upper(),
            dilations=kwargs.get("dilation_rate", 1),
        ).numpy()
        + bias
    )
    out = layer(x).numpy()
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    # And against keras.ops.conv with the same kernel.
    expected_k = (
        keras.ops.convert_to_numpy(
            keras.ops.conv(
                x,
                kernel.astype("float32"),
                strides=kwargs.get("strides", 1),
                padding=kwargs.get("padding", "valid"),
                dilation_rate=kwargs.get("dilation_rate", 1),
            )
        )
        + bias
    )
    np.testing.assert_allclose(out, expected_k, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------- variables


@pytest.mark.parametrize(
    "kwargs,virtual,buckets,bias",
    [
        (dict(compression=0.25), 8 * 5, 10, 5),
        (dict(compression=0.25, hash_bias=True), 8 * 5 + 5, 11, 0),  # round(11.25)
        (dict(buckets=7), 8 * 5, 7, 5),
        (dict(buckets=7, use_bias=False), 8 * 5, 7, 0),
        (dict(compression=1e-6), 8 * 5, 1, 5),  # at least one bucket
        (dict(compression=1), 8 * 5, 40, 5),
    ],
)
def test_dense_trainable_variables_and_sizes(kwargs, virtual, buckets, bias):
    layer = HashedDense(5, seed=3, **kwargs)
    layer.build((None, 8))
    names = [v.path.split("/")[-1] for v in layer.trainable_variables]
    assert names == (["buckets", "bias"] if bias else ["buckets"])
    assert [v.path for v in layer.weights] == [v.path for v in layer.trainable_variables]
    assert layer.non_trainable_weights == []
    assert layer.virtual_size == virtual and layer.num_buckets == buckets
    assert tuple(layer.shared.shape) == (buckets,)
    assert layer.stored_size() == buckets + bias == layer.count_params()
    # index/sign are constants, not variables.
    assert not isinstance(layer._index, (tf.Variable, keras.Variable))
    assert layer._index.shape == (virtual,) and layer._sign.shape == (virtual,)


def test_conv_trainable_variables_and_sizes():
    layer = HashedConv2D(6, 3, compression=1 / 8, seed=1)
    layer.build((None, 10, 10, 4))
    assert layer.virtual_size == 3 * 3 * 4 * 6
    assert layer.num_buckets == round(3 * 3 * 4 * 6 / 8) == 27
    assert [v.path.split("/")[-1] for v in layer.trainable_variables] == ["buckets", "bias"]
    assert len(layer.weights) == 2
    assert layer.stored_size() == 27 + 6 == layer.count_params()
    spec = layer.hash_spec()
    assert spec["seed"] == 1 and spec["buckets"] == 27 and spec["kernel_shape"] == [3, 3, 4, 6]


# ------------------------------------------------------------- gradients


def _gather_reference(layer, x, loss_fn, compute_dtype=tf.float32):
    """Loss gradient w.r.t. buckets via a plain tf.gather formulation."""
    index, sign = hashing.bucket_and_sign(
        layer.virtual_size, layer.num_buckets, layer.seed, use_sign=layer.use_sign
    )
    buckets = tf.Variable(layer.shared.numpy())
    bias = None if layer.bias is None else tf.constant(layer.bias.numpy())
    n = layer.kernel_size_virtual
    with tf.GradientTape() as tape:
        v = tf.gather(tf.cast(buckets, compute_dtype), index) * tf.cast(sign, compute_dtype)
        kernel = tf.reshape(v[:n], layer.kernel_shape)
        b = v[n:] if layer.hash_bias else (None if bias is None else tf.cast(bias, compute_dtype))
        xc = tf.cast(x, compute_dtype)
        if isinstance(layer, HashedConv2D):
            out = tf.nn.conv2d(xc, kernel, strides=layer.strides, padding=layer.padding.upper())
        else:
            out = xc @ kernel
        if b is not None:
            out = out + b
        loss = loss_fn(out)
    return tf.convert_to_tensor(tape.gradient(loss, buckets)).numpy(), float(loss)


def _loss(out):
    out = tf.cast(out, tf.float32)
    weights = tf.range(1, out.shape[-1] + 1, dtype=tf.float32)
    return tf.reduce_sum(tf.square(out) * weights) / 10.0


@pytest.mark.parametrize(
    "make,shape",
    [
        (lambda: HashedDense(6, buckets=11, seed=4), (7, 9)),
        (lambda: HashedDense(6, buckets=11, seed=4, hash_bias=True), (7, 9)),
        (lambda: HashedDense(6, buckets=11, seed=4, use_sign=False), (7, 9)),
        (lambda: HashedConv2D(5, 3, compression=0.2, seed=9, padding="same"), (2, 6, 6, 3)),
    ],
)
def test_bucket_gradient_equals_gather_gradient(make, shape):
    x = np.random.default_rng(5).normal(size=shape).astype("float32")
    layer = make()
    layer.build(shape)
    randomize(layer, seed=6)
    with tf.GradientTape() as tape:
        loss = _loss(layer(x))
    grads = tape.gradient(loss, layer.trainable_variables)
    g = tf.convert_to_tensor(grads[0]).numpy()
    ref, ref_loss = _gather_reference(layer, x, _loss)
    assert abs(float(loss) - ref_loss) <= 1e-5 * abs(ref_loss)
    assert np.abs(ref).max() > 0
    np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    # Every trainable variable gets a gradient.
    assert all(gr is not None for gr in grads)


def test_mixed_float16_gradient_and_training():
    keras.mixed_precision.set_global_policy("mixed_float16")
    x, y = regression_data()
    layer = HashedDense(5, buckets=12, seed=4)
    layer.build((None, 8))
    assert layer.compute_dtype == "float16" and layer.variable_dtype == "float32"
    assert layer.shared.dtype == "float32"
    randomize(layer, seed=2)
    out = layer(x[:7])
    assert out.dtype == tf.float16
    with tf.GradientTape() as tape:
        loss = _loss(layer(x[:7]))
    g = tape.gradient(loss, layer.shared)
    g = tf.convert_to_tensor(g)
    assert g.dtype == tf.float32
    ref, _ = _gather_reference(layer, x[:7], _loss, compute_dtype=tf.float16)
    scale = np.abs(ref).max()
    assert scale > 0
    np.testing.assert_allclose(g.numpy(), ref, rtol=2e-2, atol=5e-3 * scale)

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            HashedDense(16, compression=0.5, seed=1, activation="tanh"),
            HashedDense(3, buckets=12, seed=2),
            keras.layers.Activation("linear", dtype="float32"),
        ]
    )
    assert model.layers[0](tf.zeros((1, 8))).dtype == tf.float16
    model.compile(keras.optimizers.Adam(0.02), "mse")
    hist = model.fit(x, y, epochs=6, batch_size=16, verbose=0).history["loss"]
    assert np.all(np.isfinite(hist)) and hist[-1] < 0.8 * hist[0]
    assert model.predict(x[:4], verbose=0).dtype == np.float32
    assert all(v.dtype == "float32" for v in model.trainable_variables)


def test_mixed_float16_conv_trains():
    keras.mixed_precision.set_global_policy("mixed_float16")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6, 6, 2)).astype("float32")
    y = x.mean(axis=(1, 2, 3))[:, None].astype("float32") * 4
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            HashedConv2D(4, 3, compression=0.5, seed=3, padding="same"),
            keras.layers.Flatten(),
            keras.layers.Dense(1, dtype="float32"),
        ]
    )
    assert model.layers[0].output.dtype == "float16"
    model.compile(keras.optimizers.Adam(0.01), "mse")
    hist = model.fit(x, y, epochs=8, batch_size=8, verbose=0).history["loss"]
    assert np.all(np.isfinite(hist)) and hist[-1] < hist[0]


# ---------------------------------------------------------------- training


def _mlp(jit=False, lr=0.02):
    model = keras.Sequential(
        [
            keras.Input((8,)),
            HashedDense(16, compression=0.5, seed=11, activation="tanh", name="h1"),
            HashedDense(3, buckets=10, seed=12, name="h2"),
        ]
    )
    model.compile(keras.optimizers.Adam(lr), "mse", jit_compile=jit)
    return model


class LossRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.losses = []

    def on_epoch_end(self, epoch, logs=None):
        self.losses.append(logs["loss"])


def test_fit_with_callback_reduces_loss():
    x, y = regression_data()
    keras.utils.set_random_seed(0)
    model = _mlp()
    before = [w.copy() for w in model.get_weights()]
    recorder = LossRecorder()
    model.fit(x, y, epochs=15, batch_size=16, verbose=0, callbacks=[recorder])
    assert len(recorder.losses) == 15
    assert recorder.losses[-1] < 0.5 * recorder.losses[0]
    # The buckets (and biases) actually moved.
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_jit_fit_matches_non_jit_predictions():
    x, y = regression_data()
    keras.utils.set_random_seed(0)
    jit = _mlp(jit=True)
    hist = jit.fit(x, y, epochs=5, batch_size=16, verbose=0).history["loss"]
    assert np.all(np.isfinite(hist)) and hist[-1] < hist[0]
    plain = _mlp(jit=False)
    plain.set_weights(jit.get_weights())
    np.testing.assert_allclose(
        jit.predict(x, verbose=0), plain.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )


def test_jit_and_non_jit_training_agree():
    x, y = regression_data()
    keras.utils.set_random_seed(0)
    a = _mlp(jit=True)
    b = _mlp(jit=False)
    b.set_weights(a.get_weights())
    a.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    b.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-5)


def test_jit_conv_fit():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6, 6, 2)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")

    def make(jit):
        model = keras.Sequential(
            [
                keras.Input((6, 6, 2)),
                HashedConv2D(3, 3, compression=0.5, seed=3, activation="relu"),
                keras.layers.Flatten(),
                HashedDense(2, compression=0.5, seed=4),
            ]
        )
        model.compile(keras.optimizers.Adam(0.01), "mse", jit_compile=jit)
        return model

    keras.utils.set_random_seed(0)
    jit = make(True)
    hist = jit.fit(x, y, epochs=4, batch_size=8, verbose=0).history["loss"]
    assert hist[-1] < hist[0]
    plain = make(False)
    plain.set_weights(jit.get_weights())
    np.testing.assert_allclose(
        jit.predict(x, verbose=0), plain.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )


# ----------------------------------------------------------- save / load


def _h5_datasets(keras_file, tmp_path):
    """``{path: shape}`` of every array in a .keras file's weights."""
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


def test_keras_save_load_roundtrip(tmp_path):
    x = np.random.default_rng(0).normal(size=(4, 7, 7, 2)).astype("float32")
    inputs = keras.Input((7, 7, 2))
    h = HashedConv2D(4, 3, compression=0.25, seed=21, activation="relu", name="hc")(inputs)
    h = keras.layers.Flatten()(h)
    outputs = HashedDense(3, compression=0.1, seed=22, hash_bias=True, name="hd")(h)
    model = keras.Model(inputs, outputs)
    for layer in (model.get_layer("hc"), model.get_layer("hd")):
        randomize(layer, seed=layer.seed)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    hc, hd = loaded.get_layer("hc"), loaded.get_layer("hd")
    assert isinstance(hc, HashedConv2D) and isinstance(hd, HashedDense)
    assert (hc.seed, hd.seed) == (21, 22)
    # Only buckets (+ unhashed bias) are saved: never index or sign.
    assert len(loaded.weights) == 3
    shapes = _h5_datasets(path, tmp_path)
    layer_shapes = sorted(s for name, s in shapes.items() if name.startswith("layers/"))
    assert layer_shapes == sorted([(hc.num_buckets,), (4,), (hd.num_buckets,)])
    assert sum(int(np.prod(s)) for s in layer_shapes) == hc.stored_size() + hd.stored_size()
    # Index/sign are recomputed, identical to the originals.
    np.testing.assert_array_equal(hd._index.numpy(), model.get_layer("hd")._index.numpy())
    np.testing.assert_array_equal(hd._sign.numpy(), model.get_layer("hd")._sign.numpy())


def test_weights_h5_holds_only_buckets_and_bias(tmp_path):
    model = _mlp()
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    with h5py.File(path) as f:
        shapes = {}
        f.visititems(
            lambda n, o: shapes.__setitem__(n, o.shape) if isinstance(o, h5py.Dataset) else None
        )
    layer_shapes = [s for n, s in shapes.items() if n.startswith("layers/")]
    assert sorted(layer_shapes) == sorted([(64,), (16,), (10,), (3,)])
    # Nothing else of virtual size (8*16 + 16*3 weights) is stored anywhere.
    assert all(int(np.prod(s)) <= 64 for s in shapes.values())
    other = _mlp()
    other.load_weights(path)
    x, _ = regression_data(n=5)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_saved_file_far_smaller_than_dense(tmp_path):
    hashed = keras.Sequential([keras.Input((2000,)), HashedDense(2000, compression=1 / 64, seed=1)])
    dense = keras.Sequential([keras.Input((2000,)), keras.layers.Dense(2000)])
    hashed.save(tmp_path / "hashed.keras")
    dense.save(tmp_path / "dense.keras")
    hashed_size = os.path.getsize(tmp_path / "hashed.keras")
    dense_size = os.path.getsize(tmp_path / "dense.keras")
    assert hashed.layers[0].num_buckets == 62_500
    assert dense_size > 4 * 2000 * 2000  # 16 MB of float32 kernel
    assert hashed_size < dense_size / 30  # ~64x fewer stored floats
    assert hashed_size < 4 * 2000 * 2000 / 30  # no index/sign (each 4M entries) inside


# ---------------------------------------------------------- config, seeds


def test_dense_config_roundtrip():
    layer = HashedDense(4, compression=0.5, seed=None, hash_bias=True, activation="relu")
    layer.build((None, 3))
    randomize(layer)
    config = json.loads(json.dumps(layer.get_config()))  # as saved in a .keras file
    clone = HashedDense.from_config(config)
    assert clone.seed == layer.seed and clone.compression == 0.5 and clone.buckets is None
    clone.build((None, 3))
    clone.set_weights(layer.get_weights())
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    np.testing.assert_array_equal(clone(x).numpy(), layer(x).numpy())
    np.testing.assert_array_equal(clone._index.numpy(), layer._index.numpy())


def test_conv_config_roundtrip():
    layer = HashedConv2D(4, (3, 2), strides=(1, 2), padding="same", buckets=20, seed=None)
    layer.build((None, 6, 6, 2))
    randomize(layer)
    config = json.loads(json.dumps(layer.get_config()))
    clone = HashedConv2D.from_config(config)
    assert clone.seed == layer.seed and clone.buckets == 20
    assert clone.kernel_size == (3, 2) and clone.strides == (1, 2)
    clone.build((None, 6, 6, 2))
    clone.set_weights(layer.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 2)).astype("float32")
    np.testing.assert_array_equal(clone(x).numpy(), layer(x).numpy())


def test_fresh_seeds_differ_and_follow_set_random_seed():
    seeds = [HashedDense(3).seed for _ in range(5)] + [HashedConv2D(2, 3).seed]
    assert len(set(seeds)) == len(seeds)
    assert all(0 <= s < 2**32 for s in seeds)

    x = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")

    def run():
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((8,)), HashedDense(6), HashedDense(2)])
        return [layer.seed for layer in model.layers], model.get_weights(), model(x).numpy()

    seeds1, weights1, out1 = run()
    seeds2, weights2, out2 = run()
    assert seeds1 == seeds2 and seeds1[0] != seeds1[1]
    for a, b in zip(weights1, weights2):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(out1, out2)


# ---------------------------------------------------------- distribution

# ---------------------------------------------------------- argument errors

ERRORS = [
    # (constructor, argument named in the message)
    (lambda: HashedDense(3, compression=0), "compression"),
    (lambda: HashedDense(3, compression=-1), "compression"),
    (lambda: HashedDense(3, compression=1.5), "compression"),
    (lambda: HashedDense(3, compression="x"), "compression"),
    (lambda: HashedDense(3, compression=True), "compression"),
    (lambda: HashedDense(3, compression=float("nan")), "compression"),
    (lambda: HashedDense(3, buckets=0), "buckets"),
    (lambda: HashedDense(3, buckets=2.5), "buckets"),
    (lambda: HashedDense(3, buckets=True), "buckets"),
    (lambda: HashedDense(3, buckets=-2), "buckets"),
    (lambda: HashedDense(3, compression=0.5, buckets=4), "buckets"),
    (lambda: HashedConv2D(2, 3, compression=0.5, buckets=4), "compression"),
    (lambda: HashedConv2D(2, 3, compression=0), "compression"),
    (lambda: HashedConv2D(2, 3, buckets=0), "buckets"),
    (lambda: HashedConv2D(2, 3, padding="causal"), "padding"),
    (lambda: HashedConv2D(2, 3, padding="full"), "padding"),
    (lambda: HashedConv2D(2, 0), "kernel_size"),
    (lambda: HashedConv2D(2, (3, 3, 3)), "kernel_size"),
    (lambda: HashedConv2D(2, (3, -1)), "kernel_size"),
    (lambda: HashedConv2D(2, "x"), "kernel_size"),
    (lambda: HashedConv2D(2, 2.5), "kernel_size"),
    (lambda: HashedConv2D(2, None), "kernel_size"),
    (lambda: HashedConv2D(2, 3, strides=0), "strides"),
    (lambda: HashedConv2D(2, 3, strides=(1, -1)), "strides"),
    (lambda: HashedConv2D(2, 3, strides=(1, 2, 3)), "strides"),
    (lambda: HashedConv2D(2, 3, strides=1.5), "strides"),
    (lambda: HashedConv2D(2, 3, dilation_rate=0), "dilation_rate"),
    (lambda: HashedConv2D(2, 3, data_format="nhwc"), "data_format"),
    (lambda: HashedDense(3, seed=-1), "seed"),
    (lambda: HashedDense(3, seed=2**32), "seed"),
    (lambda: HashedDense(3, seed=1.5), "seed"),
    (lambda: HashedDense(3, seed="1"), "seed"),
    (lambda: HashedConv2D(2, 3, seed=-1), "seed"),
    (lambda: HashedConv2D(2, 3, seed=2**32), "seed"),
    (lambda: HashedDense(0), "units"),
    (lambda: HashedDense(-4), "units"),
    (lambda: HashedDense(2.0), "units"),
    (lambda: HashedDense(True), "units"),
    (lambda: HashedConv2D(0, 3), "filters"),
    (lambda: HashedDense(3, use_sign="yes"), "use_sign"),
    (lambda: HashedDense(3, hash_bias=1), "hash_bias"),
    (lambda: HashedDense(3, hash_bias=True, use_bias=False), "hash_bias"),
]


@pytest.mark.parametrize("make,argument", ERRORS)
def test_argument_errors_name_the_argument(make, argument):
    with pytest.raises(ValueError, match=f"`{argument}"):
        make()


def test_too_many_buckets_raises_at_build():
    layer = HashedDense(3, buckets=13)  # constructing is fine: the input size is unknown
    with pytest.raises(ValueError, match="`buckets`"):
        layer.build((None, 4))  # 12 virtual weights
    ok = HashedDense(3, buckets=12)
    ok.build((None, 4))
    assert ok.num_buckets == 12
    conv = HashedConv2D(2, 3, buckets=19)
    with pytest.raises(ValueError, match="`buckets`"):
        conv(np.zeros((1, 5, 5, 1), "float32"))  # 18 virtual weights


def test_hash_bias_counts_towards_virtual_size():
    layer = HashedDense(3, buckets=15, hash_bias=True)
    layer.build((None, 4))  # 12 kernel + 3 bias virtual weights
    assert layer.num_buckets == 15 and layer.stored_size() == 15
