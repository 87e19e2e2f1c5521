"""Whole-file mutation test: hostile `.tflite` files must never crash or hang our stack.

  python -m benchmarks.tflite_mutation [--count 2000] [--seed 0] [--routes ours,bare]
      [--workers 2] [--timeout 10] [--out runs/mutation/latest]
      [--operators hashed,freshnets,smh] [--shared_dtypes float32,int8]
      [--kernels path/to/libhashed_keras_kernels.so] [--asan] [--weights on_the_fly]

Seed files are real conversions (``lite.convert``) of tiny MLPs and CNNs with
each operator and shared dtype (cached in ``--seeds_dir``). Mutant ``i`` is a
deterministic function of ``(--seed, i)`` (``benchmarks.mutation.mutators``:
custom options, schema-level edits of tensors, buffers, operators, opcodes and
graph inputs/outputs, in-place field edits, raw byte flips, decompression
bombs, and valid "values" changes). Each mutant is loaded in long-lived child processes through
every route of ``--routes``:

* ``ours``: ``hashed_keras.lite.Interpreter(model_content=...)`` — our loading
  path, with the verifier — then ``allocate_tensors``, ``set_tensor`` of every
  input, ``invoke``, the outputs;
* ``bare``: ai_edge_litert with the kernels' delegate, no verification;

both in the execution mode ``--weights`` (``rebuilt``, the default, or
``on_the_fly``: the FULLY_CONNECTED nodes computed from the shared variables).

A result is ok, a clean error (a Python exception), a crash (the child died)
or a hang (no answer in ``--timeout`` s). For every crash or hang the file is
saved under ``--out/findings`` and run again through the same route in a new
process ("again, alone": some crashes read stale memory and depend on what the
worker ran before), through the stock runtime alone (``stock``, 3 tries), the native
verifier (``verify``), and the stock runtime on its dense twin (3 tries). A mutant that
runs through ``ours`` is compared with its seed's outputs: different outputs from a file
whose structure differs from the seed's is a *silent wrong result*
(``mutators.structure``: our operators' codes, required inputs, outputs and
options, the shapes, types, byte sizes and quantization of their tensors, and
where their outputs are used; not values such as buckets, seeds, scales, band
allocations, nor optional inputs or the builtin operators' own part).

Exit status 1 (failure) if any of:
  * a crash or hang through ``ours``;
  * a silent wrong result through ``ours``;
  * a crash or hang through ``bare``, unless the stock runtime would crash on
    the same edit without our kernels: it crashes (or hangs) on the same file
    alone, or the file has a class 1-2 property (``mutators.class12``: a
    constant tensor listed as a graph input; a buffer whose out-of-line
    offset/size point outside the file), or the stock runtime alone crashes
    or hangs on the file's *dense twin* (``mutators.dense_twin``: our operators
    replaced by constants of their outputs' shapes). Those are the runtime's
    crashes, which only the verifier on our path can prevent; they are
    reported separately ("runtime crashes") and do not fail ``bare``.
Writes ``summary.json`` and ``summary.md`` (per route x family: mutants, ok,
clean errors, crashes, hangs, silent; throughput; every finding) to ``--out``.
"""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from absl import app, flags

ROOT = Path(__file__).resolve().parents[1]
ROUTES = ("ours", "bare")
OUTCOMES = ("ok", "error", "crash", "hang")

FLAGS = flags.FLAGS
flags.DEFINE_integer("count", 2000, "Mutants to run.")
flags.DEFINE_integer("start", 0, "Index of the first mutant (to split a long run).")
flags.DEFINE_integer("seed", 0, "Seed of the run: mutant i is a function of (seed, i).")
flags.DEFINE_list(
    "routes",
    list(ROUTES),
    "Routes: ours (our loading path), bare (the delegate without verification).",
)
flags.DEFINE_float("timeout", 10.0, "Seconds per file and route before it is a hang.")
flags.DEFINE_integer("workers", 2, "Worker processes.")
flags.DEFINE_string("out", "runs/mutation/latest", "Output folder (summary, findings, logs).")
flags.DEFINE_string("seeds_dir", "runs/mutation/seeds", "Cache of the seed files.")
flags.DEFINE_list("operators", ["hashed", "freshnets", "smh"], "Operators of the seeds.")
flags.DEFINE_list("shared_dtypes", ["float32", "int8"], "Shared dtypes of the seeds.")
flags.DEFINE_list("families", None, "Mutation families (default: all).")
flags.DEFINE_string(
    "kernels",
    None,
    "Path of another kernels library (e.g. a sanitizer "
    "build): HASHED_KERAS_KERNELS of the workers.",
)
flags.DEFINE_bool(
    "asan",
    False,
    "Run the workers with an ASan+UBSan build of the kernels "
    "(built with clang into --out/asan-build unless --kernels is given) and "
    "clang's ASan runtime preloaded.",
)
flags.DEFINE_enum(
    "weights",
    "rebuilt",
    ["rebuilt", "on_the_fly"],
    "The delegate's execution mode on both routes (lite.Interpreter(..., weights=...)).",
)
flags.DEFINE_integer(
    "memory_mb",
    4096,
    "Memory cap of each worker (MiB): its address "
    "space (RLIMIT_AS), or with --asan its resident size (ASan's "
    "hard_rss_limit_mb); 0: none. Going over it is a crash.",
)


def build_asan_kernels(build_dir) -> Path:
    """Builds the kernels with ``HK_SANITIZE=ON`` (ASan + UBSan) with clang; returns the
    library's path."""
    build_dir = Path(build_dir)
    source = ROOT / "hashed_keras" / "lite" / "kernels"
    env = {**__import__("os").environ, "CC": "clang", "CXX": "clang++"}
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    subprocess.run(
        [
            "cmake",
            "-S",
            str(source),
            "-B",
            str(build_dir),
            *generator,
            "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
            "-DHK_SANITIZE=ON",
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        ["cmake", "--build", str(build_dir), "-j", "2", "--target", "hashed_keras_kernels"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    found = sorted(build_dir.rglob("libhashed_keras_kernels.so"))
    if not found:
        raise RuntimeError(f"no libhashed_keras_kernels.so under {build_dir}")
    return found[0]


STOCK_TRIES = 3
_RANK = {"crash": 3, "hang": 3, "error": 2, "ok": 1}


def _worse(outcome, than) -> bool:
    return _RANK.get(outcome, 0) > _RANK.get(than, 0)


def sanitizer_report(stderr: str) -> str:
    """The first line of an ASan/UBSan report and its SUMMARY line ("" if none)."""
    lines = stderr.splitlines()
    first = next(
        (line for line in lines if "runtime error:" in line or "ERROR: AddressSanitizer" in line),
        "",
    )
    summary = next((line for line in lines if line.startswith("SUMMARY:")), "")
    return " / ".join(x.strip() for x in (first, summary) if x)[:600]


def _outputs_equal(got, want) -> bool | None:
    """Whether the mutant's outputs equal the seed's, compared on the seed's output
    tensors; None if the mutant exposes none of them (a rewired graph: nothing to
    compare)."""
    got = {entry[0]: entry[1:] for entry in got or ()}
    common = [entry for entry in want if entry[0] in got]
    if not common:
        return None
    for index, wshape, wdtype, wvalues in common:
        gshape, gdtype, gvalues = got[index]
        if gshape != wshape or gdtype != wdtype or gvalues is None or wvalues is None:
            return False
        for a, b in zip(gvalues, wvalues):
            if not (abs(a - b) <= 1e-6 + 1e-5 * abs(b)):  # NaN differs
                return False
    return True


class Campaign:
    """One mutation run (see the module docstring); :meth:`run` returns the summary."""

    def __init__(
        self,
        *,
        count,
        seed=0,
        start=0,
        routes=ROUTES,
        timeout=10.0,
        workers=2,
        out="runs/mutation/latest",
        seeds_dir="runs/mutation/seeds",
        operators=("hashed", "freshnets", "smh"),
        shared_dtypes=("float32", "int8"),
        families=None,
        kernels=None,
        asan=False,
        memory_mb=4096,
        weights="rebuilt",
        log=print,
    ):
        from benchmarks.mutation import mutators, seeds

        self.mutators = mutators
        self.count, self.seed, self.start = count, seed, start
        self.routes = tuple(routes)
        for route in self.routes:
            if route not in ROUTES:
                raise ValueError(f"--routes: unknown route {route!r}; choose from {ROUTES}.")
        self.families = tuple(families or mutators.FAMILIES)
        for family in self.families:
            if family not in mutators.FAMILIES:
                raise ValueError(
                    f"--families: unknown family {family!r}; choose from {mutators.FAMILIES}."
                )
        self.timeout, self.workers = timeout, workers
        self.out = Path(out)
        self.log = log
        names = seeds.seed_names(tuple(operators), tuple(shared_dtypes))
        paths = seeds.build_seeds(seeds_dir, names, log=log)
        self.seeds = {name: paths[name].read_bytes() for name in names}
        self.seed_paths = paths
        self.kernels, self.asan, self.memory_mb = kernels, asan, memory_mb
        self.weights = weights

    # ---------------------------------------------------------------- run
    def run(self) -> dict:
        from benchmarks.mutation import runner

        if self.out.exists():
            shutil.rmtree(self.out / "tmp", ignore_errors=True)
            shutil.rmtree(self.out / "findings", ignore_errors=True)
            shutil.rmtree(self.out / "logs", ignore_errors=True)
        (self.out / "tmp").mkdir(parents=True, exist_ok=True)
        (self.out / "findings").mkdir(parents=True, exist_ok=True)
        kernels = self.kernels
        if self.asan and not kernels:
            self.log("building the ASan + UBSan kernels ...")
            kernels = str(build_asan_kernels(self.out / "asan-build"))
        env = runner.worker_env(
            kernels, asan=self.asan, memory_mb=self.memory_mb, weights=self.weights
        )
        stats = {r: collections.defaultdict(collections.Counter) for r in self.routes}
        findings, silent = [], []
        began = time.perf_counter()
        with runner.Pool(self.workers, self.timeout, self.out / "logs", env) as pool:
            expected = self._expected(pool, runner)
            info = dict(pool.ready_info)
            pending = {}  # index -> [mutant, jobs left, crashed jobs, path, silent?]
            follow = deque()
            indices = iter(range(self.start, self.start + self.count))
            queue = deque()
            exhausted = False
            done_mutants = 0
            next_report = time.perf_counter() + 30
            while True:
                while pool.free() > 0:
                    if follow:
                        pool.submit(follow.popleft())
                        continue
                    if not queue and not exhausted:
                        index = next(indices, None)
                        if index is None:
                            exhausted = True
                        else:
                            mutant = self.mutators.mutate(
                                self.seeds, self.seed, index, self.families
                            )
                            path = self.out / "tmp" / f"{index}.tflite"
                            path.write_bytes(mutant.content)
                            pending[index] = [mutant, len(self.routes), [], str(path), False]
                            for route in self.routes:
                                queue.append(
                                    runner.Job(str(path), route, ("m", index), outputs=True)
                                )
                    if not queue:
                        break
                    pool.submit(queue.popleft())
                if not pool.busy:
                    break
                for job in pool.wait():
                    kind = job.tag[0]
                    if kind == "m":
                        done_mutants += self._record(
                            job, pending, stats, findings, silent, expected, follow, runner
                        )
                    else:
                        self._follow_up(job, findings)
                if time.perf_counter() > next_report:
                    next_report = time.perf_counter() + 30
                    rate = done_mutants / (time.perf_counter() - began)
                    self.log(
                        f"  {done_mutants}/{self.count} mutants, {rate:.1f}/s, "
                        f"{len(findings)} crash/hang finding(s), {len(silent)} silent"
                    )
            info["workers_started"] = pool.started_workers
        seconds = time.perf_counter() - began
        shutil.rmtree(self.out / "tmp", ignore_errors=True)
        return self._summary(stats, findings, silent, seconds, info, kernels)

    def _expected(self, pool, runner):
        """Every seed through every route: must run; its outputs are the reference."""
        jobs = [
            runner.Job(str(self.seed_paths[name]), route, ("seed", name, route), outputs=True)
            for name in self.seeds
            for route in self.routes
        ]
        expected = {}
        for job in pool.run_all(jobs):
            _, name, route = job.tag
            if job.outcome != "ok":
                raise RuntimeError(
                    f"seed {name} does not run through route {route!r} "
                    f"({job.outcome}: {job.result.get('message')}); the "
                    "mutation test needs valid seeds."
                )
            expected[(name, route)] = job.result["outputs"]
        return expected

    def _record(self, job, pending, stats, findings, silent, expected, follow, runner):
        index = job.tag[1]
        entry = pending[index]
        mutant = entry[0]
        counter = stats[job.route][mutant.family]
        counter[job.outcome] += 1
        if job.outcome == "error":
            counter[f"error at {job.result.get('stage')}"] += 1
        if job.outcome in ("crash", "hang"):
            entry[2].append(job)
        if job.outcome == "ok":
            want = expected[(mutant.seed_name, job.route)]
            equal = _outputs_equal(job.result.get("outputs"), want)
            if equal is None:
                counter["not compared"] += 1
            elif not equal:
                counter["differs"] += 1
                if not mutant.valid_model and self._structure(mutant.content) != self._structure(
                    self.seeds[mutant.seed_name]
                ):
                    counter["silent"] += 1
                    entry[4] = True
                    silent.append(
                        self._describe(mutant, job)
                        | {"outputs": str(job.result.get("outputs"))[:300]}
                    )
        entry[1] -= 1
        if entry[1] > 0:
            return 0
        del pending[index]
        for route in self.routes:
            stats[route][mutant.family]["mutants"] += 1
        path = Path(entry[3])
        if entry[2] or entry[4]:  # a crash, hang or silent wrong result: keep the file
            saved = self.out / "findings" / f"{index}-{mutant.seed_name}-{mutant.family}.tflite"
            shutil.move(str(path), saved)
            for crashed in entry[2]:
                # Does it crash (or hang) again on its own, in a new process? (Some
                # crashes read stale memory and depend on what ran before.)
                follow.append(
                    runner.Job(
                        str(saved),
                        crashed.route,
                        ("f", index, f"alone:{crashed.route}"),
                        fresh=True,
                    )
                )
                finding = self._describe(mutant, crashed) | {
                    "file": str(saved),
                    "class12": self.mutators.class12(mutant.content),
                    "sanitizer": sanitizer_report(crashed.result.get("stderr", "")),
                    "previous_job": crashed.result.get("previous"),
                    "stderr": crashed.result.get("stderr", "")[-1500:],
                }
                finding["excused_on_bare"] = (
                    crashed.route == "bare" and finding["class12"] is not None
                )
                finding["dense_twin"] = "not built"
                findings.append(finding)
                if not any(f is not finding and f["index"] == index for f in findings):
                    follow.append(runner.Job(str(saved), "verify", ("f", index, "verify")))
                    twin = self.mutators.dense_twin(mutant.content)
                    twin_path = saved.with_suffix(".dense.tflite")
                    if twin is not None:
                        twin_path.write_bytes(twin)
                    # The runtime's own crashes are often wild reads that need the right
                    # garbage: STOCK_TRIES tries each, in a used and in new workers.
                    for attempt in range(STOCK_TRIES):
                        follow.append(
                            runner.Job(
                                str(saved), "stock", ("f", index, "stock"), fresh=attempt > 0
                            )
                        )
                        if twin is not None:
                            follow.append(
                                runner.Job(
                                    str(twin_path),
                                    "stock",
                                    ("f", index, "stock_dense"),
                                    fresh=attempt > 0,
                                )
                            )
            for s in silent:
                if s["index"] == index:
                    s["file"] = str(saved)
        else:
            path.unlink(missing_ok=True)
        return 1

    def _describe(self, mutant, job):
        return {
            "index": mutant.index,
            "seed": mutant.seed_name,
            "family": mutant.family,
            "description": mutant.description[:500],
            "route": job.route,
            "outcome": job.outcome,
            "message": str(job.result.get("message", ""))[:400],
            "stage": job.result.get("stage"),
        }

    def _follow_up(self, job, findings):
        _, index, route = job.tag
        for finding in findings:
            if finding["index"] != index:
                continue
            if route.startswith("alone:"):
                if finding["route"] == route.split(":", 1)[1]:
                    finding["reproduces_alone"] = job.outcome in ("crash", "hang")
            elif route == "stock_dense":
                if _worse(job.outcome, finding.get("dense_twin")):
                    finding["dense_twin"] = job.outcome
                if job.outcome in ("crash", "hang") and finding["route"] == "bare":
                    finding["excused_on_bare"] = True
            elif route == "stock":
                if _worse(job.outcome, finding.get("stock", "").split(":")[0]):
                    finding["stock"] = job.outcome + (
                        f": {job.result.get('message', '')[:200]}" if job.outcome != "ok" else ""
                    )
                finding["stock_survives"] = finding["stock"].split(":")[0] in ("ok", "error")
                if not finding["stock_survives"] and finding["route"] == "bare":
                    finding["excused_on_bare"] = True
            else:
                finding["verify_code"] = (
                    job.result.get("code") if job.outcome == "ok" else f"verifier {job.outcome}"
                )
                finding["verify_message"] = str(job.result.get("message", ""))[:300]

    _structures: dict = {}

    def _structure(self, content):
        key = hash(content)
        if key not in self._structures:
            if len(self._structures) > 64:
                self._structures.clear()
            self._structures[key] = self.mutators.structure(content)
        return self._structures[key]

    # ------------------------------------------------------------ summary
    def _summary(self, stats, findings, silent, seconds, info, kernels):
        table = {}
        for route, families in stats.items():
            table[route] = {}
            total = collections.Counter()
            for family in self.families:
                counter = families.get(family, collections.Counter())
                table[route][family] = dict(counter)
                total.update(counter)
            table[route]["all"] = dict(total)
        failures = {
            "ours_crashes": sum(
                1 for f in findings if f["route"] == "ours" and f["outcome"] == "crash"
            ),
            "ours_hangs": sum(
                1 for f in findings if f["route"] == "ours" and f["outcome"] == "hang"
            ),
            "ours_silent": sum(1 for s in silent if s["route"] == "ours"),
            "bare_unexcused": sum(
                1 for f in findings if f["route"] == "bare" and not f["excused_on_bare"]
            ),
        }
        runtime = [f for f in findings if f["route"] == "bare" and f["excused_on_bare"]]
        summary = {
            "runtime_crashes": {
                "count": len(runtime),
                "verifier_refuses": sum(
                    1
                    for f in runtime
                    if isinstance(f.get("verify_code"), int) and f["verify_code"] != 0
                ),
                "note": "crashes or hangs through 'bare' that the stock runtime also has "
                "without our kernels (on the same file, on a class 1-2 file, or on "
                "the dense twin): excused on 'bare'; our loading path must refuse "
                "them",
            },
            "command": "python -m benchmarks.tflite_mutation " + " ".join(sys.argv[1:]),
            "seed": self.seed,
            "start": self.start,
            "count": self.count,
            "routes": list(self.routes),
            "families": list(self.families),
            "seeds": list(self.seeds),
            "timeout": self.timeout,
            "workers": self.workers,
            "kernels": kernels or info.get("library"),
            "asan": self.asan,
            "weights": self.weights,
            "verifier_in_library": info.get("has_verifier"),
            "worker_imports_keras": info.get("keras_loaded"),
            "worker_import_seconds": info.get("import_seconds"),
            "workers_started": info.get("workers_started"),
            "seconds": seconds,
            "mutants_per_second": self.count / seconds if seconds else 0,
            "table": table,
            "findings": findings,
            "silent": silent,
            "failures": failures,
            "passed": not any(failures.values()),
        }
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
        (self.out / "summary.md").write_text(markdown(summary))
        return summary


def _previous(finding) -> str:
    """ "no" and the worker's job before (a mutant index and route), the likely cause."""
    previous = finding.get("previous_job")
    try:
        (kind, index, *_), route = previous
    except (TypeError, ValueError):
        return "no"
    return f"no (after #{index} {route})" if kind == "m" else "no"


def markdown(summary) -> str:
    """The summary as markdown: the table, throughput, failures, every finding."""
    lines = [
        f"Mutation test: {summary['count']:,} mutants (seed {summary['seed']}, first "
        f"index {summary['start']}) of {len(summary['seeds'])} seed files, routes "
        f"{', '.join(summary['routes'])}; {summary['seconds']:.0f} s with "
        f"{summary['workers']} workers = {summary['mutants_per_second']:.1f} mutants/s"
        + (" (ASan + UBSan kernels)" if summary["asan"] else "")
        + (" (weights on the fly)" if summary.get("weights") == "on_the_fly" else "")
        + (
            ""
            if summary["verifier_in_library"]
            else " — the kernels library has no verifier yet: 'ours' ran without it"
        ),
        "",
        "| route | family | mutants | ok | clean errors | crashes | hangs | silent |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for route, families in summary["table"].items():
        for family, c in families.items():
            name = f"**{family}**" if family == "all" else family
            lines.append(
                f"| {route} | {name} | {c.get('mutants', 0):,} | {c.get('ok', 0):,} "
                f"| {c.get('error', 0):,} | {c.get('crash', 0):,} | "
                f"{c.get('hang', 0):,} | {c.get('silent', 0):,} |"
            )
    failures = summary["failures"]
    runtime = summary["runtime_crashes"]
    lines += [
        "",
        "Failures: "
        + ", ".join(f"{k} {v}" for k, v in failures.items())
        + (" — PASSED" if summary["passed"] else " — FAILED"),
        "",
        f"Runtime crashes reported separately (the stock runtime has them without "
        f"our kernels; excused on 'bare'): {runtime['count']}, of which the verifier "
        f"refuses {runtime['verifier_refuses']}.",
        "",
    ]
    if summary["findings"]:
        lines += [
            "| # | seed | family | route | outcome | again, alone | verifier | stock alone "
            "| class 1-2 | stock on dense twin | edit |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for f in summary["findings"]:
            lines.append(
                f"| {f['index']} | {f['seed']} | {f['family']} | {f['route']} | "
                f"{f['outcome']} ({f['message'][:40]}) | "
                f"{'yes' if f.get('reproduces_alone') else _previous(f)} | "
                f"{f.get('verify_code')} | "
                f"{f.get('stock', '?')[:40]} | {f['class12'] or ''} | "
                f"{f.get('dense_twin')} | "
                f"{f['description'][:120].replace('|', '/')} |"
            )
        reports = [f for f in summary["findings"] if f.get("sanitizer")]
        if reports:
            lines += ["", "Sanitizer reports:", ""]
            lines += [f"- {f['index']} {f['route']}: {f['sanitizer'][:300]}" for f in reports]
    if summary["silent"]:
        lines += ["", "Silent wrong results:", ""]
        for s in summary["silent"]:
            lines.append(
                f"- {s['index']} {s['seed']} {s['family']} {s['route']}: {s['description'][:200]}"
            )
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    campaign = Campaign(
        count=FLAGS.count,
        seed=FLAGS.seed,
        start=FLAGS.start,
        routes=FLAGS.routes,
        timeout=FLAGS.timeout,
        workers=FLAGS.workers,
        out=FLAGS.out,
        seeds_dir=FLAGS.seeds_dir,
        operators=FLAGS.operators,
        shared_dtypes=FLAGS.shared_dtypes,
        families=FLAGS.families,
        kernels=FLAGS.kernels,
        asan=FLAGS.asan,
        memory_mb=FLAGS.memory_mb,
        weights=FLAGS.weights,
    )
    summary = campaign.run()
    print(markdown(summary))
    print(f"written: {campaign.out / 'summary.json'}, {campaign.out / 'summary.md'}")
    if not summary["passed"]:
        sys.exit(1)


if __name__ == "__main__":
    app.run(main)
