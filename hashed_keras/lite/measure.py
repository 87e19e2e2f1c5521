"""Measuring a deployed `.tflite`: accuracy, size, latency, setup time, peak memory.

Every figure comes from the artefact itself: accuracy is computed by the TFLite
interpreter (with the hashed_keras kernels), bytes from the file on disk, and
peak memory from a fresh process in :mod:`hk_experiments.measure`.
"""

from __future__ import annotations

import gzip
import statistics
import time
from pathlib import Path

import numpy as np


def timed_setup(path, **kwargs):
    """``(interpreter, seconds)``: :func:`~hashed_keras.lite.make_interpreter`
    (``kwargs``: its options) and the first ``allocate_tensors()``, timed."""
    from hashed_keras.lite.interpreter import make_interpreter

    start = time.perf_counter()
    interpreter = make_interpreter(str(path), **kwargs)
    interpreter.allocate_tensors()
    return interpreter, time.perf_counter() - start


def mean_invoke_seconds(interpreter, x, invokes: int) -> float:
    """Seconds of one ``invoke()`` on input ``x``, the mean of ``invokes``."""
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    start = time.perf_counter()
    for _ in range(invokes):
        interpreter.invoke()
    return (time.perf_counter() - start) / invokes


def file_sizes(path) -> dict:
    content = Path(path).read_bytes()
    return {"file_bytes": len(content), "gzip_bytes": len(gzip.compress(content, 9))}


def measure(
    path,
    x_test,
    y_test,
    *,
    num_threads=None,
    latency_runs=200,
    batch_size=256,
    runtime=None,
    verify=True,
) -> dict:
    """Measures one file in this process.

    Returns:
      ``setup_ms`` (interpreter construction and allocation), ``accuracy``,
      ``latency_ms_median`` and ``latency_ms_p90`` (batch 1), sizes.
    """
    from hashed_keras.lite.interpreter import make_interpreter

    start = time.perf_counter()
    interpreter = make_interpreter(
        str(path), num_threads=num_threads, runtime=runtime, verify=verify
    )
    interpreter.allocate_tensors()
    setup_ms = (time.perf_counter() - start) * 1e3
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    correct = 0
    for start_i in range(0, len(x_test), batch_size):
        batch = np.asarray(x_test[start_i : start_i + batch_size], np.float32)
        interpreter.resize_tensor_input(inp["index"], list(batch.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], batch)
        interpreter.invoke()
        pred = interpreter.get_tensor(out["index"]).argmax(axis=-1)
        correct += int((pred == y_test[start_i : start_i + batch_size]).sum())
    interpreter.resize_tensor_input(inp["index"], [1, *x_test.shape[1:]])
    interpreter.allocate_tensors()
    sample = np.asarray(x_test[:1], np.float32)
    times = []
    for _ in range(latency_runs + 10):
        interpreter.set_tensor(inp["index"], sample)
        t0 = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - t0)
    times = sorted(times[10:])
    return {
        "path": str(path),
        **file_sizes(path),
        "accuracy": correct / len(x_test),
        "examples": int(len(x_test)),
        "setup_ms": setup_ms,
        "latency_ms_median": 1e3 * statistics.median(times),
        "latency_ms_p90": 1e3 * times[int(0.9 * (len(times) - 1))],
    }
