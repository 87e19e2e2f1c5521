"""TFLite post-training full-integer (int8) quantization of a Keras 3 model.

>>> from hk_experiments.baselines import ptq
>>> ptq.convert_int8(model, "runs/ptq/model_int8.tflite", x_train[:200])
{'path': ..., 'file_bytes': ..., 'gzip_bytes': ..., 'input_dtype': 'float32', ...}

The standard recipe: ``TFLiteConverter.from_keras_model`` with
``optimizations=[tf.lite.Optimize.DEFAULT]``, a representative data set
calibrating the activation ranges, and ``supported_ops=[TFLITE_BUILTINS_INT8]``
so every operator is int8 (weights per channel, activations per tensor) or the
conversion fails. By default the model keeps a float32 input and output (a
QUANTIZE op first, a DEQUANTIZE op last), so
:func:`hashed_keras.lite.measure.measure` evaluates it like any float model.
With ``int8_io=True`` the input and output are int8; feed it
:func:`quantize_input` (``measure()`` feeds float32 and cannot evaluate such a
file as it is).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np


def _representative(inputs, num_samples):
    x = np.asarray(inputs, np.float32)
    if num_samples is not None:
        x = x[:num_samples]
    if len(x) == 0:
        raise ValueError(
            "representative_inputs is empty: the converter needs examples "
            "to calibrate the activation ranges."
        )

    def generate():
        for i in range(len(x)):
            yield [x[i : i + 1]]

    return generate


def _convert(converter) -> bytes:
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # Keras' export prints its captures; the converter warns about input statistics
        # even though the representative data set calibrates the input.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return converter.convert()


def _write(path, content) -> dict:
    from hashed_keras.lite.measure import file_sizes

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return {"path": str(path), **file_sizes(path)}


def convert_float(keras_model, path) -> dict:
    """The plain float32 ``.tflite`` of ``keras_model`` (the reference for the sizes).

    Returns:
      ``path``, ``file_bytes``, ``gzip_bytes`` (gzip level 9).
    """
    import tensorflow as tf

    return _write(path, _convert(tf.lite.TFLiteConverter.from_keras_model(keras_model)))


def convert_int8(
    keras_model,
    path,
    representative_inputs,
    *,
    int8_io: bool = False,
    num_samples: int | None = 500,
) -> dict:
    """Writes the full-integer int8 ``.tflite`` of ``keras_model`` to ``path``.

    Args:
      keras_model: a Keras 3 model (one input) of stock layers (the hashed
        layers would be constant-folded into dense weights first).
      path: the output file.
      representative_inputs: float32 examples shaped like the model's input,
        e.g. ``x_train[:500]``, for calibrating the activation ranges (the
        training split, not the test split).
      int8_io: make the input and output int8 too (default: float32, with
        quantize/dequantize ops inside the file).
      num_samples: use at most this many representative examples (None: all).

    Returns:
      ``path``, ``file_bytes``, ``gzip_bytes`` (gzip level 9), and the input
      and output ``*_dtype`` and ``*_quantization`` (scale, zero point).

    Raises:
      ValueError: no representative examples; or an operator the converter
        cannot quantize to int8 (its message).
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _representative(representative_inputs, num_samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if int8_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    result = _write(path, _convert(converter))
    result.update(io_details(path))
    return result


def io_details(path) -> dict:
    """The dtype and (scale, zero point) of a ``.tflite``'s first input and output."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    result = {}
    for kind, detail in (
        ("input", interpreter.get_input_details()[0]),
        ("output", interpreter.get_output_details()[0]),
    ):
        result[f"{kind}_dtype"] = np.dtype(detail["dtype"]).name
        scale, zero_point = detail["quantization"]
        result[f"{kind}_quantization"] = [float(scale), int(zero_point)]
    return result


def quantize_input(x, input_detail):
    """Float inputs as an interpreter input wants them.

    ``input_detail`` is one entry of ``get_input_details()``; a float32 input
    gets ``x`` unchanged, an int8/uint8 one ``round(x / scale + zero_point)``,
    clipped to the type's range.
    """
    dtype = np.dtype(input_detail["dtype"])
    if dtype == np.float32:
        return np.asarray(x, np.float32)
    scale, zero_point = input_detail["quantization"]
    if scale == 0:
        raise ValueError(
            f"input {input_detail.get('name')!r} is {dtype.name} without quantization parameters."
        )
    info = np.iinfo(dtype)
    return np.clip(
        np.round(np.asarray(x, np.float32) / scale + zero_point), info.min, info.max
    ).astype(dtype)
