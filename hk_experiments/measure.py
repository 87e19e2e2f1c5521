"""Peak memory of a deployed `.tflite`: :func:`hashed_keras.lite.measure.measure`
in a fresh process that loads a data set (:mod:`hk_experiments.data`) and does
nothing but the inference."""

from __future__ import annotations

import multiprocessing
import resource

from hashed_keras.lite.measure import measure


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


def _worker(queue, path, dataset, data_dir, limit, num_threads, latency_runs, runtime, verify):
    try:
        from hk_experiments import data

        ds = data.load(dataset, data_dir)
        x, y = ds.x_test, ds.y_test
        if limit:
            x, y = x[:limit], y[:limit]
        import hashed_keras.lite.interpreter  # noqa: F401  (imports before the baseline)

        # The peak of the inference alone: without the reset, the transient
        # peak of importing TensorFlow would dominate and vary run to run.
        exact = _reset_peak_rss()
        baseline = _rss_bytes()
        result = measure(
            path,
            x,
            y,
            num_threads=num_threads,
            latency_runs=latency_runs,
            runtime=runtime,
            verify=verify,
        )
        peak = _peak_rss_bytes()
        result["peak_rss_bytes"] = peak
        result["peak_rss_over_baseline_bytes"] = max(0, peak - baseline)
        result["peak_rss_method"] = "VmHWM reset before inference" if exact else "ru_maxrss"
        queue.put(("ok", result))
    except BaseException as error:  # report to the parent instead of dying silently
        queue.put(("error", f"{type(error).__name__}: {error}"))


def measure_in_fresh_process(
    path,
    dataset,
    data_dir=None,
    *,
    limit=None,
    num_threads=None,
    latency_runs=200,
    runtime=None,
    timeout=1800,
    verify=True,
) -> dict:
    """:func:`measure` in a new process, adding its peak memory (RSS).

    ``peak_rss_over_baseline_bytes`` is the peak minus the process's RSS after
    imports and data loading, just before the interpreter was created; the
    peak counter (VmHWM) is reset at that point, so it is the inference's own
    peak, not the transient of importing TensorFlow.
    """
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(
        target=_worker,
        args=(
            queue,
            str(path),
            dataset,
            data_dir,
            limit,
            num_threads,
            latency_runs,
            runtime,
            verify,
        ),
    )
    process.start()
    try:
        status, payload = queue.get(timeout=timeout)
    finally:
        process.join(timeout=60)
    if status != "ok":
        raise RuntimeError(f"measuring {path} failed: {payload}")
    return payload
