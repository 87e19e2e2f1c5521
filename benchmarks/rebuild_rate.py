"""Raw xxh32 throughput and rebuild rate of each operator, per SIMD path.

  python -m benchmarks.rebuild_rate [--paths scalar,sse41,avx2] [--rounds 7]

One process, one thread, the compiled kernels (``libhashed_keras_kernels``)
called through their C ABI. Every round times each path in turn (side by
side, so a busy machine slows all of them alike), and the median over rounds
is printed:

* ``xxh32``: ``hk_simd_xxh32_keys`` over ``--keys`` consecutive keys, the
  hash alone (keys/s);
* ``HashedWeights``: ``hk_hashed_weights`` on an ``fc`` layer ``--fc`` at
  compression ``--compression`` (the bucket hash, the sign hash, the gather
  and the transpose to TFLite's ``[out, in]``; weights/s);
* ``FreshWeights``: ``hk_fresh_weights`` on a conv ``--conv`` (coefficient
  hashes, gather, and the inverse DCT of every filter);
* ``SMHWeights``: ``hk_smh_weights`` (no hashing: the covered rows of
  ``U^T V`` and the transpose; the same code on every path).

Rates are per core (one thread). The ``vs scalar`` column is the ratio of the
path's rate to the scalar path's in the same run.

With ``--setup_models`` (default ``mlp3,cnn``; empty to skip) it also converts
each zoo model (dense and hashed at ``--compression``) and times interpreter
setup (construction plus ``allocate_tensors()``, where the delegate rebuilds
the weights) of the dense file and of the hashed file on every path, in
``--setup_rounds`` alternating rounds: the median and the best time of each,
and hashed/dense per path (the best is the steadier figure on a busy machine).
"""

from __future__ import annotations

import ctypes
import statistics
import time

import numpy as np
from absl import app, flags

import pipelines  # first: TensorFlow loads with its banners off, as for every command

FLAGS = flags.FLAGS
flags.DEFINE_list("paths", None, "SIMD paths to time (default: every one this CPU has).")
flags.DEFINE_integer("rounds", 7, "Rounds (each times every path once).")
flags.DEFINE_integer("keys", 1 << 22, "Keys per xxh32 measurement.")
flags.DEFINE_list(
    "fc", ["784", "1000"], "HashedWeights kernel shape [in, out] (mlp3's first layer)."
)
flags.DEFINE_list("conv", ["3", "3", "64", "64"], "FreshWeights kernel shape [kh, kw, in, out].")
flags.DEFINE_float("compression", 1 / 8, "Buckets / virtual weights.")
flags.DEFINE_integer("smh_n", 1024, "SMHWeights: M-hat is n x n.")
flags.DEFINE_integer("smh_rank", 8, "SMHWeights: rank of U, V.")
flags.DEFINE_list("setup_models", ["mlp3", "cnn"], "Zoo models whose interpreter setup is timed.")
flags.DEFINE_integer("setup_rounds", 21, "Alternating rounds of interpreter setup.")
flags.DEFINE_string(
    "runtime", None, "ai_edge_litert | tensorflow | tflite_runtime (default: first)."
)

ALL_PATHS = ("scalar", "sse41", "avx2", "neon")


def _library():
    from hashed_keras.lite import kernel_library

    return kernel_library.load()


def _f32(array):
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def _check(status, error):
    if status != 0:
        raise SystemExit(
            f"rebuild_rate: the kernel refused the benchmark's layer "
            f"(status {status}): {error.value.decode()}"
        )


def _workloads(lib):
    """name -> (values per call, function running one call)."""
    from hashed_keras import hashing
    from hashed_keras.lite import ops

    rng = np.random.default_rng(0)
    error = ctypes.create_string_buffer(512)
    work = {}

    keys = np.empty(FLAGS.keys, np.uint32)
    keys_ptr = keys.ctypes.data_as(ctypes.POINTER(ctypes.c_uint32))
    work["xxh32 (keys/s)"] = (
        FLAGS.keys,
        lambda: lib.hk_simd_xxh32_keys(0, 1, FLAGS.keys, 1234, keys_ptr),
    )

    fc = [int(d) for d in FLAGS.fc]
    size = fc[0] * fc[1]
    spec = {
        "contract_version": 1,
        "seed": 1234,
        "buckets": max(1, round(FLAGS.compression * size)),
        "kernel_shape": fc,
        "use_sign": True,
        "hash_bias": False,
        "bias_size": 0,
    }
    options = ops.hashed_weights_options(spec, "fc")
    buckets = rng.standard_normal(spec["buckets"]).astype(np.float32)
    out = np.empty(size, np.float32)
    work["HashedWeights (weights/s)"] = (
        size,
        lambda: _check(
            lib.hk_hashed_weights(
                options,
                len(options),
                _f32(buckets),
                buckets.size,
                None,
                0,
                _f32(out),
                out.size,
                None,
                0,
                error,
                len(error),
            ),
            error,
        ),
    )

    conv = [int(d) for d in FLAGS.conv]
    csize = int(np.prod(conv))
    k = max(conv[0] + conv[1] - 1, round(FLAGS.compression * csize))
    fspec = {
        "contract_version": 1,
        "seed": 1234,
        "buckets": k,
        "band_buckets": hashing.allocate_band_buckets(conv, k),
        "kernel_shape": conv,
        "use_sign": True,
    }
    foptions = ops.fresh_weights_options(fspec)
    fbuckets = rng.standard_normal(k).astype(np.float32)
    fout = np.empty(csize, np.float32)
    work["FreshWeights (weights/s)"] = (
        csize,
        lambda: _check(
            lib.hk_fresh_weights(
                foptions,
                len(foptions),
                _f32(fbuckets),
                k,
                None,
                0,
                _f32(fout),
                csize,
                error,
                len(error),
            ),
            error,
        ),
    )

    n, rank = FLAGS.smh_n, FLAGS.smh_rank
    ssize = n * n // 2  # a layer covering half of M-hat
    sspec = {"n": n, "rank": rank, "start": 0, "kernel_shape": [n // 2, n], "bias_size": 0}
    soptions = ops.smh_weights_options(sspec, "fc", with_bias=False)
    u = rng.standard_normal(rank * n).astype(np.float32)
    v = rng.standard_normal(rank * n).astype(np.float32)
    scales = np.ones(2, np.float32)
    sout = np.empty(ssize, np.float32)
    work["SMHWeights (weights/s)"] = (
        ssize,
        lambda: _check(
            lib.hk_smh_weights(
                soptions,
                len(soptions),
                _f32(u),
                u.size,
                _f32(v),
                v.size,
                _f32(scales),
                2,
                None,
                0,
                _f32(sout),
                ssize,
                None,
                0,
                error,
                len(error),
            ),
            error,
        ),
    )
    return work


def _seconds(fn, min_seconds=0.05):
    """Seconds per call: the best of calls repeated for at least min_seconds."""
    fn()  # warm (first touch of the output pages)
    best, total = float("inf"), 0.0
    while total < min_seconds:
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        best, total = min(best, elapsed), total + elapsed
    return best


def _setup_seconds(path):
    from hashed_keras.lite import measure

    return measure.timed_setup(path, num_threads=1, runtime=FLAGS.runtime)[1]


def _setup_table(lib, paths):
    import tempfile
    from pathlib import Path

    import keras

    from hk_experiments import models

    keras.utils.set_random_seed(0)
    work = Path(tempfile.mkdtemp(prefix="rebuild_rate_"))
    print(
        f"interpreter setup, median of {FLAGS.setup_rounds} alternating rounds "
        f"(compression {FLAGS.compression:g}, one thread)"
    )
    for name in FLAGS.setup_models:
        files = models.converted_pair(name, work, FLAGS.compression)
        cases = [("dense", None)] + [("hashed", p) for p in paths]
        times = {case: [] for case in cases}
        for _ in range(FLAGS.setup_rounds):
            for case in cases:
                if case[1]:
                    lib.hk_simd_select(case[1].encode())
                times[case].append(_setup_seconds(files[case[0]]))
        for label, stat in (("median", statistics.median), ("best", min)):
            t = {case: stat(v) for case, v in times.items()}
            dense = t[("dense", None)]
            line = f"  {name:<6} {label:<6} dense {dense * 1e3:6.2f} ms"
            for p in paths:
                hashed = t[("hashed", p)]
                line += f" | {p} {hashed * 1e3:6.2f} ms ({hashed / dense:.2f}x)"
            print(line)


def main(argv):
    del argv
    lib = _library()
    default = lib.hk_simd_path().decode()
    available = [q for q in ALL_PATHS if lib.hk_simd_select(q.encode()) == 0]
    paths = FLAGS.paths or available
    for p in paths:
        if p not in available:
            raise SystemExit(
                f"rebuild_rate: path {p!r} is not available on this CPU/build "
                f"(available: {', '.join(available)})"
            )
    work = _workloads(lib)
    rates = {(name, p): [] for name in work for p in paths}
    for _ in range(FLAGS.rounds):
        for name, (count, fn) in work.items():
            for p in paths:
                lib.hk_simd_select(p.encode())
                rates[(name, p)].append(count / _seconds(fn))
    lib.hk_simd_select(default.encode())
    print(
        f"rebuild rate, one core, median of {FLAGS.rounds} side-by-side rounds "
        f"(default path here: {default}; HashedWeights fc {FLAGS.fc}, FreshWeights "
        f"{FLAGS.conv}, compression {FLAGS.compression:g}; SMH n={FLAGS.smh_n} "
        f"rank={FLAGS.smh_rank})"
    )
    print(f"  {'':<27}" + "".join(f"{p:>16}" for p in paths))
    for name in work:
        med = {p: statistics.median(rates[(name, p)]) for p in paths}
        print(f"  {name:<27}" + "".join(f"{med[p] / 1e6:>12,.0f} M/s" for p in paths))
        if "scalar" in paths:
            print(
                f"  {'  vs scalar':<27}"
                + "".join(f"{med[p] / med['scalar']:>15.2f}x" for p in paths)
            )
    if FLAGS.setup_models:
        _setup_table(lib, paths)
        lib.hk_simd_select(default.encode())


if __name__ == "__main__":
    app.run(pipelines.quietly(main))
