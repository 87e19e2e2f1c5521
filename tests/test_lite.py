"""The .tflite converter, the runtime helper and the lite pipelines, end to end."""

import json
import logging
from pathlib import Path

import cli
import keras
import numpy as np
import pytest
from lite_families import hashed_model

import hashed_keras
from hashed_keras import lite
from hashed_keras.lite import flatbuffer, ops
from hk_experiments import models


def _custom_ops(path):
    model = flatbuffer.read(Path(path).read_bytes())
    sg = model.subgraphs[0]
    return [
        (flatbuffer.opcode_name(model, op.opcodeIndex), op)
        for op in sg.operators
        if flatbuffer.opcode_name(model, op.opcodeIndex) in ops.CUSTOM_OPS
    ]


def _trained(model, input_shape, steps=2):
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((32, *input_shape), dtype=np.float32)
    model.fit(x, np.arange(32) % model.output_shape[-1], epochs=steps, verbose=0)
    return model


def test_convert_stores_only_shared_variables_and_matches_keras(tmp_path):
    model = hashed_model()
    report = lite.convert(model, tmp_path / "m.tflite")
    assert report.max_relative_error <= 1e-5
    assert report.file_bytes == (tmp_path / "m.tflite").stat().st_size
    assert report.file_bytes <= report.size_bound_bytes
    found = _custom_ops(tmp_path / "m.tflite")
    assert len(found) == 3
    notes = {r.name: r.note for r in report.layers}
    assert "per-channel scale" in notes["c1"]
    assert "d1" in report.table() and "bound" in report.table()


def test_dense_export_has_no_custom_ops_and_is_bigger(tmp_path):
    model = hashed_model()
    hashed = lite.convert(model, tmp_path / "h.tflite")
    dense = lite.convert(model, tmp_path / "d.tflite", dense=True)
    assert _custom_ops(tmp_path / "d.tflite") == []
    assert dense.file_bytes > hashed.file_bytes


def test_mlp3_at_1_64_is_55x_smaller_than_dense(tmp_path):
    keras.utils.set_random_seed(0)
    hashed = models.build("mlp3", "hashed", compression=1 / 64, seed=0)
    dense = models.build("mlp3", "dense")
    h = lite.convert(hashed, tmp_path / "h.tflite", num_samples=2)
    d = lite.convert(dense, tmp_path / "d.tflite", num_samples=2)
    assert h.file_bytes <= h.size_bound_bytes
    assert d.file_bytes / h.file_bytes >= 55, (d.file_bytes, h.file_bytes)


def test_verification_failure_writes_nothing(tmp_path, monkeypatch):
    model = hashed_model()
    real = ops.hashed_weights_options

    def wrong_seed(spec, layout):
        return real(dict(spec, seed=(spec["seed"] + 1) % 2**32), layout)

    monkeypatch.setattr(ops, "hashed_weights_options", wrong_seed)
    with pytest.raises(lite.ConversionError, match="differs from Keras"):
        lite.convert(model, tmp_path / "bad.tflite")
    assert not (tmp_path / "bad.tflite").exists()


def test_a_diverged_model_is_refused_as_such_and_nothing_is_written(tmp_path):
    # A training that diverged leaves NaN shared variables; NaN != NaN, so the
    # weight search used to report "weights not found" -- the wrong cause.
    model = hashed_model()
    variable = model.layers[1].weights[0]
    value = keras.ops.convert_to_numpy(variable).copy()
    value.flat[0] = np.nan
    variable.assign(value)
    for dense in (False, True):
        with pytest.raises(lite.ConversionError) as error:
            lite.convert(model, tmp_path / "m.tflite", dense=dense)
        assert f"NaN or inf in '{variable.path}'): its training diverged" in str(error.value)
    assert not (tmp_path / "m.tflite").exists()


def test_unfindable_weights_are_refused_with_advice(tmp_path, monkeypatch):
    model = hashed_model()
    real = ops.reference_weights

    def shifted(spec, buckets, layout):
        kernel, bias = real(spec, buckets, layout)
        return kernel + 1.0, bias

    monkeypatch.setattr(ops, "reference_weights", shifted)
    with pytest.raises(lite.ConversionError, match="skip="):
        lite.convert(model, tmp_path / "x.tflite")


def test_converting_many_models_in_one_process_is_quiet(tmp_path):
    # benchmarks.byte_budget sizes and converts a dozen models in one process;
    # the check against Keras used model.predict(), whose tf.function per model
    # made TensorFlow warn "triggered tf.function retracing" on its terminal.
    messages = []

    class Keep(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Keep()
    logging.getLogger("tensorflow").addHandler(handler)
    try:
        for i in range(7):
            model = keras.Sequential(
                [
                    keras.Input((8,)),
                    hashed_keras.layers.HashedDense(4 + i, compression=0.5, seed=i),
                    keras.layers.Dense(3),
                ]
            )
            lite.convert(model, tmp_path / f"m{i}.tflite", num_samples=4)
    finally:
        logging.getLogger("tensorflow").removeHandler(handler)
    assert not [m for m in messages if "retracing" in m], messages


def _run(module, *args, timeout=600):
    return cli.run(module, *args, timeout=timeout)


def test_convert_inspect_evaluate_pipelines(tmp_path):
    keras.utils.set_random_seed(0)
    model = models.build("mlp3", "hashed", input_shape=(8, 8, 1), compression=1 / 8, seed=0)
    _trained(model, (8, 8, 1))
    model.save(tmp_path / "model.keras")
    result = _run(
        "pipelines.convert",
        "--model",
        str(tmp_path / "model.keras"),
        "--out",
        str(tmp_path / "h.tflite"),
        "--dense_out",
        str(tmp_path / "d.tflite"),
        "--dataset",
        "digits",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "smaller" in result.stdout and "fc1" in result.stdout
    assert result.stderr == ""  # LiteRT's XNNPACK INFO line, as the check runs the file: hidden
    result = _run("pipelines.inspect", str(tmp_path / "h.tflite"), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads(result.stdout[result.stdout.index("{") :])
    custom = [op for op in info["subgraphs"][0]["operators"] if op["op"] == "HashedWeights"]
    assert len(custom) == 2 and custom[0]["options"]["contract_version"] == 1
    result = _run(
        "pipelines.evaluate",
        "--tflite",
        str(tmp_path / "h.tflite"),
        "--compare",
        str(tmp_path / "d.tflite"),
        "--dataset",
        "digits",
        "--latency_runs",
        "20",
        "--json",
        str(tmp_path / "eval.json"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    hashed, dense = json.loads((tmp_path / "eval.json").read_text())
    from hk_experiments import data

    digits = data.load("digits")
    expected = float((model.predict(digits.x_test, verbose=0).argmax(-1) == digits.y_test).mean())
    assert hashed["accuracy"] == pytest.approx(expected, abs=1e-9)
    assert hashed["file_bytes"] < dense["file_bytes"]
    assert hashed["peak_rss_over_baseline_bytes"] > 0 and hashed["latency_ms_median"] > 0
