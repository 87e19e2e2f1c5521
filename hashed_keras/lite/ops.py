"""The custom operators of a hashed `.tflite` file: options and numpy reference.

The format is specified in ``docs/tflite_format.md``; the C++ kernels in
``kernels/`` implement it, and :func:`reference_weights` is its numpy twin
(used by the converter to find tensors and by the tests).
"""

from __future__ import annotations

import numpy as np
from flatbuffers import flexbuffers

from hashed_keras import hashing

HASHED_WEIGHTS = "HashedWeights"
CUSTOM_OPS = (HASHED_WEIGHTS,)

# Keras kernel layout -> TFLite weight layout, per builtin consumer.
LAYOUTS = {
    "fc": (1, 0),          # Dense [in, out] -> FULLY_CONNECTED [out, in]
    "ohwi": (3, 0, 1, 2),  # Conv2D [h, w, in, out] -> CONV_2D [out, h, w, in]
}


def hashed_weights_options(spec: dict, layout: str) -> bytes:
    """FlexBuffers custom options of a ``HashedWeights`` op for a layer spec.

    Args:
      spec: ``HashedLayer.hash_spec()``.
      layout: ``"fc"`` or ``"ohwi"``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {sorted(LAYOUTS)}, got {layout!r}.")
    return bytes(flexbuffers.Dumps({
        "contract_version": int(spec["contract_version"]),
        "seed": int(spec["seed"]),
        "buckets": int(spec["buckets"]),
        "kernel_shape": [int(d) for d in spec["kernel_shape"]],
        "layout": layout,
        "use_sign": bool(spec["use_sign"]),
        "hash_bias": bool(spec["hash_bias"]),
        "bias_size": int(spec["bias_size"]) if spec["hash_bias"] else 0,
    }))


def decode_options(options: bytes) -> dict:
    """The options map of a custom op (for inspection)."""
    return flexbuffers.Loads(bytes(options))


def virtual_weights(spec: dict, buckets: np.ndarray) -> np.ndarray:
    """The layer's flat virtual tensor (kernel, then bias if hashed), in numpy."""
    size = int(np.prod(spec["kernel_shape"])) + (
        int(spec["bias_size"]) if spec["hash_bias"] else 0)
    index, sign = hashing.bucket_and_sign(size, int(spec["buckets"]), int(spec["seed"]),
                                          use_sign=bool(spec["use_sign"]))
    return np.asarray(buckets, np.float32)[index] * sign


def reference_weights(spec: dict, buckets: np.ndarray, layout: str):
    """What a ``HashedWeights`` op outputs: ``(weights in layout, bias or None)``."""
    virtual = virtual_weights(spec, buckets)
    kernel_size = int(np.prod(spec["kernel_shape"]))
    kernel = virtual[:kernel_size].reshape(spec["kernel_shape"]).transpose(LAYOUTS[layout])
    bias = virtual[kernel_size:] if spec["hash_bias"] else None
    return np.ascontiguousarray(kernel), bias
