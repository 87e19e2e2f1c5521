"""The training pipeline: CLI, outputs, resume after a crash, strategies, errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from hk_experiments import data, training

ROOT = Path(__file__).resolve().parents[1]


def _run_cli(*args, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-m", "pipelines.train", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_writes_model_and_metrics(tmp_path):
    out = tmp_path / "run"
    result = _run_cli(
        "--model",
        "mlp3",
        "--method",
        "hashed",
        "--compression",
        "0.125",
        "--dataset",
        "digits",
        "--epochs",
        "3",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    # mlp3 on 8x8 digits: 64-1000-10, hashed at 1/8 plus unhashed biases.
    assert metrics["virtual_size"] == 64 * 1000 + 1000 + 1000 * 10 + 10
    assert metrics["stored_size"] == 8000 + 1000 + 1250 + 10
    assert metrics["stored_bytes"] == 4 * metrics["stored_size"]
    assert metrics["test_accuracy"] > 0.5
    assert len(metrics["history"]["loss"]) == 3
    model = keras.models.load_model(out / "model.keras")
    digits = data.load("digits")
    _, accuracy = model.evaluate(digits.x_test, digits.y_test, verbose=0)
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-6)


def test_cli_rejects_bad_flags_with_a_message(tmp_path):
    result = _run_cli("--compression", "2", "--out", str(tmp_path / "x"), "--epochs", "1")
    assert result.returncode != 0
    # A flag error is a usage error: the help, then the flag's problem and value
    # (not the whole TrainConfig).
    assert "--compression must be in (0, 1] (got 2.0)." in result.stderr
    assert "TrainConfig(" not in result.stderr
    assert "--batch_size" in result.stderr


def _error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("pipelines.train: error:")]


def test_cli_failure_is_one_line_naming_the_data_and_what_to_do(tmp_path):
    result = _run_cli(
        "--dataset",
        "fashion_mnist",
        "--data_dir",
        str(tmp_path / "none"),
        "--out",
        str(tmp_path / "x"),
        "--epochs",
        "1",
    )
    assert result.returncode == 1
    [line] = _error_lines(result.stderr)
    assert str(tmp_path / "none") in line and "apt-get install dataset-fashion-mnist" in line
    assert line == result.stderr.strip().splitlines()[-1]
    # Not a usage error: no help text, no traceback.
    assert "--batch_size" not in result.stderr and "Traceback" not in result.stderr


def test_cli_verbose_adds_the_traceback(tmp_path):
    result = _run_cli(
        "--dataset",
        "fashion_mnist",
        "--data_dir",
        str(tmp_path / "none"),
        "--out",
        str(tmp_path / "x"),
        "--epochs",
        "1",
        "--verbose",
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "DatasetNotFoundError" in result.stderr


def test_cli_mirrored_strategy_on_two_cpu_replicas(tmp_path):
    out = tmp_path / "mirrored"
    result = _run_cli(
        "--strategy",
        "mirrored",
        "--cpu_replicas",
        "2",
        "--limit",
        "400",
        "--epochs",
        "2",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["replicas"] == 2
    assert metrics["history"]["loss"][1] < metrics["history"]["loss"][0]


class _Crash(keras.callbacks.Callback):
    """Simulates a run killed after ``epoch`` finished epochs."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt("simulated kill")


def test_resume_continues_from_the_last_finished_epoch(tmp_path):
    config = training.TrainConfig(
        model="mlp3",
        method="hashed",
        dataset="digits",
        limit=300,
        epochs=4,
        out=str(tmp_path / "r"),
        verbose=0,
    )
    with pytest.raises(KeyboardInterrupt):
        training.train(config, extra_callbacks=[_Crash(2)])
    assert not (tmp_path / "r" / "metrics.json").exists()
    config.resume = True
    metrics = training.train(config)
    # Only epochs 3 and 4 ran in the second session: nothing was lost or redone.
    assert metrics["epochs_run_this_session"] == 2


def test_without_resume_a_stale_backup_is_not_used(tmp_path):
    config = training.TrainConfig(
        model="mlp3", dataset="digits", limit=300, epochs=3, out=str(tmp_path / "r"), verbose=0
    )
    with pytest.raises(KeyboardInterrupt):
        training.train(config, extra_callbacks=[_Crash(1)])
    metrics = training.train(config)
    assert metrics["epochs_run_this_session"] == 3


def test_same_seed_same_result(tmp_path):
    results = []
    for run in ("a", "b"):
        config = training.TrainConfig(
            model="mlp3",
            dataset="digits",
            limit=300,
            epochs=2,
            seed=3,
            out=str(tmp_path / run),
            verbose=0,
        )
        training.train(config)
        model = keras.models.load_model(tmp_path / run / "model.keras")
        results.append(model.predict(np.ones((2, 8, 8, 1), "float32"), verbose=0))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-6)


def test_cli_multiworker_strategy_runs_as_a_single_worker_without_tf_config(tmp_path):
    out = tmp_path / "multiworker"
    result = _run_cli(
        "--strategy", "multiworker", "--limit", "300", "--epochs", "1", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((out / "metrics.json").read_text())["replicas"] == 1


def _killed_run(out, method):
    config = training.TrainConfig(
        model="mlp3", method=method, dataset="digits", limit=300, epochs=3, out=str(out), verbose=0
    )
    with pytest.raises(KeyboardInterrupt):
        training.train(config, extra_callbacks=[_Crash(1)])
    assert (out / "backup" / "run.json").is_file()
    return config


def test_cli_resume_names_a_backup_of_another_run(tmp_path):
    out = tmp_path / "r"
    _killed_run(out, "hashed")
    result = _run_cli(
        "--method", "dense", "--limit", "300", "--epochs", "3", "--resume", "--out", str(out)
    )
    assert result.returncode == 1
    [line] = _error_lines(result.stderr)
    assert f"{out / 'backup'} holds the checkpoint of another run" in line
    assert "--method 'hashed' there, 'dense' now" in line
    assert "drop --resume to start over" in line
    assert "expected 2 variables" not in result.stderr and "--batch_size" not in result.stderr
    # The backup is left as it was: resuming with the run's own flags still works.
    assert (out / "backup" / "run.json").is_file()


def test_resume_with_the_same_settings_but_more_epochs_is_allowed(tmp_path):
    config = _killed_run(tmp_path / "r", "hashed")
    config.resume, config.epochs = True, 4
    assert training.train(config)["epochs_run_this_session"] == 3


def test_resume_of_a_backup_without_run_json_names_the_backup(tmp_path):
    # A backup from before run.json existed: the failed restore names it.
    config = _killed_run(tmp_path / "r", "hashed")
    (tmp_path / "r" / "backup" / "run.json").unlink()
    config.method, config.resume = "dense", True
    with pytest.raises(
        training.StaleBackupError, match="cannot restore the checkpoint in .*backup"
    ):
        training.train(config)


def test_cli_resume_names_a_backup_of_the_other_training_loop(tmp_path):
    # Keras fit's backup cannot be resumed by the multi-worker loop (other files).
    out = tmp_path / "r"
    _killed_run(out, "hashed")
    result = _run_cli(
        "--strategy",
        "multiworker",
        "--limit",
        "300",
        "--epochs",
        "3",
        "--resume",
        "--out",
        str(out),
    )
    assert result.returncode == 1
    [line] = _error_lines(result.stderr)
    assert "--strategy 'default/mirrored' there, 'multiworker' now" in line
