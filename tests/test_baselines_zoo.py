"""The HashedNets paper's baselines: LRD and RER in the zoo, DK / HashNetDK distillation.

Tiny models on the built-in 8x8 ``digits`` data (input shape (8, 8, 1)).
"""

from __future__ import annotations

import json

import cli
import keras
import numpy as np
import pytest

from hashed_keras import lite, summarize
from hashed_keras.layers import MaskedConv2D, MaskedDense
from hashed_keras.layers.masked import edge_mask
from hashed_keras.lite import flatbuffer, ops
from hk_experiments import data, models, training

SHAPE = (8, 8, 1)
NAMES = ["mlp3", "mlp5", "cnn", "lenet"]


def _build(name, method, compression=1 / 8, seed=1, **kwargs):
    return models.build(
        name,
        method,
        input_shape=SHAPE,
        num_classes=10,
        compression=compression,
        seed=seed,
        **kwargs,
    )


def _masked(model):
    return [layer for layer in model.layers if isinstance(layer, (MaskedDense, MaskedConv2D))]


def _kernel(layer):
    return keras.ops.convert_to_numpy(layer._kernel)


# ------------------------------------------------------------------ zoo: lrd, rer


@pytest.mark.parametrize("method", ["lrd", "rer"])
@pytest.mark.parametrize("name", NAMES)
def test_baseline_builds_and_stores_as_much_as_hashed(name, method):
    model = _build(name, method)
    dense = _build(name, "dense")
    hashed = _build(name, "hashed")
    assert model.name == f"{name}_{method}"
    assert model.input_shape == (None, *SHAPE) and model.output_shape == (None, 10)
    probs = model.predict(np.random.default_rng(0).random((2, *SHAPE), np.float32), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)
    target = models.stored_size(hashed)
    stored = models.stored_size(model)
    dense_names = [
        layer.name
        for layer in dense.layers
        if type(layer) in (keras.layers.Dense, keras.layers.Conv2D)
    ]
    if method == "lrd":
        names = [layer.name for layer in model.layers]
        for dense_name in dense_names:  # factored as <name>_u then <name>_v, or kept
            if dense_name in names:  # dense: a classifier with <= 16 outputs keeps
                continue  # its full rank, which factors cannot beat
            assert names.index(f"{dense_name}_u") + 1 == names.index(f"{dense_name}_v")
            assert not model.get_layer(f"{dense_name}_u").use_bias
        assert "logits" in names  # 10 outputs: kept dense
        assert models.virtual_size(model) == stored  # plain layers
        # On the 28x28 inputs the experiments use, the sizes match: ranks are
        # integers, one step of mlp3's fc1 is 784 + 1000 parameters (~2%).
        # (On 8x8 inputs the full-rank classifier alone is most of the budget.)
        big = (28, 28, 1)
        got = models.stored_size(
            models.build(name, "lrd", input_shape=big, compression=1 / 8, seed=1)
        )
        want = models.stored_size(
            models.build(name, "hashed", input_shape=big, compression=1 / 8, seed=1)
        )
        assert abs(got - want) <= 0.05 * want, (got, want)
    else:
        # Each kernel keeps round(compression * size) weights, as many as a hashed
        # layer has buckets; the hashed zoo convs keep >= one bucket per frequency
        # band, which only differs for a tiny conv at a high compression.
        assert stored == target
        assert [layer.name for layer in _masked(model)] == dense_names
        assert models.virtual_size(model) == dense.count_params()


def test_lrd_ranks_track_the_compression():
    small, large = _build("mlp3", "lrd", 1 / 8), _build("mlp3", "lrd", 1 / 2)
    rank = lambda m: m.get_layer("fc1_u").units  # noqa: E731
    assert 1 <= rank(small) < rank(large) <= 64
    assert _build("cnn", "lrd").get_layer("conv2_v").kernel_size == (1, 1)


def test_lrd_warns_when_rank_one_is_still_too_big():
    with pytest.warns(UserWarning, match="integer ranks >= 1"):
        _build("mlp3", "lrd", 1 / 64)


def test_rer_summarize_counts_kept_weights_and_biases():
    model = _build("mlp3", "rer")
    rows = {r["name"]: r for r in summarize(model)}
    assert rows["fc1"]["type"] == "MaskedDense"
    assert rows["fc1"]["virtual_size"] == 64 * 1000 + 1000
    assert rows["fc1"]["stored_size"] == 8000 + 1000
    assert rows["logits"]["stored_size"] == 1250 + 10
    assert rows["total"]["stored_size"] == 8000 + 1000 + 1250 + 10


def test_edge_mask_keeps_exactly_the_fraction_from_the_seed():
    mask = edge_mask((64, 100), 800, seed=7)
    assert mask.dtype == np.float32 and mask.sum() == 800 and set(np.unique(mask)) == {0, 1}
    np.testing.assert_array_equal(mask, edge_mask((64, 100), 800, seed=7))
    assert (mask != edge_mask((64, 100), 800, seed=8)).any()
    # Spread over the kernel, not a block: every row keeps some weights at 1/8.
    assert (mask.sum(axis=1) > 0).all()


def test_masked_layers_config_round_trip_and_errors():
    layer = MaskedConv2D(6, 3, compression=0.25, seed=5, padding="same")
    layer.build((None, 8, 8, 2))
    assert layer.num_kept == round(0.25 * 3 * 3 * 2 * 6) and layer.mask.sum() == layer.num_kept
    twin = MaskedConv2D.from_config(layer.get_config())
    twin.build((None, 8, 8, 2))
    np.testing.assert_array_equal(twin.mask, layer.mask)
    assert (_kernel(layer)[layer.mask == 0] == 0).all()
    dense = MaskedDense(4, kept=3, seed=1)
    dense.build((None, 5))
    assert dense.mask.sum() == 3 and dense.stored_size() == 3 + 4
    assert MaskedDense.from_config(dense.get_config()).kept == 3
    with pytest.raises(ValueError, match="compression"):
        MaskedDense(4, compression=1.5)
    with pytest.raises(ValueError, match="more than"):
        MaskedDense(4, kept=100).build((None, 5))


def test_rer_starts_with_the_signal_of_a_dense_layer_of_its_fan_in():
    # Three 1000-unit ReLU layers keeping 1/64 of their edges pass a signal of
    # the dense net's size (unscaled, each layer divides it by 8: 1/512 here).
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(256, 1000)).astype(np.float32)

    def output_std(layer):
        y = x
        for i in range(3):
            y = layer(i)(y)
        return float(np.std(keras.ops.convert_to_numpy(y)))

    dense = output_std(lambda i: keras.layers.Dense(1000, activation="relu"))
    masked = output_std(lambda i: MaskedDense(1000, compression=1 / 64, seed=i, activation="relu"))
    assert masked == pytest.approx(dense, rel=0.2)
    # An initializer that is not variance-scaling is left as given.
    ones = MaskedDense(4, kept=3, seed=1, kernel_initializer="ones")
    ones.build((None, 5))
    assert set(np.unique(_kernel(ones))) == {0.0, 1.0}


def test_rer_mask_survives_training_and_save_load(tmp_path):
    keras.utils.set_random_seed(0)
    digits = data.load("digits", limit=200)
    model = _build("cnn", "rer")
    before = {layer.name: (layer.mask.copy(), _kernel(layer)) for layer in _masked(model)}
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(digits.x_train, digits.y_train, batch_size=50, epochs=1, verbose=0)
    for layer in _masked(model):
        mask, old = before[layer.name]
        new = _kernel(layer)
        assert mask.mean() == pytest.approx(1 / 8, abs=1 / mask.size)
        assert (new[mask == 0] == 0).all(), layer.name  # removed edges stay removed
        assert (new[mask == 1] != old[mask == 1]).any(), layer.name  # kept ones train
    model.save(tmp_path / "rer.keras")
    loaded = keras.models.load_model(tmp_path / "rer.keras")
    for layer in _masked(loaded):
        np.testing.assert_array_equal(layer.mask, before[layer.name][0])
        np.testing.assert_array_equal(_kernel(layer), _kernel(model.get_layer(layer.name)))
    x = digits.x_test[:8]
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-7
    )
    assert models.stored_size(loaded) == models.stored_size(model)


@pytest.mark.parametrize("method", ["lrd", "rer"])
def test_baselines_convert_to_a_plain_dense_tflite(tmp_path, method):
    model = _build("cnn", method)
    path = tmp_path / f"{method}.tflite"
    report = lite.convert(model, path)  # verified against Keras by the stock interpreter
    tfl = flatbuffer.read(path.read_bytes())
    names = {flatbuffer.opcode_name(tfl, op.opcodeIndex) for op in tfl.subgraphs[0].operators}
    assert not names & set(ops.CUSTOM_OPS), names
    assert "CONV_2D" in names and "FULLY_CONNECTED" in names
    assert "MUL" not in names  # the rer mask is folded into the constant kernels
    if method == "rer":  # a dense file: the removed weights are stored as zeros
        assert report.file_bytes > 4 * models.virtual_size(model)


# ------------------------------------------------------------------ distillation


def _run_cli(*args, timeout=300):
    return cli.run("pipelines.train", *args, timeout=timeout)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher")
    training.train(
        training.TrainConfig(
            model="mlp3", method="dense", limit=400, epochs=3, out=str(out), verbose=0
        )
    )
    return out / "model.keras"


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_distillation_loss_equals_the_kl_by_hand():
    rng = np.random.default_rng(0)
    zs, zt = rng.normal(size=(6, 10)) * 3, rng.normal(size=(6, 10)) * 3
    labels = rng.integers(0, 10, size=6)
    student, teacher_probs = _softmax(zs).astype(np.float32), _softmax(zt).astype(np.float32)
    t = 2.5
    # The KL of the pre-softmax logits' tempered softmaxes: log(p) differs from
    # them by a per-example constant, so it gives the same value.
    p, q = _softmax(zt / t), _softmax(zs / t)
    kl = (p * (np.log(p) - np.log(q))).sum(axis=-1)
    ce = -np.log(_softmax(zs)[np.arange(6), labels])
    got = keras.ops.convert_to_numpy(
        training.distillation_loss(labels, student, teacher_probs, t, 1.0)
    )
    np.testing.assert_allclose(got, t * t * kl, rtol=1e-4)
    got = keras.ops.convert_to_numpy(
        training.distillation_loss(labels, student, teacher_probs, t, 0.0)
    )
    np.testing.assert_allclose(got, ce, rtol=1e-4)
    got = keras.ops.convert_to_numpy(
        training.distillation_loss(labels, student, teacher_probs, t, 0.3)
    )
    np.testing.assert_allclose(got, 0.3 * t * t * kl + 0.7 * ce, rtol=1e-4)
    # A student equal to its teacher has no distillation loss.
    same = training.distillation_loss(labels, teacher_probs, teacher_probs, t, 1.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(same), 0.0, atol=1e-5)


def test_distiller_loss_on_one_batch_is_the_mean_kl(teacher):
    keras.utils.set_random_seed(0)
    digits = data.load("digits", limit=50)
    student = _build("mlp3", "hashed")
    teacher_model = keras.models.load_model(teacher)
    distiller = training.Distiller(student, teacher_model, temperature=3.0, distill_weight=1.0)
    x, y = digits.x_train[:16], digits.y_train[:16]
    loss = distiller.compute_loss(x=x, y=y, y_pred=student(x))
    p = _softmax(np.log(teacher_model.predict(x, verbose=0).astype(np.float64)) / 3.0)
    q = _softmax(np.log(student.predict(x, verbose=0).astype(np.float64)) / 3.0)
    kl = (p * (np.log(p) - np.log(q))).sum(axis=-1).mean()
    assert float(loss) == pytest.approx(9.0 * kl, rel=1e-4)
    assert not teacher_model.trainable
    assert {id(v) for v in distiller.trainable_variables} == {
        id(v) for v in student.trainable_variables
    }


def test_cli_distillation_writes_metrics_and_a_plain_student(tmp_path, teacher):
    out = tmp_path / "dk"
    result = _run_cli(
        "--model",
        "mlp3",
        "--method",
        "hashed",
        "--limit",
        "400",
        "--epochs",
        "2",
        "--distill_from",
        str(teacher),
        "--temperature",
        "3",
        "--distill_weight",
        "0.7",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["distill_from"] == str(teacher)
    assert metrics["config"]["temperature"] == 3.0
    assert metrics["config"]["distill_weight"] == 0.7
    kd = metrics["distillation"]
    assert kd["teacher"] == str(teacher) and kd["temperature"] == 3.0
    assert 0 <= kd["teacher_test_accuracy"] <= 1 and 0 <= kd["test_agreement_with_teacher"] <= 1
    assert metrics["stored_size"] == 8000 + 1000 + 1250 + 10  # the student alone
    student = keras.models.load_model(out / "model.keras")  # no custom objects needed
    assert type(student) is keras.Model or type(student).__name__ == "Functional"
    assert student.name == "mlp3_hashed"
    assert [layer.name for layer in student.layers] == ["image", "flatten", "fc1", "logits"]
    digits = data.load("digits", limit=400)  # the run's test split (limit // 5)
    _, accuracy = student.evaluate(digits.x_test, digits.y_test, verbose=0)
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-6)


def test_cli_distillation_rejects_a_missing_teacher(tmp_path):
    missing = tmp_path / "none" / "model.keras"
    result = _run_cli("--distill_from", str(missing), "--epochs", "1", "--out", str(tmp_path / "x"))
    assert result.returncode != 0
    assert "--distill_from" in result.stderr and str(missing) in result.stderr


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("temperature", 0.0, "--temperature must be > 0"),
        ("temperature", -1.0, "--temperature must be > 0"),
        ("distill_weight", 1.5, r"--distill_weight must be in \[0, 1\]"),
        ("distill_weight", -0.1, r"--distill_weight must be in \[0, 1\]"),
    ],
)
def test_bad_distillation_settings_are_named(tmp_path, field, value, message):
    config = training.TrainConfig(out=str(tmp_path / "x"), **{field: value})
    with pytest.raises(ValueError, match=message):
        config.validate()


def test_teacher_with_other_output_shape_is_refused(tmp_path):
    path = tmp_path / "five.keras"
    _build("mlp3", "dense").save(tmp_path / "ten.keras")
    models.build("mlp3", "dense", input_shape=SHAPE, num_classes=5).save(path)
    config = training.TrainConfig(
        model="mlp3",
        limit=100,
        epochs=1,
        verbose=0,
        out=str(tmp_path / "x"),
        distill_from=str(path),
    )
    with pytest.raises(ValueError, match=r"output shape \(None, 5\) does not match"):
        training.train(config)
    bad_input = tmp_path / "wide.keras"
    models.build("mlp3", "dense", input_shape=(28, 28, 1)).save(bad_input)
    config.distill_from = str(bad_input)
    with pytest.raises(ValueError, match="input shape"):
        training.train(config)


class _Crash(keras.callbacks.Callback):
    """Kills the run after its first epoch (after BackupAndRestore saved it)."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            self.weights = self.model.student.get_weights()
            raise KeyboardInterrupt("simulated kill")


class _AtStart(keras.callbacks.Callback):
    """The student's weights and optimizer step once BackupAndRestore restored them."""

    def on_train_begin(self, logs=None):
        self.weights = self.model.student.get_weights()
        self.iterations = int(self.model.optimizer.iterations.numpy())


def test_distillation_resumes_from_the_last_finished_epoch(tmp_path, teacher):
    config = training.TrainConfig(
        model="mlp3",
        method="small_dense",
        limit=300,
        epochs=3,
        out=str(tmp_path / "r"),
        verbose=0,
        distill_from=str(teacher),
        distill_weight=0.9,
    )
    crash, start = _Crash(), _AtStart()
    with pytest.raises(KeyboardInterrupt):
        training.train(config, extra_callbacks=[crash])
    config.resume = True
    metrics = training.train(config, extra_callbacks=[start])
    assert metrics["epochs_run_this_session"] == 2
    assert start.iterations == 300 // 50  # one epoch of steps, restored
    for restored, saved in zip(start.weights, crash.weights, strict=True):
        np.testing.assert_array_equal(restored, saved)
    assert metrics["distillation"]["distill_weight"] == 0.9
    keras.models.load_model(tmp_path / "r" / "model.keras")
