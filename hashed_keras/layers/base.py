"""``HashedLayer``: the base class of layers whose kernel is hashed into buckets."""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from hashed_keras import hashing, validate
from hashed_keras.layers import weight_sharing
from hashed_keras.layers.compressed import CompressedLayer


def fan_in_uniform():
    """The HashedNets authors' initialisation: ``U(±1/sqrt(fan_in))``."""
    return keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
    )


class HashedLayer(CompressedLayer, keras.layers.Layer):
    """Common base of :class:`HashedDense` and :class:`HashedConv2D`.

    Subclasses mix in a geometry (``DenseGeometry``, ``ConvGeometry``: the kernel
    shape, the product and the output shape); the weights are :meth:`build_shared`'s.
    """

    export_scheme = "hashednets"

    def __init__(
        self,
        *,
        compression=None,
        buckets=None,
        use_sign=True,
        hash_bias=False,
        seed=None,
        use_bias=True,
        activation=None,
        kernel_initializer=None,
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.compression, self.buckets = weight_sharing.validate_sharing_args(compression, buckets)
        self.use_sign = validate.boolean(use_sign, "use_sign")
        self.hash_bias = validate.boolean(hash_bias, "hash_bias")
        if hash_bias and not use_bias:
            raise ValueError("`hash_bias=True` needs `use_bias=True`.")
        self.seed = weight_sharing.validate_seed(seed)
        self.use_bias = bool(use_bias)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer if kernel_initializer is not None else fan_in_uniform()
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.supports_masking = False

    # -- build ---------------------------------------------------------------

    def build(self, input_shape):
        kernel_shape = self.kernel_shape_for(input_shape)  # from the layer's geometry
        self.build_shared(kernel_shape, kernel_shape[-1])

    def call(self, inputs):
        return self.apply_kernel(inputs, *self.shared_kernel_and_bias())

    def compute_output_shape(self, input_shape):
        return self.output_shape_for(input_shape)

    def build_shared(self, kernel_shape, bias_size):
        """Creates the buckets, the (unhashed) bias and the hash constants."""
        self.kernel_shape = tuple(int(d) for d in kernel_shape)
        self.kernel_size_virtual = math.prod(self.kernel_shape)
        self.bias_size = int(bias_size) if self.use_bias else 0
        self.virtual_size = self.kernel_size_virtual + (self.bias_size if self.hash_bias else 0)
        if self.virtual_size > hashing.MAX_VIRTUAL_SIZE:
            raise ValueError(
                f"Layer '{self.name}' has {self.virtual_size} virtual weights; the hash "
                "contract keys at most 2**32 per layer."
            )
        self.num_buckets = weight_sharing.resolve_buckets(
            self.virtual_size, self.compression, self.buckets
        )
        self.shared = self.add_weight(
            name="buckets",
            shape=(self.num_buckets,),
            initializer=weight_sharing.VirtualShapeInitializer(
                self.kernel_initializer, self.kernel_shape
            ),
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            trainable=True,
            dtype=self.dtype,
        )
        if self.use_bias and not self.hash_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.bias_size,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                trainable=True,
                dtype=self.dtype,
            )
        else:
            self.bias = None
        self._index, self._sign = weight_sharing.hash_constants(
            self.virtual_size, self.num_buckets, self.seed, self.use_sign
        )

    def shared_kernel_and_bias(self):
        """The virtual kernel (Keras layout) and bias (or None), as tensors."""
        virtual = weight_sharing.gather_shared(self.shared, self._index, self._sign)
        if self.hash_bias:
            kernel = tf.reshape(virtual[: self.kernel_size_virtual], self.kernel_shape)
            return kernel, virtual[self.kernel_size_virtual :]
        return tf.reshape(virtual, self.kernel_shape), self.bias

    @property
    def kernel(self):
        """The materialised virtual kernel (Keras layout): for inspection."""
        if not self.built:
            raise AttributeError("Build the layer before reading `kernel`.")
        return self.shared_kernel_and_bias()[0]

    def hash_spec(self) -> dict:
        """What the converter and kernels need to rebuild this layer's weights."""
        if not self.built:
            raise AttributeError("Build the layer before reading `hash_spec()`.")
        return {
            "contract_version": hashing.CONTRACT_VERSION,
            "seed": self.seed,
            "buckets": self.num_buckets,
            "kernel_shape": list(self.kernel_shape),
            "hash_bias": self.hash_bias,
            "bias_size": self.bias_size,
            "use_sign": self.use_sign,
        }

    @classmethod
    def cannot_replace(cls, layer, compression):
        """Why this class cannot stand for the built ``layer`` at ``compression`` (or None)."""
        return None

    def export_spec(self) -> dict:
        return self.hash_spec()

    def hashed_kernel(self, kernel):
        """The values a dense ``kernel`` gives the hashed virtual weights: itself."""
        return kernel

    def stored_size(self) -> int:
        """Number of stored (trainable) scalars: buckets plus an unhashed bias."""
        return self.num_buckets + (self.bias_size if self.bias is not None else 0)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "compression": self.compression,
                "buckets": self.buckets,
                "use_sign": self.use_sign,
                "hash_bias": self.hash_bias,
                "seed": self.seed,
                "use_bias": self.use_bias,
                "activation": keras.activations.serialize(self.activation),
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config
