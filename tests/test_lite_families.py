"""The .tflite round trip that every layer family shares, parameterised over them.

For each family of tests/lite_families.py: ``lite.convert`` verifies the file
against Keras; the file runs to the Keras outputs in ai_edge_litert, tf.lite and
tflite_runtime 2.14 (a venv of its own); and each corruption of the family's
operator options fails ``allocate_tensors()`` with a message naming the node
and the problem. What only one family stores is tested in its own file.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from flatbuffers import flexbuffers
from lite_families import FAMILIES
from test_kernels import _assert_close, _interpreter, _run, _run_subprocess, _tflite214_python

from hashed_keras import lite
from hashed_keras.lite import flatbuffer, ops


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def converted(request, tmp_path_factory):
    family = FAMILIES[request.param]
    model = family.build()
    path = tmp_path_factory.mktemp(request.param) / "model.tflite"
    report = lite.convert(model, path, num_samples=4)
    shape = (3, *model.input_shape[1:])
    x = np.random.default_rng(5).random(shape, dtype=np.float32)
    return family, path, report, x, model.predict(x, verbose=0)


def test_convert_verifies_and_respects_the_size_bound(converted):
    family, path, report, _, _ = converted
    assert report.max_relative_error <= 1e-5
    assert report.file_bytes == path.stat().st_size <= report.size_bound_bytes
    model = flatbuffer.read(path.read_bytes())
    names = [flatbuffer.opcode_name(model, op.opcodeIndex) for op in model.subgraphs[0].operators]
    assert family.op_name in names


@pytest.mark.parametrize("runtime", ["ai_edge_litert", "tf.lite"])
def test_in_process_runtimes_match_keras(converted, runtime):
    _, path, _, x, y = converted
    _assert_close(_run(_interpreter(runtime, path.read_bytes()), x), y)


def test_public_interpreter_matches_keras(converted):
    _, path, _, x, y = converted
    interpreter = lite.Interpreter(str(path), num_threads=1)
    _assert_close(_run(interpreter, x), y)


def test_tflite_runtime_214_matches_keras(converted, tmp_path):
    _, path, _, x, y = converted
    python = _tflite214_python()
    (tmp_path / "good.tflite").write_bytes(path.read_bytes())
    np.save(tmp_path / "x.npy", x)
    lines, _ = _run_subprocess(python, "tflite_runtime", tmp_path, ["good"])
    assert lines["good"] == "OK"
    _assert_close(np.load(tmp_path / "good.out.npy"), y)


def corrupted(content: bytes, change, op_name) -> bytes:
    """``content`` with ``change(options)`` applied to the first ``op_name`` op."""
    model = flatbuffer.read(content)
    for op in model.subgraphs[0].operators:
        if flatbuffer.opcode_name(model, op.opcodeIndex) == op_name:
            options = ops.decode_options(bytes(op.customOptions))
            op.customOptions = np.frombuffer(bytes(flexbuffers.Dumps(change(options))), np.uint8)
            break
    return flatbuffer.write(model)


def test_corrupted_options_fail_allocate_tensors(converted, tmp_path):
    family, path, _, x, _ = converted
    for name, change, _ in family.corruptions:
        (tmp_path / f"{name}.tflite").write_bytes(
            corrupted(path.read_bytes(), change, family.op_name)
        )
    np.save(tmp_path / "x.npy", x)
    names = [name for name, _, _ in family.corruptions]
    lines, _ = _run_subprocess(sys.executable, "ai_edge_litert", tmp_path, names)
    for name, _, expected in family.corruptions:
        line = lines[name]
        assert line.startswith("ERROR") and f"{family.op_name} node" in line, (name, line)
        assert expected in line, (name, line)
