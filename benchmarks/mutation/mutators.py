"""Deterministic, structure-aware mutants of a `.tflite` file.

:func:`mutate` draws mutant ``index`` of run ``seed`` from a seeded
``random.Random`` (the same ``(seed, index)`` always gives the same bytes):
the seed file is ``names[index % len(names)]``, the family
``FAMILIES[(index // len(names)) % len(FAMILIES)]`` (so every file meets every
family in each block of ``len(names) * len(FAMILIES)`` mutants), then 1-3 edits
of that family. Families:

* ``options``: our operators' custom options, decoded with FlexBuffers, one
  value changed (integers to 0, -1, 2^31-1, 2^32-1, 2^63-1, huge, off by one;
  vectors shortened, lengthened, entries changed; strings, bools, types, keys
  removed or added; not a map at all), re-encoded.
* ``options_bytes``: raw bytes of the custom options (flips, truncation, garbage).
* ``tensor``: a tensor's shape, type, buffer index (an activation tensor pointed
  at a constant buffer, a constant at an empty one, out of range), quantization
  (scale 0, negative, NaN, inf, several; zero point; dimension), is_variable.
* ``buffer``: buffer data shortened, lengthened, emptied, moved out of line with
  a valid or a bad ``offset``/``size`` (past the end, 2^64-1, overlapping the
  flatbuffer), the buffer list cut.
* ``operator``: opcode index, inputs, outputs (a constant as output, out of
  range, dropped, duplicated), custom options format, builtin options type,
  custom options on a builtin, operators reordered.
* ``opcode``: our CUSTOM code switched to a builtin (STRIDED_SLICE, ...),
  builtin and deprecated codes disagreeing, custom names swapped between our
  operators or garbled, a builtin switched to one of our custom names, versions.
* ``graph_io``: subgraph inputs/outputs (a constant as a graph input, an
  intermediate tensor, out of range, empty, duplicated).
* ``fields``: one number of the file edited in place (a tensor's type, shape
  entry, buffer index, a vector length, an offset, an opcode...) — see
  :mod:`~benchmarks.mutation.fields`.
* ``bytes``: 1-8 random bytes changed anywhere, or the file truncated.
* ``bomb``: a decompression bomb: options, output shape (and SMH factors)
  changed together so that a small file declares 2^22..2^31 virtual weights.
* ``values``: a *valid* different model (a new seed, use_sign or SMH start in
  range, other bucket / factor / scale values, a different K with a bucket
  tensor to match): may run, with other numbers.

:func:`structure` is what the "silent wrong result" check compares: the file
with its values (constant data, seeds, positive finite scales, names, builtin
options) blanked out.
"""

from __future__ import annotations

import math
import random
import struct
from dataclasses import dataclass, field

import numpy as np
from flatbuffers import flexbuffers

from benchmarks.mutation.fields import field_locations

try:
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils as _fbu
except ImportError:  # pragma: no cover - TensorFlow's copy
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils as _fbu

FAMILIES = (
    "options",
    "options_bytes",
    "tensor",
    "buffer",
    "operator",
    "opcode",
    "graph_io",
    "fields",
    "bytes",
    "values",
    "bomb",
)
OUR_OPS = ("HashedWeights", "FreshWeights", "SMHWeights")
CUSTOM = schema.BuiltinOperator.CUSTOM
# Shared variables: the inputs whose values a valid model may change.
SHARED_INPUTS = {"HashedWeights": (0,), "FreshWeights": (0,), "SMHWeights": (0, 1)}
# Every key of docs/tflite_format.md (the kernels ignore others).
KNOWN_OPTIONS = (
    "contract_version",
    "seed",
    "buckets",
    "kernel_shape",
    "layout",
    "use_sign",
    "hash_bias",
    "bias_size",
    "band_buckets",
    "n",
    "rank",
    "start",
)
# Inputs an operator cannot run without (the others, channel scales, are optional).
REQUIRED_INPUTS = {"HashedWeights": 1, "FreshWeights": 1, "SMHWeights": 3}
# Options whose value (in range) selects values, not shapes: a valid model.
VALUE_OPTIONS = ("seed", "use_sign", "start")

INT_SPECIALS = (
    0,
    -1,
    1,
    2,
    2**31 - 1,
    2**31,
    -(2**31),
    2**32 - 1,
    2**32,
    2**40,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
)
I32_SPECIALS = (0, -1, 1, 2, 3, 2**31 - 1, -(2**31), 65535, 1 << 20, 1 << 30)
FLOAT_SPECIALS = (
    0.0,
    -0.0,
    -1.0,
    float("nan"),
    float("inf"),
    -float("inf"),
    1e-45,
    1e38,
    3.4e38,
    1e-30,
)


@dataclass
class Mutant:
    """One mutant file.

    Attributes:
      index: its index in the run.
      seed_name: the seed file it was made from.
      family: one of :data:`FAMILIES`.
      edits: a short description of each edit.
      content: the file's bytes.
      valid_model: every edit makes a valid, different model (family ``values``):
        the silent-wrong-result check does not apply.
    """

    index: int
    seed_name: str
    family: str
    edits: list = field(default_factory=list)
    content: bytes = b""
    valid_model: bool = False

    @property
    def description(self) -> str:
        return "; ".join(self.edits)


# ----------------------------------------------------------------------------- helpers


def read(content: bytes):
    return _fbu.convert_bytearray_to_object(bytearray(content))


def write(model) -> bytes:
    return bytes(_fbu.convert_object_to_bytearray(model))


def _name(obj) -> str:
    name = getattr(obj, "name", None)
    if name is None:
        return "?"
    return name.decode(errors="replace") if isinstance(name, bytes) else str(name)


def op_name(model, op) -> str | None:
    """The custom code of a CUSTOM operator (else None)."""
    if not 0 <= op.opcodeIndex < len(model.operatorCodes):
        return None
    code = model.operatorCodes[op.opcodeIndex]
    if max(code.builtinCode, code.deprecatedBuiltinCode) != CUSTOM or code.customCode is None:
        return None
    custom = code.customCode
    return custom.decode(errors="replace") if isinstance(custom, bytes) else str(custom)


def _ours(model):
    """(operator index, operator, custom name) of our operators in subgraph 0."""
    sg = model.subgraphs[0]
    return [
        (i, op, op_name(model, op))
        for i, op in enumerate(sg.operators)
        if op_name(model, op) in OUR_OPS
    ]


def _is_constant(model, tensor) -> bool:
    if not 0 <= tensor.buffer < len(model.buffers):
        return False
    buffer = model.buffers[tensor.buffer]
    return (buffer.data is not None and len(buffer.data) > 0) or buffer.offset > 1


def _constant_tensors(model):
    sg = model.subgraphs[0]
    return [i for i, t in enumerate(sg.tensors) if _is_constant(model, t)]


def _activation_tensors(model):
    sg = model.subgraphs[0]
    return [i for i, t in enumerate(sg.tensors) if not _is_constant(model, t)]


def _related_tensors(model):
    """Inputs and outputs of our operators."""
    out = []
    for _, op, _ in _ours(model):
        out += [int(i) for i in op.inputs if i >= 0] + [int(i) for i in op.outputs if i >= 0]
    return sorted(set(out))


def _pick_tensor(model, rng, related_bias=0.7):
    related = _related_tensors(model)
    if related and rng.random() < related_bias:
        return rng.choice(related)
    return rng.randrange(len(model.subgraphs[0].tensors))


def _pick_op(model, rng, ours_bias=0.8):
    ours = _ours(model)
    if ours and rng.random() < ours_bias:
        return rng.choice(ours)[:2]
    sg = model.subgraphs[0]
    i = rng.randrange(len(sg.operators))
    return i, sg.operators[i]


def _i32(value) -> int:
    """``value`` wrapped to int32 (what the file would hold)."""
    return (int(value) + 2**31) % 2**32 - 2**31


def _int_value(rng, old=None):
    choices = list(INT_SPECIALS)
    if isinstance(old, int) and not isinstance(old, bool):
        choices += [old + 1, old - 1, old * 2, old // 2, old + 1000, -old, old * 1000]
    return rng.choice(choices)


def _i32_value(rng, old=None):
    choices = list(I32_SPECIALS)
    if old is not None:
        old = int(old)
        choices += [old + 1, old - 1, old * 2, old // 2, old + 7, -old]
    return _i32(rng.choice(choices))


# ------------------------------------------------------------------- FlexBuffers encoding


class TypedInts(list):
    """A list encoded as a typed vector of ints (as C++ builders often do)."""


def encode(value) -> bytes:
    """FlexBuffers bytes of ``value``: like ``flexbuffers.Dumps``, plus unsigned ints
    of 2^63 and more, and :class:`TypedInts`."""
    builder = flexbuffers.Builder()
    _add(builder, value)
    return bytes(builder.Finish())


def _add(b, value):
    if value is None:
        b.Null()
    elif isinstance(value, bool):
        b.Bool(value)
    elif isinstance(value, int):
        if value >= 2**63:
            b.UInt(value)
        else:
            b.Int(value)
    elif isinstance(value, float):
        b.Float(value)
    elif isinstance(value, str):
        b.String(value)
    elif isinstance(value, (bytes, bytearray)):
        b.Blob(bytes(value))
    elif isinstance(value, dict):
        with b.Map():
            for k, v in value.items():
                b.Key(k)
                _add(b, v)
    elif isinstance(value, TypedInts):
        if all(-(2**63) <= v < 2**63 for v in value) and value:
            b.TypedVectorFromElements([int(v) for v in value])
        else:
            with b.Vector():
                for v in value:
                    _add(b, v)
    elif isinstance(value, (list, tuple)):
        with b.Vector():
            for v in value:
                _add(b, v)
    else:
        raise TypeError(f"cannot encode {type(value)}")


def decode(options) -> object:
    return flexbuffers.Loads(bytes(options))


def _set_options(op, content: bytes) -> None:
    op.customOptions = np.frombuffer(bytes(content), np.uint8).copy()


# ----------------------------------------------------------------------- family: options


def _edit_option_value(rng, key, value):
    """A new value for one option and its description."""
    r = rng.random()
    if isinstance(value, bool):
        new = rng.choice([not value, 0, 1, 2, "true", None])
    elif isinstance(value, int):
        new = (
            _int_value(rng, value)
            if r < 0.85
            else rng.choice([float(value), str(value), [value], None, True])
        )
    elif isinstance(value, str):
        new = rng.choice(["fc", "ohwi", "", "FC", "ohwi\x00", "oihw", "x" * 300, 0, None])
    elif isinstance(value, list):
        ints = [int(v) for v in value]
        choice = rng.randrange(7)
        if choice == 0 and ints:  # one entry changed
            i = rng.randrange(len(ints))
            ints[i] = _int_value(rng, ints[i])
            new = ints
        elif choice == 1:  # shorter
            new = ints[:-1] if ints else ints
        elif choice == 2:  # longer
            new = ints + [rng.choice([1, 2, ints[-1] if ints else 3])]
        elif choice == 3:
            new = []
        elif choice == 4 and ints:  # swapped entries (a transposed kernel)
            i, j = rng.randrange(len(ints)), rng.randrange(len(ints))
            ints[i], ints[j] = ints[j], ints[i]
            new = ints
        elif choice == 5:
            new = TypedInts(ints)
        else:
            new = rng.choice(
                [ints[0] if ints else 0, "x", [1.5] * max(1, len(ints)), [[v] for v in ints]]
            )
    else:
        new = _int_value(rng)
    return new


def options_edit(model, rng) -> str:
    ours = _ours(model)
    if not ours:
        return "no operator of ours"
    index, op, name = rng.choice(ours)
    try:
        options = decode(op.customOptions)
    except Exception:  # noqa: BLE001 - a previous edit broke them
        options = None
    if not isinstance(options, dict) or rng.random() < 0.06:
        new = rng.choice([{}, [], 0, "HashedWeights", {"seed": 1}, None])
        _set_options(op, encode(new))
        return f"operator {index} ({name}) options replaced by {new!r}"
    r = rng.random()
    keys = sorted(options)
    if r < 0.08 and keys:
        key = rng.choice(keys)
        del options[key]
        desc = f"option {key!r} removed"
    elif r < 0.12:
        key = rng.choice(["extra", "seed2", "buckets_", "kernel_shape2"])
        options[key] = rng.choice([1, "x", [1, 2]])
        desc = f"option {key!r} added"
    else:
        key = rng.choice(keys)
        old = options[key]
        for _ in range(8):  # a value that differs (in type or value)
            options[key] = _edit_option_value(rng, key, old)
            if repr(options[key]) != repr(old):
                break
        desc = f"option {key!r} {old!r} -> {options[key]!r}"[:200]
    if rng.random() < 0.2:  # TypedInts for every int vector
        for k, v in options.items():
            if isinstance(v, list) and all(isinstance(x, int) for x in v):
                options[k] = TypedInts(v)
    try:
        content = encode(options)
    except Exception:  # noqa: BLE001
        content = bytes(
            flexbuffers.Dumps(
                {k: v for k, v in options.items() if not isinstance(v, int) or v < 2**63}
            )
        )
    _set_options(op, content)
    return f"operator {index} ({name}) {desc}"


# ------------------------------------------------------------------ family: options_bytes


def options_bytes_edit(model, rng) -> str:
    index, op = _pick_op(model, rng, ours_bias=0.95)
    data = bytearray(b"" if op.customOptions is None else bytes(op.customOptions))
    name = op_name(model, op) or f"op {index}"
    r = rng.random()
    if not data or r < 0.15:
        cut = rng.randrange(len(data) + 1)
        desc = f"options truncated {len(data)} -> {cut} bytes"
        data = data[:cut]
    elif r < 0.25:
        extra = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        data += extra
        desc = f"{len(extra)} bytes of garbage appended to the options"
    elif r < 0.35:
        # The root: the last 3 bytes (root offset, type, width).
        k = rng.randrange(1, 4)
        pos = len(data) - k
        old = data[pos]
        data[pos] = rng.choice([0, 0xFF, old ^ (1 << rng.randrange(8)), rng.randrange(256)])
        desc = f"options byte {pos} (root, from the end) {old} -> {data[pos]}"
    else:
        flips = []
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(data))
            old = data[pos]
            data[pos] = rng.choice(
                [
                    0,
                    0xFF,
                    0x7F,
                    0x80,
                    old ^ (1 << rng.randrange(8)),
                    rng.randrange(256),
                    (old + 1) & 0xFF,
                ]
            )
            flips.append(f"{pos}:{old}->{data[pos]}")
        desc = "options bytes " + ",".join(flips)
    op.customOptions = np.frombuffer(bytes(data), np.uint8).copy() if data else None
    return f"operator {index} ({name}) {desc}"


# ------------------------------------------------------------------------- family: tensor

TENSOR_TYPES = [v for k, v in vars(schema.TensorType).items() if not k.startswith("_")]


def tensor_edit(model, rng) -> str:
    sg = model.subgraphs[0]
    t = _pick_tensor(model, rng)
    tensor = sg.tensors[t]
    where = f"tensor {t} '{_name(tensor)[:40]}'"
    r = rng.random()
    if r < 0.35:  # shape
        shape = [] if tensor.shape is None else [int(d) for d in tensor.shape]
        old = list(shape)
        c = rng.randrange(6)
        if c < 3 and shape:
            i = rng.randrange(len(shape))
            shape[i] = _i32_value(rng, shape[i])
        elif c == 3:
            shape = shape[:-1] if shape else [1]
        elif c == 4:
            shape = shape + [rng.choice([1, 2, 0])]
        else:
            shape = list(reversed(shape)) if len(shape) > 1 else [rng.choice([0, 2, 1 << 20])]
        tensor.shape = np.array(shape, np.int32)
        return f"{where} shape {old} -> {shape}"
    if r < 0.5:  # type
        old = tensor.type
        tensor.type = rng.choice(TENSOR_TYPES + [100, 127, -1])
        return f"{where} type {old} -> {tensor.type}"
    if r < 0.72:  # buffer
        old = tensor.buffer
        constants = [sg.tensors[i].buffer for i in _constant_tensors(model)]
        empties = [i for i, b in enumerate(model.buffers) if b.data is None or len(b.data) == 0]
        c = rng.randrange(5)
        if c <= 1 and constants:  # an activation (or another constant) at a constant buffer
            tensor.buffer = rng.choice(constants)
        elif c == 2 and empties:
            tensor.buffer = rng.choice(empties)
        elif c == 3:
            tensor.buffer = rng.choice(
                [len(model.buffers), len(model.buffers) + 1, 2**31, 2**32 - 1]
            )
        else:
            tensor.buffer = 0
        return f"{where} buffer {old} -> {tensor.buffer}"
    if r < 0.92:  # quantization
        q = tensor.quantization
        if q is None or rng.random() < 0.25:
            q = schema.QuantizationParametersT()
            q.scale = np.array([rng.choice([0.01, 1.0])], np.float32)
            q.zeroPoint = np.array([0], np.int64)
            tensor.quantization = q
            first = "quantization added; "
        else:
            first = ""
        c = rng.randrange(6)
        if c <= 1:
            value = rng.choice(FLOAT_SPECIALS)
            q.scale = np.array([value], np.float32)
            return f"{where} {first}scale -> [{value}]"
        if c == 2:
            q.scale = np.array([0.01, 0.02, 0.03][: rng.randint(0, 3)], np.float32)
            return f"{where} {first}{len(q.scale)} scales"
        if c == 3:
            zp = rng.choice([1, -1, 127, -128, 2**40])
            q.zeroPoint = np.array(
                [zp] * max(1, len(q.scale) if q.scale is not None else 1), np.int64
            )
            return f"{where} {first}zero point -> {zp}"
        if c == 4:
            q.quantizedDimension = rng.choice([1, 3, 7, -1, 2**31 - 1])
            return f"{where} {first}quantized_dimension -> {q.quantizedDimension}"
        tensor.quantization = None
        return f"{where} quantization removed"
    tensor.isVariable = not tensor.isVariable
    return f"{where} is_variable -> {tensor.isVariable}"


# ------------------------------------------------------------------------- family: buffer


def _constant_buffers(model):
    sg = model.subgraphs[0]
    related = set(_related_tensors(model))
    ours = [sg.tensors[i].buffer for i in _constant_tensors(model) if i in related]
    anyc = [sg.tensors[i].buffer for i in _constant_tensors(model)]
    return ours, anyc


def buffer_edit(model, rng) -> str:
    ours, anyc = _constant_buffers(model)
    pool = ours if ours and rng.random() < 0.8 else anyc
    r = rng.random()
    if r < 0.1:
        old = len(model.buffers)
        keep = rng.randrange(1, max(2, old))
        model.buffers = model.buffers[:keep]
        return f"buffer list cut {old} -> {keep}"
    if not pool:
        return "no constant buffer"
    b = rng.choice(pool)
    buffer = model.buffers[b]
    data = bytes(np.asarray(buffer.data, np.uint8)) if buffer.data is not None else b""
    c = rng.randrange(6)
    if c == 0:
        new = data[: -rng.choice([1, 2, 4, 8])] if data else data
    elif c == 1:
        new = data[: len(data) // 2]
    elif c == 2:
        new = b""
    elif c == 3:
        new = data + bytes(rng.choice([1, 3, 4, 64]))
    elif c == 4:
        buffer.data = None
        return f"buffer {b} data removed (was {len(data)} bytes)"
    else:
        new = data * 2
    buffer.data = np.frombuffer(new, np.uint8).copy() if new else None
    return f"buffer {b} data {len(data)} -> {len(new)} bytes"


def out_of_line(content: bytes, model, rng) -> tuple[bytes, str]:
    """Moves one constant buffer's data out of line (after the flatbuffer, as the
    converter does for > 2 GB models), then maybe breaks its offset or size."""
    ours, anyc = _constant_buffers(model)
    pool = ours or anyc
    if not pool:
        return content, "no constant buffer"
    b = rng.choice(pool)
    data = bytes(np.asarray(model.buffers[b].data, np.uint8))
    model.buffers[b].data = None
    model.buffers[b].offset = 2**40  # a placeholder of the final width (non-default)
    model.buffers[b].size = len(data)
    first = write(model)
    start = (len(first) + 15) // 16 * 16
    model.buffers[b].offset = start
    head = write(model)
    assert len(head) == len(first)
    out = bytearray(head + bytes(start - len(head)) + data)
    offset_field = next(f for f in field_locations(bytes(out)) if f.where == f"buffer {b} offset")
    size_field = next(f for f in field_locations(bytes(out)) if f.where == f"buffer {b} size")
    c = rng.randrange(9)
    total = len(out)
    if c == 0:
        return bytes(out), f"buffer {b} ({len(data)} B) moved out of line (valid)"
    if c == 1:
        value = rng.choice([2**64 - 1, 2**63, 2**32, total, total + 1, total - 1])
        offset_field.write(out, value)
        what = f"offset {start} -> {value}"
    elif c == 2:
        value = rng.choice([2**64 - 1, 2**63, 2**32, len(data) + 1, total, 2**31])
        size_field.write(out, value)
        what = f"size {len(data)} -> {value}"
    elif c == 3:
        value = rng.choice([1, 0, 4, 8])  # inside the flatbuffer header
        offset_field.write(out, value)
        what = f"offset {start} -> {value}"
    elif c == 4:
        value = 2**64 - rng.choice([1, 2, 16, len(data)])  # offset + size wraps around
        offset_field.write(out, value)
        what = f"offset {start} -> 2^64-{2**64 - value} (offset + size wraps)"
    elif c == 5:
        size_field.write(out, 0)
        what = f"size {len(data)} -> 0"
    elif c == 6:
        cut = rng.randrange(start, total)
        out = out[:cut]
        what = f"file cut to {cut} bytes (data at {start}..{total})"
    elif c == 7:
        value = rng.randrange(16, start)
        offset_field.write(out, value)
        what = f"offset {start} -> {value} (inside the flatbuffer)"
    else:
        offset_field.write(out, start + 1)
        what = f"offset {start} -> {start + 1} (misaligned, last bytes past the end)"
    return bytes(out), f"buffer {b} ({len(data)} B) moved out of line, {what}"


# ----------------------------------------------------------------------- family: operator


def operator_edit(model, rng) -> str:
    sg = model.subgraphs[0]
    index, op = _pick_op(model, rng)
    where = f"operator {index} ({op_name(model, op) or 'builtin'})"
    n_tensors = len(sg.tensors)
    r = rng.random()
    if r < 0.12:
        old = op.opcodeIndex
        op.opcodeIndex = rng.choice(
            [rng.randrange(len(model.operatorCodes)), len(model.operatorCodes), 2**31, 2**32 - 1]
        )
        return f"{where} opcode_index {old} -> {op.opcodeIndex}"
    if r < 0.62:
        which = "inputs" if rng.random() < 0.55 else "outputs"
        values = [int(v) for v in getattr(op, which)]
        old = list(values)
        c = rng.randrange(8)
        if c <= 2 and values:
            i = rng.randrange(len(values))
            if which == "outputs" and rng.random() < 0.5 and _constant_tensors(model):
                values[i] = rng.choice(_constant_tensors(model))  # a constant as output
            else:
                values[i] = rng.choice(
                    [
                        -1,
                        n_tensors,
                        n_tensors + 5,
                        2**31 - 1,
                        -2,
                        rng.randrange(n_tensors),
                        rng.randrange(n_tensors),
                        int(sg.inputs[0]),
                    ]
                )
        elif c == 3:
            values = values[:-1]
        elif c == 4:
            values = values + [rng.choice([-1, rng.randrange(n_tensors)])]
        elif c == 5:
            values = []
        elif c == 6 and values:
            values = values + [values[0]]  # duplicate
        else:
            other = [int(v) for v in (op.outputs if which == "inputs" else op.inputs)]
            if other and values:  # its own output as input, or input as output
                values[rng.randrange(len(values))] = rng.choice(other)
        setattr(op, which, np.array(values, np.int32))
        return f"{where} {which} {old} -> {values}"
    if r < 0.7:
        old = op.customOptionsFormat
        op.customOptionsFormat = rng.choice([1, 2, 127, -1])
        return f"{where} custom_options_format {old} -> {op.customOptionsFormat}"
    if r < 0.8:
        # builtin options on our op, or our options on a builtin op
        ours = _ours(model)
        if ours and rng.random() < 0.5:
            i, target, _ = rng.choice(ours)
            target.builtinOptionsType = schema.BuiltinOptions.FullyConnectedOptions
            target.builtinOptions = schema.FullyConnectedOptionsT()
            return f"operator {i} builtin options FullyConnectedOptions added"
        builtins = [(i, o) for i, o in enumerate(sg.operators) if op_name(model, o) is None]
        if ours and builtins:
            i, target = rng.choice(builtins)
            target.customOptions = ours[0][1].customOptions.copy()
            target.customOptionsFormat = 0
            return f"operator {i} (builtin) given our custom options"
        return "no operator to edit"
    if r < 0.9:  # order: an op of ours moved after its consumers
        ours = _ours(model)
        if ours:
            i = rng.choice(ours)[0]
            op = sg.operators.pop(i)
            j = rng.choice([len(sg.operators), rng.randrange(len(sg.operators) + 1)])
            sg.operators.insert(j, op)
            return f"operator {i} moved to position {j}"
        return "no operator of ours"
    # dropped or duplicated operator
    if rng.random() < 0.5:
        del sg.operators[index]
        return f"{where} removed"
    import copy

    sg.operators.insert(index, copy.deepcopy(op))
    return f"{where} duplicated (two writers of its outputs)"


# ------------------------------------------------------------------------- family: opcode

BUILTINS = [v for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")]


def opcode_edit(model, rng) -> str:
    ours = [
        i
        for i, code in enumerate(model.operatorCodes)
        if max(code.builtinCode, code.deprecatedBuiltinCode) == CUSTOM
    ]
    others = [i for i in range(len(model.operatorCodes)) if i not in ours]
    r = rng.random()
    if ours and r < 0.45:
        i = rng.choice(ours)
        code = model.operatorCodes[i]
        new = rng.choice(
            [
                schema.BuiltinOperator.STRIDED_SLICE,
                schema.BuiltinOperator.FULLY_CONNECTED,
                schema.BuiltinOperator.CONV_2D,
                schema.BuiltinOperator.RESHAPE,
                schema.BuiltinOperator.GATHER,
                rng.choice(BUILTINS),
                rng.randrange(0, 127),
                127,
                300,
                -1,
            ]
        )
        c = rng.randrange(3)
        if c == 0:
            code.builtinCode, code.deprecatedBuiltinCode = new, min(new, 127) if new >= 0 else 0
        elif c == 1:
            code.builtinCode = new
        else:
            code.deprecatedBuiltinCode = max(-128, min(127, new))
        return (
            f"operator_codes[{i}] ({_custom(code)}) builtin {CUSTOM} -> "
            f"builtin_code {code.builtinCode}, deprecated {code.deprecatedBuiltinCode}"
        )
    if ours and r < 0.8:
        i = rng.choice(ours)
        code = model.operatorCodes[i]
        old = _custom(code)
        new = rng.choice(
            [n for n in OUR_OPS if n != old]
            + ["", old.lower(), old + "\x00x", old[:-1], old + " ", "x" * 1000, "FlexHashed", None]
        )
        code.customCode = None if new is None else new.encode()
        return f"operator_codes[{i}] custom_code {old!r} -> {new!r}"
    if others and r < 0.93:
        i = rng.choice(others)
        code = model.operatorCodes[i]
        old = code.builtinCode
        code.builtinCode = code.deprecatedBuiltinCode = CUSTOM
        code.customCode = rng.choice(OUR_OPS).encode()
        return f"operator_codes[{i}] builtin {old} -> CUSTOM {code.customCode.decode()!r}"
    i = rng.randrange(len(model.operatorCodes))
    code = model.operatorCodes[i]
    code.version = rng.choice([0, -1, 2, 1000, 2**31 - 1])
    return f"operator_codes[{i}] version -> {code.version}"


def _custom(code) -> str:
    c = code.customCode
    return "" if c is None else (c.decode(errors="replace") if isinstance(c, bytes) else c)


# ----------------------------------------------------------------------- family: graph_io


def graph_io_edit(model, rng) -> str:
    sg = model.subgraphs[0]
    which = "inputs" if rng.random() < 0.65 else "outputs"
    values = [int(v) for v in getattr(sg, which)]
    old = list(values)
    n = len(sg.tensors)
    constants = _constant_tensors(model)
    related = [t for t in _related_tensors(model) if t in constants]
    ours_outputs = [int(o) for _, op, _ in _ours(model) for o in op.outputs if o >= 0]
    c = rng.randrange(8)
    if c <= 1 and constants:  # a constant (ours preferred) as graph input/output
        t = rng.choice(related or constants)
        if rng.random() < 0.5 or not values:
            values = values + [t]
        else:
            values[rng.randrange(len(values))] = t
    elif c == 2 and ours_outputs:
        values = values + [rng.choice(ours_outputs)]
    elif c == 3:
        t = rng.randrange(n)
        values = values + [t] if rng.random() < 0.5 or not values else [t]
    elif c == 4:
        values = values + [rng.choice([n, n + 1, -1, -2, 2**31 - 1])]
    elif c == 5:
        values = []
    elif c == 6 and values:
        values = values + [values[0]]
    else:
        values = list(reversed(values)) + [rng.randrange(n)]
    setattr(sg, which, np.array(values, np.int32))
    return f"subgraph {which} {old} -> {values}"


# ------------------------------------------------------------------------- family: fields

_FIELD_GROUPS = (
    (
        "tensor",
        lambda f: " tensor " in f.where and " tensors " not in f.where and "name" not in f.where,
    ),
    ("operator", lambda f: " operator " in f.where and "custom_options[" not in f.where),
    ("opcode", lambda f: f.where.startswith("operator_codes") and "custom_code[" not in f.where),
    (
        "io",
        lambda f: (
            f.where.startswith("subgraph")
            and (" inputs" in f.where[:25] or " outputs" in f.where[:25])
        ),
    ),
    ("buffer", lambda f: f.where.startswith("buffer")),
    ("length", lambda f: f.kind == "length"),
    ("offset", lambda f: f.kind == "offset"),
)


_FIELDS_CACHE: dict = {}


def _seed_fields(content: bytes):
    """The field locations of a seed file (cached; in-place edits keep them)."""
    key = hash(content)
    if key not in _FIELDS_CACHE:
        if len(_FIELDS_CACHE) > 64:
            _FIELDS_CACHE.clear()
        _FIELDS_CACHE[key] = (field_locations(content), set(_related_tensors(read(content))))
    return _FIELDS_CACHE[key]


def fields_edit(content: bytes, rng, fields, related: set) -> tuple[bytes, str]:
    """One in-place edit of ``content`` at one of ``fields`` (located in the seed)."""
    group, test = rng.choice(_FIELD_GROUPS)
    candidates = [f for f in fields if test(f)]
    near = [f for f in candidates if any(f" tensor {t} " in f.where + " " for t in related)]
    if near and rng.random() < 0.5:
        candidates = near
    if not candidates:
        candidates = fields
    f = rng.choice(candidates)
    out = bytearray(content)
    old = f.read(out)
    size = struct.calcsize(f.fmt)
    if f.fmt == "<f":
        new = rng.choice(FLOAT_SPECIALS + (old * 2, -old))
    else:
        bits = 8 * size
        signed = f.fmt[1].islower()
        lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        candidates_v = [
            0,
            1,
            -1,
            old + 1,
            old - 1,
            old + 4,
            old - 4,
            old * 2,
            hi,
            lo,
            2**31 - 1,
            2**31,
            2**16,
            rng.randrange(2**bits),
        ]
        if f.kind in ("offset", "length"):
            candidates_v += [len(content), len(content) - old, old + 8, 2**32 - 4]
        new = rng.choice(candidates_v)
        new = (new - lo) % (2**bits) + lo  # wrap to the field's range
    f.write(out, new)
    return bytes(out), f"{f.where} {old} -> {new} (in place, {group})"


# -------------------------------------------------------------------------- family: bytes


def bytes_edit(content: bytes, rng) -> tuple[bytes, str]:
    out = bytearray(content)
    if rng.random() < 0.12:
        cut = rng.choice([rng.randrange(len(out)), len(out) - rng.randint(1, 64), 8, 0])
        return bytes(out[: max(0, cut)]), f"file truncated {len(out)} -> {max(0, cut)} bytes"
    flips = []
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(len(out))
        old = out[pos]
        out[pos] = rng.choice(
            [
                old ^ (1 << rng.randrange(8)),
                rng.randrange(256),
                0,
                0xFF,
                (old + 1) & 0xFF,
                (old - 1) & 0xFF,
            ]
        )
        flips.append(f"{pos}:{old}->{out[pos]}")
    return bytes(out), "bytes " + ",".join(flips)


# ------------------------------------------------------------------------ family: values


def values_edit(model, rng) -> str:
    """A valid, different model (see :data:`VALUE_OPTIONS`, shared variables)."""
    ours = _ours(model)
    sg = model.subgraphs[0]
    if not ours:
        return "no operator of ours"
    index, op, name = rng.choice(ours)
    options = decode(op.customOptions)
    r = rng.random()
    if r < 0.25:
        old = options["seed"] if "seed" in options else None
        if old is None:  # SMH: a start in range instead
            return _smh_start(op, options, rng, index)
        options["seed"] = rng.choice([0, 2**32 - 1, rng.randrange(2**32), (old + 1) % 2**32])
        _set_options(op, encode(options))
        return f"operator {index} ({name}) seed {old} -> {options['seed']}"
    if r < 0.35 and "use_sign" in options:
        options["use_sign"] = not options["use_sign"]
        _set_options(op, encode(options))
        return f"operator {index} ({name}) use_sign -> {options['use_sign']}"
    if r < 0.4 and "start" in options:
        return _smh_start(op, options, rng, index)
    if r < 0.7:  # other values of a shared variable (or any constant input)
        i = rng.choice(SHARED_INPUTS[name]) if rng.random() < 0.8 else rng.randrange(len(op.inputs))
        t = int(op.inputs[i]) if i < len(op.inputs) else -1
        if t < 0:
            return "optional input absent"
        tensor = sg.tensors[t]
        buffer = model.buffers[tensor.buffer]
        n = len(buffer.data)
        data_rng = np.random.default_rng(rng.randrange(2**32))
        if tensor.type == schema.TensorType.INT8:
            new = data_rng.integers(-127, 128, n).astype(np.int8).view(np.uint8)
        else:
            new = (data_rng.normal(0, 0.3, n // 4).astype(np.float32)).view(np.uint8)
            if name == "SMHWeights" and i == 2:
                new = np.abs(new.view(np.float32)).view(np.uint8)
        buffer.data = new.copy()
        return f"operator {index} ({name}) input {i} (tensor {t}) values replaced"
    if r < 0.85:  # a scale value, still positive and finite
        candidates = [
            t
            for t in (int(v) for v in op.inputs if v >= 0)
            if sg.tensors[t].quantization is not None
            and sg.tensors[t].quantization.scale is not None
            and len(sg.tensors[t].quantization.scale) == 1
        ]
        if candidates:
            t = rng.choice(candidates)
            q = sg.tensors[t].quantization
            old = float(q.scale[0])
            q.scale = np.array([old * rng.choice([0.5, 2.0, 1.01, 1e-3, 10.0])], np.float32)
            return f"tensor {t} int8 scale {old:.3g} -> {float(q.scale[0]):.3g}"
        return _channel_scale(model, op, rng, index, name)
    if name == "HashedWeights":  # a different K, with buckets to match
        t = int(op.inputs[0])
        tensor = sg.tensors[t]
        virtual = int(np.prod(options["kernel_shape"])) + (
            int(options["bias_size"]) if options.get("hash_bias") else 0
        )
        k = rng.choice([1, 2, max(1, options["buckets"] // 2), virtual, rng.randint(1, virtual)])
        old = options["buckets"]
        options["buckets"] = k
        _set_options(op, encode(options))
        tensor.shape = np.array([k], np.int32)
        itemsize = 1 if tensor.type == schema.TensorType.INT8 else 4
        data_rng = np.random.default_rng(k)
        if itemsize == 1:
            data = data_rng.integers(-127, 128, k).astype(np.int8).view(np.uint8)
        else:
            data = data_rng.normal(0, 0.3, k).astype(np.float32).view(np.uint8)
        tensor.buffer = len(model.buffers)  # its own buffer (buffers may be shared)
        buffer = schema.BufferT()
        buffer.data = data.copy()
        model.buffers.append(buffer)
        return f"operator {index} (HashedWeights) K {old} -> {k}, buckets to match"
    return _channel_scale(model, op, rng, index, name)


def _smh_start(op, options, rng, index):
    if "start" not in options:
        return "no start"
    size = int(np.prod(options["kernel_shape"])) + int(options["bias_size"])
    room = options["n"] ** 2 - size
    old = options["start"]
    options["start"] = rng.choice([0, room, rng.randint(0, max(0, room))])
    _set_options(op, encode(options))
    return f"operator {index} (SMHWeights) start {old} -> {options['start']} (in range)"


def _channel_scale(model, op, rng, index, name):
    sg = model.subgraphs[0]
    optional = {"HashedWeights": 1, "FreshWeights": 1, "SMHWeights": 3}[name]
    i = (
        optional
        if len(op.inputs) > optional and op.inputs[optional] >= 0
        else (2 if name == "SMHWeights" else None)
    )
    if i is None:
        return f"operator {index} ({name}) has no scale input"
    tensor = sg.tensors[int(op.inputs[i])]
    buffer = model.buffers[tensor.buffer]
    n = len(buffer.data) // 4
    values = np.random.default_rng(rng.randrange(2**32)).uniform(0.1, 3, n).astype(np.float32)
    buffer.data = values.view(np.uint8).copy()
    return f"operator {index} ({name}) input {i} scale values replaced"


# -------------------------------------------------------------------------- family: bomb


def bomb_edit(model, rng) -> str:
    """Options and output shape agree on a huge virtual size (a decompression bomb)."""
    ours = _ours(model)
    if not ours:
        return "no operator of ours"
    index, op, name = rng.choice(ours)
    sg = model.subgraphs[0]
    options = decode(op.customOptions)
    shape = [int(d) for d in options["kernel_shape"]]
    target = 2 ** rng.choice([22, 24, 26, 27, 28, 30, 31, 33])
    grow = max(1, target // max(1, int(np.prod(shape))))
    axis = len(shape) - 2  # the input dimension: in (Dense) or in channels (Conv2D)
    shape[axis] *= grow
    options["kernel_shape"] = shape
    out = shape[-1]
    if options.get("layout") == "ohwi":
        weights_shape = [out, *shape[:-1]]
    else:
        weights_shape = [out, shape[0]]
    extra = ""
    if name == "SMHWeights":
        size = int(np.prod(shape)) + int(options.get("bias_size", 0))
        n = math.isqrt(size - 1) + 1
        options["n"], options["start"] = n, 0
        rank = int(options["rank"])
        if rng.random() < 0.7 and rank * n <= 2**19:  # factors to match (a big file)
            for i in (0, 1):
                tensor = sg.tensors[int(op.inputs[i])]
                tensor.shape = np.array([rank, n], np.int32)
                itemsize = 1 if tensor.type == schema.TensorType.INT8 else 4
                buffer = schema.BufferT()
                buffer.data = np.full(rank * n * itemsize, 1, np.uint8)
                model.buffers.append(buffer)
                tensor.buffer = len(model.buffers) - 1
            extra = f", U and V [{rank}, {n}] to match"
        else:
            extra = f", n {n} (U and V left as they are)"
    _set_options(op, encode(options))
    tensor = sg.tensors[int(op.outputs[0])]
    if all(d < 2**31 for d in weights_shape):
        tensor.shape = np.array(weights_shape, np.int32)
    return (
        f"operator {index} ({name}) kernel_shape -> {shape} "
        f"({int(np.prod(shape)):,} weights), output 0 shape -> {weights_shape}{extra}"
    )


# --------------------------------------------------------------------------- the mutant

_OBJECT_EDITS = {
    "options": options_edit,
    "options_bytes": options_bytes_edit,
    "tensor": tensor_edit,
    "buffer": buffer_edit,
    "operator": operator_edit,
    "opcode": opcode_edit,
    "graph_io": graph_io_edit,
    "values": values_edit,
    "bomb": bomb_edit,
}


def mutant_rng(seed: int, index: int) -> random.Random:
    return random.Random(f"hashed_keras-mutation/{seed}/{index}")


def mutate(seeds: dict, seed: int, index: int, families=FAMILIES) -> Mutant:
    """Mutant ``index`` of run ``seed``.

    Args:
      seeds: ``{name: bytes}`` of the seed files (the order of the names is part
        of the run: mutant ``index`` uses ``names[index % len(names)]``).
      seed: the run's seed.
      index: the mutant's index.
      families: the families to draw from (default all of :data:`FAMILIES`).

    Returns:
      A :class:`Mutant`; always the same bytes for the same arguments. An edit
      that leaves the file as it was is followed by another (up to 4 more).
    """
    names = list(seeds)
    name = names[index % len(names)]
    family = families[(index // len(names)) % len(families)]
    rng = mutant_rng(seed, index)
    original = seeds[name]
    mutant = Mutant(index, name, family, valid_model=(family == "values"))
    count = rng.choices([1, 2, 3], weights=[60, 25, 15])[0]
    if family == "bomb":
        count = 1
    for attempt in range(5):
        content = _apply(
            original,
            family,
            rng,
            count if attempt == 0 else 1,
            mutant.edits,
            mutant.content or original,
        )
        mutant.content = content
        if content != original:
            break
    return mutant


def _apply(original, family, rng, count, edits, content):
    if family == "bytes":
        content, desc = bytes_edit(content, rng)
        edits.append(desc)
        return content
    if family == "fields":
        fields, related = _seed_fields(original)
        for _ in range(count):
            content, desc = fields_edit(content, rng, fields, related)
            edits.append(desc)
        return content
    model = read(content)
    if family == "buffer" and rng.random() < 0.45 and content == original:
        if count > 1:
            edits.append(_safe(buffer_edit, model, rng))
        content, desc = out_of_line(content, model, rng)
        edits.append(desc)
        return content
    for _ in range(count):
        edits.append(_safe(_OBJECT_EDITS[family], model, rng))
    return write(model)


def _safe(edit, model, rng) -> str:
    try:
        return edit(model, rng)
    except Exception as error:  # noqa: BLE001 - an earlier edit made this one moot
        return f"(edit skipped: {type(error).__name__})"


# ----------------------------------------------------------------------- what must match


def _options_structure(model, op):
    if op.customOptions is None:
        return None
    raw = bytes(op.customOptions)
    try:
        options = decode(raw)
    except Exception:  # noqa: BLE001
        return ("raw", raw)
    if not isinstance(options, dict):
        return ("raw", raw)
    out = {}
    for key, value in options.items():
        if key not in KNOWN_OPTIONS:
            continue  # the kernels ignore keys they do not know
        if key == "seed":
            value = isinstance(value, int) and 0 <= value < 2**32
        elif key == "use_sign":
            value = isinstance(value, bool)
        elif key == "band_buckets":  # another allocation of the same K: a valid model
            value = (
                isinstance(value, list) and len(value),
                isinstance(value, list)
                and all(isinstance(v, int) and v >= 1 for v in value)
                and sum(value) == options.get("buckets"),
            )
        elif key == "start":
            try:
                size = int(np.prod(options["kernel_shape"])) + int(options["bias_size"])
                value = 0 <= value and value + size <= options["n"] ** 2
            except Exception:  # noqa: BLE001
                value = ("bad", repr(value))
        out[key] = repr(value)
    return tuple(sorted(out.items()))


def _int32(value: int) -> int:
    """An int64 of the file as the runtime stores it (TfLiteIntArray: int32, wrapped)."""
    return (int(value) + 2**31) % 2**32 - 2**31


def _quant_structure(q):
    """A tensor's quantization as the runtime reads it, values aside.

    Zero points are read into int32 (TFLite's ParseQuantization wraps 2^40 to 0,
    which the delegate cannot tell apart); the quantized dimension only matters
    with more than one scale.
    """
    if q is None:
        return None
    scale = [] if q.scale is None else [float(s) for s in q.scale]
    return (
        len(scale),
        all(math.isfinite(s) and s > 0 for s in scale),
        None if q.zeroPoint is None else tuple(_int32(z) for z in q.zeroPoint),
        int(q.quantizedDimension) if len(scale) > 1 else None,
    )


def _code(model, index):
    """The operator an opcode means to the runtime: max(builtin, deprecated), custom name."""
    code = model.operatorCodes[index]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    return (builtin, _custom(code) if builtin == CUSTOM else "")


def _ints(values):
    return () if values is None else tuple(int(v) for v in values)


def structure(content: bytes):
    """What our operators' numbers depend on, other than values; None if unparseable.

    For each of our operators (HashedWeights, FreshWeights, SMHWeights, in any
    order) the operator its code means to the runtime, its required inputs,
    outputs and options (read as FlexBuffers whatever ``custom_options_format``
    says, as the kernels do; seed, ``use_sign``, SMH ``start`` and FreshWeights
    ``band_buckets`` only as "valid"; keys the kernels do not know ignored);
    the shape, type, buffer byte length and quantization (scale
    count, all positive and finite, zero points, dimension; not on float
    tensors) of every tensor they read or write; and every place (input 0 or 1
    of an operator of a given code, graph input or output) where one of their
    tensors is used. Two files with the same structure differ at most in
    values (bucket, factor and scale values, seeds, band allocations, names),
    in optional inputs (a channel scale, a builtin operator's bias: present or
    not), in the operators' order, or in the builtin operators' own part of
    the graph (the stock runtime's business): both may be valid models. A
    mutant whose structure differs from its seed's and that still runs with
    different outputs is a *silent wrong result*.
    """
    try:
        model = read(content)
    except Exception:  # noqa: BLE001
        return None
    try:
        graphs = []
        for sg in model.subgraphs or ():
            ours = [
                (i, op, REQUIRED_INPUTS[op_name(model, op)])
                for i, op in enumerate(sg.operators or ())
                if op_name(model, op) in OUR_OPS
            ]
            mine = sorted(
                {t for _, op, k in ours for t in _ints(op.inputs)[:k] + _ints(op.outputs)}
            )
            tensors = []
            for t in mine:
                if not 0 <= t < len(sg.tensors or ()):
                    tensors.append((t, "out of range"))
                    continue
                tensor = sg.tensors[t]
                buffer = (
                    model.buffers[tensor.buffer]
                    if 0 <= tensor.buffer < len(model.buffers or ())
                    else None
                )
                size = (
                    None
                    if buffer is None
                    else (
                        buffer.size
                        if buffer.offset > 1
                        else 0
                        if buffer.data is None
                        else len(buffer.data)
                    )
                )
                quant = (
                    None
                    if tensor.type in (schema.TensorType.FLOAT32, schema.TensorType.FLOAT16)
                    else _quant_structure(tensor.quantization)
                )  # ignored on floats
                tensors.append((t, _ints(tensor.shape), tensor.type, size, quant))
            mine_set = set(mine)
            uses = tuple(
                sorted(
                    (_code(model, op.opcodeIndex), k, t)
                    for op in sg.operators or ()
                    for k, t in enumerate(_ints(op.inputs)[:2])
                    if t in mine_set
                )
            )
            # Graph inputs only: a tensor of ours listed as a graph output as
            # well changes no number of the model's other outputs.
            io = tuple(t for t in _ints(sg.inputs) if t in mine_set)
            ops = tuple(
                sorted(
                    repr(
                        (
                            _code(model, op.opcodeIndex),
                            _ints(op.inputs)[:k],
                            _ints(op.outputs),
                            _options_structure(model, op),
                        )
                    )
                    for i, op, k in ours
                )
            )
            graphs.append((ops, tuple(tensors), uses, io))
        return tuple(graphs)
    except Exception:  # noqa: BLE001 - an unpackable mutant
        return None


def class12(content: bytes) -> str | None:
    """A property that also crashes the stock runtime on a dense file, or None.

    Class 1: a constant tensor listed as a graph input (``set_tensor`` writes into
    the mapped file). Class 2: a buffer whose out-of-line ``offset``/``size``
    point outside the file. A crash of the bare delegate on such a file is the
    runtime's, not the kernels' (the verifier must refuse it on our path).
    """
    try:
        model = read(content)
    except Exception:  # noqa: BLE001
        return None
    try:
        for b, buffer in enumerate(model.buffers or ()):
            if buffer.offset > 1 and (
                buffer.offset + buffer.size > len(content) or buffer.offset + buffer.size >= 2**64
            ):
                return (
                    f"class 2: buffer {b} offset {buffer.offset} size {buffer.size} "
                    f"outside the {len(content)}-byte file"
                )
        for sg in model.subgraphs or ():
            for i in sg.inputs if sg.inputs is not None else ():
                if 0 <= i < len(sg.tensors) and _is_constant(model, sg.tensors[i]):
                    return f"class 1: constant tensor {int(i)} is a graph input"
    except Exception:  # noqa: BLE001
        return None
    return None


def dense_twin(content: bytes) -> bytes | None:
    """The mutant with each of our operators replaced by constants of its outputs'
    declared shapes (zeros): the same file as the stock runtime alone would see
    it if it were a dense model. None if that cannot be built (unparseable, an
    output of ours with a bad index, shape or type).

    If the stock runtime crashes on the dense twin too, a crash of the bare
    delegate on the mutant is the runtime's (the other edits crash it without
    our kernels), not the kernels'.
    """
    try:
        model = read(content)
        sg = model.subgraphs[0]
        keep = []
        for op in sg.operators:
            if op_name(model, op) not in OUR_OPS:
                keep.append(op)
                continue
            for t in _ints(op.outputs):
                if t < 0:
                    continue
                tensor = sg.tensors[t]
                shape = _ints(tensor.shape)
                if (
                    tensor.type != schema.TensorType.FLOAT32
                    or any(d <= 0 for d in shape)
                    or int(np.prod(shape)) > 2**24
                ):
                    return None
                buffer = schema.BufferT()
                buffer.data = np.zeros(4 * int(np.prod(shape)), np.uint8)
                model.buffers.append(buffer)
                tensor.buffer = len(model.buffers) - 1
        if len(keep) == len(sg.operators):
            return None  # nothing of ours left: the mutant itself is its dense twin
        sg.operators = keep
        out = write(model)
    except Exception:  # noqa: BLE001
        return None
    # Out-of-line buffers keep their offsets only if the file keeps its tail.
    if any(b.offset > 1 for b in model.buffers):
        return None
    return out
