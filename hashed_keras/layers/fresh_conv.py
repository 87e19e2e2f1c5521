"""``FreshConv2D``: a 2-D convolution hashed in the frequency domain (FreshNets).

FreshNets (Chen, Wilson, Tyree, Weinberger and Chen, "Compressing Convolutional
Neural Networks in the Frequency Domain", KDD 2016) represent each ``kh x kw``
filter by its orthonormal 2-D DCT-II coefficients and hash the *coefficients*
into shared buckets, giving low frequencies (where trained filters keep most
of their energy) more buckets per coefficient than high ones. The spatial
kernel is the inverse DCT of the hashed coefficients. The bucket and sign of
every coefficient follow ``docs/hash_contract.md`` ("Frequency keys").
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from hashed_keras import hashing
from hashed_keras.layers import weight_sharing
from hashed_keras.layers.hashed_conv import HashedConv2D


@keras.saving.register_keras_serializable(package="hashed_keras")
class FreshConv2D(HashedConv2D):
    """2-D convolution with FreshNets frequency-sensitive hashing.

    Like ``keras.layers.Conv2D(filters, kernel_size, ...)``, but its
    ``[kh, kw, in_channels, filters]`` kernel is the inverse 2-D DCT-II of a
    virtual tensor of frequency coefficients ``F[j1, j2, c, o]``, each of which
    is ``sign * buckets[bucket]``. Coefficients are grouped into frequency
    bands ``b = j1 + j2``; each band hashes into its own pool of ``K_b``
    buckets, and ``band_allocation`` decides how the layer's ``K`` buckets are
    split (by default fewer per coefficient at higher frequencies). Only the
    ``K`` buckets (and the bias) are variables, trained and saved; bucket
    indices and signs are recomputed from the seed (``docs/hash_contract.md``,
    "Frequency keys (FreshNets)").

    Args:
      filters: number of output channels.
      kernel_size: int or pair: the height and width of the window.
      strides: int or pair (default 1).
      padding: ``"valid"`` or ``"same"``.
      data_format: ``"channels_last"`` (default) or ``"channels_first"``; the
        kernel (and its hash) is the same for both.
      dilation_rate: int or pair (default 1).
      compression: fraction of the ``kh*kw*in*filters`` virtual coefficients
        stored, in (0, 1]: ``K = max(1, round(compression * size))``. Default
        1/8 when ``buckets`` is not given.
      buckets: the bucket count ``K`` itself (instead of ``compression``).
        FreshNets needs ``K >= kh + kw - 1`` (one bucket per band).
      band_allocation: how ``K`` is split over the bands (see
        ``hashing.allocate_band_buckets``): ``"beta"`` (default: buckets per
        coefficient follow the ``Beta(1, 2.5)`` pdf at the band centres
        ``(b + 0.5) / B``, decreasing with frequency), ``("beta", a, b)``,
        ``"uniform"`` (the same density in every band: plain hashing in the
        frequency domain, an ablation), or a list of ``kh + kw - 1`` positive
        per-band fractions of ``K`` summing to 1.
      use_sign: multiply each coefficient by a hashed ±1 sign.
      seed: integer in [0, 2**32): the layer's hash pattern (``None`` draws
        one, repeatably after ``keras.utils.set_random_seed``); saved in
        ``get_config``.
      activation, use_bias, kernel_initializer, bias_initializer,
      kernel_regularizer, bias_regularizer, kernel_constraint,
      bias_constraint: as in ``keras.layers.Conv2D``. The kernel initializer
        is evaluated on the virtual ``[kh, kw, in, filters]`` shape (default
        ``U(±1/sqrt(fan_in))``, as ``HashedConv2D``); because the DCT is
        orthonormal, coefficients with that variance give spatial weights
        with that variance. The kernel regularizer and constraint apply to
        the buckets.

    Example:

    >>> layer = FreshConv2D(32, 3, padding="same", compression=1 / 16, seed=7)
    >>> y = layer(np.zeros((1, 28, 28, 16), "float32"))
    >>> layer.num_buckets  # 3*3*16*32 / 16
    288
    >>> layer.band_buckets  # bands j1 + j2 = 0..4
    [71, 98, 89, 27, 3]
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
        band_allocation="beta",
        use_sign=True,
        seed=None,
        activation=None,
        use_bias=True,
        **kwargs,
    ):
        hash_bias = kwargs.pop("hash_bias", False)
        if hash_bias is not False:
            raise ValueError(
                f"`hash_bias` is not supported by FreshConv2D (its bias is a plain "
                f"vector; only kernel coefficients are hashed), got {hash_bias!r}."
            )
        super().__init__(
            filters,
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            compression=compression,
            buckets=buckets,
            use_sign=use_sign,
            seed=seed,
            activation=activation,
            use_bias=use_bias,
            **kwargs,
        )
        kh, kw = self.kernel_size
        bands = hashing.num_bands(kh, kw)
        self.band_allocation = hashing.normalize_band_allocation(band_allocation, bands)
        if self.buckets is not None and self.buckets < bands:
            raise ValueError(
                f"`buckets`={self.buckets} is too few for FreshConv2D: a {kh}x{kw} filter "
                f"has {bands} frequency bands and each needs at least one bucket; pass "
                f"buckets >= {bands}."
            )
        self.band_buckets = None
        self._saved_band_buckets = None

    export_scheme = hashing.FRESHNETS_SCHEME

    def build_shared(self, kernel_shape, bias_size):
        """Creates the buckets and bias, and the frequency hash constants."""
        kernel_shape = tuple(int(d) for d in kernel_shape)
        total = weight_sharing.resolve_buckets(
            int(np.prod(kernel_shape)), self.compression, self.buckets
        )
        try:
            if self._saved_band_buckets is not None:
                # A loaded model keeps the allocation it was trained with.
                band_buckets = hashing.check_band_buckets(
                    kernel_shape, self._saved_band_buckets, total
                )
            else:
                band_buckets = hashing.allocate_band_buckets(
                    kernel_shape, total, self.band_allocation
                )
        except ValueError as error:
            raise ValueError(f"FreshConv2D '{self.name}': {error}") from error
        # The buckets (drawn on the virtual shape) and the plain bias are
        # HashedLayer's; only the index and sign differ.
        super().build_shared(kernel_shape, bias_size)
        self.band_buckets = band_buckets
        index, sign = hashing.band_bucket_and_sign(
            kernel_shape, band_buckets, self.seed, use_sign=self.use_sign
        )
        kh, kw = kernel_shape[:2]
        with tf.init_scope():
            self._index, self._sign = tf.constant(index), tf.constant(sign)
            # [kh*kw frequencies, kh*kw positions]; the inverse DCT is its transpose.
            self._dct_basis = tf.constant(hashing.dct2_basis(kh, kw), tf.float32)

    @classmethod
    def cannot_replace(cls, layer, compression):
        if not layer.built:
            return None  # build raises its own error if the layer is too small
        size = int(np.prod(layer.kernel.shape))
        buckets = weight_sharing.resolve_buckets(size, compression)
        bands = hashing.num_bands(*layer.get_config()["kernel_size"])
        if buckets >= bands:
            return None
        return (
            f"FreshConv2D needs >= {bands} buckets (one per frequency band), compression "
            f"{compression:g} gives {buckets} of {size}: raise it with per_layer, or skip"
        )

    def hashed_kernel(self, kernel):
        """The values a dense ``kernel`` gives the hashed coefficients: its 2-D DCT."""
        return hashing.dct2_kernel(kernel)

    def _frequency_coefficients(self):
        """``[kh*kw, in*filters]`` coefficients: ``sign * buckets[index]``."""
        coefficients = weight_sharing.gather_shared(self.shared, self._index, self._sign)
        kh, kw, cin, cout = self.kernel_shape
        return tf.reshape(coefficients, (kh * kw, cin * cout))

    def shared_kernel_and_bias(self):
        """The spatial kernel (inverse DCT of the hashed coefficients) and the bias."""
        coefficients = self._frequency_coefficients()
        basis = tf.cast(self._dct_basis, coefficients.dtype)
        kernel = tf.matmul(basis, coefficients, transpose_a=True)
        return tf.reshape(kernel, self.kernel_shape), self.bias

    @property
    def frequency_kernel(self):
        """The virtual coefficients ``F[j1, j2, c, o]`` (for inspection)."""
        if not self.built:
            raise AttributeError("Build the layer before reading `frequency_kernel`.")
        return tf.reshape(self._frequency_coefficients(), self.kernel_shape)

    @property
    def band_offsets(self):
        """Where each band's pool starts in ``buckets``."""
        if self.band_buckets is None:
            raise AttributeError("Build the layer before reading `band_offsets`.")
        return hashing.band_offsets(self.band_buckets)

    def hash_spec(self) -> dict:
        """What a kernel needs to rebuild the spatial weights from the buckets.

        The plain spec (``contract_version``, ``seed``, ``buckets`` = ``K``,
        ``kernel_shape``, ``use_sign``, ``hash_bias`` (always False),
        ``bias_size``) plus ``scheme: "freshnets"`` and ``band_buckets``. A
        kernel that does not implement the scheme must refuse the spec.
        """
        spec = super().hash_spec()
        spec.update(
            {
                "scheme": hashing.FRESHNETS_SCHEME,
                "band_buckets": list(self.band_buckets),
            }
        )
        return spec

    def get_build_config(self):
        config = super().get_build_config()
        if config is not None and self.band_buckets is not None:
            config["band_buckets"] = list(self.band_buckets)
        return config

    def build_from_config(self, config):
        if config and config.get("band_buckets") is not None:
            self._saved_band_buckets = list(config["band_buckets"])
        super().build_from_config(config)

    def get_config(self):
        config = super().get_config()
        config.pop("hash_bias", None)
        allocation = self.band_allocation
        config["band_allocation"] = allocation if isinstance(allocation, str) else list(allocation)
        return config
