"""Random edge removal (RER), the HashedNets paper's baseline: masked Dense/Conv2D.

``MaskedDense`` and ``MaskedConv2D`` are ``keras.layers.Dense``/``Conv2D`` whose
kernel is multiplied by a fixed random binary mask that keeps ``kept`` of its
weights (``compression`` times the kernel size, rounded, at least 1, the same
count a hashed layer at that compression has buckets). The mask is not a
variable: it is recomputed from the layer's ``seed`` at ``build`` (the
positions with the ``kept`` smallest ``xxh32(flat index, seed)`` values, the
flat index being the row-major index in the Keras-layout kernel, as in
:mod:`hashed_keras.hashing`), so only ``seed`` and the count are in the config.

The kernel variable keeps the full dense shape; removed positions are zeroed
at ``build`` and the forward pass reads ``kernel * mask``, so their gradient is
exactly zero and they stay zero under any optimizer. The kept positions start
with the variance of a dense layer of the kept fan-in and fan-out (a
variance-scaling initializer's draw times ``sqrt(size / kept)``), as a sparse
layer's initialisation must for the signal to pass several of them. A
``.tflite`` of such a model is a plain dense one (TFLite folds the product
into one constant).

The stored size (:meth:`stored_size`, used by
:func:`hashed_keras.summarize`) is the kept weights plus the bias: what a
sparse format would store, not counting the indices (which the seed gives).
"""

from __future__ import annotations

import keras
import numpy as np

from hashed_keras import hashing
from hashed_keras.layers import weight_sharing
from hashed_keras.layers.compressed import CompressedLayer


def edge_mask(shape, kept: int, seed: int) -> np.ndarray:
    """The float32 0/1 mask of ``shape`` keeping exactly ``kept`` positions.

    Keeps the flat (row-major) indices with the ``kept`` smallest
    ``xxh32(index, seed)`` values (ties by index): a uniformly random subset
    that depends only on ``seed`` and ``shape``.
    """
    size = int(np.prod(shape))
    if not 1 <= kept <= size:
        raise ValueError(
            f"`kept` must be in [1, {size}] for a kernel of shape {tuple(shape)}, got {kept}."
        )
    keys = hashing.xxh32(np.arange(size, dtype=np.uint32), seed)
    order = np.argsort(keys, kind="stable")
    mask = np.zeros(size, np.float32)
    mask[order[:kept]] = 1.0
    return mask.reshape(shape)


class _MaskedMixin(CompressedLayer):
    """Shared by the masked layers: arguments, mask at build, masked kernel."""

    shares_weights = False  # exported dense (no scheme), reported as not hashed

    def _init_mask_args(self, compression, kept, seed):
        if getattr(self, "lora_rank", None):
            raise ValueError(f"{type(self).__name__} does not support LoRA (`lora_rank`).")
        self.compression, self.kept = weight_sharing.validate_sharing_args(compression, kept)
        self.seed = weight_sharing.validate_seed(seed)
        self._mask = None

    def _build_mask(self):
        shape = tuple(int(d) for d in self._kernel.shape)
        size = int(np.prod(shape))
        if self.kept is not None and self.kept > size:
            raise ValueError(
                f"Layer '{self.name}': `kept`={self.kept} is more than its {size} kernel weights."
            )
        kept = weight_sharing.resolve_buckets(size, self.compression, self.kept)
        self.num_kept = int(kept)
        self._mask = edge_mask(shape, self.num_kept, self.seed)
        # Removed weights are zero in the variable too (what is saved is honest),
        # and the kept ones start as in a dense layer of the kept fan-in.
        scale = np.sqrt(size / self.num_kept) if self._fan_scaled() else 1.0
        self._kernel.assign(
            self._kernel * keras.ops.cast(self._mask * np.float32(scale), self._kernel.dtype)
        )

    def _fan_scaled(self) -> bool:
        """Whether the kernel's initializer scales its variance by the fan-in or
        fan-out (Glorot, He, LeCun: ``VarianceScaling``): each unit keeps about
        ``kept / size`` of its inputs and outputs, so the kept weights are
        multiplied by ``sqrt(size / kept)`` to get the variance of a dense layer
        of that fan. Otherwise the signal shrinks by that factor at every layer
        (mlp5 at 1/64: 512 times over its three hidden layers, and two of three
        seeds never learned). Other initializers are left as they are."""
        return isinstance(self.kernel_initializer, keras.initializers.VarianceScaling)

    @property
    def mask(self) -> np.ndarray:
        """The 0/1 kernel mask (numpy, float32)."""
        if self._mask is None:
            raise AttributeError(f"Layer '{self.name}' is not built: it has no mask yet.")
        return self._mask

    @property
    def kernel(self):
        kernel = keras.ops.convert_to_tensor(super().kernel)
        return kernel * keras.ops.cast(self.mask, kernel.dtype)

    def dense_size(self) -> int:
        return int(sum(np.prod(w.shape) for w in self.weights))

    def stored_size(self) -> int:
        """Kept kernel weights plus the bias (not the removed, always-zero ones)."""
        bias = int(np.prod(self.bias.shape)) if self.bias is not None else 0
        return self.num_kept + bias

    def _mask_config(self):
        return {"compression": self.compression, "kept": self.kept, "seed": self.seed}


@keras.saving.register_keras_serializable(package="hashed_keras")
class MaskedDense(_MaskedMixin, keras.layers.Dense):
    """A Dense layer with a fixed random sparse kernel (random edge removal).

    Args:
      units: output units.
      compression: fraction of the kernel's weights kept, in (0, 1] (default 1/8).
      kept: the number of kernel weights kept, instead of ``compression``.
      seed: the mask pattern; ``None`` draws one (repeatable after
        ``keras.utils.set_random_seed``).
      **kwargs: ``keras.layers.Dense`` arguments (no ``lora_rank``).
    """

    def __init__(self, units, compression=None, kept=None, seed=None, **kwargs):
        super().__init__(units, **kwargs)
        self._init_mask_args(compression, kept, seed)

    def build(self, input_shape):
        super().build(input_shape)
        self._build_mask()

    def get_config(self):
        return {**super().get_config(), **self._mask_config()}


@keras.saving.register_keras_serializable(package="hashed_keras")
class MaskedConv2D(_MaskedMixin, keras.layers.Conv2D):
    """A Conv2D layer with a fixed random sparse kernel (random edge removal).

    Args:
      filters, kernel_size: as ``keras.layers.Conv2D``.
      compression: fraction of the kernel's weights kept, in (0, 1] (default 1/8).
      kept: the number of kernel weights kept, instead of ``compression``.
      seed: the mask pattern; ``None`` draws one.
      **kwargs: ``keras.layers.Conv2D`` arguments (no ``lora_rank``).
    """

    def __init__(self, filters, kernel_size, compression=None, kept=None, seed=None, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self._init_mask_args(compression, kept, seed)

    def build(self, input_shape):
        super().build(input_shape)
        self._build_mask()

    def get_config(self):
        return {**super().get_config(), **self._mask_config()}
