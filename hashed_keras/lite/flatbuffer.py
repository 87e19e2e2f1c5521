"""Reading, editing and writing `.tflite` flatbuffers: the one place that does it.

Uses the object API of the TFLite schema shipped with ``ai_edge_litert`` (the
same module exists in ``tensorflow.lite.tools``).
"""

from __future__ import annotations

import numpy as np

try:  # ai-edge-litert is the primary runtime
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils as _fbu
except ImportError:  # pragma: no cover - TensorFlow's copy
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils as _fbu

_NUMPY_TYPES = {
    schema.TensorType.FLOAT32: np.float32,
    schema.TensorType.FLOAT16: np.float16,
    schema.TensorType.INT32: np.int32,
    schema.TensorType.INT8: np.int8,
    schema.TensorType.UINT8: np.uint8,
    schema.TensorType.INT64: np.int64,
    schema.TensorType.INT16: np.int16,
    schema.TensorType.BOOL: np.bool_,
}


def read(content: bytes):
    """A mutable ``ModelT`` from ``.tflite`` bytes."""
    return _fbu.convert_bytearray_to_object(bytearray(content))


def write(model) -> bytes:
    """``.tflite`` bytes from a ``ModelT``."""
    return bytes(_fbu.convert_object_to_bytearray(model))


def opcode_name(model, opcode_index: int) -> str:
    """``"FULLY_CONNECTED"``, ..., or the custom code of a CUSTOM operator."""
    code = model.operatorCodes[opcode_index]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == schema.BuiltinOperator.CUSTOM:
        custom = code.customCode
        return custom.decode() if isinstance(custom, bytes) else str(custom)
    return _fbu.opcode_to_name(model, opcode_index)


def type_name(tensor_type: int) -> str:
    return _fbu.type_to_name(tensor_type)


def tensor_name(tensor) -> str:
    name = tensor.name
    return name.decode() if isinstance(name, bytes) else str(name)


def constant_value(model, tensor):
    """A constant tensor's value as a numpy array, or None if it has no data."""
    buffer = model.buffers[tensor.buffer]
    if buffer.data is None or len(buffer.data) == 0:
        return None
    dtype = _NUMPY_TYPES.get(tensor.type)
    if dtype is None:
        return None
    data = np.frombuffer(bytes(np.asarray(buffer.data, np.uint8)), dtype=dtype)
    shape = [] if tensor.shape is None else [int(d) for d in tensor.shape]
    if data.size != int(np.prod(shape)):
        return None
    return data.reshape(shape)


def buffer_bytes(model, tensor) -> int:
    buffer = model.buffers[tensor.buffer]
    return 0 if buffer.data is None else len(buffer.data)


def buffer_users(model, buffer_index: int) -> int:
    """How many tensors (in all subgraphs) read a buffer."""
    return sum(1 for sg in model.subgraphs for t in sg.tensors if t.buffer == buffer_index)


def add_constant(model, subgraph, name: str, value: np.ndarray, *, scale=None) -> int:
    """Adds a constant tensor with its own buffer; returns its index.

    ``value`` is stored as float32, or, with ``scale``, as int8 values with that
    per-tensor quantization scale (zero point 0): ``real = scale * value``.
    """
    tensor = schema.TensorT()
    if scale is None:
        value = np.ascontiguousarray(value, np.float32)
        tensor.type = schema.TensorType.FLOAT32
    else:
        value = np.ascontiguousarray(value, np.int8)
        tensor.type = schema.TensorType.INT8
        quantization = schema.QuantizationParametersT()
        quantization.scale = [float(scale)]
        quantization.zeroPoint = [0]
        tensor.quantization = quantization
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(value.tobytes(), np.uint8)
    model.buffers.append(buffer)
    tensor.name = name.encode()
    tensor.shape = np.array(value.shape, np.int32)
    tensor.buffer = len(model.buffers) - 1
    subgraph.tensors.append(tensor)
    return len(subgraph.tensors) - 1


def make_computed(model, subgraph, tensor_index: int) -> None:
    """Turns a constant tensor into one computed by an operator (drops its data)."""
    tensor = subgraph.tensors[tensor_index]
    old = tensor.buffer
    empty = schema.BufferT()
    model.buffers.append(empty)
    tensor.buffer = len(model.buffers) - 1
    if old and buffer_users(model, old) == 0:
        model.buffers[old].data = None


def custom_opcode(model, custom_code: str) -> int:
    """Index of the CUSTOM operator code ``custom_code``, added if missing."""
    for i, code in enumerate(model.operatorCodes):
        if (
            max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.CUSTOM
            and opcode_name(model, i) == custom_code
        ):
            return i
    code = schema.OperatorCodeT()
    code.builtinCode = schema.BuiltinOperator.CUSTOM
    code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = custom_code.encode()
    code.version = 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def prepend_custom_op(model, subgraph, custom_code: str, inputs, outputs, options: bytes) -> None:
    """Inserts a CUSTOM operator with FlexBuffers options before all others.

    Its inputs are constants, so the front of the execution plan is a valid
    (topological) place for it.
    """
    op = schema.OperatorT()
    op.opcodeIndex = custom_opcode(model, custom_code)
    op.inputs = np.array(inputs, np.int32)
    op.outputs = np.array(outputs, np.int32)
    op.customOptions = np.frombuffer(options, np.uint8)
    op.customOptionsFormat = schema.CustomOptionsFormat.FLEXBUFFERS
    op.builtinOptionsType = 0
    subgraph.operators.insert(0, op)
