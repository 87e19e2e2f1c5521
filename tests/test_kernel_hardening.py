"""The kernels defend themselves (issue 11, classes 3-6), through the real runtime.

Hostile edits of real converted files, each loaded by ai_edge_litert with the
*bare* delegate (``load_delegate(library_path(), options)``, no verifier) in a
child process, so a crash shows as a signal instead of killing the test run:

* class 3: one of our operators' opcode switched to a builtin (keeping our
  name and options): the delegate takes only the others, the runtime refuses
  the builtin; a builtin whose count of inputs or outputs does not fit it
  (e.g. STRIDED_SLICE, which XNNPACK reads as 4 inputs unchecked) makes the
  delegate refuse the graph before XNNPACK visits it;
* class 4: an output of ours with constant data in the file, an output also
  written by another node or listed twice, an input that is an activation of
  the wrong shape, any node writing a constant of the file (the runtime would
  copy into it), and the converter's wiring (each input read by its node
  alone but SMH's one U and V, rebuilt weights read only as a filter or bias):
  one line naming the node and the tensor;
* class 5: decompression bombs (2^30 virtual weights from a 2 KB file, SMH
  with 2^29 weights or rank 1024): refused before anything is allocated,
  naming the figure, the limit and how to raise it; the limits set through
  the plugin options (and malformed values refused at creation);
* class 6: random byte flips of int8 FreshNets and SMH files: an error or a
  run, never a crash or a hang.

The C++ driver (``hashed_keras/lite/kernels/tests/kernel_test_driver.cc``)
covers the same checks on a fake runtime under ASan/UBSan.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from flatbuffers import flexbuffers

import hashed_keras
from hashed_keras import lite
from hashed_keras.layers import FreshConv2D, HashedDense
from hashed_keras.lite import flatbuffer, ops
from hashed_keras.lite.kernel_library import library_path

OURS = ("HashedWeights", "FreshWeights", "SMHWeights")

CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, load_delegate
    library, options, paths = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
    for path in paths:
        print("START", path, flush=True)
        try:
            delegate = load_delegate(library, options=options)
            interpreter = Interpreter(model_path=path, experimental_delegates=[delegate])
            interpreter.allocate_tensors()
            for detail in interpreter.get_input_details():
                interpreter.set_tensor(detail["index"],
                                       np.ones(detail["shape"], detail["dtype"]))
            interpreter.invoke()
            interpreter.invoke()
            print("OK", flush=True)
        except Exception as e:  # the clean refusal
            print("ERROR", type(e).__name__, str(e).replace("\\n", " | "), flush=True)
""")


def _run_child(paths, options=None, timeout=120, stderr=None):
    """[(path, "OK" | "ERROR ...")] of one child process; fails on a signal.
    `stderr` (a list) receives the child's stderr."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD, library_path(), json.dumps(options or {}), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    lines = [
        line for line in result.stdout.splitlines() if line.startswith(("START", "OK", "ERROR"))
    ]
    started = [line.split(" ", 1)[1] for line in lines if line.startswith("START")]
    assert result.returncode == 0, (
        f"child died with {result.returncode} on {started[-1] if started else '?'}",
        result.stderr[-2000:],
    )
    outcomes = [line for line in lines if not line.startswith("START")]
    assert len(outcomes) == len(paths), result.stdout
    if stderr is not None:
        stderr.append(result.stderr)
    return list(zip(paths, outcomes))


def _refused(path, options=None):
    """The one error a mutant gets (asserting it is an error, not a crash)."""
    [(_, outcome)] = _run_child([path], options)
    assert outcome.startswith("ERROR"), outcome
    return outcome


# ------------------------------------------------------------------ files


def _convert(model, path, **kwargs):
    lite.convert(model, path, num_samples=2, **kwargs)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hardening")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    x = HashedDense(8, compression=1 / 4, name="h1", activation="relu")(inputs)
    hashed = keras.Model(inputs, HashedDense(3, compression=1 / 4, name="h2")(x))
    inputs = keras.Input((6, 6, 2))
    x = FreshConv2D(4, 3, compression=1 / 4, padding="same", name="f1")(inputs)
    fresh = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(x)))
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inputs)
    dense = keras.Model(inputs, keras.layers.Dense(3, name="d")(keras.layers.Flatten()(x)))
    smh = hashed_keras.compress(dense, method="smh", fraction=0.4, seed=0)
    return {
        "hashed": _convert(hashed, folder / "hashed.tflite"),
        "fresh_int8": _convert(fresh, folder / "fresh_int8.tflite", shared_dtype="int8"),
        "smh": _convert(smh, folder / "smh.tflite"),
        "smh_int8": _convert(smh, folder / "smh_int8.tflite", shared_dtype="int8"),
        "folder": folder,
    }


def _our_ops(model):
    return [
        op
        for op in model.subgraphs[0].operators
        if flatbuffer.opcode_name(model, op.opcodeIndex) in OURS
    ]


def _tensor(model, index):
    return model.subgraphs[0].tensors[index]


def _set_options(op, **changes):
    options = {**ops.decode_options(bytes(op.customOptions)), **changes}
    op.customOptions = np.frombuffer(bytes(flexbuffers.Dumps(options)), np.uint8)


def _mutant(files, base, name, change):
    model = flatbuffer.read(files[base].read_bytes())
    change(model)
    path = files["folder"] / f"{base}.{name}.tflite"
    path.write_bytes(flatbuffer.write(model))
    return path


def _virtual_weights(files, base):
    """The file's virtual weights, from the options (as the kernels count)."""
    model = flatbuffer.read(files[base].read_bytes())
    total = 0
    for op in _our_ops(model):
        options = ops.decode_options(bytes(op.customOptions))
        total += int(np.prod(options["kernel_shape"]))
        if options.get("hash_bias") or "n" in options:
            total += options["bias_size"]
    return total


# ------------------------------------------------------------------ mutations


def _opcode_to_builtin(model, builtin=0):
    """The first of our ops gets an opcode of its own: builtin ADD, our name."""
    op = _our_ops(model)[0]
    code = type(model.operatorCodes[0])()
    code.builtinCode = code.deprecatedBuiltinCode = builtin
    code.customCode = model.operatorCodes[op.opcodeIndex].customCode
    code.version = 1
    model.operatorCodes.append(code)
    op.opcodeIndex = len(model.operatorCodes) - 1


def _output_is_file_constant(model):
    op = _our_ops(model)[0]
    tensor = _tensor(model, op.outputs[0])
    buffer = type(model.buffers[0])()
    buffer.data = np.zeros(int(np.prod(tensor.shape)) * 4, np.uint8)
    model.buffers.append(buffer)
    tensor.buffer = len(model.buffers) - 1


def _output_shared(model):
    first, second = _our_ops(model)[:2]
    second.outputs[0] = first.outputs[0]


def _output_twice(model):
    op = _our_ops(model)[0]
    op.outputs = np.array([op.outputs[0], op.outputs[0]], np.int32)


def _input_is_graph_input(model):
    _our_ops(model)[0].inputs[0] = model.subgraphs[0].inputs[0]


def _hashed_bomb(model):
    """2^30 virtual weights declared by a 2 KB file."""
    op = _our_ops(model)[0]
    _set_options(op, kernel_shape=[1048576, 1024])
    _tensor(model, op.outputs[0]).shape = np.array([1024, 1048576], np.int32)


def _smh_single(model, n, rank, kernel_shape):
    """Only the first SMHWeights node, with U and V of [rank, n]."""
    op = _our_ops(model)[0]
    _set_options(op, n=n, rank=rank, start=0, kernel_shape=kernel_shape, layout="fc", bias_size=0)
    op.outputs = np.array([op.outputs[0]], np.int32)
    _tensor(model, op.outputs[0]).shape = np.array(kernel_shape[::-1], np.int32)
    for i in (0, 1):
        tensor = _tensor(model, op.inputs[i])
        tensor.shape = np.array([rank, n], np.int32)
        dtype = np.float32 if tensor.type == 0 else np.int8
        model.buffers[tensor.buffer].data = np.frombuffer(
            np.ones(rank * n, dtype).tobytes(), np.uint8
        )
    model.subgraphs[0].operators = [op]
    model.subgraphs[0].outputs = np.array([op.outputs[0]], np.int32)


def _builtin_writes_buckets(model):
    """The last builtin operator writes our first operator's buckets (the
    runtime would copy its result into the file constant: a heap overflow)."""
    op = _our_ops(model)[0]
    builtin = [o for o in model.subgraphs[0].operators if o not in _our_ops(model)][-1]
    builtin.outputs = np.array([op.inputs[0]], np.int32)


def _smh_v_is_u(model):
    """The second SMHWeights node reads U as its V (shapes agree: a valid-looking
    graph that would run with other numbers)."""
    op = _our_ops(model)[1]
    op.inputs[1] = op.inputs[0]


def _weights_as_activation(model):
    """A FULLY_CONNECTED reads our rebuilt weights as its input x."""
    weights = _our_ops(model)[0].outputs[0]
    for op in model.subgraphs[0].operators:
        if weights in op.inputs and op not in _our_ops(model):
            op.inputs[0] = weights


def _reshape_output_int4(model):
    """RESHAPE's output retyped to INT4: the runtime copies the float32 input's
    bytes into the smaller INT4 tensor (a heap overflow)."""
    from ai_edge_litert import schema_py_generated as schema

    for op in model.subgraphs[0].operators:
        code = model.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.RESHAPE:
            _tensor(model, op.outputs[0]).type = schema.TensorType.INT4


CASES = {
    # name: (base, mutation, fragments of the message)
    "output_file_constant": (
        "smh",
        _output_is_file_constant,
        ["SMHWeights node 0", "output 0 (tensor", "is a constant of the model file"],
    ),
    "output_shared": (
        "hashed",
        _output_shared,
        ["HashedWeights node 0", "is also the output of another node"],
    ),
    "output_twice": (
        "fresh_int8",
        _output_twice,
        ["FreshWeights node 0", "output 1 is the same tensor as output 0"],
    ),
    "builtin_writes_constant": (
        "fresh_int8",
        _builtin_writes_buckets,
        ["writes output 0 (tensor", "a constant of the model file", "refusing the graph"],
    ),
    "smh_v_is_u": (
        "smh",
        _smh_v_is_u,
        [
            "SMHWeights node 1: input 1 (tensor",
            "is not the V of the graph's other SMHWeights nodes",
            "the graph would run with other numbers",
        ],
    ),
    "weights_as_activation": (
        "hashed",
        _weights_as_activation,
        ["HashedWeights node 0: output 0 (tensor", "is not read (only) as input 1 (filter)"],
    ),
    "reshape_output_int4": (
        "smh",
        _reshape_output_int4,
        ["(RESHAPE) has output 0 of type", "but its input 0 is float32", "refusing the graph"],
    ),
    "input_activation": (
        "hashed",
        _input_is_graph_input,
        ["HashedWeights node 0", "input 0 (buckets, key 'buckets')", "got float32 [1, 6]"],
    ),
    "bomb_hashed": (
        "hashed",
        _hashed_bomb,
        [
            "HashedWeights node 0",
            "rebuilds 1073741824 virtual weights",
            "over the limit max_virtual_weights = 67108864",
            "Interpreter(..., max_virtual_weights=N)",
        ],
    ),
    "bomb_smh": (
        "smh_int8",
        lambda m: _smh_single(m, 1 << 15, 1, [1 << 19, 1 << 10]),
        ["SMHWeights node 0", "rebuilds 536870912 virtual weights"],
    ),
    "bomb_smh_rank": (
        "smh",
        lambda m: _smh_single(m, 1024, 1024, [1024, 1024]),
        [
            "SMHWeights node 0",
            "needs 1077936128 work units",
            "16 x max_virtual_weights = 1073741824",
        ],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_file_is_refused_with_one_line(files, name):
    base, change, fragments = CASES[name]
    message = _refused(_mutant(files, base, name, change))
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("base,builtin,name", [("hashed", 101, "ABS"), ("fresh_int8", 101, "ABS")])
def test_builtin_opcode_with_our_name_is_not_taken(files, base, builtin, name):
    """A builtin whose wiring fits our operator's (ABS: 1 input, 1 output)."""
    stderr = []
    [(_, outcome)] = _run_child(
        [_mutant(files, base, f"opcode_{name}", lambda m: _opcode_to_builtin(m, builtin))],
        {"verbose": "1"},
        stderr=stderr,
    )
    assert outcome.startswith("ERROR") and f"{name} with custom options" in outcome, outcome
    # The file's other served nodes are taken, that one is not.
    served = len(_our_ops(flatbuffer.read(files[base].read_bytes())))
    assert f"claiming {served - 1} node(s)" in stderr[0], stderr[0][-3000:]


@pytest.mark.parametrize("base", ["hashed", "fresh_int8", "smh_int8"])
def test_builtin_opcode_that_xnnpack_reads_unchecked_is_refused(files, base):
    """Our operator as STRIDED_SLICE (45), which takes 4 inputs: XNNPACK's
    VisitStridedSliceNode reads inputs[3] without counting them, a crash that
    depends on the heap (it followed another file in the same process). The
    stock runtime never applies XNNPACK here (our operators are unresolved for
    it); with our delegate it would, so the delegate refuses the graph."""
    path = _mutant(
        files, base, "opcode_strided_slice", lambda model: _opcode_to_builtin(model, builtin=45)
    )
    # Ten times in one process, after an unmodified file: never a crash.
    outcomes = _run_child([files[base]] + [path] * 10)
    assert outcomes[0][1].startswith("OK"), outcomes[0]
    for _, outcome in outcomes[1:]:
        assert outcome.startswith("ERROR"), outcome
    message = outcomes[1][1]
    for fragment in (
        "(STRIDED_SLICE) has",
        "STRIDED_SLICE takes 4 inputs",
        "refusing the graph",
        "convert the model again",
    ):
        assert fragment in message, message


def test_unmodified_files_run(files):
    paths = [files[k] for k in ("hashed", "fresh_int8", "smh", "smh_int8")]
    for path, outcome in _run_child(paths):
        assert outcome.startswith("OK"), (path, outcome)


@pytest.mark.parametrize("key,per_weight", [("max_virtual_weights", 1), ("max_rebuild_bytes", 4)])
def test_limits_from_plugin_options(files, key, per_weight):
    total = _virtual_weights(files, "hashed") * per_weight  # float32 outputs
    [(_, exact)] = _run_child([files["hashed"]], {key: str(total)})
    assert exact.startswith("OK"), exact
    message = _refused(files["hashed"], {key: str(total - 1)})
    assert f"over the limit {key} = {total - 1}" in message, message
    assert "with the delegate's other nodes" in message, message  # totals


@pytest.mark.parametrize("value", ["-1", "1e6", "12k", "", "99999999999999999999"])
def test_malformed_limit_values_fail_creation(files, value):
    message = _refused(files["hashed"], {"max_virtual_weights": value})
    assert "invalid value for option 'max_virtual_weights'" in message, message


def _flips(content: bytes, count: int, seed: int):
    rng = random.Random(seed)
    for _ in range(count):
        data = bytearray(content)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        yield bytes(data)


@pytest.mark.parametrize("base", ["fresh_int8", "smh_int8"])
def test_random_byte_flips_never_crash(files, base):
    content = files[base].read_bytes()
    paths = []
    for i, data in enumerate(_flips(content, 40, seed=2026)):
        path = files["folder"] / f"{base}.flip{i}.tflite"
        path.write_bytes(data)
        paths.append(path)
    outcomes = _run_child(paths, timeout=240)
    assert all(o.startswith(("OK", "ERROR")) for _, o in outcomes)
