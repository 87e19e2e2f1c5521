"""``CompressedLayer``: the protocol through which :func:`hashed_keras.summarize`,
:func:`hashed_keras.lite.convert` and :func:`hashed_keras.lite.ops.lower` read every
compressed layer, never by its type."""

from __future__ import annotations

import keras


class CompressedLayer:
    """Mixin of a layer that stands for a dense layer but stores fewer scalars.

    Attributes:
      export_scheme: the key of its lowering (the custom operator that rebuilds its
        weights in a ``.tflite``) in :data:`hashed_keras.lite.ops.LOWERINGS`, or None.
      export_note: without a scheme, where a ``.tflite`` stores it (None: dense).
      shares_weights: whether its weights are shared (reported as hashed).
    """

    export_scheme = None
    export_note = None
    shares_weights = True

    def dense_size(self) -> int:
        """Its virtual size: the scalars of the dense layer it stands for (kernel, bias)."""
        return self.kernel_size_virtual + self.bias_size

    def stored_size(self) -> int:
        """Scalars it stores (what a trained model saves)."""
        raise NotImplementedError

    def export_spec(self) -> dict:
        """What its export scheme's lowering needs (``docs/tflite_format.md``)."""
        raise NotImplementedError

    def add_bias_and_activate(self, outputs, bias, channel_shape=None):
        if bias is not None:
            outputs = outputs + (
                bias if channel_shape is None else keras.ops.reshape(bias, channel_shape)
            )
        return outputs if self.activation is None else self.activation(outputs)
