"""The model verifier (``hk_verify_model``, ``hashed_keras.lite.verify``).

Real files written by ``hashed_keras.lite.convert`` (every operator, float32
and int8 shared variables, a dense file) pass; one targeted mutant per check,
made with the official schema's object API (``hashed_keras.lite.flatbuffer``),
is refused with the expected code and a message naming the tensor or
operator; a changed seed or changed bucket values still pass. The C++ side
(truncations, corruptions, hand-built defects under ASan) is
``kernels/tests/verify_test.cc``.
"""

from __future__ import annotations

import importlib.util
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from flatbuffers import flexbuffers

from hashed_keras.lite import flatbuffer
from hashed_keras.lite.flatbuffer import schema
from hashed_keras.lite.verify import InvalidModelError, verify, verify_file

KERNELS = Path(__file__).resolve().parents[1] / "hashed_keras" / "lite" / "kernels"
OPS = schema.BuiltinOperator


def _samples_module():
    spec = importlib.util.spec_from_file_location(
        "make_verify_samples", KERNELS / "tests" / "make_verify_samples.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """{name: bytes} of freshly converted files (the samples' models) and a dense one."""
    from hashed_keras import lite

    samples = _samples_module()
    folder = tmp_path_factory.mktemp("verify")
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    out = {}
    for operator, arch, dtype in samples.SAMPLES:
        path = folder / f"{operator}-{arch}-{dtype}.tflite"
        lite.convert(samples.build(operator, arch), path, shared_dtype=dtype, sample_inputs=x)
        out[path.stem] = path.read_bytes()
    dense = folder / "dense.tflite"
    lite.convert(samples._dense("cnn"), dense, dense=True, sample_inputs=x)
    out["dense"] = dense.read_bytes()
    return out


def _refused(content, reason, *needles, **limits):
    with pytest.raises(InvalidModelError) as info:
        verify(content, **limits)
    error = info.value
    assert error.reason == reason, error.message
    assert (
        error.code
        == {
            "schema": 10,
            "buffer": 11,
            "index": 12,
            "tensor": 13,
            "graph": 14,
            "operator": 15,
            "limit": 16,
        }[reason]
    )
    assert "\n" not in error.message
    for needle in needles:
        assert needle in error.message, (needle, error.message)
    return error.message


def _op(model, name):
    """(index, operator) of the first CUSTOM operator `name`."""
    for i, op in enumerate(model.subgraphs[0].operators):
        if flatbuffer.opcode_name(model, op.opcodeIndex) == name:
            return i, op
    raise AssertionError(f"no {name} operator")


def _options(op) -> dict:
    return flexbuffers.Loads(bytes(op.customOptions))


def _set_options(op, **changes):
    options = _options(op)
    options.update(changes)
    op.customOptions = list(flexbuffers.Dumps(options))


def _tensor(model, index):
    return model.subgraphs[0].tensors[index]


def _name(model, index) -> str:
    return flatbuffer.tensor_name(_tensor(model, index))


# ------------------------------------------------------------------ valid files


def test_every_converted_file_passes(files):
    assert len(files) == 7
    for _name, content in files.items():
        verify(content)  # raises on failure
        verify(bytearray(content))
        verify(memoryview(content))


def test_committed_samples_pass():
    samples = sorted((KERNELS / "tests" / "verify_samples").glob("*.tflite"))
    assert len(samples) == 6
    for path in samples:
        verify_file(path)


def test_a_changed_seed_and_changed_buckets_are_valid_models(files):
    model = flatbuffer.read(files["hashed-mlp-float32"])
    _, op = _op(model, "HashedWeights")
    _set_options(op, seed=_options(op)["seed"] + 1)
    buckets = _tensor(model, op.inputs[0])
    buffer = model.buffers[buckets.buffer]
    buffer.data = (np.frombuffer(bytes(buffer.data), np.float32) * 2).view(np.uint8)
    verify(flatbuffer.write(model))

    model = flatbuffer.read(files["smh-mlp-int8"])
    u = _tensor(model, _op(model, "SMHWeights")[1].inputs[0])
    u.quantization.scale = [u.quantization.scale[0] * 3]  # another int8 scale value
    verify(flatbuffer.write(model))


# ------------------------------------------------------- one mutant per check


def test_truncated_and_random_bytes_are_not_a_model(files):
    content = files["hashed-mlp-float32"]
    for cut in (0, 3, 8, 64, len(content) // 2, len(content) - 1):
        _refused(content[:cut], "schema", "convert the model again")
    rng = random.Random(0)
    for _ in range(20):
        _refused(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))), "schema")


def test_constant_as_graph_input(files):
    model = flatbuffer.read(files["hashed-mlp-float32"])
    _, op = _op(model, "HashedWeights")
    model.subgraphs[0].inputs = [op.inputs[0]]
    _refused(
        flatbuffer.write(model),
        "graph",
        "input 0",
        _name(model, op.inputs[0]),
        "cannot be a constant",
    )


def _patch_buffer(content: bytes, buffer_index: int, offset: int, size: int) -> bytes:
    """The file with buffer `buffer_index`'s data replaced by out-of-line (offset, size)."""
    model = flatbuffer.read(content)
    buffer = model.buffers[buffer_index]
    buffer.data, buffer.offset, buffer.size = None, offset, size
    return flatbuffer.write(model)


def test_out_of_line_buffer_outside_the_file(files):
    model = flatbuffer.read(files["hashed-mlp-float32"])
    buffer = _tensor(model, _op(model, "HashedWeights")[1].inputs[0]).buffer
    for offset, size in ((2**64 - 1, 16), (2**63, 2**63), (16, 2**64 - 8), (10**6, 4)):
        _refused(
            _patch_buffer(files["hashed-mlp-float32"], buffer, offset, size),
            "buffer",
            f"buffer {buffer}",
            str(offset),
            "outside",
        )
    # Inside the file (any bytes of it): a buffer, which then must have the tensor's size.
    content = files["hashed-mlp-float32"]
    bytes_needed = flatbuffer.buffer_bytes(
        model, _tensor(model, _op(model, "HashedWeights")[1].inputs[0])
    )
    verify(_patch_buffer(content, buffer, 16, bytes_needed))
    _refused(_patch_buffer(content, buffer, 16, bytes_needed - 4), "tensor", "needs")


def test_custom_opcode_switched_to_a_builtin(files):
    for name, op_name in (
        ("hashed-mlp-float32", "HashedWeights"),
        ("smh-cnn-float32", "SMHWeights"),
        ("freshnets-cnn-int8", "FreshWeights"),
    ):
        model = flatbuffer.read(files[name])
        index, op = _op(model, op_name)
        code = model.operatorCodes[op.opcodeIndex]
        code.builtinCode = code.deprecatedBuiltinCode = OPS.STRIDED_SLICE
        _refused(
            flatbuffer.write(model), "graph", f"operator {index} (STRIDED_SLICE)", "custom options"
        )


def test_builtin_and_deprecated_codes_disagree(files):
    model = flatbuffer.read(files["hashed-mlp-float32"])
    index, op = _op(model, "HashedWeights")
    model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode = OPS.ADD
    _refused(flatbuffer.write(model), "graph", "disagree")


def test_our_output_pointed_at_a_constant_buffer(files):
    model = flatbuffer.read(files["freshnets-cnn-float32"])
    index, op = _op(model, "FreshWeights")
    weights = _tensor(model, op.outputs[0])
    elements = int(np.prod(weights.shape))
    model.buffers.append(schema.BufferT())
    model.buffers[-1].data = np.zeros(elements * 4, np.uint8)
    weights.buffer = len(model.buffers) - 1
    _refused(
        flatbuffer.write(model),
        "graph",
        _name(model, op.outputs[0]),
        f"operator {index} (CUSTOM 'FreshWeights')",
        "is a constant",
    )


def test_our_input_pointed_at_an_activation(files):
    model = flatbuffer.read(files["hashed-cnn-int8"])
    index, op = _op(model, "HashedWeights")
    _tensor(model, op.inputs[0]).buffer = 0  # the empty buffer: an arena tensor
    _refused(
        flatbuffer.write(model),
        "operator",
        f"operator {index}",
        "not a constant",
        _name(model, op.inputs[0]),
    )


def test_decompression_bomb_is_over_the_default_limits(files):
    model = flatbuffer.read(files["hashed-mlp-float32"])
    index, op = _op(model, "HashedWeights")
    options = _options(op)
    weights = _tensor(model, op.outputs[0])
    _set_options(
        op, kernel_shape=[1 << 20, 1 << 10], bias_size=(1 << 10) if options["hash_bias"] else 0
    )
    weights.shape = np.array([1 << 10, 1 << 20], np.int32)
    if options["hash_bias"]:
        _tensor(model, op.outputs[1]).shape = np.array([1 << 10], np.int32)
    content = flatbuffer.write(model)
    assert len(content) < 8192
    message = _refused(content, "limit")
    assert "max_" in message
    # Raising every limit (a trusted file): the verifier accepts what the
    # options declare (the runtime's own shape checks come later).
    big = 1 << 36
    verify(content, max_virtual_weights=big, max_rebuild_bytes=big, max_tensor_bytes=big)
    message = _refused(
        content, "limit", "max_virtual_weights", max_rebuild_bytes=big, max_tensor_bytes=big
    )
    assert f"operator {index}" in message


def test_limits_name_the_operator_and_how_to_raise_them(files):
    content = files["smh-cnn-float32"]
    _refused(content, "limit", "SMHWeights", "max_virtual_weights=N", max_virtual_weights=1)
    _refused(content, "limit", "max_rebuild_bytes=N", max_rebuild_bytes=8)
    _refused(content, "limit", "max_tensor_bytes", max_tensor_bytes=8)
    verify(content, max_virtual_weights=10**9, max_rebuild_bytes=10**10)


def test_indices_out_of_range(files):
    content = files["smh-mlp-int8"]
    model = flatbuffer.read(content)
    _, op = _op(model, "SMHWeights")
    op.opcodeIndex = 99
    _refused(flatbuffer.write(model), "index", "opcode index 99")

    model = flatbuffer.read(content)
    _, op = _op(model, "SMHWeights")
    op.inputs = np.array([op.inputs[0], 5000, *op.inputs[2:]], np.int32)
    _refused(flatbuffer.write(model), "index", "tensor 5000")

    model = flatbuffer.read(content)
    _tensor(model, 0).buffer = 777
    _refused(flatbuffer.write(model), "index", "buffer index 777")

    model = flatbuffer.read(content)
    model.subgraphs[0].outputs = np.array([-1], np.int32)
    _refused(flatbuffer.write(model), "index", "output 0 is tensor -1")

    model = flatbuffer.read(content)
    model.signatureDefs[0].outputs[0].tensorIndex = 4242
    _refused(flatbuffer.write(model), "index", "signature def 0", "4242")


def test_tensor_shape_bytes_and_quantization(files):
    content = files["freshnets-cnn-int8"]
    model = flatbuffer.read(content)
    _, op = _op(model, "FreshWeights")
    buckets = _tensor(model, op.inputs[0])
    buckets.shape = np.array([buckets.shape[0] + 1], np.int32)  # bytes no longer match
    _refused(flatbuffer.write(model), "tensor", _name(model, op.inputs[0]), "needs")

    model = flatbuffer.read(content)
    _tensor(model, 0).shape = np.array([1, -8, 8, 1], np.int32)
    _refused(flatbuffer.write(model), "tensor", "is -8")

    model = flatbuffer.read(content)
    buckets = _tensor(model, _op(model, "FreshWeights")[1].inputs[0])
    buckets.quantization.zeroPoint = np.array([0, 0], np.int64)
    _refused(flatbuffer.write(model), "tensor", "1 scales and 2 zero points")


def test_our_operators_options_and_wiring(files):
    content = files["hashed-mlp-float32"]

    model = flatbuffer.read(content)  # K vs the buckets' length
    index, op = _op(model, "HashedWeights")
    _set_options(op, buckets=_options(op)["buckets"] + 1)
    _refused(flatbuffer.write(model), "operator", f"operator {index}", "buckets")

    model = flatbuffer.read(content)  # the layout vs the output and its consumer
    _, op = _op(model, "HashedWeights")
    _set_options(op, layout="ohwi")
    _refused(flatbuffer.write(model), "operator")

    model = flatbuffer.read(content)  # kernel_shape transposed
    _, op = _op(model, "HashedWeights")
    shape = _options(op)["kernel_shape"]
    _set_options(op, kernel_shape=shape[::-1])
    _refused(flatbuffer.write(model), "operator", "kernel_shape")

    model = flatbuffer.read(content)  # the consumer reads something else
    _, op = _op(model, "HashedWeights")
    weights = op.outputs[0]
    for consumer in model.subgraphs[0].operators:
        if consumer.inputs is not None and weights in list(consumer.inputs):
            position = list(consumer.inputs).index(weights)
            consumer.inputs[position] = 0  # the graph input instead
    _refused(flatbuffer.write(model), "operator", "read by no operator")

    model = flatbuffer.read(content)  # weights wired into the wrong input slot
    _, op = _op(model, "HashedWeights")
    for consumer in model.subgraphs[0].operators:
        if consumer.inputs is not None and op.outputs[0] in list(consumer.inputs):
            consumer.inputs[0], consumer.inputs[1] = consumer.inputs[1], consumer.inputs[0]
            break
    _refused(flatbuffer.write(model), "operator", "may only be input 1")

    model = flatbuffer.read(content)  # weights exposed as a model output
    _, op = _op(model, "HashedWeights")
    model.subgraphs[0].outputs = np.array([*model.subgraphs[0].outputs, op.outputs[0]], np.int32)
    _refused(flatbuffer.write(model), "operator", "model output")


def test_shared_buckets_and_int8_scale(files):
    model = flatbuffer.read(files["hashed-cnn-int8"])
    ops = [
        op
        for op in model.subgraphs[0].operators
        if flatbuffer.opcode_name(model, op.opcodeIndex) == "HashedWeights"
    ]
    assert len(ops) >= 2
    # Two layers reading one bucket tensor (of the right length for both).
    first = _tensor(model, ops[0].inputs[0])
    _set_options(ops[1], buckets=_options(ops[0])["buckets"])
    ops[1].inputs[0] = ops[0].inputs[0]
    _refused(
        flatbuffer.write(model), "operator", "read by 2 operators", flatbuffer.tensor_name(first)
    )

    for scale in (float("inf"), float("nan"), 0.0, -1.0):
        model = flatbuffer.read(files["hashed-cnn-int8"])
        _, op = _op(model, "HashedWeights")
        _tensor(model, op.inputs[0]).quantization.scale = np.array([scale], np.float32)
        _refused(flatbuffer.write(model), "operator", "int8")


def test_verify_file_and_argument_errors(files, tmp_path):
    with pytest.raises(FileNotFoundError, match="No model file"):
        verify_file(tmp_path / "missing.tflite")
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(files["dense"][:100])
    with pytest.raises(InvalidModelError, match="broken.tflite"):
        verify_file(broken)
    with pytest.raises(TypeError):
        verify("not bytes")
    for bad in (0, -1, 1.5, True, 2**64):
        with pytest.raises(ValueError):
            verify(files["dense"], max_virtual_weights=bad)
    assert issubclass(InvalidModelError, ValueError)


@pytest.mark.skipif(
    shutil.which("flatc") is None, reason="flatc (flatbuffers-compiler) not installed"
)
def test_generated_schema_header_matches_flatc():
    result = subprocess.run(
        ["bash", str(KERNELS / "schema" / "regenerate.sh"), "--check"],
        capture_output=True,
        text=True,
    )
    if result.returncode == 2:
        pytest.skip(result.stderr.strip())
    assert result.returncode == 0, result.stderr


def _smallest_passing(content, key):
    """The smallest value of limit `key` the verifier accepts (binary search)."""
    low, high = 1, 1 << 40
    while low < high:
        middle = (low + high) // 2
        try:
            verify(content, **{key: middle})
            high = middle
        except InvalidModelError as error:
            assert error.reason == "limit", error.message
            low = middle + 1
    return low


def _delegate_runs(content, **options) -> str:
    """ "" if the bare delegate with these plugin options runs the file, else the error."""
    from ai_edge_litert.interpreter import Interpreter, load_delegate

    from hashed_keras.lite.kernel_library import library_path

    try:
        delegate = load_delegate(library_path(), options={k: str(v) for k, v in options.items()})
        interpreter = Interpreter(model_content=content, experimental_delegates=[delegate])
        interpreter.allocate_tensors()
        interpreter.invoke()
    except (RuntimeError, ValueError) as error:
        return str(error)
    return ""


@pytest.mark.parametrize("name", ["hashed-mlp-float32", "freshnets-cnn-int8", "smh-cnn-float32"])
def test_verifier_and_delegate_agree_on_the_limits(files, name):
    content = files[name]
    for key in ("max_virtual_weights", "max_rebuild_bytes"):
        exact = _smallest_passing(content, key)
        assert exact > 1
        assert _delegate_runs(content, **{key: exact}) == "", (key, exact)
        refused = _delegate_runs(content, **{key: exact - 1})
        assert key in refused, (key, exact, refused)


def test_smh_factors_and_scales_are_wired_as_converted(files):
    content = files["smh-cnn-float32"]
    model = flatbuffer.read(content)  # U and V swapped in one operator: M transposed
    ops = [
        op
        for op in model.subgraphs[0].operators
        if flatbuffer.opcode_name(model, op.opcodeIndex) == "SMHWeights"
    ]
    assert len(ops) >= 2
    ops[1].inputs[0], ops[1].inputs[1] = ops[1].inputs[1], ops[1].inputs[0]
    _refused(flatbuffer.write(model), "operator", "U", "V")

    model = flatbuffer.read(content)  # U read as V too
    ops = [
        op
        for op in model.subgraphs[0].operators
        if flatbuffer.opcode_name(model, op.opcodeIndex) == "SMHWeights"
    ]
    ops[0].inputs[1] = ops[0].inputs[0]
    _refused(flatbuffer.write(model), "operator", "U")

    model = flatbuffer.read(content)  # one layer's scales read by another layer
    ops = [
        op
        for op in model.subgraphs[0].operators
        if flatbuffer.opcode_name(model, op.opcodeIndex) == "SMHWeights"
    ]
    ops[1].inputs[2] = ops[0].inputs[2]
    _refused(flatbuffer.write(model), "operator", "input 2", "read by 2 operators")


def test_metadata_buffer_index_out_of_range(files):
    model = flatbuffer.read(files["hashed-cnn-int8"])
    assert model.metadata, "the converter writes metadata (min_runtime_version)"
    model.metadata[0].buffer = 10**6
    _refused(flatbuffer.write(model), "index", "metadata 0", "buffer index 1000000")


# ------------------------------------------------- builtin operators' wiring


def _builtin(model, code):
    """(index, operator) of the first builtin operator `code`."""
    for i, op in enumerate(model.subgraphs[0].operators):
        oc = model.operatorCodes[op.opcodeIndex]
        if max(oc.builtinCode, oc.deprecatedBuiltinCode) == code:
            return i, op
    raise AssertionError(f"no builtin {code}")


def _set_code(model, op, code):
    oc = model.operatorCodes[op.opcodeIndex]
    oc.builtinCode = code
    oc.deprecatedBuiltinCode = min(code, OPS.PLACEHOLDER_FOR_GREATER_OP_CODES)


def test_builtin_code_changed_under_another_builtins_options(files):
    # The mutation harness's finding: STRIDED_SLICE's code changed in place to
    # SPLIT keeps StridedSliceOptions and four inputs; XNNPACK crashed on it.
    for name in ("hashed-cnn-int8", "smh-mlp-int8"):
        model = flatbuffer.read(files[name])
        index, op = _builtin(model, OPS.STRIDED_SLICE)
        _set_code(model, op, OPS.SPLIT)
        _refused(
            flatbuffer.write(model),
            "operator",
            f"operator {index} (SPLIT)",
            "StridedSliceOptions",
            "SplitOptions",
        )
    # A builtin with options under a builtin that reads none.
    model = flatbuffer.read(files["hashed-cnn-int8"])
    index, op = _builtin(model, OPS.MAX_POOL_2D)
    _set_code(model, op, OPS.RELU)
    _refused(
        flatbuffer.write(model),
        "operator",
        f"operator {index} (RELU)",
        "Pool2DOptions",
        "reads none",
    )
    # Options shared by two builtins (MaximumMinimumOptions) and NONE are fine.
    model = flatbuffer.read(files["hashed-cnn-int8"])
    _, op = _builtin(model, OPS.RESHAPE)
    assert op.builtinOptionsType == schema.BuiltinOptions.NONE  # as converted
    verify(flatbuffer.write(model))


def test_every_builtin_code_swap_is_refused_or_consistent(files):
    """Any builtin code in place of a converted builtin: refused unless the
    options are NONE or the new code's own, and the counts fit it."""
    pool_like = {OPS.AVERAGE_POOL_2D, OPS.L2_POOL_2D, OPS.MAX_POOL_2D}
    for name in ("hashed-mlp-float32", "hashed-cnn-int8"):
        model = flatbuffer.read(files[name])
        for index, op in enumerate(model.subgraphs[0].operators):
            oc = model.operatorCodes[op.opcodeIndex]
            old = max(oc.builtinCode, oc.deprecatedBuiltinCode)
            if old == OPS.CUSTOM or op.builtinOptionsType == schema.BuiltinOptions.NONE:
                continue
            accepted = []
            for code in range(OPS.STABLEHLO_CASE + 1):
                if code in (old, OPS.CUSTOM):
                    continue
                mutant = flatbuffer.read(files[name])
                _set_code(mutant, mutant.subgraphs[0].operators[index], code)
                try:
                    verify(flatbuffer.write(mutant))
                    accepted.append(code)
                except InvalidModelError as error:
                    assert error.reason in ("operator", "graph"), error.message
            # Only builtins reading the same options table are accepted.
            if old in pool_like:
                assert set(accepted) <= pool_like, (name, index, accepted)
            else:
                assert accepted == [], (name, index, old, accepted)


def test_builtin_input_and_output_counts(files):
    model = flatbuffer.read(files["hashed-mlp-float32"])
    index, op = _builtin(model, OPS.STRIDED_SLICE)
    op.inputs = op.inputs[:3]
    _refused(
        flatbuffer.write(model),
        "operator",
        f"operator {index} (STRIDED_SLICE)",
        "3 inputs and 1 outputs",
        "takes 4 inputs",
    )

    model = flatbuffer.read(files["hashed-cnn-int8"])
    index, op = _builtin(model, OPS.MAX_POOL_2D)
    op.outputs = list(op.outputs) + [op.inputs[0]]
    _refused(
        flatbuffer.write(model),
        "operator",
        f"operator {index} (MAX_POOL_2D)",
        "takes 1 inputs and 1 outputs",
    )


def test_absent_input_only_where_the_builtin_has_an_optional_one(files):
    # The harness's finding: STRIDED_SLICE's strides given as -1 crashed.
    model = flatbuffer.read(files["smh-mlp-int8"])
    index, op = _builtin(model, OPS.STRIDED_SLICE)
    op.inputs[3] = -1
    _refused(
        flatbuffer.write(model),
        "operator",
        f"operator {index} (STRIDED_SLICE)",
        "input 3 is -1",
        "not optional",
    )

    model = flatbuffer.read(files["hashed-cnn-int8"])
    index, op = _builtin(model, OPS.CONV_2D)
    op.inputs[0] = -1
    _refused(flatbuffer.write(model), "operator", f"operator {index} (CONV_2D)", "input 0 is -1")
    # A FULLY_CONNECTED without bias (-1 at input 2), as the converter writes.
    model = flatbuffer.read(files["hashed-mlp-float32"])
    assert any(
        flatbuffer.opcode_name(model, op.opcodeIndex) == "FULLY_CONNECTED"
        and len(op.inputs) == 3
        and op.inputs[2] == -1
        for op in model.subgraphs[0].operators
    )
    verify(files["hashed-mlp-float32"])


def test_misaligned_float32_constant_of_our_operator(files):
    # Converted files align every buffer; the delegate would read a
    # misaligned float32 constant through a copy. Refused as a buffer error.
    content = files["hashed-mlp-float32"]
    model = flatbuffer.read(content)
    tensor = _tensor(model, _op(model, "HashedWeights")[1].inputs[0])
    assert tensor.type == schema.TensorType.FLOAT32
    size = flatbuffer.buffer_bytes(model, tensor)
    verify(_patch_buffer(content, tensor.buffer, 16, size))
    for offset in (17, 18, 19):
        _refused(
            _patch_buffer(content, tensor.buffer, offset, size),
            "buffer",
            f"offset {offset}",
            "not a multiple of 4",
            f"buffer {tensor.buffer}",
        )


def test_zero_point_outside_int32(files):
    # The runtime truncates the file's int64 zero point to int32: 2^40 would
    # run as 0 (the harness's silent wrong result 2227, seed 11).
    model = flatbuffer.read(files["smh-mlp-int8"])
    index = _op(model, "SMHWeights")[1].inputs[1]
    _tensor(model, index).quantization.zeroPoint = np.array([2**40])
    _refused(
        flatbuffer.write(model),
        "tensor",
        _name(model, index),
        "zero point 0",
        "1099511627776",
        "outside int32",
    )


def test_counts_declared_by_options_match_the_wiring(files):
    # The hunt over every builtin code in place of each converted builtin:
    # RESHAPE (no options, 2 inputs, 1 output) as SPLIT ran with num_splits 0
    # (the parser's default without SplitOptions) and XNNPACK crashed.
    model = flatbuffer.read(files["hashed-mlp-float32"])
    index, op = _builtin(model, OPS.RESHAPE)
    _set_code(model, op, OPS.SPLIT)
    _refused(
        flatbuffer.write(model),
        "operator",
        f"operator {index} (SPLIT)",
        "num_splits is 0",
        "1 outputs",
    )
    model = flatbuffer.read(files["hashed-cnn-int8"])
    index, op = _builtin(model, OPS.PACK)
    assert op.builtinOptions.valuesCount == len(op.inputs)  # as converted
    op.builtinOptions.valuesCount += 1
    _refused(
        flatbuffer.write(model),
        "operator",
        f"operator {index} (PACK)",
        f"values_count is {len(op.inputs) + 1}",
        f"{len(op.inputs)} inputs",
    )


def test_outputs_of_the_builtins_input_type(files):
    # The harness's crashes (100k run, seed 2: #8276, #38965, #76145; seed 15:
    # #687): an activation retyped, e.g. RESHAPE's output BOOL or INT8 for a
    # float32 input (RESHAPE copies the input's bytes into it), SOFTMAX's
    # output STRING or VARIANT.
    for new_type in (schema.TensorType.BOOL, schema.TensorType.INT8):
        model = flatbuffer.read(files["smh-mlp-int8"])
        index, op = _builtin(model, OPS.RESHAPE)
        _tensor(model, op.outputs[0]).type = new_type
        _refused(
            flatbuffer.write(model),
            "operator",
            f"operator {index} (RESHAPE)",
            flatbuffer.type_name(new_type),
            "input 0",
            "FLOAT32",
        )
    for new_type in (schema.TensorType.STRING, schema.TensorType.VARIANT):
        model = flatbuffer.read(files["freshnets-cnn-int8"])
        index, op = _builtin(model, OPS.SOFTMAX)
        _tensor(model, op.outputs[0]).type = new_type
        _refused(
            flatbuffer.write(model),
            "operator",
            f"operator {index} (SOFTMAX)",
            "or another of INT8, UINT8, INT16",
        )
    # The same edit on the tensor's reader side: FULLY_CONNECTED's output.
    model = flatbuffer.read(files["hashed-mlp-float32"])
    index, op = _builtin(model, OPS.FULLY_CONNECTED)
    _tensor(model, op.outputs[0]).type = schema.TensorType.BOOL
    _refused(flatbuffer.write(model), "operator", "BOOL")
