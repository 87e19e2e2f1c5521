"""Keras layers whose weights are drawn from a small pool of shared variables."""

from hashed_keras.layers.base import HashedLayer
from hashed_keras.layers.fresh_conv import FreshConv2D
from hashed_keras.layers.hashed_conv import HashedConv2D
from hashed_keras.layers.hashed_dense import HashedDense
from hashed_keras.layers.masked import MaskedConv2D, MaskedDense
from hashed_keras.layers.smh import SMHConv2D, SMHDense, SMHLayer
from hashed_keras.layers.smh_factors import SMHFactors

__all__ = [
    "HashedLayer",
    "HashedDense",
    "HashedConv2D",
    "FreshConv2D",
    "MaskedDense",
    "MaskedConv2D",
    "SMHFactors",
    "SMHLayer",
    "SMHDense",
    "SMHConv2D",
]
