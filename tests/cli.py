"""Running the repository's command-line modules in a fresh process, as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(module: str, *args, timeout=600) -> subprocess.CompletedProcess:
    """``python -m module *args`` from the repository root: its exit code,
    stdout and stderr (TensorFlow's C++ logs off, so stderr holds only ours)."""
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
