"""The fixed-storage and byte-budget experiments, run as users run them (small).

Real training (digits, a few hundred examples, 1-2 epochs), real conversion
and interpreters; what is asserted is the experiments' logic: the fixed
storage holds while the virtual width grows, every chosen model fits its
budget, the choice is made on the validation split, and both resume.
"""

from __future__ import annotations

import json
import subprocess
import sys

import cli


def _run(module, *args, timeout=900):
    result = cli.run(module, *args, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_fixed_storage_inflates_the_virtual_layer_at_a_fixed_budget(tmp_path):
    args = [
        "--dataset=digits",
        "--limit=300",
        "--hidden=8",
        "--inflations=1,4",
        "--seeds=0,1",
        "--recipe=paper",
        "--epochs=2",
        f"--out={tmp_path}",
    ]
    _run("benchmarks.fixed_storage", *args)
    rows = json.loads((tmp_path / "results.json").read_text())
    by = {(r["inflation"], r["method"]): r for r in rows}
    assert set(by) == {(1, "hashed"), (1, "small_dense"), (4, "hashed"), (4, "small_dense")}
    assert by[1, "hashed"]["hidden_units"] == 8 and by[4, "hashed"]["hidden_units"] == 32
    for k in (1, 4):  # the same storage: the dense net stays ~8 units wide
        hashed, dense = by[k, "hashed"], by[k, "small_dense"]
        assert abs(dense["stored_size"] - hashed["stored_size"]) <= 0.15 * hashed["stored_size"]
        assert dense["hidden_units"] <= 9
        assert hashed["seeds"] == dense["seeds"] == 2
    # Stored size grows only by the hidden biases (32 - 8), not with the weights.
    assert by[4, "hashed"]["stored_size"] - by[1, "hashed"]["stored_size"] <= 32
    assert (tmp_path / "error_vs_inflation.png").stat().st_size > 0
    assert "| 4× | hashed | 32 |" in (tmp_path / "results.md").read_text()
    # One dense run per width and seed serves every inflation of that width.
    widths = {by[k, "small_dense"]["hidden_units"] for k in (1, 4)}
    assert len(list(tmp_path.glob("small_dense_*u_seed*"))) == 2 * len(widths)
    again = _run("benchmarks.fixed_storage", *args)  # resumed: nothing retrained
    assert f"all {4 + 2 * len(widths)} cells done before" in again
    # Run in parts, it reports as one: a command for one inflation keeps the
    # other's rows while they were made with the same flags, not otherwise.
    part = _run("benchmarks.fixed_storage", *args, "--inflations=4")
    assert f"results: 2 earlier row(s) of {tmp_path} kept" in part
    rows = json.loads((tmp_path / "results.json").read_text())
    assert {(r["inflation"], r["method"]) for r in rows} == set(by)
    assert "| 1× | hashed | 8 |" in (tmp_path / "results.md").read_text()
    other = _run("benchmarks.fixed_storage", *args, "--inflations=4", "--seeds=0")
    assert (
        f"results: 2 earlier row(s) of {tmp_path} left out, made with other settings "
        "(seeds ['0', '1'] -> ['0'])"
    ) in other
    rows = json.loads((tmp_path / "results.json").read_text())
    assert {(r["inflation"], r["seeds"]) for r in rows} == {(4, 1)}
    # A run that diverged (every weight NaN, its training record kept) is
    # left out with one line, and the grid goes on: its cell has one seed.
    import keras
    import numpy as np

    from hashed_keras import layers  # noqa: F401  (registers the layers for loading)

    run = tmp_path / "hashed_x4_seed1"
    model = keras.models.load_model(run / "model.keras")
    model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    model.save(run / "model.keras")
    (run / "tflite.json").unlink()
    diverged = _run("benchmarks.fixed_storage", *args)
    why = (
        "hashed_x4_seed1: training diverged (seed 1: weights not finite) at learning rate "
        "0.01, momentum 0.9: retrain it with a lower learning rate"
    )
    assert f"  left out: {why}\n" in diverged
    assert f"Left out (no file to deploy): {why}" in (tmp_path / "results.md").read_text()
    rows = json.loads((tmp_path / "results.json").read_text())
    assert [r["seeds"] for r in rows if (r["inflation"], r["method"]) == (4, "hashed")] == [1]


def test_byte_budget_chooses_on_validation_within_the_budget(tmp_path):
    args = [
        "--dataset=digits",
        "--limit=300",
        "--budgets=8192",
        "--methods=dense,hashed",
        "--hidden=64,256",
        "--seeds=0,1",
        "--epochs=1",
        f"--out={tmp_path}",
    ]
    _run("benchmarks.byte_budget", *args)
    rows = json.loads((tmp_path / "results.json").read_text())
    assert {r["method"] for r in rows} == {"dense", "hashed"}
    runs = {p.parent.name: json.loads(p.read_text()) for p in tmp_path.glob("runs/*/budget.json")}
    for row in rows:
        assert row["file_bytes"] <= row["budget"] == 8192
        assert row["seeds"] == 2
        pool = {n: r for n, r in runs.items() if f"_{row['method']}_" in n and n.endswith("seed0")}
        assert len(pool) == row["candidates"]  # dense: 2 weight types; hashed: x 2 widths
        assert row["validation_accuracy"] == max(r["validation_accuracy"] for r in pool.values())
    # Every trained candidate fits (sized on the route a trained model takes).
    assert all(r["file_bytes"] <= 8192 for r in runs.values())
    sizing = json.loads((tmp_path / "sizing.json").read_text())
    assert (
        sizing["b8192_hashed_int8_h256"]["compression"]
        > (sizing["b8192_hashed_float32_h256"]["compression"])
    )  # int8 buckets: more of them in the same bytes
    assert (tmp_path / "accuracy_vs_budget.png").stat().st_size > 0
    before = {p: p.stat().st_mtime for p in tmp_path.glob("runs/*/model.keras")}
    # An entry of the first sizer (no "sizer" key; it gave up on candidates
    # that fit) is sized again, not trusted; sizing is deterministic, so the
    # candidate comes back the same and its runs are reused.
    stale = {k: v for k, v in sizing["b8192_hashed_int8_h256"].items() if k != "sizer"}
    (tmp_path / "sizing.json").write_text(
        json.dumps({**sizing, "b8192_hashed_int8_h256": {**stale, "fits": False}})
    )
    out = _run("benchmarks.byte_budget", *args)  # resumed: nothing retrained
    assert "b8192_hashed_int8_h256: sized by another sizer, sizing again" in out
    assert json.loads((tmp_path / "sizing.json").read_text()) == sizing
    assert before == {p: p.stat().st_mtime for p in tmp_path.glob("runs/*/model.keras")}
    # A candidate whose training diverged (NaN weights) is reported and passed
    # over; the run goes on and the other candidates are still chosen from.
    diverged = tmp_path / "runs" / "b8192_hashed_float32_h64_seed0"
    _nan_weights(diverged / "model.keras")
    (diverged / "budget.json").unlink()
    out = _run("benchmarks.byte_budget", *args)
    assert "b8192_hashed_float32_h64: not a choice, " in out and "training diverged" in out
    chosen = {r["method"]: r for r in json.loads((tmp_path / "results.json").read_text())}
    assert set(chosen) == {"dense", "hashed"}
    assert (chosen["hashed"]["dtype"], chosen["hashed"]["hidden_units"]) != ("float32", 64)
    # A grid run in parts reports as one: a command for one method keeps the
    # earlier rows (same settings) of the methods it did not run. A refusal
    # on record (an older converter's) is not trusted: the file is converted again.
    refused = tmp_path / "runs" / "b8192_hashed_int8_h256_seed0" / "budget.json"
    scores = refused.read_text()
    refused.write_text(json.dumps({"error": "an older converter refused it"}))
    out = _run(
        "benchmarks.byte_budget",
        *[a for a in args if a != "--methods=dense,hashed"],
        "--methods=hashed",
    )
    assert f"results: 1 earlier row(s) of {tmp_path} kept" in out
    assert "older converter" not in out and json.loads(refused.read_text()) == json.loads(scores)
    assert json.loads((tmp_path / "results.json").read_text()) == list(chosen.values())
    assert "| 8 KiB | dense |" in (tmp_path / "results.md").read_text()
    # Other settings: the runs are retrained and rescored, not reused.
    longer = [a for a in args if not a.startswith(("--epochs", "--methods"))]
    out = _run("benchmarks.byte_budget", *longer, "--epochs=2", "--methods=dense")
    retrained = [line for line in out.splitlines() if line.startswith("  retraining ")]
    assert len(retrained) >= 2 and all("epochs 1 -> 2" in line for line in retrained)
    for run in tmp_path.glob("runs/b8192_dense_*_seed0"):  # both candidates
        assert json.loads((run / "metrics.json").read_text())["config"]["epochs"] == 2
        assert (run / "budget.json").stat().st_mtime > (run / "metrics.json").stat().st_mtime
    # ... but not the rows made with other settings (here the 1-epoch hashed one).
    assert "results: 1 earlier row(s) of" in out and "other settings (epochs 1 -> 2)" in out
    assert {r["method"] for r in json.loads((tmp_path / "results.json").read_text())} == {"dense"}
    # A results.json cut short costs its rows, not the command's: it is rewritten.
    (tmp_path / "results.json").write_text('[{"budget": 8192, "method": "smh"')
    out = _run("benchmarks.byte_budget", *longer, "--epochs=2", "--methods=dense")
    assert "results.json is not JSON" in out and "its rows left out" in out
    assert {r["method"] for r in json.loads((tmp_path / "results.json").read_text())} == {"dense"}


def _nan_weights(path):
    """Rewrites a saved model with its weights NaN, as a diverged training leaves them."""
    code = (
        "import sys, keras, numpy as np\n"
        "import hashed_keras.layers\n"
        "m = keras.models.load_model(sys.argv[1], compile=False)\n"
        "m.set_weights([np.full_like(w, np.nan) for w in m.get_weights()])\n"
        "m.save(sys.argv[1])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], cwd=cli.ROOT, check=True, timeout=300)


def test_small_budgets_and_narrow_nets_are_sized_not_given_up():
    # On the digits (64 inputs). 4 KiB: a dense net of a few hidden units
    # (each ~300 B; the sizer once started at 16 units and said no dense net
    # fits). An SMH net 16 units wide: its smallest model (2n + L = 72 stored
    # values) is 6% of its 1,210 weights, more than the 1/256 and 1/32 the
    # sizer once probed (it said nothing fits); it fits 4 KiB at a larger
    # compression, and in 16 KiB the whole net fits.
    code = (
        "import pathlib, tempfile\n"
        "from absl import flags\n"
        "from benchmarks import byte_budget as b\n"
        "flags.FLAGS(['x', '--dataset=digits'])\n"
        "for args in [('dense', 'float32', 1000, 4096), ('smh', 'float32', 16, 4096),\n"
        "             ('smh', 'float32', 16, 16384)]:\n"
        "    c = b.Candidate(*args)\n"
        "    with tempfile.TemporaryDirectory() as d:\n"
        "        fits = b.size(c, b._dataset(0), pathlib.Path(d))\n"
        "    print('SIZED', fits, c.hidden, c.compression, c.file_bytes)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cli.ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sized = [line.split()[1:] for line in result.stdout.splitlines() if line.startswith("SIZED")]
    (fits, hidden, _, size), *smh = sized
    assert fits == "True" and 1 <= int(hidden) < 16 and int(size) <= 4096
    (fits, _, compression, size), (whole, _, all_of_it, whole_size) = smh
    assert fits == "True" and 1 / 32 < float(compression) < 1 and 3500 < int(size) <= 4096
    assert whole == "True" and float(all_of_it) == 1.0 and int(whole_size) <= 16384
