"""``HashedDense``: a Dense layer whose kernel is hashed into shared buckets."""

from __future__ import annotations

import keras
import tensorflow as tf

from hashed_keras import validate
from hashed_keras.layers.base import HashedLayer


class DenseGeometry:
    """What every dense layer of this package shares with ``keras.layers.Dense``
    beyond its weights: ``units``, the input spec, the product and the output shape."""

    def set_units(self, units) -> None:
        self.units = validate.integer(units, "units", 1)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def kernel_shape_for(self, input_shape) -> tuple:
        """``(input_dim, units)`` for ``input_shape``, checked; fixes the input spec."""
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' needs a known last input dimension, "
                f"got input shape {input_shape}."
            )
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_dim})
        return (input_dim, self.units)

    def apply_kernel(self, inputs, kernel, bias):
        """The layer's output: ``inputs @ kernel``, plus the bias, activated."""
        outputs = (
            tf.tensordot(inputs, kernel, 1)
            if len(inputs.shape) > 2
            else (tf.matmul(inputs, kernel))
        )
        return self.add_bias_and_activate(outputs, bias)

    def output_shape_for(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="hashed_keras")
class HashedDense(DenseGeometry, HashedLayer):
    """Densely-connected layer with HashedNets weight sharing (Chen et al., 2015).

    Behaves like ``keras.layers.Dense(units)`` but its ``[input_dim, units]``
    kernel is *virtual*: weight ``(i, j)`` is ``sign * buckets[bucket]``,
    bucket and sign hashed from the weight's flat index ``i * units + j`` and
    the layer seed (see ``docs/hash_contract.md``). Only the ``K`` buckets
    (and the bias, unless ``hash_bias``) are variables, trained and saved.

    Args:
      units: positive integer, dimensionality of the output space.
      compression: fraction of virtual weights stored, in (0, 1]; ``K =
        round(compression * virtual_size)``. Default 1/8 when ``buckets`` is
        not given.
      buckets: the bucket count ``K`` itself (instead of ``compression``).
      use_sign: multiply each virtual weight by a hashed ±1 sign (the paper's
        ξ), which makes the hash an unbiased estimator of inner products.
      hash_bias: if True the bias is hashed into the same buckets (one more
        row of the virtual matrix); by default it is a plain variable.
      seed: integer in [0, 2**32): the layer's hash pattern. ``None`` draws
        one from Python's ``random`` (seeded by
        ``keras.utils.set_random_seed``); it is saved in ``get_config``.
      activation, use_bias, kernel_initializer, bias_initializer,
      kernel_regularizer, bias_regularizer, kernel_constraint,
      bias_constraint: as in ``keras.layers.Dense``. The kernel initializer
        is evaluated on the virtual shape (so fan-in/out are the full
        layer's) and defaults to ``U(±1/sqrt(fan_in))``; the kernel
        regularizer and constraint apply to the buckets.

    Example:

    >>> model = keras.Sequential([
    ...     keras.Input((784,)),
    ...     HashedDense(1000, compression=1 / 8, activation="relu"),
    ...     HashedDense(10, compression=1 / 8, activation="softmax"),
    ... ])
    >>> model.layers[0].stored_size()  # 98000 buckets + 1000 bias
    99000
    """

    def __init__(
        self,
        units,
        compression=None,
        buckets=None,
        use_sign=True,
        hash_bias=False,
        seed=None,
        activation=None,
        use_bias=True,
        **kwargs,
    ):
        validate.integer(units, "units", 1)
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
        self.set_units(units)
