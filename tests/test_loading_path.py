"""Every loader of ours verifies a file before the runtime sees it (issue 11).

The route users take: ``lite.Interpreter`` / ``make_interpreter`` and the
``pipelines`` commands. Mutants run in child processes, so a regression shows
up as a failed assertion, not a crashed test run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cli
import keras
import numpy as np
import pytest

from hashed_keras import lite
from hashed_keras.layers import HashedDense
from hashed_keras.lite import flatbuffer
from hashed_keras.lite.verify import InvalidModelError

ROOT = Path(__file__).resolve().parents[1]
VIRTUAL_WEIGHTS = 16 * 24 + 24 * 3  # the two HashedDense kernels below


@pytest.fixture(scope="module")
def hashed_file(tmp_path_factory):
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((16,)),
            HashedDense(24, compression=1 / 4, activation="relu", name="d1"),
            HashedDense(3, compression=1 / 2, activation="softmax", name="d2"),
        ]
    )
    path = tmp_path_factory.mktemp("loading") / "m.tflite"
    lite.convert(model, path)
    return path


def _constant_as_graph_input(content: bytes) -> bytes:
    """Class 1 of issue 11: a constant (the buckets) listed as a graph input."""
    model = flatbuffer.read(content)
    sg = model.subgraphs[0]
    buckets = next(i for i, t in enumerate(sg.tensors) if flatbuffer.buffer_bytes(model, t) > 0)
    sg.inputs = np.append(sg.inputs, buckets).astype(np.int32)
    return flatbuffer.write(model)


def _run_child(code: str, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def test_interpreter_refuses_a_constant_graph_input_before_the_runtime(hashed_file, tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(_constant_as_graph_input(hashed_file.read_bytes()))
    child = _run_child(f"""
        import numpy as np
        from hashed_keras import lite
        from hashed_keras.lite.verify import InvalidModelError
        try:
            interpreter = lite.Interpreter({str(bad)!r})
        except InvalidModelError as error:
            print("REFUSED", error.code, str(error))
        else:
            print("LOADED")
    """)
    assert child.returncode == 0, child.stderr[-2000:]
    line = child.stdout.strip().splitlines()[-1]
    assert line.startswith("REFUSED"), child.stdout
    assert "input" in line and "\n" not in line.split(" ", 2)[2]


def test_verify_false_is_an_explicit_opt_out(hashed_file, tmp_path):
    content = hashed_file.read_bytes()
    lite.Interpreter(model_content=content).allocate_tensors()  # valid: loads
    mutated = _constant_as_graph_input(content)
    with pytest.raises(InvalidModelError):
        lite.make_interpreter(model_content=mutated)
    # Opting out hands the file to the runtime as it is (construction only:
    # set_tensor on that constant is what crashes a stock runtime).
    lite.make_interpreter(model_content=mutated, verify=False)


def test_limits_are_enforced_by_the_verifier_and_by_the_kernels(hashed_file):
    content = hashed_file.read_bytes()
    small = VIRTUAL_WEIGHTS - 1
    with pytest.raises(InvalidModelError, match="max_virtual_weights"):
        lite.Interpreter(model_content=content, max_virtual_weights=small)
    # Without the verifier, the delegate refuses the same file itself.
    interpreter = lite.Interpreter(model_content=content, max_virtual_weights=small, verify=False)
    with pytest.raises(RuntimeError, match="max_virtual_weights"):
        interpreter.allocate_tensors()
    # Raised to exactly what the model needs, it runs.
    interpreter = lite.Interpreter(model_content=content, max_virtual_weights=VIRTUAL_WEIGHTS)
    interpreter.allocate_tensors()
    interpreter.set_tensor(
        interpreter.get_input_details()[0]["index"], np.ones((1, 16), np.float32)
    )
    interpreter.invoke()
    with pytest.raises(ValueError, match="positive int"):
        lite.Interpreter(model_content=content, max_rebuild_bytes=0)


def _pipeline(*args):
    return cli.run(*args, timeout=300)


@pytest.mark.parametrize(
    "content", [b"", b"\x00" * 7, os.urandom(4096)], ids=["empty", "short", "random"]
)
def test_inspect_refuses_invalid_files_with_one_line(tmp_path, content):
    path = tmp_path / "x.tflite"
    path.write_bytes(content)
    result = _pipeline("pipelines.inspect", str(path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}:"), result.stderr
    assert "Traceback" not in result.stderr


def test_inspect_and_evaluate_name_a_missing_or_truncated_file(hashed_file, tmp_path):
    missing = _pipeline("pipelines.inspect", str(tmp_path / "nope.tflite"))
    assert missing.returncode == 1 and "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
    truncated = tmp_path / "t.tflite"
    truncated.write_bytes(hashed_file.read_bytes()[:-100])
    result = _pipeline("pipelines.evaluate", "--tflite", str(truncated), "--limit", "10")
    assert result.returncode == 1, result.stdout[-1000:]
    assert f"error: {truncated}:" in result.stderr and "Traceback" not in result.stderr


def test_inspect_shows_a_valid_file(hashed_file):
    result = _pipeline("pipelines.inspect", str(hashed_file), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    info = json.loads(result.stdout)
    ops = [op["op"] for op in info["subgraphs"][0]["operators"]]
    assert ops.count("HashedWeights") == 2


def test_converted_files_honour_the_umask(hashed_file, tmp_path):
    old = os.umask(0o022)
    try:
        model = keras.Sequential([keras.Input((4,)), HashedDense(3, compression=1 / 2, name="d")])
        lite.convert(model, tmp_path / "u.tflite")
    finally:
        os.umask(old)
    assert (tmp_path / "u.tflite").stat().st_mode & 0o777 == 0o644
    assert not list(tmp_path.glob("*.tmp"))
