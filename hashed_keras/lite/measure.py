"""Measuring a deployed `.tflite`: accuracy, size, latency, setup time, peak memory.

Every figure comes from the artefact itself: accuracy is computed by the TFLite
interpreter (with the hashed_keras kernels), bytes from the file on disk, and
memory from a fresh process that does nothing but the inference.
"""

from __future__ import annotations

import gzip
import multiprocessing
import resource
import statistics
import time
from pathlib import Path

import numpy as np


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _peak_rss_bytes() -> int:
    """The process's peak resident set (VmHWM), or ru_maxrss where /proc lacks it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_peak_rss() -> bool:
    """Resets VmHWM to the current RSS (Linux >= 4.0); False if it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def file_sizes(path) -> dict:
    content = Path(path).read_bytes()
    return {"file_bytes": len(content), "gzip_bytes": len(gzip.compress(content, 9))}


def measure(path, x_test, y_test, *, num_threads=None, latency_runs=200, batch_size=256,
            runtime=None, verify=True) -> dict:
    """Measures one file in this process.

    Returns:
      ``setup_ms`` (interpreter construction and allocation), ``accuracy``,
      ``latency_ms_median`` and ``latency_ms_p90`` (batch 1), sizes.
    """
    from hashed_keras.lite.interpreter import make_interpreter
    start = time.perf_counter()
    interpreter = make_interpreter(str(path), num_threads=num_threads, runtime=runtime,
                                   verify=verify)
    interpreter.allocate_tensors()
    setup_ms = (time.perf_counter() - start) * 1e3
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    correct = 0
    for start_i in range(0, len(x_test), batch_size):
        batch = np.asarray(x_test[start_i:start_i + batch_size], np.float32)
        interpreter.resize_tensor_input(inp["index"], list(batch.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], batch)
        interpreter.invoke()
        pred = interpreter.get_tensor(out["index"]).argmax(axis=-1)
        correct += int((pred == y_test[start_i:start_i + batch_size]).sum())
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


def _worker(queue, path, dataset, data_dir, limit, num_threads, latency_runs, runtime,
            verify):
    try:
        from hashed_keras import data
        ds = data.load(dataset, data_dir)
        x, y = ds.x_test, ds.y_test
        if limit:
            x, y = x[:limit], y[:limit]
        import hashed_keras.lite.interpreter  # noqa: F401  (imports before the baseline)
        # The peak of the inference alone: without the reset, the transient
        # peak of importing TensorFlow would dominate and vary run to run.
        exact = _reset_peak_rss()
        baseline = _rss_bytes()
        result = measure(path, x, y, num_threads=num_threads, latency_runs=latency_runs,
                         runtime=runtime, verify=verify)
        peak = _peak_rss_bytes()
        result["peak_rss_bytes"] = peak
        result["peak_rss_over_baseline_bytes"] = max(0, peak - baseline)
        result["peak_rss_method"] = "VmHWM reset before inference" if exact else "ru_maxrss"
        queue.put(("ok", result))
    except BaseException as error:  # report to the parent instead of dying silently
        queue.put(("error", f"{type(error).__name__}: {error}"))


def measure_in_fresh_process(path, dataset, data_dir=None, *, limit=None, num_threads=None,
                             latency_runs=200, runtime=None, timeout=1800,
                             verify=True) -> dict:
    """:func:`measure` in a new process, adding its peak memory (RSS).

    ``peak_rss_over_baseline_bytes`` is the peak minus the process's RSS after
    imports and data loading, just before the interpreter was created; the
    peak counter (VmHWM) is reset at that point, so it is the inference's own
    peak, not the transient of importing TensorFlow.
    """
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_worker, args=(queue, str(path), dataset, data_dir, limit,
                                                num_threads, latency_runs, runtime, verify))
    process.start()
    try:
        status, payload = queue.get(timeout=timeout)
    finally:
        process.join(timeout=60)
    if status != "ok":
        raise RuntimeError(f"measuring {path} failed: {payload}")
    return payload
