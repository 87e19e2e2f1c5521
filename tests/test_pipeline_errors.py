"""The commands' errors a user can act on: one line, the file or flag named, no traceback."""

from __future__ import annotations

import os

import cli
import keras
import pytest

from hashed_keras import lite
from hashed_keras.layers import HashedDense


def _run(*args):
    return cli.run(*args, timeout=300)


def _one_line_error(result, *needles):
    assert result.returncode == 1, (result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "USAGE" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)
    dense = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, name="fc")])
    dense.save(root / "dense.keras")
    wide = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            HashedDense(10, compression=1 / 8, name="fc"),
        ]
    )
    lite.convert(wide, root / "mnist_shaped.tflite")
    return root


def test_convert_names_a_missing_file_and_a_file_that_is_not_a_keras_model(tmp_path):
    missing = _run(
        "pipelines.convert",
        "--model",
        str(tmp_path / "none.keras"),
        "--out",
        str(tmp_path / "o.tflite"),
    )
    _one_line_error(missing, "none.keras", "no such file")
    text = tmp_path / "text.keras"
    text.write_text("not a model\n")
    result = _run("pipelines.convert", "--model", str(text), "--out", str(tmp_path / "o.tflite"))
    _one_line_error(result, "text.keras", "not a Keras 3 model file")
    assert not (tmp_path / "o.tflite").exists()


def test_convert_warns_when_nothing_was_compressed(models, tmp_path):
    result = _run(
        "pipelines.convert",
        "--model",
        str(models / "dense.keras"),
        "--out",
        str(tmp_path / "d.tflite"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "nothing was compressed" in result.stderr
    assert (tmp_path / "d.tflite").stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_evaluate_names_both_shapes_when_the_data_set_does_not_fit(models):
    result = _run(
        "pipelines.evaluate",
        "--tflite",
        str(models / "mnist_shaped.tflite"),
        "--dataset",
        "digits",
        "--limit",
        "10",
    )
    _one_line_error(result, "mnist_shaped.tflite", "expects 28x28x1", "digits is 8x8x1")
