"""``SMHFactors``: the two factors ``U``, ``V`` of a model's SMH matrix (``docs/smh.md``)."""

from __future__ import annotations

import keras

from hashed_keras import validate
from hashed_keras.layers.compressed import CompressedLayer

# Version of the smh_spec() dictionaries (docs/smh.md).
SPEC_VERSION = 1


@keras.saving.register_keras_serializable(package="hashed_keras")
class SMHFactors(CompressedLayer, keras.layers.Layer):
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
      rank: the number of rows of ``U`` and ``V`` (the paper's ``M``).
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

    export_note = "shared factors: stored with the first SMH layer"

    def __init__(self, n, rank, seed=None, virtual_size=None, **kwargs):
        super().__init__(**kwargs)
        self.n = validate.integer(n, "n", 1)
        self.rank = validate.integer(rank, "rank", 1)
        self.seed = validate.seed(seed, optional=True)
        if virtual_size is not None:
            virtual_size = validate.integer(virtual_size, "virtual_size", 1)
            if virtual_size > self.n * self.n:
                raise ValueError(
                    f"`virtual_size`={virtual_size} does not fit in an n x n matrix with "
                    f"n={self.n}; n must be at least ceil(sqrt(virtual_size))."
                )
        self.virtual_size = virtual_size
        self.supports_masking = False

    @property
    def stddev(self) -> float:
        """``rank**(-1/4)``: the initial std of ``U`` and ``V`` entries."""
        return self.rank**-0.25

    def build(self, input_shape=None):
        def init(offset):
            seed = None if self.seed is None else (self.seed + offset) % 2**32
            return keras.initializers.RandomNormal(stddev=self.stddev, seed=seed)

        self.u = self.add_weight(
            name="U", shape=(self.rank, self.n), initializer=init(0), trainable=True
        )
        self.v = self.add_weight(
            name="V", shape=(self.rank, self.n), initializer=init(1), trainable=True
        )

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
        return [
            keras.KerasTensor(shape, dtype=self.compute_dtype),
            keras.KerasTensor(shape, dtype=self.compute_dtype),
        ]

    def dense_size(self) -> int:
        """0: its layers count the virtual weights."""
        return 0

    def stored_size(self) -> int:
        """``2 * rank * n``: the floats in ``U`` and ``V``."""
        return 2 * self.rank * self.n

    def smh_spec(self) -> dict:
        """What an on-device kernel needs about the factors (see ``docs/smh.md``)."""
        return {
            "version": SPEC_VERSION,
            "n": self.n,
            "rank": self.rank,
            "virtual_size": self.virtual_size,
            "U_shape": [self.rank, self.n],
            "V_shape": [self.rank, self.n],
            "seed": self.seed,
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {"n": self.n, "rank": self.rank, "seed": self.seed, "virtual_size": self.virtual_size}
        )
        return config
