"""tfmot pruning and clustering baselines, run in a subprocess.

>>> from hk_experiments.baselines.tfmot import run_tfmot
>>> metrics = run_tfmot("mlp3", "prune", "digits", "runs/tfmot/mlp3_prune",
...                     epochs=2, sparsity=0.875)
>>> metrics["accuracy"], metrics["file_bytes"], metrics["gzip_bytes"], metrics["sparsity"]

tfmot 0.8.1 needs legacy Keras (``tf_keras``, ``TF_USE_LEGACY_KERAS=1`` before
TensorFlow is imported), which cannot share a process with Keras 3: each run
is :mod:`hk_experiments.baselines.tfmot_worker` in a fresh Python process. See
that module for the steps and ``metrics.json``'s fields.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

from hk_experiments.baselines import tfmot_worker

WORKER = "hk_experiments.baselines.tfmot_worker"  # run as `python -m WORKER`
# The directory holding hk_experiments, for a `python` other than this one.
_ROOT = Path(__file__).resolve().parents[2]


class TfmotUnavailableError(ImportError):
    """tf_keras or tensorflow-model-optimization is not installed."""


class TfmotWorkerError(RuntimeError):
    """The worker process failed; the message holds its last output lines."""


def tfmot_unavailable_reason(python: str | None = None) -> str | None:
    """Why tfmot cannot run (a sentence naming what to install), or None.

    Looks the packages up without importing them (importing tf_keras here
    would import TensorFlow without legacy Keras). With ``python``, asks that
    interpreter instead of this one.
    """
    names = ("tf_keras", "tensorflow_model_optimization")
    if python is None or os.path.realpath(python) == os.path.realpath(sys.executable):
        missing = [n for n in names if importlib.util.find_spec(n) is None]
    else:
        code = (
            "import importlib.util as u; print(' '.join(n for n in "
            f"{names!r} if u.find_spec(n) is None))"
        )
        missing = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    if not missing:
        return None
    return f"{' and '.join(missing)} not installed: {tfmot_worker.INSTALL_HINT}"


def _flag_args(params: dict) -> list[str]:
    args = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            args.append(f"--{key}" if value else f"--no{key}")
        else:
            args.append(f"--{key}={value}")
    return args


def worker_command(
    model: str, method: str, dataset: str, out, *, python: str | None = None, **params
) -> list[str]:
    """The worker's argv for these arguments (flags as in ``tfmot_worker --help``)."""
    return [
        python or sys.executable,
        "-m",
        WORKER,
        *_flag_args(
            {"model": model, "method": method, "dataset": dataset, "out": str(out), **params}
        ),
    ]


def run_tfmot(
    model: str,
    method: str,
    dataset: str,
    out,
    *,
    log=print,
    reuse: bool = False,
    timeout: float | None = None,
    python: str | None = None,
    **params,
) -> dict:
    """Trains, compresses with tfmot, converts and measures one model in a subprocess.

    Args:
      model: ``mlp3``, ``mlp5``, ``cnn`` or ``lenet`` (the dense zoo architecture).
      method: ``prune`` (magnitude pruning) or ``cluster`` (weight clustering).
      dataset: ``digits``, ``fashion_mnist`` or ``mnist`` (mnist needs ``data_dir``).
      out: output directory; gets ``model.tflite`` and ``metrics.json``.
      log: called with each line the worker prints (Keras' per-epoch lines and
        ``[tfmot_worker]`` progress); ``None`` to be silent.
      reuse: return an existing ``out/metrics.json`` written by the same
        command instead of running again.
      timeout: seconds before the worker is killed (``TfmotWorkerError``).
      python: the interpreter to run the worker with (default: this one).
      **params: the worker's other flags, e.g. ``epochs=2``, ``limit=1000``,
        ``sparsity=0.875``, ``clusters=16``, ``seed=0``, ``finetune_epochs``,
        ``schedule="constant"``, ``frequency``, ``tflite_optimize="dynamic"``,
        ``data_dir``, ``threads``.

    Returns:
      The worker's ``metrics.json``: ``accuracy`` (TFLite interpreter, whole
      test split), ``file_bytes``, ``gzip_bytes``, ``sparsity``, ``layers``
      (per-layer nonzero and distinct kernel values), ``command``,
      ``wall_seconds``, ...

    Raises:
      TfmotUnavailableError: tf_keras or tfmot is missing (says what to install).
      TfmotWorkerError: the worker failed or timed out.
    """
    reason = tfmot_unavailable_reason(python)
    if reason:
        raise TfmotUnavailableError(reason)
    out = Path(out)
    argv = worker_command(model, method, dataset, out, python=python, **params)
    metrics_path = out / "metrics.json"
    if reuse and metrics_path.exists():
        previous = json.loads(metrics_path.read_text())
        if shlex.split(previous.get("command", ""))[3:] == argv[3:]:
            return previous
    metrics_path.unlink(missing_ok=True)
    env = dict(
        os.environ,
        TF_USE_LEGACY_KERAS="1",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])),
    )
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tail = collections.deque(maxlen=40)
    start = time.monotonic()
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=env
    )
    timer = None
    if timeout is not None:
        timer = threading.Timer(timeout, process.kill)
        timer.start()
    try:
        for line in process.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            if log is not None:
                log(line)
        code = process.wait()
    finally:
        if timer is not None:
            timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    last = "\n".join(tail)
    if code == tfmot_worker.EXIT_MISSING:
        raise TfmotUnavailableError(last)
    if code != 0 or not metrics_path.exists():
        elapsed = time.monotonic() - start
        why = (
            f"killed after the {timeout} s timeout"
            if timeout is not None and elapsed >= timeout and code < 0
            else f"exit code {code}"
        )
        raise TfmotWorkerError(
            f"tfmot worker failed ({why}): {' '.join(argv)}\nlast output:\n{last}"
        )
    return json.loads(metrics_path.read_text())
