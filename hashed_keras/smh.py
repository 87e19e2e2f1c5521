"""Structured Multi-Hashing (SMH; Eban et al., CVPR 2020) for Keras 3.

All the kernels and biases of a network are read, in order, from one virtual
``n x n`` matrix ``M_hat = U^T @ V`` whose two factors ``U, V`` (each ``M x
n``) are the only weight variables, shared by the whole model. Layer ``l``
owns the consecutive row-major positions ``[start_l, start_l + size_l)`` of
``M_hat`` (its kernel, then its bias) and multiplies them by one per-layer
scalar scale. A model of ``N`` weights with ``n = ceil(sqrt(N))`` stores
``2 * M * n`` floats plus one scale per layer; ``M`` sets the size.

The pieces:

* :class:`SMHFactors` owns ``U`` and ``V`` and outputs them (it is called on
  the model's first input, which it ignores, so that it is a node of the
  functional graph);
* :class:`SMHDense` and :class:`SMHConv2D` take the factors as a second
  input, ``layer(x, factors)``, and rebuild only the rows of ``M_hat`` their
  positions fall into (``U[:, r0:r1+1]^T @ V``), never the whole matrix.
  Because the sharing is an edge of the functional graph, Keras' own
  serialization keeps it: ``U`` and ``V`` are saved once and shared again
  after ``keras.models.load_model``;
* :func:`compress_smh` turns a Sequential or functional model into its SMH
  twin; :func:`smh_summary` reports the sizes; :func:`smh_weights` is the
  numpy reference of the layout contract (``docs/smh.md``).

Example:

>>> smh = compress_smh(model, fraction=1 / 8, seed=0)
>>> smh.compile("adam", "sparse_categorical_crossentropy")
>>> smh_summary(smh)["stored_size"]   # ~ N / 8
"""

from __future__ import annotations

import logging
import math
import warnings

import keras
import numpy as np
import tensorflow as tf

from hashed_keras.layers.hashed_conv import ConvGeometry, conv_arguments
from hashed_keras.replaceable import has_kernel, is_sequential_or_functional, replaceable_kind

__all__ = ["SMHFactors", "SMHLayer", "SMHDense", "SMHConv2D", "compress_smh",
           "smh_summary", "smh_weights", "smh_layers", "smh_factors", "plan_layout",
           "initializer_std", "SPEC_VERSION"]

SPEC_VERSION = 1

_log = logging.getLogger(__name__)

# (layer name, shape of the rows product): appended each time a weight
# reconstruction is traced or run eagerly; tests read it to check that no
# layer ever forms the full n x n matrix. Bounded so it cannot grow forever.
_ROWS_LOG: list = []
_ROWS_LOG_MAX = 10_000


def _log_rows(name, shape):
    if len(_ROWS_LOG) < _ROWS_LOG_MAX:
        _ROWS_LOG.append((name, tuple(int(d) for d in shape)))


# ------------------------------------------------------------------ checks


def _check_int(value, name, low=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"`{name}` must be an integer, got {value!r}.")
    if low is not None and value < low:
        raise ValueError(f"`{name}` must be >= {low}, got {value}.")
    return int(value)


def _check_seed(seed):
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"`seed` must be an integer in [0, 2**32) or None, got {seed!r}.")
    if not 0 <= seed < 2**32:
        raise ValueError(f"`seed` must be in [0, 2**32), got {seed}.")
    return int(seed)


def _check_positive_float(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"`{name}` must be a positive number, got {value!r}.")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be a positive finite number, got {value}.")
    return value


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be True or False, got {value!r}.")
    return bool(value)


# ------------------------------------------------------------------ factors


@keras.saving.register_keras_serializable(package="hashed_keras")
class SMHFactors(keras.layers.Layer):
    """Owns the two SMH factors ``U`` and ``V`` (each ``rank x n``) of a model.

    The virtual matrix is ``M_hat = U^T @ V`` (``n x n``); SMH layers read
    their weights from it. Called on any tensor of the model (conventionally
    its first input, whose value is ignored), it returns ``[U, V]`` in the
    layer's compute dtype, to be passed to every :class:`SMHLayer` of the
    model: ``SMHDense(...)(x, factors)``.

    Both factors are drawn from ``N(0, rank**-0.5)`` (``sigma =
    rank**(-1/4)``), so that every entry of ``M_hat``, a sum of ``rank``
    products, has unit variance; the per-layer scales then set each layer's
    standard deviation.

    Args:
      n: side of the virtual matrix, ``ceil(sqrt(N))`` for ``N`` weights.
      rank: ``M``, the number of rows of ``U`` and ``V``.
      seed: integer seed of the initial draw (``U`` uses ``seed``, ``V``
        ``seed + 1``); ``None`` draws from Keras' global RNG (repeatable
        after ``keras.utils.set_random_seed``).
      virtual_size: ``N``, the number of weights read from ``M_hat``
        (informational; checked to fit in ``n * n``).
      **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Example:

    >>> inputs = keras.Input((8,))
    >>> factors = SMHFactors(n=10, rank=3, seed=0)(inputs)
    >>> h = SMHDense(8, n=10, start=0, scale_init=0.35, activation="relu")(inputs, factors)
    >>> outputs = SMHDense(2, n=10, start=72, scale_init=0.47)(h, factors)
    >>> model = keras.Model(inputs, outputs)
    >>> smh_summary(model)["stored_size"]   # 2 * 3 * 10 + 2 scales
    62
    """

    def __init__(self, n, rank, seed=None, virtual_size=None, **kwargs):
        super().__init__(**kwargs)
        self.n = _check_int(n, "n", 1)
        self.rank = _check_int(rank, "rank", 1)
        self.seed = _check_seed(seed)
        if virtual_size is not None:
            virtual_size = _check_int(virtual_size, "virtual_size", 1)
            if virtual_size > self.n * self.n:
                raise ValueError(
                    f"`virtual_size`={virtual_size} does not fit in an n x n matrix with "
                    f"n={self.n}; n must be at least ceil(sqrt(virtual_size)).")
        self.virtual_size = virtual_size
        self.supports_masking = False

    @property
    def stddev(self) -> float:
        """``rank**(-1/4)``: the initial std of ``U`` and ``V`` entries."""
        return self.rank ** -0.25

    def build(self, input_shape=None):
        def init(offset):
            seed = None if self.seed is None else (self.seed + offset) % 2**32
            return keras.initializers.RandomNormal(stddev=self.stddev, seed=seed)

        self.u = self.add_weight(name="U", shape=(self.rank, self.n), initializer=init(0),
                                 trainable=True)
        self.v = self.add_weight(name="V", shape=(self.rank, self.n), initializer=init(1),
                                 trainable=True)

    @property
    def U(self):  # noqa: N802 - the paper's name
        """The ``rank x n`` variable ``U`` (``M_hat = U^T @ V``)."""
        return self.u

    @property
    def V(self):  # noqa: N802 - the paper's name
        """The ``rank x n`` variable ``V`` (``M_hat = U^T @ V``)."""
        return self.v

    def call(self, inputs):
        del inputs  # only anchors the layer in the functional graph
        dtype = self.compute_dtype
        return [keras.ops.cast(self.u, dtype), keras.ops.cast(self.v, dtype)]

    def compute_output_spec(self, inputs):
        shape = (self.rank, self.n)
        return [keras.KerasTensor(shape, dtype=self.compute_dtype),
                keras.KerasTensor(shape, dtype=self.compute_dtype)]

    def stored_size(self) -> int:
        """``2 * rank * n``: the floats in ``U`` and ``V``."""
        return 2 * self.rank * self.n

    def smh_spec(self) -> dict:
        """What an on-device kernel needs about the factors (see ``docs/smh.md``)."""
        return {"version": SPEC_VERSION, "n": self.n, "M": self.rank,
                "virtual_size": self.virtual_size, "U_shape": [self.rank, self.n],
                "V_shape": [self.rank, self.n], "seed": self.seed}

    def get_config(self):
        config = super().get_config()
        config.update({"n": self.n, "rank": self.rank, "seed": self.seed,
                       "virtual_size": self.virtual_size})
        return config


# ------------------------------------------------------------------ weights


def _rows_product(u, v, r0, r1):
    return tf.matmul(u[:, r0:r1 + 1], v, transpose_a=True)


def _slice_and_scale(u, v, scale, r0, r1, offset, kernel_size, bias_size, bias_scale):
    rows = _rows_product(u, v, r0, r1)
    flat = tf.reshape(rows, [-1])
    kernel = flat[offset:offset + kernel_size] * scale
    if not bias_size:
        return kernel, None
    bias = flat[offset + kernel_size:offset + kernel_size + bias_size] * (scale * bias_scale)
    return kernel, bias


# Optional (use_xla=True): one XLA cluster per layer (the ints are static), in
# which the column slice, the small matmul, the slices and the scaling fuse. It
# inlines into a model compiled with jit_compile=True. Unlike the HashedNets
# gather, the SMH rebuild is a dense matmul that TF's CPU kernel already runs
# well, so the plain ops are the default.
_slice_and_scale_xla = tf.function(_slice_and_scale, jit_compile=True, autograph=False)


class SMHLayer(keras.layers.Layer):
    """Common base of :class:`SMHDense` and :class:`SMHConv2D`.

    A layer of ``size = kernel_size + bias_size`` virtual weights reads the
    row-major positions ``[start, start + size)`` of ``M_hat = U^T @ V``:
    virtual weight ``i`` is ``scale * sum_m U[m, p // n] * V[m, p % n]``
    with ``p = start + i``, bias entries further multiplied by the constant
    ``bias_scale``. Only rows ``r0 = start // n`` to ``r1 = (start + size -
    1) // n`` are computed, as ``U[:, r0:r1+1]^T @ V``.

    Subclasses call :meth:`build_smh` from ``build`` with the Keras-layout
    kernel shape and read :meth:`smh_kernel_and_bias` in ``call``.

    Args:
      n: side of the model's virtual matrix (the :class:`SMHFactors`' ``n``).
      start: the layer's first flat position in ``M_hat``.
      scale_init: initial value of the per-layer scale ``s_l`` (the target
        std of the layer's kernel).
      learn_scale: whether the scale is trainable (else it stays fixed).
      bias_scale: constant factor between bias and kernel entries (default
        1.0: bias entries are drawn like kernel entries, std ``s_l``).
      use_xla: rebuild the weights in a small XLA-compiled function
        (default False: the rows product is one plain matmul, which TF's CPU
        kernel already runs at full speed; measured 6.0 ms vs 7.0 ms per
        forward+backward of all ResNet-20 layers).
      activation, use_bias: as in the Keras layer.
    """

    def __init__(self, *, n, start, scale_init=1.0, learn_scale=True, bias_scale=1.0,
                 use_xla=False, activation=None, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.n = _check_int(n, "n", 1)
        self.start = _check_int(start, "start", 0)
        if (isinstance(scale_init, bool)
                or not isinstance(scale_init, (int, float, np.number))
                or not math.isfinite(float(scale_init))):
            raise ValueError(f"`scale_init` must be a finite number, got {scale_init!r}.")
        self.scale_init = float(scale_init)
        self.learn_scale = _check_bool(learn_scale, "learn_scale")
        self.bias_scale = _check_positive_float(bias_scale, "bias_scale")
        self.use_xla = _check_bool(use_xla, "use_xla")
        self.use_bias = _check_bool(use_bias, "use_bias")
        self.activation = keras.activations.get(activation)
        self.supports_masking = False

    def build_smh(self, kernel_shape, bias_size, factors_shape):
        """Checks the layer's span against ``M_hat`` and creates the scale."""
        self.kernel_shape = tuple(int(d) for d in kernel_shape)
        self.kernel_size_virtual = math.prod(self.kernel_shape)
        self.bias_size = int(bias_size) if self.use_bias else 0
        self.virtual_size = self.kernel_size_virtual + self.bias_size
        if factors_shape is not None:
            u_shape = tuple(factors_shape[0])
            if len(u_shape) != 2 or u_shape[1] != self.n:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}' has n={self.n} but received "
                    f"factors of shape {u_shape}; pass the [U, V] output of the model's "
                    f"SMHFactors(n={self.n}, ...).")
            self.rank = int(u_shape[0])
        else:
            self.rank = None
        end = self.start + self.virtual_size
        if end > self.n * self.n:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' reads positions [{self.start}, {end}) "
                f"of M_hat, beyond its n*n = {self.n * self.n} entries.")
        self.row_start = self.start // self.n
        self.row_end = (end - 1) // self.n
        self.scale = self.add_weight(
            name="scale", shape=(), initializer=keras.initializers.Constant(self.scale_init),
            trainable=self.learn_scale)

    @property
    def rows(self) -> int:
        """Rows of ``M_hat`` this layer computes: ``r1 - r0 + 1``."""
        return self.row_end - self.row_start + 1

    def smh_kernel_and_bias(self, factors):
        """The layer's virtual kernel (Keras layout) and bias (or None)."""
        u, v = factors
        r0, r1 = self.row_start, self.row_end
        _log_rows(self.name, (r1 - r0 + 1, self.n))
        scale = keras.ops.cast(self.scale, u.dtype)
        fn = _slice_and_scale_xla if self.use_xla else _slice_and_scale
        kernel, bias = fn(u, v, scale, r0, r1, self.start - r0 * self.n,
                          self.kernel_size_virtual, self.bias_size, self.bias_scale)
        return tf.reshape(kernel, self.kernel_shape), bias

    def stored_size(self) -> int:
        """Scalars this layer stores itself: its scale (``U``, ``V`` are shared)."""
        return 1

    def smh_spec(self) -> dict:
        """What an on-device kernel needs to rebuild this layer's weights.

        Keys (see ``docs/smh.md``): ``n``, ``M``, ``start``, ``size``,
        ``kernel_shape``, ``kernel_size``, ``use_bias``, ``bias_size``,
        ``bias_start``, ``bias_scale``, ``rows`` (``[r0, r1]``), ``scale`` (its
        current value), ``learn_scale``, ``layout`` and ``version``.
        """
        if not self.built:
            raise AttributeError("Build the layer before reading `smh_spec()`.")
        return {
            "version": SPEC_VERSION,
            "layout": "row-major",
            "n": self.n,
            "M": self.rank,
            "start": self.start,
            "size": self.virtual_size,
            "kernel_shape": list(self.kernel_shape),
            "kernel_size": self.kernel_size_virtual,
            "use_bias": self.use_bias,
            "bias_size": self.bias_size,
            "bias_start": self.start + self.kernel_size_virtual if self.use_bias else None,
            "bias_scale": self.bias_scale,
            "rows": [self.row_start, self.row_end],
            "scale": float(keras.ops.convert_to_numpy(self.scale)),
            "learn_scale": self.learn_scale,
        }

    def _finish(self, outputs, bias, channel_shape=None):
        if bias is not None:
            if channel_shape is not None:
                bias = tf.reshape(bias, channel_shape)
            outputs = outputs + bias
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update({
            "n": self.n,
            "start": self.start,
            "scale_init": self.scale_init,
            "learn_scale": self.learn_scale,
            "bias_scale": self.bias_scale,
            "use_xla": self.use_xla,
            "use_bias": self.use_bias,
            "activation": keras.activations.serialize(self.activation),
        })
        return config


def _factors_shape_or_none(factors_shape):
    if factors_shape is None:
        return None
    if isinstance(factors_shape, (list, tuple)) and len(factors_shape) == 2 and all(
            isinstance(s, (list, tuple)) for s in factors_shape):
        return factors_shape
    raise ValueError(
        "SMH layers take the factors [U, V] (the output of SMHFactors) as their second "
        f"input; got a second input of shape {factors_shape}.")


@keras.saving.register_keras_serializable(package="hashed_keras")
class SMHDense(SMHLayer):
    """Densely-connected layer whose weights are read from the model's SMH matrix.

    Behaves like ``keras.layers.Dense(units)``, called as ``layer(x,
    factors)`` with ``factors`` the ``[U, V]`` output of the model's
    :class:`SMHFactors`. Its ``[input_dim, units]`` kernel (row-major) and
    then its bias are the positions ``[start, start + size)`` of ``M_hat =
    U^T @ V``, times the layer's scalar ``scale``.

    Args:
      units: positive integer, dimensionality of the output space.
      n, start, scale_init, learn_scale, bias_scale, use_xla: see
        :class:`SMHLayer`.
      activation, use_bias: as in ``keras.layers.Dense``.

    Example:

    >>> inputs = keras.Input((8,))
    >>> factors = SMHFactors(n=7, rank=2, seed=0)(inputs)
    >>> outputs = SMHDense(4, n=7, start=0, scale_init=0.4)(inputs, factors)
    >>> keras.Model(inputs, outputs).get_layer(index=2).smh_spec()["rows"]
    [0, 5]
    """

    def __init__(self, units, n, start, scale_init=1.0, learn_scale=True, bias_scale=1.0,
                 use_xla=False, activation=None, use_bias=True, **kwargs):
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"`units` must be a positive integer, got {units!r}.")
        super().__init__(n=n, start=start, scale_init=scale_init, learn_scale=learn_scale,
                         bias_scale=bias_scale, use_xla=use_xla, activation=activation,
                         use_bias=use_bias, **kwargs)
        self.units = int(units)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def build(self, inputs_shape, factors_shape=None):
        input_dim = inputs_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"SMHDense '{self.name}' needs a known last input dimension, got input "
                f"shape {inputs_shape}.")
        self.build_smh((input_dim, self.units), self.units,
                       _factors_shape_or_none(factors_shape))
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_dim})

    def call(self, inputs, factors):
        kernel, bias = self.smh_kernel_and_bias(factors)
        outputs = tf.tensordot(inputs, kernel, 1) if len(inputs.shape) > 2 else (
            tf.matmul(inputs, kernel))
        return self._finish(outputs, bias)

    def compute_output_shape(self, inputs_shape, factors_shape=None):
        return tuple(inputs_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config


@keras.saving.register_keras_serializable(package="hashed_keras")
class SMHConv2D(ConvGeometry, SMHLayer):
    """2-D convolution whose weights are read from the model's SMH matrix.

    Like ``keras.layers.Conv2D(filters, kernel_size, ...)``, called as
    ``layer(x, factors)``. Its ``[kh, kw, in_channels, filters]`` kernel
    (row-major, Keras layout whatever the ``data_format``) and then its bias
    are the positions ``[start, start + size)`` of ``M_hat``, times ``scale``.

    Args:
      filters: number of output channels.
      kernel_size, strides, dilation_rate: int or pair.
      padding: ``"valid"`` or ``"same"``.
      data_format: ``"channels_last"`` (default) or ``"channels_first"``.
      n, start, scale_init, learn_scale, bias_scale, use_xla: see
        :class:`SMHLayer`.
      activation, use_bias: as in ``keras.layers.Conv2D``.

    Example:

    >>> inputs = keras.Input((8, 8, 3))
    >>> factors = SMHFactors(n=17, rank=4, seed=0)(inputs)
    >>> y = SMHConv2D(8, 3, padding="same", n=17, start=0, scale_init=0.1)(inputs, factors)
    >>> tuple(y.shape)
    (None, 8, 8, 8)
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, n=None, start=None, scale_init=1.0, learn_scale=True,
                 bias_scale=1.0, use_xla=False, activation=None, use_bias=True, **kwargs):
        geometry = conv_arguments(filters, kernel_size, strides, padding, data_format,
                                  dilation_rate)
        if n is None or start is None:
            raise ValueError("SMHConv2D needs `n` and `start` (its place in M_hat).")
        super().__init__(n=n, start=start, scale_init=scale_init, learn_scale=learn_scale,
                         bias_scale=bias_scale, use_xla=use_xla, activation=activation,
                         use_bias=use_bias, **kwargs)
        self.set_geometry(geometry)

    def build(self, inputs_shape, factors_shape=None):
        channels = inputs_shape[self._channel_axis]
        if channels is None:
            raise ValueError(
                f"SMHConv2D '{self.name}' needs a known channel dimension, got input "
                f"shape {inputs_shape}.")
        self.compute_output_shape(inputs_shape)  # validates the spatial size
        self.build_smh(self.kernel_size + (channels, self.filters), self.filters,
                       _factors_shape_or_none(factors_shape))
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={self._channel_axis: channels})

    def call(self, inputs, factors):
        kernel, bias = self.smh_kernel_and_bias(factors)
        outputs = keras.ops.conv(inputs, kernel, strides=self.strides, padding=self.padding,
                                 dilation_rate=self.dilation_rate,
                                 data_format=self.data_format)
        shape = (1, 1, 1, self.filters) if self.data_format == "channels_last" else (
            1, self.filters, 1, 1)
        return self._finish(outputs, bias, shape)

    def compute_output_shape(self, inputs_shape, factors_shape=None):
        return self.conv_output_shape(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(self.conv_config())
        return config


# ------------------------------------------------------------------ init scale


def _fans(shape, input_axes=None, output_axes=None):
    shape = tuple(int(d) for d in shape)
    if input_axes is not None and output_axes is not None:
        return (math.prod(shape[a] for a in input_axes),
                math.prod(shape[a] for a in output_axes))
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def initializer_std(initializer, shape) -> float:
    """The standard deviation of ``initializer``'s draws for a kernel of ``shape``.

    Exact for ``VarianceScaling`` and its subclasses (Glorot, He, LeCun:
    ``sqrt(scale / fan)``, which Keras keeps also after truncation), and for
    ``RandomNormal``/``RandomUniform``/``TruncatedNormal``; otherwise measured
    on one draw. A zero std (e.g. ``"zeros"``) falls back to Glorot's
    ``sqrt(2 / (fan_in + fan_out))``.

    Args:
      initializer: a Keras initializer, its name or its config.
      shape: the Keras-layout kernel shape.

    Returns:
      A positive float.

    Example:

    >>> round(initializer_std("glorot_uniform", (3, 3, 16, 16)), 4)  # sqrt(2/288)
    0.0833
    """
    init = keras.initializers.get(initializer)
    fan_in, fan_out = _fans(shape)
    std = None
    if isinstance(init, keras.initializers.VarianceScaling):
        fan_in, fan_out = _fans(shape, getattr(init, "input_axes", None),
                                getattr(init, "output_axes", None))
        fan = {"fan_in": fan_in, "fan_out": fan_out,
               "fan_avg": (fan_in + fan_out) / 2.0}[init.mode]
        std = math.sqrt(float(init.scale) / max(1.0, fan))
    elif isinstance(init, keras.initializers.TruncatedNormal):
        # Keras' truncated normal: cut at 2 stddev; the std after truncation.
        std = 0.8796256610342398 * float(init.get_config()["stddev"])
    elif isinstance(init, keras.initializers.RandomNormal):
        std = float(init.get_config()["stddev"])
    elif isinstance(init, keras.initializers.RandomUniform):
        cfg = init.get_config()
        std = (float(cfg["maxval"]) - float(cfg["minval"])) / math.sqrt(12.0)
    else:
        try:
            std = float(np.std(keras.ops.convert_to_numpy(init(tuple(shape)))))
        except Exception:  # noqa: BLE001 - any initializer we cannot evaluate
            std = 0.0
    if not (std and math.isfinite(std) and std > 0):
        std = math.sqrt(2.0 / max(1, fan_in + fan_out))
    return std


# ------------------------------------------------------------------ layout


def plan_layout(sizes, target_size=None, fraction=None):
    """The SMH geometry for layers of ``sizes`` virtual weights (in order).

    Args:
      sizes: per layer, kernel size plus bias size, in tiling order.
      target_size: the wanted stored size ``T`` (``2 * M * n`` plus one
        scale per layer), or
      fraction: ``T = round(fraction * N)`` with ``N = sum(sizes)``.

    Returns:
      ``dict(N=..., n=..., M=..., starts=[...], target_size=T, stored_size=...)``
      with ``n0 = ceil(sqrt(N))`` (the paper's ``n``), ``M = max(1, floor((T -
      L) / (2 n0)))`` and ``n = max(n0, round((T - L) / (2 M)))``: the paper's
      ``M = ceil(T / 2n)`` moves the size in steps of ``2n`` (4% of a small
      target); widening the virtual matrix by a few columns instead puts the
      stored size ``2 M n + L`` within ``M`` of ``T``. Layer ``l`` starts at
      ``sum(sizes[:l])``.

    Raises:
      ValueError: if both or neither of ``target_size``/``fraction`` are
        given, ``fraction`` is outside (0, 1], or ``T`` is larger than ``N``
        or smaller than the smallest SMH size ``2 n + L`` (``M = 1``).
    """
    if (target_size is None) == (fraction is None):
        raise ValueError(
            "Pass exactly one of `target_size` (stored scalars) or `fraction` (of the "
            f"model's weights), got target_size={target_size!r}, fraction={fraction!r}.")
    sizes = [int(s) for s in sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"Layer sizes must be positive, got {sizes}.")
    total = sum(sizes)
    n = math.isqrt(total - 1) + 1  # ceil(sqrt(N)), exact for big N
    layers = len(sizes)
    smallest = 2 * n + layers
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.number)) \
                or not 0.0 < float(fraction) <= 1.0:
            raise ValueError(
                f"`fraction` must be in (0, 1] (the fraction of the model's {total} "
                f"weights that is stored), got {fraction!r}.")
        target = int(round(float(fraction) * total))
        what = f"`fraction`={fraction!r} gives a target of {target} stored scalars, which"
    else:
        if isinstance(target_size, bool) or not isinstance(target_size, (int, np.integer)):
            raise ValueError(
                f"`target_size` must be a positive integer (stored scalars), got "
                f"{target_size!r}.")
        target = int(target_size)
        if target > total:
            raise ValueError(
                f"`target_size`={target} is larger than the {total} weights it would "
                "compress; pass at most that (or keep the dense model).")
        what = f"`target_size`={target}"
    if target < smallest:
        raise ValueError(
            f"{what} is below the smallest SMH model of these {layers} layers: "
            f"2*n + {layers} = {smallest} (M = 1: U and V are 1 x n each with n = {n} "
            f"= ceil(sqrt({total})), plus one scale per layer). Use target_size >= "
            f"{smallest} (fraction >= {smallest / total:.3g}).")
    # M as large as n = ceil(sqrt(N)) allows, then n widened so that
    # 2 M n + L lands within M of T (n^2 >= N still holds): the size is within
    # 1/(2n) of the target instead of in steps of 2n.
    rank = max(1, (target - layers) // (2 * n))
    n = max(n, int(round((target - layers) / (2 * rank))))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist()
    return {"N": total, "n": n, "M": rank, "starts": starts, "target_size": target,
            "stored_size": 2 * rank * n + layers}


# ------------------------------------------------------------------ compress


_CONV_KEYS = ("filters", "kernel_size", "strides", "padding", "data_format",
              "dilation_rate")
_DROPPED_KEYS = ("kernel_regularizer", "bias_regularizer", "kernel_constraint",
                 "bias_constraint")


def _twin(layer, kind, n, start, scale_init, learn_scale, bias_scale, use_xla):
    config = layer.get_config()
    kwargs = {k: config[k] for k in ("name", "activation", "use_bias", "dtype",
                                     "activity_regularizer") if k in config}
    kwargs.update(n=n, start=start, scale_init=scale_init, learn_scale=learn_scale,
                  bias_scale=bias_scale, use_xla=use_xla)
    if kind == "dense":
        return SMHDense(config["units"], **kwargs)
    return SMHConv2D(**{k: config[k] for k in _CONV_KEYS}, **kwargs)


def _unique_name(base, taken):
    name, i = base, 1
    while name in taken:
        name = f"{base}_{i}"
        i += 1
    return name


def _input_name(tensor):
    history = getattr(tensor, "_keras_history", None)
    operation = getattr(history, "operation", None) or (history[0] if history else None)
    return getattr(operation, "name", None) or tensor.name


def compress_smh(model, target_size=None, fraction=None, learn_scale=True, seed=None,
                 skip=(), bias_scale=1.0, use_xla=False):
    """Returns a functional SMH twin of ``model`` (Structured Multi-Hashing).

    Every Dense and Conv2D layer (kernel, then bias) is tiled, in the order of
    ``model.layers``, into one virtual ``n x n`` matrix ``M_hat = U^T @ V``
    (``n = ceil(sqrt(N))``, ``N`` the total count) shared by the whole model,
    and replaced by an :class:`SMHDense`/:class:`SMHConv2D` reading its span
    of ``M_hat``. One :class:`SMHFactors` layer (named ``"smh_factors"``)
    owns ``U`` and ``V``, each ``M x n``. BatchNormalization, pooling, Add and
    every other layer are kept with their weights; layers that hold a kernel
    but have no SMH twin (Conv1D, DepthwiseConv2D, Embedding, grouped convs,
    ...) are left as they are and named in a warning. Kernel/bias
    regularizers and constraints of replaced layers are dropped (warned).

    Initialisation is random, as in the paper (the original weights are not
    used): ``U``, ``V ~ N(0, M**-0.5)`` so every entry of ``M_hat`` has unit
    std, and layer ``l``'s scale starts at ``s_l``, the std of the original
    layer's kernel initializer on its kernel shape (Glorot for Keras'
    default). Biases are read from ``M_hat`` right after their kernel and
    multiplied by ``scale * bias_scale``.

    Args:
      model: a built Sequential or functional ``keras.Model``.
      target_size: the stored size ``T`` of the compressed part: ``2 * M *
        n`` plus one scale per layer. ``M = max(1, round((T - L) / 2n))``,
        so the result is within ``n`` of ``T`` (a warning says so when that
        is more than 1% of ``T``).
      fraction: instead of ``target_size``: ``T = round(fraction * N)``, in
        (0, 1].
      learn_scale: whether the per-layer scales are trained (the paper's
        learnable scale; default True) or fixed at ``s_l``.
      seed: integer seed of ``U`` and ``V``'s initial draw; ``None`` uses
        Keras' global RNG (repeatable after ``keras.utils.set_random_seed``).
      skip: names of Dense/Conv2D layers to keep dense (not counted in ``N``).
      bias_scale: constant factor between a layer's bias and kernel entries
        (default 1.0, the paper: both have initial std ``s_l``).
      use_xla: rebuild each layer's weights in a small XLA-compiled function
        (default False; see :class:`SMHLayer`).

    Returns:
      A new functional ``keras.Model`` with the same name, inputs and
      outputs; :func:`smh_summary` reports its sizes.

    Raises:
      ValueError: for a subclassed or unbuilt model, both or neither of
        ``target_size``/``fraction``, ``fraction`` outside (0, 1], a target
        larger than ``N`` or below ``2n + L`` (the ``M = 1`` model), names in
        ``skip`` that are not layers, or a model with no Dense/Conv2D layer
        to compress.

    Example:

    >>> model = keras.Sequential([keras.Input((28, 28, 1)),
    ...                           keras.layers.Conv2D(16, 3, activation="relu"),
    ...                           keras.layers.Flatten(), keras.layers.Dense(10)])
    >>> smh = compress_smh(model, fraction=1 / 8, seed=0)
    >>> smh.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> smh_summary(smh)["stored_size"]   # 2*21*330 + 2 (a warning: 2.4% over 108330/8)
    13862
    """
    if not is_sequential_or_functional(model):
        raise ValueError(
            "compress_smh() needs a Sequential or functional keras.Model; subclassed models "
            "cannot be rebuilt layer by layer. Build the model functionally, or use "
            "hashed_keras.smh.SMHFactors/SMHDense/SMHConv2D in its definition.")
    if (target_size is None) == (fraction is None):
        raise ValueError(
            "Pass exactly one of `target_size` (stored scalars) or `fraction` (of the "
            f"model's weights), got target_size={target_size!r}, fraction={fraction!r}.")
    learn_scale = _check_bool(learn_scale, "learn_scale")
    use_xla = _check_bool(use_xla, "use_xla")
    seed = _check_seed(seed)
    bias_scale = _check_positive_float(bias_scale, "bias_scale")
    if isinstance(skip, str):
        skip = (skip,)
    skip = set(skip)
    if not model.built or not model.inputs:
        raise ValueError(
            "compress_smh() needs a built model with known inputs (create it with "
            "keras.Input, or call model.build(input_shape) first).")
    names = {layer.name for layer in model.layers}
    unknown = sorted(skip - names)
    if unknown:
        raise ValueError(
            f"Layers {unknown} named in `skip` are not in the model; its layers are "
            f"{sorted(names)}.")

    # 1. The layers to tile, in creation order, and their sizes.
    plan, unsupported, dropped = [], [], []
    for layer in model.layers:
        if isinstance(layer, SMHLayer) or isinstance(layer, SMHFactors):
            raise ValueError(f"Model already holds SMH layers ('{layer.name}').")
        kind, reason = replaceable_kind(layer)
        if kind is not None and layer.name not in skip:
            if not layer.built:
                raise ValueError(f"Layer '{layer.name}' is not built; build the model first.")
            kernel_shape = tuple(int(d) for d in layer.kernel.shape)
            bias = int(layer.bias.shape[0]) if layer.use_bias else 0
            plan.append((layer, kind, kernel_shape, bias))
            config = layer.get_config()
            if any(config.get(k) for k in _DROPPED_KEYS):
                dropped.append(layer.name)
        elif layer.name not in skip:
            if reason is None and (has_kernel(layer) or (
                    isinstance(layer, keras.Model) and layer.weights)):
                reason = f"no SMH twin for {type(layer).__name__}"
            if reason:
                unsupported.append((layer.name, reason))
    if not plan:
        raise ValueError(
            "compress_smh(): the model has no Dense or Conv2D layer to compress "
            f"(layers: {[layer.name for layer in model.layers]}).")
    sizes = [math.prod(shape) + bias for _, _, shape, bias in plan]
    layout = plan_layout(sizes, target_size=target_size, fraction=fraction)
    n, rank = layout["n"], layout["M"]
    stored, target = layout["stored_size"], layout["target_size"]
    if abs(stored - target) > 0.01 * target:
        warnings.warn(
            f"compress_smh(): stored size {stored} is "
            f"{100 * (stored - target) / target:+.1f}% "
            f"off the target {target} (n = {n}, M = {rank}): SMH sizes come in steps of 2M.",
            stacklevel=2)

    twins = {}
    for (layer, kind, shape, bias), start in zip(plan, layout["starts"]):
        s = initializer_std(layer.get_config().get("kernel_initializer", "glorot_uniform"),
                            shape)
        twins[id(layer)] = _twin(layer, kind, n, start, s, learn_scale, bias_scale, use_xla)

    # 2. Rebuild the graph: the factors hang off the first input.
    in_struct = keras.tree.map_structure(
        lambda x: keras.Input(batch_shape=x.shape, dtype=x.dtype, name=_input_name(x)),
        model.inputs[0] if isinstance(model, keras.Sequential) else model.input)
    first_input = keras.tree.flatten(in_struct)[0]
    factors_layer = SMHFactors(n=n, rank=rank, seed=seed, virtual_size=layout["N"],
                               name=_unique_name("smh_factors", names))
    factors = factors_layer(first_input)
    clones = {}

    def clone(layer):  # each original layer once (shared layers stay shared)
        if id(layer) not in clones:
            clones[id(layer)] = twins[id(layer)] if id(layer) in twins else (
                layer.__class__.from_config(layer.get_config()))
        return clones[id(layer)]

    def call(layer, *args, **kwargs):
        if isinstance(layer, SMHLayer):
            return layer(*args, factors, **kwargs)
        return layer(*args, **kwargs)

    if isinstance(model, keras.Sequential):
        x = first_input
        for layer in model.layers:
            x = call(clone(layer), x)
        new_model = keras.Model(in_struct, x, name=model.name)
    else:
        new_model = keras.models.clone_model(model, input_tensors=in_struct,
                                             clone_function=clone, call_function=call)

    # 3. Untouched layers keep their weights (BatchNorm statistics included).
    for layer in model.layers:
        if id(layer) in clones and id(layer) not in twins and layer.weights:
            clones[id(layer)].set_weights(layer.get_weights())
    if unsupported:
        listing = ", ".join(f"{name} ({why})" for name, why in unsupported)
        warnings.warn(f"compress_smh(): left unchanged: {listing}.", stacklevel=2)
    if dropped:
        warnings.warn(
            "compress_smh(): kernel/bias regularizers and constraints are not carried over "
            f"to SMH layers: {', '.join(dropped)}.", stacklevel=2)
    _log.info("compress_smh(): %d layers, N=%d, n=%d, M=%d, stored %d (target %d)",
              len(plan), layout["N"], n, rank, stored, target)
    return new_model


# ------------------------------------------------------------------ reports


def smh_layers(model):
    """The model's :class:`SMHLayer` layers, in tiling order (by ``start``)."""
    return sorted((layer for layer in model.layers if isinstance(layer, SMHLayer)),
                  key=lambda layer: layer.start)


def smh_factors(model):
    """The model's :class:`SMHFactors` layer.

    Raises:
      ValueError: if the model has none, or more than one.
    """
    found = [layer for layer in model.layers if isinstance(layer, SMHFactors)]
    if len(found) != 1:
        raise ValueError(
            f"Expected one SMHFactors layer in model '{model.name}', found {len(found)}.")
    return found[0]


def smh_summary(model) -> dict:
    """Sizes of an SMH model: per layer and global.

    Returns:
      A dict with ``n``, ``M``, ``virtual_size`` (``N``: weights read from
      ``M_hat``), ``factors_size`` (``2 M n``), ``scales`` (``L``),
      ``stored_size`` (``2 M n + L``), ``compression`` (``stored_size / N``),
      ``layers`` (per SMH layer: ``name``, ``type``, ``start``, ``kernel_size``,
      ``bias_size``, ``virtual``, ``rows``, ``scale``) and ``rows``: the same
      per-layer table as :func:`hashed_keras.summarize` (``name``, ``type``,
      ``virtual``, ``stored``, ``hashed``; the factors' row holds the shared
      ``2 M n``, and a final ``"total"`` row).

    Example:

    >>> report = smh_summary(smh_model)
    >>> report["stored_size"], report["virtual_size"]
    (13862, 108330)
    """
    factors = smh_factors(model)
    layers = smh_layers(model)
    per_layer = []
    for layer in layers:
        spec = layer.smh_spec()
        per_layer.append({"name": layer.name, "type": type(layer).__name__,
                          "start": spec["start"], "kernel_size": spec["kernel_size"],
                          "bias_size": spec["bias_size"], "virtual": spec["size"],
                          "rows": spec["rows"], "scale": spec["scale"]})
    virtual = sum(r["virtual"] for r in per_layer)
    stored = factors.stored_size() + len(layers)
    rows = []
    for layer in model.layers:
        if not layer.weights:
            continue
        count = int(sum(np.prod(w.shape) for w in layer.weights))
        if isinstance(layer, SMHLayer):
            rows.append({"name": layer.name, "type": type(layer).__name__,
                         "virtual": layer.virtual_size, "stored": count, "hashed": True})
        elif isinstance(layer, SMHFactors):
            rows.append({"name": layer.name, "type": "SMHFactors", "virtual": 0,
                         "stored": count, "hashed": True})
        else:
            rows.append({"name": layer.name, "type": type(layer).__name__,
                         "virtual": count, "stored": count, "hashed": False})
    rows.append({"name": "total", "type": "", "virtual": sum(r["virtual"] for r in rows),
                 "stored": sum(r["stored"] for r in rows), "hashed": True})
    return {"n": factors.n, "M": factors.rank, "virtual_size": virtual,
            "factors_size": factors.stored_size(), "scales": len(layers),
            "stored_size": stored, "compression": stored / max(1, virtual),
            "layers": per_layer, "rows": rows}


def smh_weights(model) -> dict:
    """The virtual kernel and bias of every SMH layer, rebuilt in numpy (float64).

    This is the reference implementation of the layout contract
    (``docs/smh.md``): ``flat = (U^T @ V).reshape(-1)``; layer ``l``'s kernel
    is ``scale * flat[start : start + kernel_size]`` reshaped to
    ``kernel_shape``, its bias ``scale * bias_scale * flat[bias_start :
    bias_start + bias_size]``. (It forms the full ``M_hat``, which a layer
    never does; it is meant for tests and inspection.)

    Returns:
      ``{layer_name: (kernel, bias_or_None)}``.
    """
    factors = smh_factors(model)
    u = keras.ops.convert_to_numpy(factors.U).astype(np.float64)
    v = keras.ops.convert_to_numpy(factors.V).astype(np.float64)
    flat = (u.T @ v).reshape(-1)
    out = {}
    for layer in smh_layers(model):
        spec = layer.smh_spec()
        scale = float(keras.ops.convert_to_numpy(layer.scale))
        kernel = scale * flat[spec["start"]:spec["start"] + spec["kernel_size"]]
        bias = None
        if spec["use_bias"]:
            b0 = spec["bias_start"]
            bias = scale * spec["bias_scale"] * flat[b0:b0 + spec["bias_size"]]
        out[layer.name] = (kernel.reshape(spec["kernel_shape"]), bias)
    return out
