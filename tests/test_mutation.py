"""The whole-file mutation test (``benchmarks.tflite_mutation``) and its parts.

* The mutators: deterministic per (seed, index); each family changes what it
  says it changes; the structure used by the silent-wrong-result check; the
  class 1-2 properties.
* The runner: real worker processes; a crash and a hang are told apart from a
  clean error, and a fresh worker carries on.
* The CI slice: a fixed seed and count over every operator, shared dtype and
  family, loaded in child processes through our loading path
  (``hashed_keras.lite.Interpreter``) and through the bare delegate: no crash,
  no hang, no silent wrong result.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from benchmarks import tflite_mutation
from benchmarks.mutation import mutators, runner, seeds
from benchmarks.mutation.fields import field_locations

SLICE_SEED = 0
SLICE_COUNT = 440  # 4 blocks of every (seed file, family) pair


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mutation_seeds")
    seeds.build_seeds(folder, seeds.seed_names(), log=lambda *_: None)
    return folder


@pytest.fixture(scope="module")
def seed_files(seed_dir):
    return {name: (seed_dir / f"{name}.tflite").read_bytes() for name in seeds.seed_names()}


def test_seeds_cover_every_operator_and_dtype(seed_files):
    found = set()
    for name, content in seed_files.items():
        model = mutators.read(content)
        ops = {mutators.op_name(model, op) for op in model.subgraphs[0].operators}
        found |= {(op, name.split("-")[2]) for op in ops if op in mutators.OUR_OPS}
    assert found == {(op, dtype) for op in mutators.OUR_OPS for dtype in ("float32", "int8")}


def test_same_seed_and_index_give_the_same_bytes(seed_files):
    for index in range(0, 200, 7):
        a = mutators.mutate(seed_files, 3, index)
        b = mutators.mutate(seed_files, 3, index)
        assert a.content == b.content and a.edits == b.edits
        assert a.content != seed_files[a.seed_name], (index, a.description)
    assert mutators.mutate(seed_files, 3, 5).content != mutators.mutate(seed_files, 4, 5).content


def _parts(content):
    """The model's parts, to see which ones a mutant changed."""
    model = mutators.read(content)
    sg = model.subgraphs[0]
    tensors = [
        (
            tuple(mutators._ints(t.shape)),
            t.type,
            t.buffer,
            bool(t.isVariable),
            None
            if t.quantization is None
            else (
                tuple(mutators._ints(t.quantization.zeroPoint)),
                None
                if t.quantization.scale is None
                else tuple(float(s) for s in t.quantization.scale),
                t.quantization.quantizedDimension,
            ),
        )
        for t in sg.tensors
    ]
    operators = [
        (
            op.opcodeIndex,
            mutators._ints(op.inputs),
            mutators._ints(op.outputs),
            op.customOptionsFormat,
            op.builtinOptionsType,
        )
        for op in sg.operators
    ]
    options = [None if op.customOptions is None else bytes(op.customOptions) for op in sg.operators]
    codes = [
        (c.builtinCode, c.deprecatedBuiltinCode, mutators._custom(c), c.version)
        for c in model.operatorCodes
    ]
    buffers = [
        (None if b.data is None else bytes(np.asarray(b.data, np.uint8)), b.offset, b.size)
        for b in model.buffers
    ]
    return {
        "tensors": repr(tensors),
        "operators": repr(operators),
        "options": options,
        "codes": codes,
        "buffers": buffers,
        "io": (mutators._ints(sg.inputs), mutators._ints(sg.outputs)),
    }


ALLOWED = {
    "options": {"options"},
    "options_bytes": {"options"},
    "tensor": {"tensors"},
    "buffer": {"buffers"},
    "operator": {"operators", "options"},
    "opcode": {"codes"},
    "graph_io": {"io"},
    "values": {"options", "buffers", "tensors"},
    "bomb": {"options", "buffers", "tensors"},
}


@pytest.mark.parametrize("family", sorted(ALLOWED))
def test_each_schema_family_changes_only_its_part(seed_files, family):
    names = list(seed_files)
    changed_any = set()
    for block in range(3):
        for k, name in enumerate(names):
            index = (block * len(mutators.FAMILIES) + mutators.FAMILIES.index(family)) * len(
                names
            ) + k
            mutant = mutators.mutate(seed_files, 11, index)
            assert mutant.family == family and mutant.seed_name == name
            before, after = _parts(seed_files[name]), _parts(mutant.content)
            changed = {part for part in before if before[part] != after[part]}
            if family == "operator" and "removed" in mutant.description:
                changed -= {"options"}  # the list is shorter
            assert changed, (index, mutant.description)
            assert changed <= ALLOWED[family], (index, mutant.description, changed)
            changed_any |= changed
    assert changed_any  # pragma: the family did something


def test_options_edits_change_the_option_they_name(seed_files):
    names = list(seed_files)
    checked = 0
    for index in range(0, 600):
        if index // len(names) % len(mutators.FAMILIES) != 0:
            continue
        mutant = mutators.mutate(seed_files, 5, index)
        if len(mutant.edits) != 1 or " option '" not in mutant.edits[0]:
            continue
        op_index = int(mutant.edits[0].split()[1])
        key = mutant.edits[0].split("option '")[1].split("'")[0]
        before = mutators.decode(
            mutators.read(seed_files[mutant.seed_name])
            .subgraphs[0]
            .operators[op_index]
            .customOptions
        )
        after = mutators.decode(
            mutators.read(mutant.content).subgraphs[0].operators[op_index].customOptions
        )
        assert repr(before.get(key, "absent")) != repr(after.get(key, "absent")), mutant.description
        assert {k: v for k, v in before.items() if k != key} == {
            k: v for k, v in after.items() if k != key
        }, mutant.description
        checked += 1
    assert checked >= 5


def test_byte_and_field_families_edit_what_they_say(seed_files):
    names = list(seed_files)
    for block in range(4):
        for family in ("bytes", "fields"):
            for k, name in enumerate(names):
                index = (block * len(mutators.FAMILIES) + mutators.FAMILIES.index(family)) * len(
                    names
                ) + k
                mutant = mutators.mutate(seed_files, 2, index)
                seed = seed_files[name]
                if "truncated" in mutant.description:
                    assert seed.startswith(mutant.content) and len(mutant.content) < len(seed)
                    continue
                assert len(mutant.content) == len(seed)
                differ = [i for i in range(len(seed)) if seed[i] != mutant.content[i]]
                if family == "bytes":
                    assert 1 <= len(differ) <= 8, mutant.description
                    assert all(f"{i}:" in mutant.description for i in differ)
                else:  # each in-place edit is one field of at most 8 bytes
                    positions = {f.where: f for f in field_locations(seed)}
                    edited = [
                        positions[e.rsplit(" ", 6)[0]]
                        for e in mutant.edits
                        if e.rsplit(" ", 6)[0] in positions
                    ]
                    assert edited, mutant.description
                    covered = {
                        p for f in edited for p in range(f.pos, f.pos + struct.calcsize(f.fmt))
                    }
                    assert set(differ) <= covered, (mutant.description, differ)


def test_out_of_line_buffers_are_valid_or_broken_as_described(seed_files):
    rng = mutators.mutant_rng(0, 0)
    name = "hashed-mlp-float32"
    for _ in range(30):
        model = mutators.read(seed_files[name])
        content, desc = mutators.out_of_line(seed_files[name], model, rng)
        moved = mutators.read(content)
        offline = [b for b in moved.buffers if b.offset > 1 or b.size > 0]
        assert len(offline) == 1 and offline[0].data is None
        inside = offline[0].offset + offline[0].size <= len(content)
        if "(valid)" in desc:
            assert inside and mutators.class12(content) is None
        if "2^64" in desc or "past the end" in desc or "file cut" in desc:
            assert mutators.class12(content) is not None, desc


def test_structure_ignores_values_and_sees_shapes_and_wiring(seed_files):
    name = "hashed-mlp-float32"
    content = seed_files[name]
    base = mutators.structure(content)
    assert base is not None

    def with_options(change):
        model = mutators.read(content)
        index, op, _ = mutators._ours(model)[0]
        options = mutators.decode(op.customOptions)
        change(options)
        mutators._set_options(op, mutators.encode(options))
        return mutators.write(model)

    assert mutators.structure(with_options(lambda o: o.update(seed=99))) == base
    assert mutators.structure(with_options(lambda o: o.update(seed=2**32))) != base
    assert mutators.structure(with_options(lambda o: o.update(buckets=3))) != base
    assert mutators.structure(with_options(lambda o: o.update(layout="ohwi"))) != base
    # Values of the buckets: the same structure.
    model = mutators.read(content)
    _, op, _ = mutators._ours(model)[0]
    buffer = model.buffers[model.subgraphs[0].tensors[int(op.inputs[0])].buffer]
    buffer.data = np.zeros_like(buffer.data)
    assert mutators.structure(mutators.write(model)) == base
    # The consumer of our output rewired: a different structure.
    model = mutators.read(content)
    _, op, _ = mutators._ours(model)[0]
    out = int(op.outputs[0])
    for other in model.subgraphs[0].operators:
        if out in mutators._ints(other.inputs):
            other.inputs = np.array([0 if t == out else t for t in other.inputs], np.int32)
    assert mutators.structure(mutators.write(model)) != base
    assert mutators.structure(b"not a model") is None


def test_class12_finds_a_constant_graph_input(seed_files):
    content = seed_files["smh-cnn-int8"]
    assert mutators.class12(content) is None
    model = mutators.read(content)
    constant = mutators._constant_tensors(model)[0]
    model.subgraphs[0].inputs = np.array([0, constant], np.int32)
    assert "class 1" in mutators.class12(mutators.write(model))


def test_runner_tells_ok_error_crash_and_hang_apart(seed_dir, tmp_path):
    good = str(seed_dir / "hashed-mlp-float32.tflite")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer at all")
    env = runner.worker_env(memory_mb=4096)
    with runner.Pool(2, 8.0, tmp_path / "logs", env) as pool:
        jobs = [
            runner.Job(good, "bare", "ok"),
            runner.Job(str(bad), "bare", "error"),
            runner.Job(good, "_crash", "crash"),
            runner.Job(good, "_hang", "hang"),
            runner.Job(good, "stock", "stock"),
            runner.Job(good, "bare", "after"),
            runner.Job(good, "bare", "fresh", fresh=True),
        ]
        done = {job.tag: job for job in pool.run_all(jobs)}
        assert pool.ready_info["keras_loaded"] is False  # workers stay TF-free
    assert done["ok"].outcome == "ok" and done["after"].outcome == "ok"
    assert done["fresh"].outcome == "ok" and pool.started_workers >= 4
    assert done["error"].outcome == "error" and done["error"].result["stage"] == "load"
    assert done["crash"].outcome == "crash" and "SIGSEGV" in done["crash"].result["message"]
    assert done["hang"].outcome == "hang" and 8 <= done["hang"].seconds < 30
    assert done["stock"].outcome == "error"
    assert "unresolved custom op" in done["stock"].result["message"]


def _slice(seed_dir, tmp_path, routes, weights="rebuilt"):
    campaign = tflite_mutation.Campaign(
        count=SLICE_COUNT,
        seed=SLICE_SEED,
        routes=routes,
        timeout=10.0,
        workers=2,
        out=tmp_path / "out",
        seeds_dir=seed_dir,
        log=lambda *_: None,
        weights=weights,
    )
    return campaign.run()


def _report(summary, route):
    lines = [
        f"{f['route']} {f['outcome']} #{f['index']} {f['seed']} {f['family']}: "
        f"{f['description'][:150]} -> {f['message'][:80]} (verifier "
        f"{f.get('verify_code')}, stock alone {f.get('stock', '?')[:30]}, dense twin "
        f"{f.get('dense_twin')}) {f.get('sanitizer', '')[:200]}"
        for f in summary["findings"]
        if f["route"] == route and not (route == "bare" and f["excused_on_bare"])
    ]
    lines += [
        f"{s['route']} SILENT #{s['index']} {s['seed']}: {s['description'][:150]}"
        for s in summary["silent"]
        if s["route"] == route
    ]
    return "\n".join(lines)


@pytest.mark.parametrize("weights", ["rebuilt", "on_the_fly"])
def test_ci_slice_never_crashes_or_hangs_our_loading_path(seed_dir, tmp_path, weights):
    summary = _slice(seed_dir, tmp_path, ("ours",), weights)
    assert summary["weights"] == weights
    table = summary["table"]["ours"]
    assert table["all"]["mutants"] == SLICE_COUNT
    assert all(
        table[f].get("mutants", 0) == SLICE_COUNT // len(mutators.FAMILIES)
        for f in mutators.FAMILIES
    )
    # Valid models (other seeds, values, K with buckets to match) are never refused.
    assert table["values"].get("ok", 0) == table["values"]["mutants"], table["values"]
    failures = summary["failures"]
    assert (
        failures["ours_crashes"] == 0
        and failures["ours_hangs"] == 0
        and failures["ours_silent"] == 0
    ), _report(summary, "ours")


def test_ci_slice_bare_delegate_crashes_only_on_class_1_2_files(seed_dir, tmp_path):
    summary = _slice(seed_dir, tmp_path, ("bare",))
    assert summary["failures"]["bare_unexcused"] == 0, _report(summary, "bare")


def test_dense_twin_replaces_our_operators_by_constants(seed_files, tmp_path):
    content = seed_files["smh-cnn-int8"]
    twin = mutators.dense_twin(content)
    model, seed = mutators.read(twin), mutators.read(content)
    assert not mutators._ours(model)
    assert len(model.subgraphs[0].operators) == len(seed.subgraphs[0].operators) - len(
        mutators._ours(seed)
    )
    path = tmp_path / "twin.tflite"
    path.write_bytes(twin)
    with runner.Pool(1, 20.0, tmp_path / "logs", runner.worker_env()) as pool:
        (job,) = pool.run_all([runner.Job(str(path), "stock", "twin", outputs=True)])
    assert job.outcome == "ok" and job.result["outputs"][0][1] == [1, 10]
    assert mutators.dense_twin(b"garbage") is None


def test_the_command_builds_seeds_and_runs_without_runtime_chatter(tmp_path):
    """As a user runs it, with no seeds cached: the seeds are converted and
    run (LiteRT prints "Created TensorFlow Lite XNNPACK delegate" as it does,
    Keras may warn of retracing); none of it reaches the terminal."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.tflite_mutation", "--count", "2", "--workers", "1"]
        + ["--operators", "hashed", "--shared_dtypes", "float32"]
        + ["--seeds_dir", str(tmp_path / "seeds"), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tflite_mutation.ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "seed hashed-mlp-float32:" in result.stdout
    assert result.stderr == ""
