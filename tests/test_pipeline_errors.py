"""The commands' errors a user can act on: one line, the file or flag named, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

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


# Every command that reads a data set, with what else it needs to get that far.
_DATA_COMMANDS = {
    "pipelines.benchmark": ["--suite", "paper", "--out", "{out}"],
    "pipelines.demo": ["--out", "{out}"],
    "pipelines.evaluate": ["--tflite", "{models}/mnist_shaped.tflite"],
    "pipelines.convert": ["--model", "{models}/dense.keras", "--out", "{out}/m.tflite"],
    "benchmarks.byte_budget": ["--out", "{out}"],
    "benchmarks.fixed_storage": ["--out", "{out}"],
    "benchmarks.hashednets_mlp": ["--out", "{out}"],
    "benchmarks.freshnets_conv": ["--out", "{out}"],
    "benchmarks.smh_resnet": ["--out", "{out}"],
}


@pytest.mark.parametrize("module", sorted(_DATA_COMMANDS))
def test_a_data_set_that_is_not_there_is_one_line_before_any_work(module, models, tmp_path):
    # As a user on MNIST-format data of their own mistypes --data_dir: one
    # line naming the directory and how to fix it, not a traceback (before,
    # the benchmarks printed one, some after their first cells' set-up).
    missing = tmp_path / "no_such_dir"
    args = [a.format(out=tmp_path / "out", models=models) for a in _DATA_COMMANDS[module]]
    result = _run(module, "--dataset", "mnist", "--data_dir", missing, *args)
    line = _one_line_error(result, str(missing), "does not exist", "--data_dir")
    # ... and nothing else: the benchmark grids' TensorFlow banners came first.
    assert result.stderr.strip() == line, result.stderr
    assert not list(tmp_path.rglob("model.keras"))  # nothing was trained


@pytest.mark.parametrize("module", ["pipelines.benchmark", "benchmarks.byte_budget"])
def test_data_files_that_are_not_idx_are_one_line(module, models, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for stem in ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"):
        (broken / f"{stem}-ubyte").write_bytes(b"<html>404</html>")
    args = [a.format(out=tmp_path / "out", models=models) for a in _DATA_COMMANDS[module]]
    result = _run(module, "--dataset", "mnist", "--data_dir", broken, *args)
    _one_line_error(result, "--dataset mnist", str(broken), "IDX", "MNIST-format IDX files")


def test_make_assets_names_a_missing_data_dir(tmp_path):
    missing = tmp_path / "no_such_dir"
    result = subprocess.run(
        [sys.executable, "android_demo/make_assets.py", "--dataset", "mnist"]
        + ["--data_dir", str(missing), "--out", str(tmp_path / "assets")],
        cwd=cli.ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    _one_line_error(result, str(missing), "does not exist")
