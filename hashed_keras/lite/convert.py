"""``convert(model, path)``: a Keras model to a `.tflite` that stores only shared variables.

The standard ``TFLiteConverter`` constant-folds every hashed layer into a dense
weight tensor. This module finds those tensors *by content* (each equals the
layer's rebuilt weights in the TFLite layout, possibly times a per-output-
channel factor from a folded BatchNormalization), gives them an empty buffer,
and adds a custom operator per layer that rebuilds them from the layer's shared
variables (``HashedWeights``, ``FreshWeights``: ``docs/tflite_format.md``). Before it
reports success it runs the new file through the kernels and compares it with the Keras model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import tempfile
from pathlib import Path

import keras
import numpy as np

from hashed_keras.layers.compressed import CompressedLayer
from hashed_keras.lite import flatbuffer, ops

DEFAULT_TOLERANCE = 1e-5
STORE_OVERHEAD_BYTES = 8 * 1024


class ConversionError(ValueError):
    """The model cannot be represented faithfully; the message says why and what to do."""


def non_finite_variable(model) -> str | None:
    """The path of the first of ``model``'s variables holding a NaN or an
    infinity (its training diverged), or None."""
    for variable in model.weights:
        if not np.all(np.isfinite(keras.ops.convert_to_numpy(variable))):
            return variable.path
    return None


@dataclasses.dataclass
class LayerRow:
    name: str
    type: str
    virtual_size: int
    stored_size: int
    dense_bytes: int
    file_bytes: int
    note: str = ""


@dataclasses.dataclass
class ConversionReport:
    """What :func:`convert` wrote."""

    path: str
    file_bytes: int
    stored_bytes: int
    layers: list
    max_relative_error: float | None
    dense: bool

    @property
    def size_bound_bytes(self) -> int:
        """The promised ceiling: 1.02 x stored variables + 8 KiB."""
        return int(1.02 * self.stored_bytes) + STORE_OVERHEAD_BYTES

    def table(self) -> str:
        """The per-layer size table, as text."""
        head = (
            f"{'layer':<24} {'type':<14} {'virtual':>10} {'stored':>9} "
            f"{'dense B':>10} {'in file B':>10}  note"
        )
        lines = [head, "-" * len(head)]
        for r in self.layers:
            lines.append(
                f"{r.name:<24} {r.type:<14} {r.virtual_size:>10,} "
                f"{r.stored_size:>9,} {r.dense_bytes:>10,} {r.file_bytes:>10,}  "
                f"{r.note}"
            )
        summary = f"file {self.path}: {self.file_bytes:,} B"
        if not self.dense:  # the bound is a promise about files that store shared variables
            summary += (
                f"; stored variables {self.stored_bytes:,} B; "
                f"bound 1.02x+8KiB = {self.size_bound_bytes:,} B"
            )
        if self.max_relative_error is not None:
            summary += f"; max relative error vs Keras {self.max_relative_error:.2e}"
        lines.append(summary)
        return "\n".join(lines)

    @property
    def compressed_layers(self) -> int:
        """How many layers the file rebuilds from shared variables."""
        return sum(1 for r in self.layers if r.stored_size < r.virtual_size)


def _all_layers(model):
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)]


def _tflite_bytes(model) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    with contextlib.redirect_stdout(io.StringIO()):  # Keras' export prints its captures
        return converter.convert()


def _match(candidate: np.ndarray, expected: np.ndarray):
    """``(matched, scale)``: candidate == expected, or == scale[o] * expected[o]."""
    if np.array_equal(candidate, expected):
        return True, None
    out = expected.shape[0]
    e = expected.reshape(out, -1).astype(np.float64)
    t = candidate.reshape(out, -1).astype(np.float64)
    norms = (e * e).sum(axis=1)
    if np.any((norms == 0) & (np.abs(t).sum(axis=1) > 0)):
        return False, None
    scale = np.where(norms > 0, (t * e).sum(axis=1) / np.where(norms > 0, norms, 1), 1.0)
    residual = np.abs(t - scale[:, None] * e).max()
    if residual <= 1e-6 * max(np.abs(t).max(), 1e-30):
        # Ops whose reference is computed in float64 (an inverse DCT, a matmul)
        # match TFLite's float32 folding only to rounding: a scale of 1.
        if np.all(np.abs(scale - 1.0) <= 1e-6):
            return True, None
        return True, scale.astype(np.float32)
    return False, None


def _find_tensor(model, subgraph, expected, taken):
    for index, tensor in enumerate(subgraph.tensors):
        if index in taken or tensor.type != flatbuffer.schema.TensorType.FLOAT32:
            continue
        if tensor.shape is None or tuple(tensor.shape) != expected.shape:
            continue
        value = flatbuffer.constant_value(model, tensor)
        if value is None:
            continue
        matched, scale = _match(value, expected)
        if matched:
            return index, scale
    return None, None


def _layout(layer) -> str:
    rank = len(layer.kernel_shape)
    if rank in (2, 4):
        return "fc" if rank == 2 else "ohwi"
    raise ConversionError(
        f"Layer '{layer.name}' ({type(layer).__name__}) has a rank-{rank} kernel; only "
        "Dense-like (2-D) and Conv2D-like (4-D) kernels have a TFLite operator."
    )


def _find_bias(model, subgraph, expected_bias, taken):
    for i, tensor in enumerate(subgraph.tensors):
        if i in taken:
            continue
        value = flatbuffer.constant_value(model, tensor)
        if value is None or value.shape != expected_bias.shape:
            continue
        # Exact for a hashed bias; float32 rounding for one from a matmul (SMH).
        tolerance = 1e-6 * max(float(np.abs(expected_bias).max()), 1e-30)
        if np.abs(value.astype(np.float64) - expected_bias).max() <= tolerance:
            return i
    return None


SHARED_DTYPES = ("float32", "int8")


def quantize_int8(value: np.ndarray) -> tuple[np.ndarray, float]:
    """Symmetric per-tensor int8: ``(q, scale)`` with ``value ~ scale * q``, |q| <= 127."""
    value = np.asarray(value, np.float32)
    peak = float(np.abs(value).max()) if value.size else 0.0
    scale = peak / 127.0 if peak > 0 else 1.0
    q = np.clip(np.round(value / np.float32(scale)), -127, 127).astype(np.int8)
    return q, scale


def _rewrite(
    content: bytes, compressed_layers, keras_model, shared_dtype="float32"
) -> tuple[bytes, dict, list]:
    model = flatbuffer.read(content)
    if len(model.subgraphs) != 1:
        raise ConversionError(
            f"The converted model has {len(model.subgraphs)} subgraphs; only single-"
            "subgraph models (no control flow) are supported."
        )
    subgraph = model.subgraphs[0]
    taken, placed, constants, substitutes = set(), {}, {}, []
    for layer in compressed_layers:
        try:
            lowering = ops.lower(layer, _layout(layer), keras_model)
        except ValueError as error:
            raise ConversionError(str(error)) from None
        index, scale = _find_tensor(model, subgraph, lowering.weights, taken)
        if index is None:
            raise ConversionError(
                f"Layer '{layer.name}': its weights {lowering.weights.shape} were not found "
                "in the converted model (TFLite fused them with something this converter "
                "does not recognise, e.g. a non per-channel transform). Leave the layer "
                "dense (compress(..., skip=[...])), or export with dense=True."
            )
        taken.add(index)
        outputs = [index]
        note = "BatchNorm folded: per-channel scale" if scale is not None else ""
        if lowering.bias is not None:
            bias_index = (
                None if scale is not None else _find_bias(model, subgraph, lowering.bias, taken)
            )
            if bias_index is None:
                lowering = lowering.without_bias
                note = (note + "; " if note else "") + "bias folded: stored dense"
            else:
                taken.add(bias_index)
                outputs.append(bias_index)
        inputs, stored = [], 0
        for name, value, variable in lowering.inputs:
            if name not in constants:
                if variable is not None and shared_dtype == "int8":
                    q, q_scale = quantize_int8(value)
                    constants[name] = flatbuffer.add_constant(
                        model, subgraph, name, q, scale=q_scale
                    )
                    substitutes.append(
                        (
                            variable,
                            (q.astype(np.float32) * np.float32(q_scale)).reshape(variable.shape),
                        )
                    )
                    stored += q.nbytes + 4
                else:
                    constants[name] = flatbuffer.add_constant(model, subgraph, name, value)
                    stored += value.nbytes
            inputs.append(constants[name])
        if scale is not None:
            inputs.append(flatbuffer.add_constant(model, subgraph, f"{layer.name}/scale", scale))
            stored += scale.nbytes
        for output in outputs:
            flatbuffer.make_computed(model, subgraph, output)
        flatbuffer.prepend_custom_op(
            model, subgraph, lowering.op, inputs, outputs, lowering.options
        )
        placed[layer.name] = (stored, note)
    return flatbuffer.write(model), placed, substitutes


@contextlib.contextmanager
def _substituted(substitutes):
    """The Keras variables temporarily set to other values (e.g. int8-rounded)."""
    saved = [(variable, keras.ops.convert_to_numpy(variable)) for variable, _ in substitutes]
    try:
        for variable, value in substitutes:
            variable.assign(value.astype(variable.dtype))
        yield
    finally:
        for variable, value in saved:
            variable.assign(value)


def _sample_inputs(model, sample_inputs, num_samples, seed):
    if sample_inputs is not None:
        return [
            np.asarray(x, np.float32)
            for x in (
                sample_inputs if isinstance(sample_inputs, (list, tuple)) else [sample_inputs]
            )
        ]
    rng = np.random.default_rng(seed)
    samples = []
    for tensor in model.inputs:
        shape = [num_samples] + [int(d) for d in tensor.shape[1:]]
        samples.append(rng.random(shape, dtype=np.float32))
    return samples


def run_tflite(interpreter, inputs):
    """Runs a single-signature interpreter on a batch; returns its outputs in order."""
    details = interpreter.get_input_details()
    if len(details) != len(inputs):
        raise ConversionError(f"The .tflite has {len(details)} inputs; got {len(inputs)}.")
    for detail, x in zip(details, inputs):
        interpreter.resize_tensor_input(detail["index"], list(x.shape))
    interpreter.allocate_tensors()
    for detail, x in zip(interpreter.get_input_details(), inputs):
        interpreter.set_tensor(detail["index"], x.astype(detail["dtype"]))
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]


def _verify(model, content, inputs, tolerance, use_kernels):
    from hashed_keras.lite.interpreter import make_interpreter
    from hashed_keras.lite.verify import InvalidModelError, verify

    try:  # the file must pass the same verification as every loader's
        verify(content)
    except InvalidModelError as error:
        raise ConversionError(
            f"The converted file fails verification: {error}; nothing was written."
        ) from None
    if use_kernels:
        interpreter = make_interpreter(model_content=content, verify=False)
    else:
        from hashed_keras.lite.interpreter import _default_runtime, _runtime_module

        interpreter = _runtime_module(_default_runtime()).Interpreter(model_content=content)
    got = run_tflite(interpreter, inputs)
    # Called, not predict(): predict() traces a tf.function per model, and a
    # process that converts several (a byte-budget search) got TensorFlow's
    # "triggered tf.function retracing" warnings. The interpreter above runs
    # the whole batch at once too.
    want = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    want = [keras.ops.convert_to_numpy(w) for w in keras.tree.flatten(want)]
    if len(got) != len(want):
        raise ConversionError(f"The .tflite has {len(got)} outputs, Keras {len(want)}.")
    worst = 0.0
    for g, w in zip(got, want):
        g = g.reshape(w.shape) if g.size == w.size else g
        if g.shape != w.shape:
            raise ConversionError(f"Output shape {g.shape} differs from Keras' {w.shape}.")
        scale = max(float(np.abs(w).max()), 1e-12)
        worst = max(worst, float(np.abs(g.astype(np.float64) - w).max()) / scale)
    if not worst <= tolerance:
        raise ConversionError(
            f"The converted model differs from Keras by {worst:.3g} (relative), more than "
            f"the tolerance {tolerance:g}; nothing was written."
        )
    return worst


def _write_atomically(path: Path, content: bytes):
    """Writes ``content`` to a temporary file beside ``path``, then renames it.

    The file gets the mode an ordinary ``open(path, "w")`` would (0666 less
    the umask; mkstemp alone would leave 0600).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def convert(
    model,
    path,
    *,
    dense=False,
    shared_dtype="float32",
    verify=True,
    sample_inputs=None,
    num_samples=8,
    tolerance=DEFAULT_TOLERANCE,
    seed=0,
) -> ConversionReport:
    """Converts ``model`` to a `.tflite` file at ``path``.

    Args:
      model: a Keras model, with or without hashed layers.
      path: the output file.
      dense: emit the plain dense `.tflite` (TFLite's own conversion), e.g. for
        comparison; no custom ops.
      shared_dtype: ``"float32"``, or ``"int8"``: the shared variables
        (buckets, SMH factors) are stored as int8 with a per-tensor scale
        (symmetric, ``scale = max|w| / 127``), about 4x smaller again; the
        kernels dequantize them while rebuilding the weights.
      verify: run the file through the interpreter (with the kernels) and
        compare with ``model.predict`` — with ``shared_dtype="int8"``, of the
        model whose shared variables are the int8-rounded values, so the check
        stays exact; refuse (write nothing) beyond ``tolerance``.
      sample_inputs: inputs for that check (an array, or a list per model
        input); default ``num_samples`` uniform random examples.
      tolerance: the largest accepted ``max|tflite - keras| / max|keras|``.
      seed: seed of the random samples.

    Returns:
      A :class:`ConversionReport` (``.table()`` prints the per-layer sizes).

    Raises:
      ConversionError: the model cannot be represented faithfully (the
        message says what to do), or verification failed.
    """
    path = Path(path)
    if shared_dtype not in SHARED_DTYPES:
        raise ValueError(f"`shared_dtype` must be one of {SHARED_DTYPES}, got {shared_dtype!r}.")
    hashed = [
        layer
        for layer in _all_layers(model)
        if isinstance(layer, CompressedLayer) and layer.export_scheme is not None
    ]
    if shared_dtype != "float32" and (dense or not hashed):
        raise ConversionError(
            f"shared_dtype={shared_dtype!r} quantizes the shared variables of compressed "
            "layers; this model has none to quantize"
            + (" (dense=True)." if dense else ".")
            + " Use TFLite's post-training quantization for dense models."
        )
    if (variable := non_finite_variable(model)) is not None:
        raise ConversionError(
            f"The model's weights are not finite (NaN or inf in '{variable}'): its "
            "training diverged. Retrain it (e.g. with a lower learning rate) before "
            "converting."
        )
    content = _tflite_bytes(model)
    placed, substitutes = {}, []
    if not dense and hashed:
        content, placed, substitutes = _rewrite(content, hashed, model, shared_dtype)
    error = None
    if verify:
        inputs = _sample_inputs(model, sample_inputs, num_samples, seed)
        with _substituted(substitutes):
            error = _verify(model, content, inputs, tolerance, use_kernels=bool(placed))
    _write_atomically(path, content)
    # Stored variables: 4 bytes each; int8 shared variables 1 byte each plus
    # their 4-byte scale.
    rows = []
    stored = sum(4 - 3 * value.size for _, value in substitutes)
    for layer in _all_layers(model):
        if not layer.weights or isinstance(layer, keras.Model):
            continue
        n_stored = int(sum(np.prod(w.shape) for w in layer.weights))
        stored += 4 * n_stored
        compressed = isinstance(layer, CompressedLayer)
        virtual = layer.dense_size() if compressed else n_stored
        default = (
            (0, layer.export_note) if compressed and layer.export_note else (4 * virtual, "dense")
        )
        file_bytes, note = placed.get(layer.name, default)
        rows.append(
            LayerRow(
                layer.name,
                type(layer).__name__,
                int(virtual),
                n_stored,
                4 * int(virtual),
                int(file_bytes),
                note,
            )
        )
    return ConversionReport(str(path), path.stat().st_size, stored, rows, error, dense)
