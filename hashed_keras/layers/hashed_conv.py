"""``HashedConv2D``: a 2-D convolution whose kernel is hashed into shared buckets."""

from __future__ import annotations

import keras

from hashed_keras import validate
from hashed_keras.layers.base import HashedLayer


def conv_arguments(filters, kernel_size, strides, padding, data_format, dilation_rate):
    """Checked ``(filters, kernel_size, strides, padding, data_format, dilation_rate)``.

    The checks every hashed convolution's constructor makes, with messages
    that name the argument.
    """
    validate.integer(filters, "filters", 1)
    kernel_size = validate.pair(kernel_size, "kernel_size")
    strides = validate.pair(strides, "strides")
    dilation_rate = validate.pair(dilation_rate, "dilation_rate")
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"`padding` must be 'valid' or 'same', got {padding!r}.")
    data_format = data_format or keras.config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f"`data_format` must be 'channels_last' or 'channels_first', got {data_format!r}."
        )
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(
            f"`strides` > 1 together with `dilation_rate` > 1 is not supported "
            f"(got strides={strides}, dilation_rate={dilation_rate})."
        )
    return (int(filters), kernel_size, strides, padding.lower(), data_format, dilation_rate)


class ConvGeometry:
    """What every 2-D convolution of this package shares with ``keras.layers.Conv2D``
    beyond its weights: kernel shape, input spec, convolution, output shape and config
    (``filters``, ``kernel_size``, ``strides``, ``padding``, ``data_format``,
    ``dilation_rate``, set by the constructor from :func:`conv_arguments`)."""

    @property
    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def output_shape_for(self, input_shape):
        from keras.src.ops.operation_utils import compute_conv_output_shape

        return compute_conv_output_shape(
            input_shape,
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
        )

    def set_geometry(self, args) -> None:
        """Sets the six convolution attributes from :func:`conv_arguments`' result."""
        (
            self.filters,
            self.kernel_size,
            self.strides,
            self.padding,
            self.data_format,
            self.dilation_rate,
        ) = args
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def kernel_shape_for(self, input_shape) -> tuple:
        """``(kh, kw, in, filters)`` for ``input_shape``, checked; fixes the input spec."""
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' needs a known channel dimension, got "
                f"input shape {input_shape}."
            )
        self.output_shape_for(input_shape)  # validates the spatial size
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={self._channel_axis: channels})
        return self.kernel_size + (channels, self.filters)

    def apply_kernel(self, inputs, kernel, bias):
        """The layer's output: the convolution, plus the bias, activated."""
        outputs = keras.ops.conv(
            inputs,
            kernel,
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )
        shape = (
            (1, 1, 1, self.filters)
            if self.data_format == "channels_last"
            else (1, self.filters, 1, 1)
        )
        return self.add_bias_and_activate(outputs, bias, shape)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
        }


@keras.saving.register_keras_serializable(package="hashed_keras")
class HashedConv2D(ConvGeometry, HashedLayer):
    """2-D convolution with HashedNets weight sharing.

    Like ``keras.layers.Conv2D(filters, kernel_size, ...)`` but its
    ``[kh, kw, in_channels, filters]`` kernel is virtual: each weight is
    ``sign * buckets[bucket]`` with bucket and sign hashed from its flat
    row-major index and the layer seed (``docs/hash_contract.md``).

    Args:
      filters: number of output channels.
      kernel_size: int or pair: the height and width of the window.
      strides: int or pair (default 1).
      padding: ``"valid"`` or ``"same"``.
      data_format: ``"channels_last"`` (default) or ``"channels_first"``.
      dilation_rate: int or pair (default 1).
      compression, buckets, use_sign, hash_bias, seed: as in
        :class:`HashedDense`.
      activation, use_bias, initializers, regularizers, constraints: as in
        ``keras.layers.Conv2D``; kernel ones apply to the buckets.

    Example:

    >>> layer = HashedConv2D(32, 3, padding="same", compression=1 / 16)
    >>> y = layer(np.zeros((1, 28, 28, 1), "float32"))
    >>> layer.num_buckets  # 3*3*1*32 / 16
    18
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        compression=None,
        buckets=None,
        use_sign=True,
        hash_bias=False,
        seed=None,
        activation=None,
        use_bias=True,
        **kwargs,
    ):
        geometry = conv_arguments(
            filters, kernel_size, strides, padding, data_format, dilation_rate
        )
        super().__init__(
            compression=compression,
            buckets=buckets,
            use_sign=use_sign,
            hash_bias=hash_bias,
            seed=seed,
            activation=activation,
            use_bias=use_bias,
            **kwargs,
        )
        self.set_geometry(geometry)
