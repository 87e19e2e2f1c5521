"""The Android demo's one native path, on the host (android_demo/host_test/run.sh).

Builds libhk_jni.so -- the only native library the app loads: the hashed_keras
kernels and the JNI bridge -- with the app's own CMake project, then
(a) ai_edge_litert's Python Interpreter loads that file as a delegate plugin
(load_delegate, the delegate the app attaches with
Interpreter.Options.addDelegate) and runs the bundled hashed.tflite against
its dense twin, the manifest's predictions and the package's kernels; (b) the
host JVM loads it through the app's own HkNative.java and calls the app's JNI
functions: verifyModel on the bundled and on corrupted models (one line
each), createDelegate/destroyDelegate with caps and on the fly; plus the app's
Preprocess.java. Works from android_demo/host_test/ or from tests/.
"""

from __future__ import annotations

import importlib.util
import os
import re
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
    if shutil.which("nm") is None:
        missing.append("nm (binutils)")
    if importlib.util.find_spec("ai_edge_litert") is None:
        missing.append("ai_edge_litert")
    return missing


@pytest.mark.skipif(bool(_missing_tools()), reason=f"needs {', '.join(_missing_tools())}")
def test_the_apps_native_library_in_python_and_on_the_jvm(tmp_path):
    assert (ASSETS / "manifest.json").is_file(), (
        "no assets: run `python android_demo/make_assets.py` first"
    )
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        HK_HOST_BUILD=str(tmp_path / "build"),
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    result = subprocess.run(
        ["bash", str(RUN)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"run.sh failed ({result.returncode}):\n{output[-6000:]}"
    assert "python check: OK" in result.stdout
    assert "hashed.tflite via load_delegate(libhk_jni.so, the app's caps)" in result.stdout
    assert "hashed.tflite on the fly via libhk_jni.so" in result.stdout
    assert "without the delegate: Encountered unresolved custom op: HashedWeights" in result.stdout
    assert "7/7 corrupted files rejected with one line" in result.stdout
    assert "FAIL" not in result.stdout
    # A digit drawn on the app's canvas (the bundled images at 25x, off-centre),
    # through the app's Preprocess.fromDrawing and the app's library.
    recognised = re.search(r"fromDrawing \+ libhk_jni.so: (\d+)/(\d+) recognised", result.stdout)
    assert recognised and int(recognised.group(2)) == 10
    assert int(recognised.group(1)) >= 8, recognised.group(0)
    # -Xcheck:jni found nothing to complain about.
    assert "WARNING in native method" not in output


@pytest.mark.skipif(
    shutil.which("cmake") is None or shutil.which("javac") is None, reason="needs cmake and a JDK"
)
def test_debug_builds_compile_the_kernels_optimised(tmp_path):
    """A debug APK must not time -O0 kernels: the app's CMake ends every compile with -O2."""
    import json

    build = tmp_path / "debug"
    subprocess.run(
        [
            "cmake",
            "-S",
            str(ROOT / "android_demo/app/src/main/cpp"),
            "-B",
            str(build),
            "-DCMAKE_BUILD_TYPE=Debug",
            "-DCMAKE_CXX_FLAGS_DEBUG=-O0 -g",
            "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    commands = json.loads((build / "compile_commands.json").read_text())
    files = {
        Path(c["file"]).name: [t for t in c["command"].split() if t.startswith("-O")]
        for c in commands
    }
    assert "hk_jni.cc" in files and "delegate.cc" in files and "verify.cc" in files
    for name, flags in files.items():
        assert flags and flags[-1] == "-O2", f"{name} is compiled with {flags}"
