"""The Android app's sources compile against the pinned runtime's API.

A stand-in for the Gradle build (which needs the Android SDK, the Android
Gradle Plugin and Google's Maven, none reachable here):
android_demo/compile_check/run.sh compiles every Kotlin and Java source of
the app with kotlinc-jvm 2.2.20 (npm package kotlin-compiler, installed into
~/.cache on first use) and javac against compile-only stubs of the LiteRT
1.4.1, Android API 36 and androidx members the app uses. Any unresolved
symbol fails. A second test shows the check would catch the original fault:
against a LiteRT API without Interpreter.Options.addDelegate (the 2.x line)
the app does not compile.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "android_demo" / "compile_check" / "run.sh"


def _missing():
    missing = [t for t in ("javac", "java", "python3") if shutil.which(t) is None]
    if not os.environ.get("KOTLINC") and shutil.which("npm") is None:
        cache = Path.home() / ".cache/hashed_keras/kotlin-compiler-2.2.20"
        if not (cache / "node_modules/kotlin-compiler/bin/kotlinc-jvm").exists():
            missing.append("npm (to install kotlin-compiler)")
    return missing


pytestmark = pytest.mark.skipif(bool(_missing()), reason=f"needs {', '.join(_missing())}")


def _run(demo: Path, build: Path):
    env = dict(os.environ, HK_COMPILE_BUILD=str(build))
    return subprocess.run(
        ["bash", str(demo / "compile_check" / "run.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_every_app_source_compiles_against_the_pinned_api(tmp_path):
    result = _run(ROOT / "android_demo", tmp_path / "build")
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"compile check failed:\n{output[-6000:]}"
    assert "OK: every app source compiles" in result.stdout
    # Every source file was handed to the compilers.
    sources = sorted((ROOT / "android_demo/app/src/main/java").rglob("*.kt"))
    listed = (tmp_path / "build" / "kotlin.txt").read_text().split()
    assert sorted(map(Path, listed)) == sources and len(sources) >= 5
    classes = {p.name for p in (tmp_path / "build").rglob("*.class")}
    for name in (
        "MainActivity.class",
        "DemoViewModel.class",
        "HashedKerasDelegate.class",
        "TfliteClassifier.class",
        "HkNative.class",
        "Preprocess.class",
    ):
        assert name in classes


def test_the_check_fails_without_add_delegate(tmp_path):
    """LiteRT 2.x's Interpreter.Options has no addDelegate: the check must say so."""
    demo = tmp_path / "android_demo"
    shutil.copytree(
        ROOT / "android_demo", demo, ignore=shutil.ignore_patterns("build", "*.tflite", "*.png")
    )
    method = re.compile(
        r"(@Override\s*)?public Options addDelegate\(Delegate delegate\)\s*"
        r"\{\s*throw new RuntimeException\(\"Stub!\"\);\s*\}"
    )
    for name in ("Interpreter.java", "InterpreterApi.java"):
        stub = demo / "compile_check/stubs/org/tensorflow/lite" / name
        text, count = method.subn("", stub.read_text())
        assert count == 1 and "addDelegate" not in text
        stub.write_text(text)
    result = _run(demo, tmp_path / "build")
    assert result.returncode != 0
    assert "unresolved reference 'addDelegate'" in result.stdout + result.stderr
