"""Where every scalar, vector length and offset of a `.tflite` file is, in bytes.

The official schema's generated readers (``schema_py_generated``) give each
table's position and field offsets; :func:`field_locations` walks a (valid)
file with them and lists the byte position, width and meaning of the fields an
attacker would edit in place: tensor types, shapes and buffer indices, the
operators' opcode indices, inputs, outputs and custom options, operator codes,
subgraph inputs/outputs, buffers' data, out-of-line ``offset``/``size``,
quantization parameters, and the vector lengths and offsets that hold them
together. Editing bytes in place keeps every other byte of the file as it was
(re-serializing with the object API would normalize it).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import flatbuffers

try:
    from ai_edge_litert import schema_py_generated as schema
except ImportError:  # pragma: no cover - TensorFlow's copy
    from tensorflow.lite.python import schema_py_generated as schema


@dataclass(frozen=True)
class Field:
    """One editable number of the file.

    Attributes:
      where: e.g. ``"subgraph 0 tensor 14 buffer"``.
      kind: ``"scalar"``, ``"element"`` (of a vector), ``"length"`` (a vector's or
        string's length), ``"offset"`` (a uoffset to a table, vector or string).
      pos: byte position in the file.
      fmt: its ``struct`` format (little-endian).
    """

    where: str
    kind: str
    pos: int
    fmt: str

    def read(self, content) -> int | float:
        return struct.unpack_from(self.fmt, content, self.pos)[0]

    def write(self, content: bytearray, value) -> None:
        struct.pack_into(self.fmt, content, self.pos, value)


class _Walker:
    def __init__(self, content: bytes):
        self.buf = bytearray(content)
        self.fields: list[Field] = []

    def _slot(self, tab, field_id):
        o = tab.Offset(4 + 2 * field_id)
        return tab.Pos + o if o else None

    def scalar(self, tab, field_id, fmt, where):
        pos = self._slot(tab, field_id)
        if pos is not None:
            self.fields.append(Field(where, "scalar", pos, fmt))

    def vector(self, tab, field_id, where, elem_fmt=None, tables=False):
        """Records a vector's offset and length (and its scalar elements); returns
        the absolute positions of its table elements (if ``tables``) or []."""
        pos = self._slot(tab, field_id)
        if pos is None:
            return []
        self.fields.append(Field(f"{where} (offset)", "offset", pos, "<I"))
        start = tab.Vector(pos - tab.Pos)
        length = tab.VectorLen(pos - tab.Pos)
        self.fields.append(Field(f"{where} (length)", "length", start - 4, "<I"))
        if elem_fmt is not None:
            size = struct.calcsize(elem_fmt)
            for i in range(length):
                self.fields.append(Field(f"{where}[{i}]", "element", start + i * size, elem_fmt))
        if not tables:
            return []
        out = []
        for i in range(length):
            elem = start + 4 * i
            self.fields.append(Field(f"{where}[{i}] (offset)", "offset", elem, "<I"))
            out.append(tab.Indirect(elem))
        return out

    def table(self, cls, pos):
        obj = cls()
        obj.Init(self.buf, pos)
        return obj._tab

    def walk(self):
        buf = self.buf
        self.fields.append(Field("root (offset)", "offset", 0, "<I"))
        root = flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, 0)
        model = self.table(schema.Model, root)
        self.scalar(model, 0, "<I", "model version")
        for i, pos in enumerate(self.vector(model, 1, "operator_codes", tables=True)):
            code = self.table(schema.OperatorCode, pos)
            where = f"operator_codes[{i}]"
            self.scalar(code, 0, "<b", f"{where} deprecated_builtin_code")
            self.vector(code, 1, f"{where} custom_code", elem_fmt="<B")
            self.scalar(code, 2, "<i", f"{where} version")
            self.scalar(code, 3, "<i", f"{where} builtin_code")
        for s, pos in enumerate(self.vector(model, 2, "subgraphs", tables=True)):
            sg = self.table(schema.SubGraph, pos)
            where = f"subgraph {s}"
            for t, tpos in enumerate(self.vector(sg, 0, f"{where} tensors", tables=True)):
                self._tensor(tpos, f"{where} tensor {t}")
            self.vector(sg, 1, f"{where} inputs", elem_fmt="<i")
            self.vector(sg, 2, f"{where} outputs", elem_fmt="<i")
            for o, opos in enumerate(self.vector(sg, 3, f"{where} operators", tables=True)):
                op = self.table(schema.Operator, opos)
                w = f"{where} operator {o}"
                self.scalar(op, 0, "<I", f"{w} opcode_index")
                self.vector(op, 1, f"{w} inputs", elem_fmt="<i")
                self.vector(op, 2, f"{w} outputs", elem_fmt="<i")
                self.scalar(op, 3, "<B", f"{w} builtin_options_type")
                self.vector(op, 5, f"{w} custom_options", elem_fmt="<B")
                self.scalar(op, 6, "<b", f"{w} custom_options_format")
        for b, pos in enumerate(self.vector(model, 4, "buffers", tables=True)):
            buffer = self.table(schema.Buffer, pos)
            self.vector(buffer, 0, f"buffer {b} data")
            self.scalar(buffer, 1, "<Q", f"buffer {b} offset")
            self.scalar(buffer, 2, "<Q", f"buffer {b} size")
        return self.fields

    def _tensor(self, pos, where):
        tensor = self.table(schema.Tensor, pos)
        self.vector(tensor, 0, f"{where} shape", elem_fmt="<i")
        self.scalar(tensor, 1, "<b", f"{where} type")
        self.scalar(tensor, 2, "<I", f"{where} buffer")
        self.vector(tensor, 3, f"{where} name")
        qpos = self._slot(tensor, 4)
        if qpos is not None:
            self.fields.append(Field(f"{where} quantization (offset)", "offset", qpos, "<I"))
            quant = self.table(schema.QuantizationParameters, tensor.Indirect(qpos))
            self.vector(quant, 2, f"{where} scale", elem_fmt="<f")
            self.vector(quant, 3, f"{where} zero_point", elem_fmt="<q")
            self.scalar(quant, 6, "<i", f"{where} quantized_dimension")
        self.scalar(tensor, 5, "<B", f"{where} is_variable")
        self.vector(tensor, 7, f"{where} shape_signature", elem_fmt="<i")


def field_locations(content: bytes) -> list[Field]:
    """Every editable field of a valid ``.tflite`` file (see the module docstring).

    Args:
      content: the file's bytes; must be a valid TFLite flatbuffer (a seed).

    Returns:
      The fields, in file-walk order.
    """
    return _Walker(content).walk()
