"""make_assets.py builds a 28x28 MNIST-format model the app can run.

No MNIST copy is reachable offline, so the test writes an MNIST-format
directory (the four IDX files, 28x28 uint8, bright ink) from scikit-learn's
8x8 digits scaled 3x and padded, runs ``make_assets.py --dataset mnist
--data_dir DIR`` (the path a user with the real MNIST files takes) and then
the Android host test on the result: the app's libhk_jni.so runs the 28x28
hashed model in ai_edge_litert like its dense twin and as the manifest says,
and the app's Preprocess.java turns the 28x28 PNGs into the same inputs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _write_idx(path: Path, array: np.ndarray) -> None:
    code = {np.dtype("uint8"): 0x08}[array.dtype]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    path.write_bytes(header + array.tobytes())


def _mnist_format_dir(directory: Path) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images / 16.0 * 255.0).astype(np.uint8)  # 8x8, bright ink
    big = np.zeros((len(images), 28, 28), np.uint8)
    big[:, 2:26, 2:26] = images.repeat(3, axis=1).repeat(3, axis=2)
    labels = digits.target.astype(np.uint8)
    split = 1500
    directory.mkdir(parents=True)
    _write_idx(directory / "train-images-idx3-ubyte", big[:split])
    _write_idx(directory / "train-labels-idx1-ubyte", labels[:split])
    _write_idx(directory / "t10k-images-idx3-ubyte", big[split:])
    _write_idx(directory / "t10k-labels-idx1-ubyte", labels[split:])


def _missing():
    missing = [t for t in ("cmake", "javac", "java", "nm") if shutil.which(t) is None]
    for module in ("ai_edge_litert", "sklearn"):
        if importlib.util.find_spec(module) is None:
            missing.append(module)
    return missing


@pytest.mark.skipif(bool(_missing()), reason=f"needs {', '.join(_missing())}")
def test_make_assets_builds_a_28x28_mnist_model_the_app_runs(tmp_path):
    data, assets = tmp_path / "mnist", tmp_path / "assets"
    _mnist_format_dir(data)
    quiet_by_itself = ("TF_CPP_MIN_LOG_LEVEL", "HASHED_KERAS_VERBOSE")
    env = {k: v for k, v in os.environ.items() if k not in quiet_by_itself}
    made = subprocess.run(
        [
            sys.executable,
            str(ROOT / "android_demo" / "make_assets.py"),
            "--dataset",
            "mnist",
            "--data_dir",
            str(data),
            "--epochs",
            "3",
            "--out",
            str(assets),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert made.returncode == 0, (made.stdout + made.stderr)[-6000:]
    assert made.stderr == ""  # TensorFlow's banners and LiteRT's INFO lines kept off

    manifest = json.loads((assets / "manifest.json").read_text())
    assert manifest["input"]["shape"] == [1, 28, 28, 1]
    assert manifest["drawing"]["fit"] == 20  # MNIST digits sit in a 20x20 box
    assert manifest["normalisation"]["levels"] == 255
    assert manifest["labels"] == [str(d) for d in range(10)]
    hashed, dense = manifest["models"]["hashed"], manifest["models"]["dense"]
    assert hashed["needs_kernels"] and not dense["needs_kernels"]
    assert dense["bytes"] > 5 * hashed["bytes"]
    assert hashed["test_accuracy"] > 0.8  # easy data: training really happened
    assert len(manifest["test_images"]) == 10

    host = subprocess.run(
        ["bash", str(ROOT / "android_demo" / "host_test" / "run.sh")],
        cwd=ROOT,
        env=dict(
            env, PYTHON=sys.executable, HK_ASSETS=str(assets), HK_HOST_BUILD=str(tmp_path / "host")
        ),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    output = host.stdout + host.stderr
    assert host.returncode == 0, output[-6000:]
    assert "python check: OK" in host.stdout
    assert "Preprocess: 10 bundled images" in host.stdout
    assert "FAIL" not in host.stdout
    assert "drawings through Preprocess.fromDrawing + libhk_jni.so" in host.stdout
