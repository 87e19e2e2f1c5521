"""The Android demo's native path on the host JVM (android_demo/host_test/run.sh).

Builds the app's CMake project (the hashed_keras kernels + the JNI bridge) for
the host, runs the bundled hashed.tflite and dense.tflite through LiteRT's
libLiteRt.so (C API) with the kernels' delegate attached, from the JVM via
the app's own HkNative.java, and compares with the Python runtime
(ai_edge_litert + hashed_keras.lite.make_interpreter) within 1e-5; plus the
app's Preprocess.java. Works from android_demo/host_test/ or from tests/.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _repo_root() -> Path:
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file() and (parent / "android_demo").is_dir():
            return parent
    raise RuntimeError("cannot find the repository root (pyproject.toml + android_demo/)")


ROOT = _repo_root()
RUN = ROOT / "android_demo" / "host_test" / "run.sh"
ASSETS = ROOT / "android_demo" / "app" / "src" / "main" / "assets"


def _missing_tools():
    missing = [t for t in ("cmake", "javac", "java") if shutil.which(t) is None]
    if not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        missing.append("a C++ compiler")
    if importlib.util.find_spec("ai_edge_litert") is None:
        missing.append("ai_edge_litert")
    return missing


@pytest.mark.skipif(bool(_missing_tools()), reason=f"needs {', '.join(_missing_tools())}")
def test_host_jvm_runs_the_bundled_models_like_python(tmp_path):
    assert (ASSETS / "manifest.json").is_file(), (
        "no assets: run `python android_demo/make_assets.py` first")
    env = dict(os.environ, PYTHON=sys.executable, HK_HOST_BUILD=str(tmp_path / "build"),
               TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(["bash", str(RUN)], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=1200)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"run.sh failed ({result.returncode}):\n{output[-6000:]}"
    assert "\nOK" in result.stdout
    assert "hashed.tflite via LiteRT C API from the JVM" in result.stdout
    assert "FAIL" not in result.stdout
