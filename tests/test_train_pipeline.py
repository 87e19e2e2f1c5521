"""The training pipeline: CLI, outputs, resume after a crash, strategies, errors; the
paper's recipe (validation split, early stopping, schedule) and tuning."""

import json
from pathlib import Path

import cli
import keras
import numpy as np
import pytest

from hk_experiments import data, training, tuning


def _run_cli(*args, timeout=300):
    return cli.run("pipelines.train", *args, timeout=timeout)


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
    # What produced it: the numeric stack's versions and the commit.
    assert metrics["versions"]["keras"] == keras.__version__
    assert metrics["versions"]["numpy"] == np.__version__
    assert metrics["versions"]["commit"] is None or len(metrics["versions"]["commit"]) >= 7
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


# The paper's recipe and tuning.

LIMIT = 300  # digits examples: 240 to fit on, 60 to validate on


def _paper(out, **settings):
    return training.TrainConfig.of_recipe(
        "paper", dataset="digits", limit=LIMIT, out=str(out), verbose=0, **settings
    )


class _Spoil(keras.callbacks.Callback):
    """Zeroes every weight at the start of each epoch from ``epoch`` (0-based) on:
    those epochs validate at chance level, so the best epoch is an earlier one."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch >= self.epoch:
            self.model.set_weights([np.zeros_like(w) for w in self.model.get_weights()])


def _validation_accuracy(out, seed=0):
    """The saved model's accuracy on the rows of the training split that the
    run held out (recomputed here from the seed)."""
    dataset = data.load("digits", limit=LIMIT, seed=seed)
    _, held = data.validation_indices(len(dataset.x_train), 0.2, seed)
    model = keras.models.load_model(Path(out) / "model.keras")
    _, accuracy = model.evaluate(dataset.x_train[held], dataset.y_train[held], verbose=0)
    return accuracy


def test_validation_split_is_a_seeded_part_of_the_training_split():
    fit, held = data.validation_indices(1000, 0.2, seed=3)
    assert len(held) == 200 and len(fit) == 800
    assert not set(fit) & set(held)
    assert sorted([*fit, *held]) == list(range(1000))
    again, other = data.validation_indices(1000, 0.2, seed=3), data.validation_indices(1000, 0.2, 4)
    np.testing.assert_array_equal(again[1], held)
    assert set(other[1]) != set(held)
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        data.validation_indices(10, 1.0)
    dataset = data.load("digits")
    assert len(data.without_test(dataset).x_test) == 0
    assert len(data.without_test(dataset).x_train) == len(dataset.x_train)


def test_paper_recipe_stops_early_and_keeps_the_best_epoch(tmp_path):
    config = _paper(
        tmp_path / "r", epochs=8, patience=1, learning_rate=0.05
    )  # learns digits in 2 epochs
    assert (config.optimizer, config.input_dropout, config.dropout) == ("sgd", 0.2, 0.5)
    metrics = training.train(config, extra_callbacks=[_Spoil(2)])
    validation = metrics["validation"]
    # Epoch 3 validated at chance: with patience 1 training stopped there and
    # epoch 2's weights were kept.
    assert validation["stopped_early"] and validation["epochs_trained"] == 3
    assert metrics["epochs_run_this_session"] == 3
    assert validation["best_epoch"] == 2
    history = metrics["history"]["val_accuracy"]
    assert validation["accuracy"] == pytest.approx(history[1], abs=1e-6) and history[2] < 0.3
    # The held-out rows are the seeded 20% of the training split, not fitted on.
    assert (validation["fit_examples"], validation["examples"]) == (240, 60)
    assert _validation_accuracy(tmp_path / "r") == pytest.approx(validation["accuracy"], abs=1e-6)
    assert metrics["recipe"] == "paper" and metrics["test_accuracy"] > 0.5


class _Poison(keras.callbacks.Callback):
    """Makes the output layer's bias NaN at the start of epoch ``epoch``
    (0-based): every loss from then on is NaN, as in a run that diverged (a
    NaN in an early layer may not reach the loss: ReLU can drop it)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            weights = self.model.get_weights()
            weights[-1][:] = np.nan
            self.model.set_weights(weights)


def test_a_diverged_run_stops_at_once_and_keeps_its_best_epoch(tmp_path):
    config = _paper(tmp_path / "r", epochs=20, patience=10, learning_rate=0.05)
    metrics = training.train(config, extra_callbacks=[_Poison(3)])
    validation = metrics["validation"]
    # Stopped in epoch 4, not after ten more epochs of patience at chance level.
    assert metrics["diverged_at_epoch"] == 4 and metrics["epochs_run_this_session"] == 4
    assert validation["stopped_early"] and validation["epochs_trained"] == 4
    assert validation["best_epoch"] <= 3 and validation["accuracy"] > 0.5
    assert metrics["test_accuracy"] > 0.5  # the kept weights are the best epoch's, not NaN
    assert training.train(_paper(tmp_path / "ok", epochs=2))["diverged_at_epoch"] is None


class _DeadUnit(keras.callbacks.Callback):
    """Makes one hidden unit's bias -inf at the start of epoch ``epoch``
    (0-based): the ReLU outputs 0 for it and its gradient is 0, so the loss
    stays finite and the weights stay non-finite -- a diverged run the loss
    does not show."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            bias = next(w for w in self.model.weights if w.path.endswith("fc1/bias"))
            value = keras.ops.convert_to_numpy(bias)
            value[0] = -np.inf
            bias.assign(value)


def test_a_run_whose_weights_diverge_behind_a_finite_loss_stops_too(tmp_path):
    from hashed_keras.lite.convert import non_finite_variable

    # At 0.02 the accuracy still climbs in epoch 4 (0.25, 0.6, 0.8 before it).
    config = _paper(tmp_path / "r", epochs=20, patience=10, learning_rate=0.02)
    metrics = training.train(config, extra_callbacks=[_DeadUnit(3)])
    assert all(np.isfinite(metrics["history"]["loss"]))  # the loss never showed it
    # Stopped at the end of epoch 4, not after ten more epochs of patience;
    # the kept epoch is one before it (epoch 4 validates best, but is not
    # finite), so the saved model converts.
    assert metrics["diverged_at_epoch"] == 4 and metrics["epochs_run_this_session"] == 4
    assert metrics["validation"]["best_epoch"] <= 3
    model = keras.models.load_model(tmp_path / "r" / "model.keras")
    assert non_finite_variable(model) is None


def test_cli_says_when_the_loss_diverged_and_what_to_lower(tmp_path):
    out = tmp_path / "run"
    result = _run_cli(
        *("--recipe", "paper", "--model", "mlp3", "--method", "hashed", "--compression", "0.125"),
        *("--dataset", "digits", "--limit", LIMIT, "--epochs", "40", "--out", out),
        *("--learning_rate", "5", "--momentum", "0.99"),  # diverges within a few epochs
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    epoch = metrics["diverged_at_epoch"]
    assert epoch is not None and metrics["epochs_run_this_session"] == epoch < 40
    assert result.stderr.strip() == (
        f"pipelines.train: warning: the loss or the weights became NaN or infinite in epoch "
        f"{epoch}, so "
        f"training stopped there: the model is epoch {metrics['validation']['best_epoch']}'s, "
        f"the best on the validation split (accuracy "
        f"{metrics['validation']['accuracy']:.4f}). Lower --learning_rate (now 5) or "
        f"--momentum (now 0.99)."
    )


def test_paper_recipe_resumes_with_its_schedule_and_early_stopping_state(tmp_path):
    config = _paper(tmp_path / "r", epochs=6, patience=2, learning_rate=0.05)
    with pytest.raises(KeyboardInterrupt):
        training.train(config, extra_callbacks=[_Crash(3)])
    config.resume = True
    # Every epoch after the resume validates at chance: the best one is from
    # before the kill, which only the saved early-stopping state knows.
    metrics = training.train(config, extra_callbacks=[_Spoil(3)])
    validation = metrics["validation"]
    assert metrics["epochs_run_this_session"] == 2
    assert validation["stopped_early"] and validation["epochs_trained"] == 5
    assert validation["best_epoch"] <= 3 and validation["accuracy"] > 0.5
    assert _validation_accuracy(tmp_path / "r") == pytest.approx(validation["accuracy"], abs=1e-6)
    # The learning-rate schedule went on where it stopped: 5 epochs of 5 steps.
    optimizer = keras.models.load_model(tmp_path / "r" / "model.keras").optimizer
    assert int(optimizer.iterations) == 25
    assert float(optimizer.learning_rate) == pytest.approx(0.05 * 0.95**5, rel=1e-5)


def test_a_choice_on_the_edge_of_its_range_is_named(tmp_path):
    config = _paper(tmp_path, epochs=1, method="rer")
    chosen = {"learning_rate": 0.3, "momentum": 0.5, "input_dropout": 0.07, "dropout": 0.0}
    # The largest learning rate and the smallest momentum searched: the best
    # may lie beyond them. No dropout is a limit of the setting, not of the range.
    assert tuning.at_edge(chosen, config) == [
        "learning_rate 0.3 (top of 0.001-0.3)",
        "momentum 0.5 (bottom of 0.5-0.99)",
    ]
    inside = {**chosen, "learning_rate": 0.07, "momentum": 0.76, "dropout": 0.7}
    assert tuning.at_edge(inside, config) == ["dropout 0.7 (top of 0-0.7)"]


def test_tuning_writes_hparams_resumes_and_train_reuses_them(tmp_path):
    out = tmp_path / "tuned"
    config = _paper(out, epochs=1, method="dense")
    first = tuning.tune(config, trials=2)
    assert (first["trials"], first["trials_run_this_session"]) == (2, 2)
    saved = json.loads((out / "hparams.json").read_text())
    assert set(saved["settings"]) == {"learning_rate", "momentum", "input_dropout", "dropout"}
    assert 0.001 <= saved["settings"]["learning_rate"] <= 0.3
    assert saved["validation_accuracy"] == first["validation_accuracy"]
    assert saved["at_edge"] == tuning.at_edge(saved["settings"], config)
    # The first trial is the run's own (the recipe's) values; the second is drawn.
    trials = sorted((out / "tuning").glob("trial_*/trial.json"))
    values = [json.loads(t.read_text())["hyperparameters"]["values"] for t in trials]
    assert values[0] == {name: getattr(config, name) for name in saved["settings"]}
    assert values[1] != values[0]
    # Again, in a fresh process: the finished trials are read back, none rerun,
    # then the final model is trained with the chosen settings.
    result = _run_cli(
        "--recipe", "paper", "--method", "dense", "--dataset", "digits", "--limit", str(LIMIT),
        "--epochs", "1", "--tune", "2", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 trial(s), 0 run now" in result.stdout
    assert json.loads((out / "hparams.json").read_text())["settings"] == saved["settings"]
    final = json.loads((out / "metrics.json").read_text())["config"]
    assert {k: final[k] for k in saved["settings"]} == saved["settings"]
    # A search of another run in the same directory is refused, not mixed in.
    with pytest.raises(tuning.TuningError, match="--method 'dense' there, 'hashed' now"):
        tuning.tune(_paper(out, epochs=1, method="hashed"), trials=2)
    # --hparams: the recipe and the tuned settings, a flag given still wins.
    result = _run_cli(
        "--hparams", str(out / "hparams.json"), "--method", "dense", "--dataset", "digits",
        "--limit", str(LIMIT), "--epochs", "1", "--dropout", "0.1", "--out", str(tmp_path / "re"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    reused = json.loads((tmp_path / "re" / "metrics.json").read_text())["config"]
    assert reused["recipe"] == "paper" and reused["dropout"] == 0.1
    assert (reused["optimizer"], reused["validation_split"], reused["epochs"]) == ("sgd", 0.2, 1)
    assert reused["learning_rate"] == saved["settings"]["learning_rate"]
    assert reused["momentum"] == saved["settings"]["momentum"]
    # Reused for the task it was tuned for: no warning; for another task: one line.
    assert "warning" not in result.stderr
    hparams = out / "hparams.json"
    other = tuning.transfer_warning(hparams, _paper(out, method="hashed"))
    assert "--method 'dense' there, 'hashed' now" in other
    assert tuning.transfer_warning(hparams, _paper(out, method="dense", seed=3, epochs=9)) is None


def test_tuning_a_distilled_run_searches_temperature_and_weight(tmp_path):
    config = _paper(tmp_path / "s", distill_from=str(tmp_path / "teacher.keras"))
    names = tuning.tuned_names(config)
    assert names[-2:] == ["temperature", "distill_weight"]
    space = tuning.search_space(training.TrainConfig.of_recipe("adam"))
    assert [hp.name for hp in space.space] == ["learning_rate", "input_dropout", "dropout"]


def test_tuning_leaves_half_the_budget_to_the_gaussian_process():
    # KerasTuner's default (3 random trials per setting) would make a 10-trial
    # search of 6 settings a random search; a large budget keeps the default.
    assert tuning.initial_points(dimensions=6, trials=10) == 5
    assert tuning.initial_points(dimensions=4, trials=100) == 12
    assert tuning.initial_points(dimensions=4, trials=2) == 2
    # A value outside a range widens it rather than failing the search.
    space = tuning.search_space(training.TrainConfig.of_recipe("paper", dropout=0.8))
    dropout = next(hp for hp in space.space if hp.name == "dropout")
    assert (dropout.min_value, dropout.max_value, dropout.default) == (0.0, 0.8, 0.8)


def test_cli_tune_without_a_validation_split_is_a_flag_error(tmp_path):
    result = _run_cli("--tune", "2", "--limit", "100", "--out", str(tmp_path / "t"))
    assert result.returncode != 0
    assert "--tune needs a validation split" in result.stderr
