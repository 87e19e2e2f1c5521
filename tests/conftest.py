"""Shared pytest setup: quiet TensorFlow, an importable package, a clean Keras
state, and ``lib``: the kernels library through ctypes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Must happen before TensorFlow is first imported (by any test module).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _float32_policy():
    """Every test starts and ends with Keras' default float32 dtype policy."""
    import keras

    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="module")
def lib():
    """The kernels library through ctypes, its C ABI declared
    (``hashed_keras.lite.kernel_library.load``)."""
    from hashed_keras.lite import kernel_library

    return kernel_library.load()
