"""Tests of the baselines (hk_experiments.baselines): tfmot pruning/clustering, int8 PTQ.

The tfmot runs are real subprocess runs of the worker (mlp3 on the 8x8 digits,
2 + 2 epochs, about 10 s each); they are skipped only when tf_keras or
tensorflow-model-optimization is not installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hk_experiments.baselines import tfmot as tfmot_runner

ROOT = Path(__file__).resolve().parents[1]
UNAVAILABLE = tfmot_runner.tfmot_unavailable_reason()
needs_tfmot = pytest.mark.skipif(
    UNAVAILABLE is not None, reason=f"tfmot baselines unavailable: {UNAVAILABLE}"
)

SPARSITY = 0.875
CLUSTERS = 16


def _run(tmp_path_factory, method, **params):
    out = tmp_path_factory.mktemp(f"tfmot_{method}")
    lines = []
    metrics = tfmot_runner.run_tfmot(
        "mlp3", method, "digits", out, log=lines.append, epochs=2, seed=0, timeout=300, **params
    )
    return metrics, lines, out


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    return _run(tmp_path_factory, "prune", sparsity=SPARSITY)


@pytest.fixture(scope="module")
def clustered(tmp_path_factory):
    return _run(tmp_path_factory, "cluster", clusters=CLUSTERS)


def _check_common(metrics, out):
    path = out / "model.tflite"
    assert path.is_file() and path.stat().st_size == metrics["file_bytes"]
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert metrics["test_examples"] == 360  # the whole digits test split
    assert metrics["accuracy"] > 0.5
    assert abs(metrics["accuracy"] - metrics["keras_accuracy"]) < 0.01
    assert 0 < metrics["gzip_bytes"] < metrics["file_bytes"]
    assert metrics["keras_package"] == "tf_keras"
    assert metrics["command"].startswith("python -m hk_experiments.baselines.tfmot_worker ")
    assert metrics["wall_seconds"] > 0


@needs_tfmot
def test_prune_reaches_target_sparsity(pruned):
    metrics, lines, out = pruned
    _check_common(metrics, out)
    assert abs(metrics["sparsity"] - SPARSITY) <= 0.05
    for row in metrics["layers"]:
        assert abs(1 - row["kernel_nonzero"] / row["kernel_params"] - SPARSITY) <= 0.05
    # the zeros are in the file itself
    assert len(metrics["tflite_weights"]) == 2
    for row in metrics["tflite_weights"]:
        assert abs(1 - row["nonzero"] / row["params"] - SPARSITY) <= 0.05
    # 7 in 8 kernel weights are zeros: gzip takes the file below 40 %
    assert metrics["gzip_bytes"] < 0.4 * metrics["file_bytes"]
    assert metrics["params"]["frequency"] < 100
    assert any(line.startswith("[tfmot_worker] done:") for line in lines)  # streamed


@needs_tfmot
def test_cluster_has_at_most_k_values_per_kernel(clustered):
    metrics, _, out = clustered
    _check_common(metrics, out)
    assert [row["name"] for row in metrics["layers"]] == ["fc1", "logits"]
    for row in metrics["layers"]:
        assert row["kernel_unique"] <= CLUSTERS
    for row in metrics["tflite_weights"]:
        assert row["unique"] <= CLUSTERS


@needs_tfmot
def test_worker_mirrors_the_zoo_architectures():
    """tf_keras layer names and kernel shapes equal hk_experiments.models' dense models."""
    from hk_experiments import models

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-m", tfmot_runner.WORKER, "--describe"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    described = json.loads(result.stdout.strip().splitlines()[-1])
    for key, archs in described.items():
        shape = tuple(int(s) for s in key.split("x"))
        for name, layers in archs.items():
            model = models.build(name, "dense", input_shape=shape)
            expected = [
                [layer.name, list(layer.kernel.shape)]
                for layer in model.layers
                if hasattr(layer, "kernel")
            ]
            assert layers == expected, (key, name)


def test_worker_refuses_after_tensorflow_import():
    """In this (Keras 3) process TensorFlow is imported: the worker must refuse."""
    import tensorflow as tf

    from hk_experiments.baselines import tfmot_worker

    if getattr(tf, "_tf_uses_legacy_keras", False):
        pytest.skip("this test process itself runs with TF_USE_LEGACY_KERAS=1")
    before = os.environ.get("TF_USE_LEGACY_KERAS")
    with pytest.raises(
        tfmot_worker.TensorFlowAlreadyImported, match="TensorFlow was imported before"
    ):
        tfmot_worker._import_tensorflow()
    assert os.environ.get("TF_USE_LEGACY_KERAS") == before  # refused before any change
    assert sys.modules.get("keras") is not None


def test_missing_tfmot_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(
        tfmot_runner,
        "tfmot_unavailable_reason",
        lambda python=None: "tf_keras not installed: pip install ...",
    )
    with pytest.raises(tfmot_runner.TfmotUnavailableError, match="pip install"):
        tfmot_runner.run_tfmot("mlp3", "prune", "digits", tmp_path)


@pytest.fixture(scope="module")
def ptq_run(tmp_path_factory):
    """mlp5 on digits (2M weights: the int8 sizes are not dominated by per-channel
    scales, as they are for mlp3's 64-input layer), float and int8 .tflite files."""
    import keras

    from hk_experiments import data, models
    from hk_experiments.baselines import ptq

    out = tmp_path_factory.mktemp("ptq")
    ds = data.load("digits")
    keras.utils.set_random_seed(0)
    model = models.build("mlp5", "dense", input_shape=ds.input_shape)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(ds.x_train, ds.y_train, batch_size=50, epochs=2, verbose=0)
    dense = ptq.convert_float(model, out / "float.tflite")
    int8 = ptq.convert_int8(model, out / "int8.tflite", ds.x_train, num_samples=200)
    int8_io = ptq.convert_int8(
        model, out / "int8_io.tflite", ds.x_train, num_samples=200, int8_io=True
    )
    return ds, dense, int8, int8_io


def test_ptq_int8_is_4x_smaller_and_as_accurate(ptq_run):
    from hashed_keras.lite.measure import measure

    ds, dense, int8, _ = ptq_run
    assert int8["input_dtype"] == "float32" and int8["output_dtype"] == "float32"
    ratio = dense["file_bytes"] / int8["file_bytes"]
    assert 3.5 < ratio < 4.1, ratio
    assert int8["gzip_bytes"] <= int8["file_bytes"]
    float_acc = measure(dense["path"], ds.x_test, ds.y_test, latency_runs=1)["accuracy"]
    int8_acc = measure(int8["path"], ds.x_test, ds.y_test, latency_runs=1)["accuracy"]
    assert float_acc > 0.8
    assert abs(int8_acc - float_acc) <= 0.03


def test_ptq_int8_io_with_quantized_inputs(ptq_run):
    from ai_edge_litert.interpreter import Interpreter

    from hk_experiments.baselines import ptq

    ds, _, int8, int8_io = ptq_run
    assert int8_io["input_dtype"] == "int8" and int8_io["output_dtype"] == "int8"
    accuracies = []
    for path in (int8["path"], int8_io["path"]):
        interpreter = Interpreter(model_path=path)
        inp = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(inp["index"], list(ds.x_test.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], ptq.quantize_input(ds.x_test, inp))
        interpreter.invoke()
        pred = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        accuracies.append(float(np.mean(pred.argmax(-1) == ds.y_test)))
    assert abs(accuracies[0] - accuracies[1]) <= 0.01
