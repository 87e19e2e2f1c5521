"""``SMHDense`` and ``SMHConv2D``: layers whose weights are read from a model's SMH matrix.

Called as ``layer(x, factors)`` with the ``[U, V]`` output of the model's
:class:`~hashed_keras.layers.SMHFactors`, a layer rebuilds only the rows of
``M_hat = U^T @ V`` its positions fall into (``U[:, r0:r1+1]^T @ V``), never the
whole matrix. Because the sharing is an edge of the functional graph, Keras' own
serialization keeps it: ``U`` and ``V`` are saved once and shared again after
``keras.models.load_model`` (``docs/smh.md``).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from hashed_keras import validate
from hashed_keras.layers.compressed import CompressedLayer
from hashed_keras.layers.hashed_conv import ConvGeometry, conv_arguments
from hashed_keras.layers.hashed_dense import DenseGeometry
from hashed_keras.layers.smh_factors import SPEC_VERSION


def _stepped_like_its_weights(scale, size):
    """``scale``, the same value, with its gradient divided by ``size``.

    A layer's weights are ``scale * m`` with ``m`` of unit variance, so the
    loss's gradient with respect to the scale sums over all ``size`` weights:
    plain SGD would move the scale ``size`` times further, relative to its
    value, than the same step moves a dense layer's weights along themselves
    (a rank-1 SMH mlp3, 785,000 weights in its first layer, went to NaN within
    six steps of SGD 0.01 with momentum 0.9). Divided, SGD moves the
    scale as it moves a dense layer's norm; Adam's steps do not depend on
    the gradient's size, so they are unchanged. ``scale - stop_gradient(scale)``
    is exactly zero: the forward value is ``scale`` bit for bit.
    """
    with tf.name_scope("scale_step"):  # the layer's own ops keep their names
        fixed = tf.stop_gradient(scale)
        return fixed + (scale - fixed) * (1.0 / size)


def _rows_product(u, v, r0, r1):
    return tf.matmul(u[:, r0 : r1 + 1], v, transpose_a=True)


def _slice_and_scale(u, v, scale, r0, r1, offset, kernel_size, bias_size, bias_scale):
    rows = _rows_product(u, v, r0, r1)
    flat = tf.reshape(rows, [-1])
    kernel = flat[offset : offset + kernel_size] * scale
    if not bias_size:
        return kernel, None
    bias = flat[offset + kernel_size : offset + kernel_size + bias_size] * (scale * bias_scale)
    return kernel, bias


# Optional (use_xla=True): one XLA cluster per layer (the ints are static), in
# which the column slice, the small matmul, the slices and the scaling fuse. It
# inlines into a model compiled with jit_compile=True. Unlike the HashedNets
# gather, the SMH rebuild is a dense matmul that TF's CPU kernel already runs
# well, so the plain ops are the default.
_slice_and_scale_xla = tf.function(_slice_and_scale, jit_compile=True, autograph=False)


class SMHLayer(CompressedLayer, keras.layers.Layer):
    """Common base of :class:`SMHDense` and :class:`SMHConv2D`.

    A layer of ``size = kernel_size + bias_size`` virtual weights reads the
    row-major positions ``[start, start + size)`` of ``M_hat = U^T @ V``:
    virtual weight ``i`` is ``scale * sum_m U[m, p // n] * V[m, p % n]``
    with ``p = start + i``, bias entries further multiplied by the constant
    ``bias_scale``. Only rows ``r0 = start // n`` to ``r1 = (start + size -
    1) // n`` are computed, as ``U[:, r0:r1+1]^T @ V``.

    Subclasses mix in a geometry (``DenseGeometry``, ``ConvGeometry``: the kernel
    shape, the product and the output shape); the weights are :meth:`build_smh`'s.

    Args:
      n: side of the model's virtual matrix (the :class:`SMHFactors`' ``n``).
      start: the layer's first flat position in ``M_hat``.
      scale_init: initial value of the per-layer scale ``s_l`` (the target
        std of the layer's kernel).
      learn_scale: whether the scale is trainable (else it stays fixed). Its
        gradient is divided by the layer's virtual size, so that SGD steps
        it as it would step a dense layer's norm (Adam is unaffected).
      bias_scale: constant factor between bias and kernel entries (default
        1.0: bias entries are drawn like kernel entries, std ``s_l``).
      use_xla: rebuild the weights in a small XLA-compiled function
        (default False: the rows product is one plain matmul, which TF's CPU
        kernel already runs at full speed; measured 6.0 ms vs 7.0 ms per
        forward+backward of all ResNet-20 layers).
      activation, use_bias: as in the Keras layer.
    """

    export_scheme = "smh"

    def __init__(
        self,
        *,
        n,
        start,
        scale_init=1.0,
        learn_scale=True,
        bias_scale=1.0,
        use_xla=False,
        activation=None,
        use_bias=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.n = validate.integer(n, "n", 1)
        self.start = validate.integer(start, "start", 0)
        self.scale_init = validate.number(scale_init, "scale_init")
        self.learn_scale = validate.boolean(learn_scale, "learn_scale")
        self.bias_scale = validate.number(bias_scale, "bias_scale", positive=True)
        self.use_xla = validate.boolean(use_xla, "use_xla")
        self.use_bias = validate.boolean(use_bias, "use_bias")
        self.activation = keras.activations.get(activation)
        self.supports_masking = False

    def build(self, inputs_shape, factors_shape=None):
        kernel_shape = self.kernel_shape_for(inputs_shape)
        self.build_smh(kernel_shape, kernel_shape[-1], _factors_shape_or_none(factors_shape))

    def call(self, inputs, factors):
        return self.apply_kernel(inputs, *self.smh_kernel_and_bias(factors))

    def compute_output_shape(self, inputs_shape, factors_shape=None):
        return self.output_shape_for(inputs_shape)

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
                    f"SMHFactors(n={self.n}, ...)."
                )
            self.rank = int(u_shape[0])
        else:
            self.rank = None
        end = self.start + self.virtual_size
        if end > self.n * self.n:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' reads positions [{self.start}, {end}) "
                f"of M_hat, beyond its n*n = {self.n * self.n} entries."
            )
        self.row_start = self.start // self.n
        self.row_end = (end - 1) // self.n
        self.scale = self.add_weight(
            name="scale",
            shape=(),
            initializer=keras.initializers.Constant(self.scale_init),
            trainable=self.learn_scale,
        )

    @property
    def rows(self) -> int:
        """Rows of ``M_hat`` this layer computes: ``r1 - r0 + 1``."""
        return self.row_end - self.row_start + 1

    def smh_kernel_and_bias(self, factors):
        """The layer's virtual kernel (Keras layout) and bias (or None)."""
        u, v = factors
        r0, r1 = self.row_start, self.row_end
        scale = keras.ops.cast(self.scale, u.dtype)
        if self.learn_scale:
            scale = _stepped_like_its_weights(scale, self.virtual_size)
        fn = _slice_and_scale_xla if self.use_xla else _slice_and_scale
        kernel, bias = fn(
            u,
            v,
            scale,
            r0,
            r1,
            self.start - r0 * self.n,
            self.kernel_size_virtual,
            self.bias_size,
            self.bias_scale,
        )
        return tf.reshape(kernel, self.kernel_shape), bias

    def stored_size(self) -> int:
        """Scalars this layer stores itself: its scale (``U``, ``V`` are shared)."""
        return 1

    def export_spec(self) -> dict:
        return self.smh_spec()

    def smh_spec(self) -> dict:
        """What an on-device kernel needs to rebuild this layer's weights.

        Keys (see ``docs/smh.md``): ``n``, ``rank``, ``start``, ``size``,
        ``kernel_shape``, ``kernel_weights``, ``use_bias``, ``bias_size``,
        ``bias_start``, ``bias_scale``, ``rows`` (``[r0, r1]``), ``scale`` (its
        current value), ``learn_scale``, ``layout`` and ``version``.
        """
        if not self.built:
            raise AttributeError("Build the layer before reading `smh_spec()`.")
        return {
            "version": SPEC_VERSION,
            "layout": "row-major",
            "n": self.n,
            "rank": self.rank,
            "start": self.start,
            "size": self.virtual_size,
            "kernel_shape": list(self.kernel_shape),
            "kernel_weights": self.kernel_size_virtual,
            "use_bias": self.use_bias,
            "bias_size": self.bias_size,
            "bias_start": self.start + self.kernel_size_virtual if self.use_bias else None,
            "bias_scale": self.bias_scale,
            "rows": [self.row_start, self.row_end],
            "scale": float(keras.ops.convert_to_numpy(self.scale)),
            "learn_scale": self.learn_scale,
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "n": self.n,
                "start": self.start,
                "scale_init": self.scale_init,
                "learn_scale": self.learn_scale,
                "bias_scale": self.bias_scale,
                "use_xla": self.use_xla,
                "use_bias": self.use_bias,
                "activation": keras.activations.serialize(self.activation),
            }
        )
        return config


def _factors_shape_or_none(factors_shape):
    if factors_shape is None:
        return None
    if (
        isinstance(factors_shape, (list, tuple))
        and len(factors_shape) == 2
        and all(isinstance(s, (list, tuple)) for s in factors_shape)
    ):
        return factors_shape
    raise ValueError(
        "SMH layers take the factors [U, V] (the output of SMHFactors) as their second "
        f"input; got a second input of shape {factors_shape}."
    )


@keras.saving.register_keras_serializable(package="hashed_keras")
class SMHDense(DenseGeometry, SMHLayer):
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

    def __init__(
        self,
        units,
        n,
        start,
        scale_init=1.0,
        learn_scale=True,
        bias_scale=1.0,
        use_xla=False,
        activation=None,
        use_bias=True,
        **kwargs,
    ):
        super().__init__(
            n=n,
            start=start,
            scale_init=scale_init,
            learn_scale=learn_scale,
            bias_scale=bias_scale,
            use_xla=use_xla,
            activation=activation,
            use_bias=use_bias,
            **kwargs,
        )
        self.set_units(units)


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

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        n=None,
        start=None,
        scale_init=1.0,
        learn_scale=True,
        bias_scale=1.0,
        use_xla=False,
        activation=None,
        use_bias=True,
        **kwargs,
    ):
        geometry = conv_arguments(
            filters, kernel_size, strides, padding, data_format, dilation_rate
        )
        if n is None or start is None:
            raise ValueError("SMHConv2D needs `n` and `start` (its place in M_hat).")
        super().__init__(
            n=n,
            start=start,
            scale_init=scale_init,
            learn_scale=learn_scale,
            bias_scale=bias_scale,
            use_xla=use_xla,
            activation=activation,
            use_bias=use_bias,
            **kwargs,
        )
        self.set_geometry(geometry)
