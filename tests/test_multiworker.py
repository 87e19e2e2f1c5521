"""``--strategy multiworker`` with two real worker processes on 127.0.0.1.

Each worker is ``python -m pipelines.train`` with its own ``TF_CONFIG`` (ports
picked free on the loopback interface only). The runs are small (digits, mlp3,
a few epochs): one two-worker run, a one-worker run of the same flags to
compare it with, and a two-worker run whose worker 1 is killed mid-run and
which is then resumed.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from hashed_keras import layers, smh  # noqa: F401 - register the layers for load_model
from hk_experiments import data

ROOT = Path(__file__).resolve().parents[1]
# Full digits (1437 training examples, 29 steps an epoch): long enough that a
# worker can be killed between two epochs.
FLAGS = (
    "--strategy",
    "multiworker",
    "--model",
    "mlp3",
    "--method",
    "hashed",
    "--dataset",
    "digits",
    "--epochs",
    "8",
    "--batch_size",
    "50",
    "--seed",
    "3",
)
EPOCHS = 8
TIMEOUT = 240


def _free_ports(n):
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _env(tf_config=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


class _Process:
    """One ``pipelines.train`` process, its output in files (no pipe to fill)."""

    def __init__(self, args, log: Path, tf_config=None):
        self.log = log
        self.stdout, self.stderr = open(f"{log}.out", "w"), open(f"{log}.err", "w")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "pipelines.train", *args],
            cwd=ROOT,
            env=_env(tf_config),
            stdout=self.stdout,
            stderr=self.stderr,
        )

    def wait(self, timeout=TIMEOUT):
        try:
            return self.popen.wait(timeout=timeout)
        finally:
            self.stdout.close()
            self.stderr.close()

    def output(self):
        return Path(f"{self.log}.out").read_text(), Path(f"{self.log}.err").read_text()

    def kill(self):
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


def _workers(out, logs, *extra, n=2):
    """Starts ``n`` workers of one cluster on 127.0.0.1, all with ``--out out``."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(n)]}
    return [
        _Process(
            [*FLAGS, "--out", str(out), *extra],
            logs / f"worker{i}",
            {"cluster": cluster, "task": {"type": "worker", "index": i}},
        )
        for i in range(n)
    ]


def _finish(processes):
    codes = []
    try:
        for process in processes:
            codes.append(process.wait())
    finally:
        for process in processes:
            process.kill()
    return codes


def _digest_of_worker(stdout):
    found = re.search(r"weights sha256 ([0-9a-f]{64})", stdout)
    assert found, stdout[-2000:]
    return found.group(1)


def _weights(path):
    return keras.models.load_model(path).get_weights()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A two-worker run and a one-worker run of the same flags, run at once."""
    root = tmp_path_factory.mktemp("multiworker")
    start = time.perf_counter()
    workers = _workers(root / "two", root)
    single = _Process([*FLAGS, "--out", str(root / "one")], root / "single")
    codes = _finish([*workers, single])
    return {
        "root": root,
        "codes": codes,
        "seconds": time.perf_counter() - start,
        "outputs": [p.output() for p in (*workers, single)],
    }


def test_two_workers_finish_and_the_chief_writes_one_model(runs):
    root = runs["root"]
    for code, (_stdout, stderr) in zip(runs["codes"], runs["outputs"]):
        assert code == 0, stderr[-3000:]
    metrics = json.loads((root / "two" / "metrics.json").read_text())
    assert metrics["chief"] and metrics["workers"] == 2 and metrics["replicas"] == 2
    assert metrics["epochs_run_this_session"] == EPOCHS
    assert len(metrics["history"]["loss"]) == EPOCHS
    # Worker 1 reports its weights and writes nothing: no second model, and
    # both workers' backups are gone after a finished run.
    assert "the chief writes" in runs["outputs"][1][0]
    assert sorted(p.name for p in (root / "two").iterdir()) == ["metrics.json", "model.keras"]
    # Both workers end with the same weights, bit for bit.
    assert _digest_of_worker(runs["outputs"][1][0]) == metrics["weights_sha256"]
    # The chief's model.keras evaluates, to the accuracy it reported.
    digits = data.load("digits")
    model = keras.models.load_model(root / "two" / "model.keras")
    _, accuracy = model.evaluate(digits.x_test, digits.y_test, verbose=0)
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert accuracy > 0.85


def test_two_workers_train_like_one_worker_with_the_same_global_batch(runs):
    root = runs["root"]
    two = json.loads((root / "two" / "metrics.json").read_text())
    one = json.loads((root / "one" / "metrics.json").read_text())
    assert one["workers"] == 1 and one["replicas"] == 1
    # The same examples in the same global batches: the same training, up to
    # the order of float sums (2 replicas' gradients vs one batch's).
    assert abs(two["test_accuracy"] - one["test_accuracy"]) <= 2 / 360
    np.testing.assert_allclose(two["history"]["loss"], one["history"]["loss"], rtol=1e-3)
    for a, b in zip(
        _weights(root / "two" / "model.keras"), _weights(root / "one" / "model.keras"), strict=True
    ):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_resume_after_a_worker_is_killed_continues_from_the_last_checkpoint(runs, tmp_path):
    out = tmp_path / "killed"
    workers = _workers(out, tmp_path)
    chief_backup, worker_backup = out / "backup", out / "backup-worker1"
    try:
        deadline = time.monotonic() + TIMEOUT
        # Kill worker 1 once both workers have checkpointed epoch 2.
        while not (
            (chief_backup / "epoch-0002.npz").exists()
            and (worker_backup / "epoch-0002.npz").exists()
        ):
            assert workers[1].popen.poll() is None, workers[1].output()[1][-3000:]
            assert time.monotonic() < deadline, "no checkpoint of epoch 2"
            time.sleep(0.01)
        workers[1].popen.send_signal(signal.SIGKILL)
        # The chief notices the lost peer and stops with one line that says what to do.
        code = workers[0].wait(timeout=120)
    finally:
        for worker in workers:
            worker.kill()
    stdout, stderr = workers[0].output()
    assert code == 1, stderr[-3000:]
    assert not (out / "model.keras").exists(), "the chief finished: killed too late"
    last_line = stderr.strip().splitlines()[-1]
    assert "the cluster failed" in last_line and "--resume" in last_line, stderr[-3000:]
    assert "Traceback" not in stderr

    def latest(backup):
        return max(int(p.stem.split("-")[1]) for p in backup.glob("epoch-*.npz"))

    expected = min(latest(chief_backup), latest(worker_backup))
    assert 2 <= expected < EPOCHS

    (tmp_path / "resumed").mkdir()
    resumed = _workers(out, tmp_path / "resumed", "--resume")
    codes = _finish(resumed)
    assert codes == [0, 0], resumed[0].output()[1][-3000:] + resumed[1].output()[1][-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_from_epoch"] == expected
    assert metrics["epochs_run_this_session"] == EPOCHS - expected
    assert _digest_of_worker(resumed[1].output()[0]) == metrics["weights_sha256"]
    # Nothing lost or redone: the same weights as the uninterrupted run.
    for a, b in zip(
        _weights(out / "model.keras"), _weights(runs["root"] / "two" / "model.keras"), strict=True
    ):
        np.testing.assert_allclose(a, b, atol=1e-5)
