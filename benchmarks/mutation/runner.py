"""Long-lived worker processes that load mutants, and crash/hang detection.

A :class:`Pool` keeps ``workers`` children of :mod:`benchmarks.mutation.worker`
busy. Each job is one file through one route. A job's outcome:

* ``ok``: the worker answered ``ok`` (the model ran, or the verifier answered);
* ``error``: the worker answered with a Python exception (a clean error);
* ``crash``: the worker died (a signal, or exit without an answer): the child's
  exit status and the tail of its stderr (sanitizer reports) are kept;
* ``hang``: no answer within ``timeout`` seconds: the worker is killed.

After a crash or hang a fresh worker takes the next job.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Job:
    """One file through one route; ``tag`` is the caller's (e.g. the mutant index)."""

    path: str
    route: str
    tag: object = None
    outputs: bool = False
    fresh: bool = False  # in a new worker, used for this job only
    result: dict = field(default_factory=dict)
    outcome: str = ""  # ok | error | crash | hang
    seconds: float = 0.0


def asan_runtime() -> str | None:
    """Path of clang's ``libclang_rt.asan-x86_64.so`` (for LD_PRELOAD), or None."""
    try:
        out = subprocess.run(
            ["clang", "-print-file-name=libclang_rt.asan-x86_64.so"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out if out and os.path.isabs(out) and os.path.isfile(out) else None


def worker_env(
    kernels: str | None = None, asan: bool = False, memory_mb: int = 0, weights: str = "rebuilt"
) -> dict:
    """The environment of a worker: kernels override, ASan preload, memory cap, the
    delegate's execution mode (``weights``: rebuilt or on_the_fly)."""
    env = dict(os.environ)
    env["HK_MUTATION_WEIGHTS"] = weights
    env["PYTHONPATH"] = str(ROOT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    if kernels:
        env["HASHED_KERAS_KERNELS"] = str(Path(kernels).resolve())
    if asan:
        runtime = asan_runtime()
        if runtime is None:
            raise RuntimeError(
                "--asan needs clang's ASan runtime (libclang_rt.asan-x86_64.so): "
                "apt-get install -y clang."
            )
        env["LD_PRELOAD"] = runtime
        # Python itself leaks by design; a report is a crash (exit code 1 without an answer).
        # RLIMIT_AS does not work with ASan (it reserves terabytes of address space):
        # ASan's own caps keep a decompression bomb from taking the machine's memory
        # (going over them is a crash, like bad_alloc in a normal build).
        env["ASAN_OPTIONS"] = (
            "detect_leaks=0:abort_on_error=1:handle_segv=1:"
            "detect_odr_violation=0:max_allocation_size_mb=3072:"
            f"hard_rss_limit_mb={memory_mb or 4096}"
        )
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
        memory_mb = 0
    env["HK_MUTATION_MEMORY_MB"] = str(memory_mb)
    return env


class _Worker:
    def __init__(self, env, log_path: Path, python: str):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [python, "-m", "benchmarks.mutation.worker"],
            cwd=str(ROOT),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            start_new_session=True,
        )
        self.buffer = b""
        self.ready = None
        self.job: Job | None = None
        self.previous = None  # (tag, route) of the last job it finished
        self.deadline = 0.0
        self.started = 0.0
        self.log_offset = 0

    def send(self, job: Job, timeout: float):
        self.job = job
        self.log.flush()
        self.log_offset = self.log_path.stat().st_size
        self.started = time.perf_counter()
        self.deadline = self.started + timeout
        line = (
            json.dumps(
                {"path": job.path, "route": job.route, "tag": str(job.tag), "outputs": job.outputs}
            )
            + "\n"
        )
        self.proc.stdin.write(line.encode())
        self.proc.stdin.flush()

    def stderr_tail(self, limit=20000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_offset)
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        return text[-limit:]

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.close()

    def close(self):
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        self.log.close()


def describe_exit(returncode) -> str:
    if returncode is None:
        return "killed"
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode} without an answer"


class Pool:
    """``workers`` worker processes running :class:`Job` s.

    Args:
      workers: how many children run jobs at once.
      timeout: seconds a job may take before it is a hang (and its worker killed).
      log_dir: where each worker's stderr goes.
      env: the workers' environment (:func:`worker_env`).
      startup_timeout: seconds a new worker may take to import the runtime.
    """

    def __init__(
        self,
        workers: int,
        timeout: float,
        log_dir,
        env: dict,
        python: str = sys.executable,
        startup_timeout: float = 120.0,
    ):
        self.size = workers
        self.timeout = timeout
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.python = python
        self.startup_timeout = startup_timeout
        self.selector = selectors.DefaultSelector()
        self.idle: list[_Worker] = []
        self.busy: list[_Worker] = []
        self.started_workers = 0
        self.ready_info: dict = {}

    def _start(self) -> _Worker:
        self.started_workers += 1
        worker = _Worker(self.env, self.log_dir / f"worker{self.started_workers}.log", self.python)
        # Wait for the "ready" line.
        deadline = time.perf_counter() + self.startup_timeout
        while b"\n" not in worker.buffer:
            left = deadline - time.perf_counter()
            sel = selectors.DefaultSelector()
            sel.register(worker.proc.stdout, selectors.EVENT_READ)
            events = sel.select(max(0.0, left))
            sel.close()
            chunk = os.read(worker.proc.stdout.fileno(), 65536) if events else b""
            if not chunk:
                tail = worker.log_path.read_text(errors="replace")[-2000:]
                worker.kill()
                raise RuntimeError(f"a mutation worker failed to start:\n{tail}")
            worker.buffer += chunk
        line, worker.buffer = worker.buffer.split(b"\n", 1)
        worker.ready = json.loads(line)
        self.ready_info = worker.ready
        self.selector.register(worker.proc.stdout, selectors.EVENT_READ, worker)
        return worker

    def free(self) -> int:
        return self.size - len(self.busy)

    def submit(self, job: Job):
        if job.fresh or not self.idle:
            if job.fresh and self.idle and len(self.idle) + len(self.busy) >= self.size:
                self._retire(self.idle.pop())  # keep at most `size` processes
            worker = self._start()
        else:
            worker = self.idle.pop()
        worker.send(job, self.timeout)
        self.busy.append(worker)

    def _finish(self, worker: _Worker, outcome: str, result: dict, alive: bool):
        job = worker.job
        job.outcome, job.result = outcome, result
        if outcome in ("crash", "hang"):
            # A crash that does not happen again alone was often set up by the job
            # before (e.g. a heap corrupted by an accepted file): name it.
            job.result["previous"] = worker.previous
        worker.previous = (job.tag, job.route)
        job.seconds = time.perf_counter() - worker.started
        worker.job = None
        self.busy.remove(worker)
        if alive and not job.fresh:
            self.idle.append(worker)
        else:
            self._retire(worker)
        return job

    def _retire(self, worker: _Worker):
        try:
            self.selector.unregister(worker.proc.stdout)
        except (KeyError, ValueError):
            pass
        worker.kill()

    def wait(self) -> list[Job]:
        """Blocks until at least one busy job finishes; returns the finished jobs."""
        done = []
        while not done and self.busy:
            now = time.perf_counter()
            next_deadline = min(w.deadline for w in self.busy)
            events = self.selector.select(max(0.0, next_deadline - now))
            for key, _ in events:
                worker = key.data
                if worker not in self.busy:
                    continue
                try:
                    chunk = os.read(worker.proc.stdout.fileno(), 1 << 20)
                except OSError:
                    chunk = b""
                if chunk:
                    worker.buffer += chunk
                    if b"\n" in worker.buffer:
                        line, worker.buffer = worker.buffer.split(b"\n", 1)
                        result = json.loads(line)
                        outcome = {"ok": "ok", "error": "error"}.get(
                            result.get("status"), "harness"
                        )
                        done.append(self._finish(worker, outcome, result, alive=True))
                    continue
                # EOF: the worker died with the job in flight.
                try:
                    code = worker.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    code = None
                worker.log.flush()
                tail = worker.stderr_tail()
                done.append(
                    self._finish(
                        worker,
                        "crash",
                        {"message": describe_exit(code), "returncode": code, "stderr": tail},
                        alive=False,
                    )
                )
            now = time.perf_counter()
            for worker in list(self.busy):
                if worker.job is not None and now >= worker.deadline:
                    worker.kill()
                    done.append(
                        self._finish(
                            worker,
                            "hang",
                            {
                                "message": f"no answer in {self.timeout:g} s (killed)",
                                "stderr": worker.stderr_tail(),
                            },
                            alive=False,
                        )
                    )
        return done

    def run_all(self, jobs) -> list[Job]:
        """Runs ``jobs`` (an iterable) and returns them, finished, in completion order."""
        out, pending = [], iter(jobs)
        exhausted = False
        while True:
            while not exhausted and self.free() > 0:
                job = next(pending, None)
                if job is None:
                    exhausted = True
                    break
                self.submit(job)
            if not self.busy:
                return out
            out.extend(self.wait())

    def close(self):
        for worker in self.idle + self.busy:
            try:
                self.selector.unregister(worker.proc.stdout)
            except (KeyError, ValueError):
                pass
            try:
                worker.proc.stdin.close()
                worker.proc.wait(timeout=5)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
            worker.kill()
        self.idle, self.busy = [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
