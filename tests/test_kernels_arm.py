"""The kernels and the Android demo's JNI library on ARM, under qemu-user.

hashed_keras/lite/kernels/cross/run_arm_tests.sh cross-compiles, with
Debian's cross toolchains, the kernel library with its C++ test drivers and
runs them under qemu-user (ctest), then builds the app's libhk_jni.so for the
same target and runs a dlopen smoke test of it on the bundled models. It
installs the cross compilers, qemu-user and the flatbuffers headers with
apt-get when they are missing (root only; otherwise these tests skip).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "hashed_keras" / "lite" / "kernels" / "cross" / "run_arm_tests.sh"


def _cannot_run(triple: str):
    if platform.system() != "Linux":
        return "needs Linux (Debian cross toolchains and qemu-user)"
    if shutil.which("javac") is None:
        return "needs a JDK (jni.h for the JNI library)"
    qemu = "qemu-aarch64" if triple.startswith("aarch64") else "qemu-arm"
    have = all(shutil.which(t) for t in (f"{triple}-g++", qemu, "cmake"))
    if not have and (os.geteuid() != 0 or shutil.which("apt-get") is None):
        return f"needs {triple}-g++, {qemu} and cmake (or root with apt-get to install them)"
    return None


def _run(triple: str, build: Path) -> str:
    reason = _cannot_run(triple)
    if reason:
        pytest.skip(reason)
    env = dict(os.environ, HK_ARM_BUILD=str(build))
    result = subprocess.run(
        ["bash", str(SCRIPT), triple], env=env, capture_output=True, text=True, timeout=1800
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"run_arm_tests.sh {triple} failed:\n{output[-8000:]}"
    assert f"PASS {triple}" in result.stdout
    assert "FAIL" not in result.stdout
    return result.stdout


def test_aarch64_kernel_tests_and_jni_library_under_qemu(tmp_path):
    out = _run("aarch64-linux-gnu", tmp_path / "arm")
    assert "ELF ELF64 AArch64" in out  # the test driver really is an aarch64 binary
    assert "pointer size 8 bytes" in out
    assert "2 good and 4 corrupt files" in out


def test_arm32_kernel_tests_and_jni_library_under_qemu(tmp_path):
    out = _run("arm-linux-gnueabihf", tmp_path / "arm")
    assert "ELF ELF32 ARM" in out
    assert "pointer size 4 bytes" in out
    assert "2 good and 4 corrupt files" in out
