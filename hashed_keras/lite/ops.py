"""The custom operators of a compressed `.tflite` file: options and numpy reference.

The format is specified in ``docs/tflite_format.md``; the C++ kernels in
``kernels/`` implement it, and the ``reference_*`` functions are its numpy twin
(used by the converter to find tensors and by the tests). :func:`lower` says,
for one compressed Keras layer, which operator rebuilds its weights, from which
constants, with which options.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from flatbuffers import flexbuffers

from hashed_keras import hashing

HASHED_WEIGHTS = "HashedWeights"
FRESH_WEIGHTS = "FreshWeights"
SMH_WEIGHTS = "SMHWeights"
CUSTOM_OPS = (HASHED_WEIGHTS, FRESH_WEIGHTS, SMH_WEIGHTS)

# Keras kernel layout -> TFLite weight layout, per builtin consumer.
LAYOUTS = {
    "fc": (1, 0),  # Dense [in, out] -> FULLY_CONNECTED [out, in]
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
    return bytes(
        flexbuffers.Dumps(
            {
                "contract_version": int(spec["contract_version"]),
                "seed": int(spec["seed"]),
                "buckets": int(spec["buckets"]),
                "kernel_shape": [int(d) for d in spec["kernel_shape"]],
                "layout": layout,
                "use_sign": bool(spec["use_sign"]),
                "hash_bias": bool(spec["hash_bias"]),
                "bias_size": int(spec["bias_size"]) if spec["hash_bias"] else 0,
            }
        )
    )


def decode_options(options: bytes) -> dict:
    """The options map of a custom op (for inspection)."""
    return flexbuffers.Loads(bytes(options))


def virtual_weights(spec: dict, buckets: np.ndarray) -> np.ndarray:
    """The layer's flat virtual tensor (kernel, then bias if hashed), in numpy."""
    size = int(np.prod(spec["kernel_shape"])) + (int(spec["bias_size"]) if spec["hash_bias"] else 0)
    index, sign = hashing.bucket_and_sign(
        size, int(spec["buckets"]), int(spec["seed"]), use_sign=bool(spec["use_sign"])
    )
    return np.asarray(buckets, np.float32)[index] * sign


def reference_weights(spec: dict, buckets: np.ndarray, layout: str):
    """What a ``HashedWeights`` op outputs: ``(weights in layout, bias or None)``."""
    virtual = virtual_weights(spec, buckets)
    kernel_size = int(np.prod(spec["kernel_shape"]))
    kernel = virtual[:kernel_size].reshape(spec["kernel_shape"]).transpose(LAYOUTS[layout])
    bias = virtual[kernel_size:] if spec["hash_bias"] else None
    return np.ascontiguousarray(kernel), bias


def fresh_weights_options(spec: dict) -> bytes:
    """FlexBuffers custom options of a ``FreshWeights`` op (``FreshConv2D.hash_spec()``)."""
    return bytes(
        flexbuffers.Dumps(
            {
                "contract_version": int(spec["contract_version"]),
                "seed": int(spec["seed"]),
                "buckets": int(spec["buckets"]),
                "band_buckets": [int(k) for k in spec["band_buckets"]],
                "kernel_shape": [int(d) for d in spec["kernel_shape"]],
                "layout": "ohwi",
                "use_sign": bool(spec["use_sign"]),
            }
        )
    )


def reference_fresh_weights(spec: dict, buckets: np.ndarray) -> np.ndarray:
    """What a ``FreshWeights`` op outputs: the OHWI spatial kernel (float32)."""
    shape = tuple(int(d) for d in spec["kernel_shape"])
    index, sign = hashing.band_bucket_and_sign(
        shape, spec["band_buckets"], int(spec["seed"]), use_sign=bool(spec["use_sign"])
    )
    coefficients = (np.asarray(buckets, np.float64)[index] * sign).reshape(shape)
    kernel = hashing.idct2_kernel(coefficients).astype(np.float32)
    return np.ascontiguousarray(kernel.transpose(LAYOUTS["ohwi"]))


def smh_weights_options(spec: dict, layout: str, with_bias: bool) -> bytes:
    """FlexBuffers custom options of an ``SMHWeights`` op (``SMHLayer.smh_spec()``)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {sorted(LAYOUTS)}, got {layout!r}.")
    return bytes(
        flexbuffers.Dumps(
            {
                "contract_version": hashing.CONTRACT_VERSION,
                "n": int(spec["n"]),
                "rank": int(spec["rank"]),
                "start": int(spec["start"]),
                "kernel_shape": [int(d) for d in spec["kernel_shape"]],
                "layout": layout,
                "bias_size": int(spec["bias_size"]) if with_bias else 0,
            }
        )
    )


def smh_scales(spec: dict) -> np.ndarray:
    """Input 2 of an ``SMHWeights`` op: ``[kernel scale, bias scale]``."""
    scale = np.float32(spec["scale"])
    return np.array([scale, scale * np.float32(spec["bias_scale"])], np.float32)


def reference_smh_weights(spec: dict, u: np.ndarray, v: np.ndarray, layout: str):
    """What an ``SMHWeights`` op outputs: ``(weights in layout, bias or None)``."""
    n, start = int(spec["n"]), int(spec["start"])
    kernel_size, bias_size = int(spec["kernel_weights"]), int(spec["bias_size"])
    r0, r1 = start // n, (start + kernel_size + bias_size - 1) // n
    rows = np.asarray(u, np.float64)[:, r0 : r1 + 1].T @ np.asarray(v, np.float64)
    flat = rows.reshape(-1)[start - r0 * n :]
    scales = smh_scales(spec).astype(np.float64)
    kernel = (flat[:kernel_size] * scales[0]).astype(np.float32)
    kernel = kernel.reshape(spec["kernel_shape"]).transpose(LAYOUTS[layout])
    bias = None
    if bias_size:
        bias = (flat[kernel_size : kernel_size + bias_size] * scales[1]).astype(np.float32)
    return np.ascontiguousarray(kernel), bias


@dataclasses.dataclass
class Lowering:
    """How one compressed layer's weights are rebuilt by a custom op in the file.

    Attributes:
      op: the custom code.
      inputs: ``(name, value, variable)`` constants the op reads, in input
        order; a name seen before in the same file (a variable shared by
        several layers) is stored once and reused. ``variable`` is the Keras
        variable of a shared variable (buckets, SMH factors: what
        ``shared_dtype="int8"`` quantizes), None for the op's scales.
      options: the op's FlexBuffers custom options.
      weights: output 0, the weight tensor in the TFLite layout, as the
        converter expects to find it in TFLite's own conversion.
      bias: output 1 (the rebuilt bias) for ops that also rebuild the bias, else None.
        Every op accepts a per-output-channel scale (a BatchNormalization
        folded into the weights) as one more, last input.
      without_bias: the lowering to use when the bias was folded with
        something else and must stay dense (None if ``bias`` is None).
    """

    op: str
    inputs: list
    options: bytes
    weights: np.ndarray
    bias: np.ndarray | None = None
    without_bias: Lowering | None = None


def _variable(value) -> np.ndarray:
    return keras.ops.convert_to_numpy(value).astype(np.float32)


def _lower_hashed(layer, layout: str, model) -> Lowering:
    spec, buckets = layer.export_spec(), _variable(layer.shared)
    inputs = [(f"{layer.name}/buckets", buckets, layer.shared)]

    def make(with_bias):
        s = spec if with_bias else dict(spec, hash_bias=False, bias_size=0)
        return Lowering(
            HASHED_WEIGHTS,
            inputs,
            hashed_weights_options(s, layout),
            *reference_weights(s, buckets, layout),
        )

    return _with_bias_fallback(make, spec["hash_bias"])


def _lower_fresh(layer, layout: str, model) -> Lowering:
    if layout != "ohwi":
        raise ValueError(f"Layer '{layer.name}': FreshWeights feeds CONV_2D only.")
    spec, buckets = layer.export_spec(), _variable(layer.shared)
    return Lowering(
        FRESH_WEIGHTS,
        [(f"{layer.name}/buckets", buckets, layer.shared)],
        fresh_weights_options(spec),
        reference_fresh_weights(spec, buckets),
    )


def _lower_smh(layer, layout: str, model) -> Lowering:
    from hashed_keras import smh

    spec = layer.export_spec()
    factors = smh.smh_factors(model)
    u, v = _variable(factors.U), _variable(factors.V)
    inputs = [
        (f"{factors.name}/U", u, factors.U),
        (f"{factors.name}/V", v, factors.V),
        (f"{layer.name}/scales", smh_scales(spec), None),
    ]

    def make(with_bias):
        return Lowering(
            SMH_WEIGHTS,
            inputs,
            smh_weights_options(spec, layout, with_bias),
            *reference_smh_weights(spec if with_bias else dict(spec, bias_size=0), u, v, layout),
        )

    return _with_bias_fallback(make, bool(spec["bias_size"]))


def _with_bias_fallback(make, bias: bool) -> Lowering:
    """``make(bias)``, and ``make(False)`` for when the bias stays dense."""
    lowering = make(bias)
    if bias:
        lowering.without_bias = make(False)
    return lowering


# The registry of export schemes (``CompressedLayer.export_scheme``): how each is lowered.
LOWERINGS = {"hashednets": _lower_hashed, hashing.FRESHNETS_SCHEME: _lower_fresh, "smh": _lower_smh}


def lower(layer, layout: str, model=None) -> Lowering:
    """The :class:`Lowering` of a compressed layer feeding a ``layout`` consumer.

    Args:
      layer: a ``CompressedLayer`` whose ``export_scheme`` is in :data:`LOWERINGS`.
      layout: ``"fc"`` or ``"ohwi"``.
      model: the layer's model (SMH layers read the model's shared factors).

    Raises:
      ValueError: the layer has no operator (its message names the layer).
    """
    if layer.export_scheme not in LOWERINGS:
        raise ValueError(f"Layer '{layer.name}': unknown export scheme {layer.export_scheme!r}.")
    return LOWERINGS[layer.export_scheme](layer, layout, model)
