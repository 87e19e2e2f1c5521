"""Structured Multi-Hashing (SMH; Eban et al., CVPR 2020) for Keras 3.

All the kernels and biases of a network are read, in order, from one virtual
``n x n`` matrix ``M_hat = U^T @ V`` whose two factors ``U, V`` (each ``rank x
n``) are the only weight variables, shared by the whole model. Layer ``l``
reads the row-major positions ``[start_l, start_l + size_l)`` of ``M_hat`` (its
kernel, then its bias) times one per-layer scale (``docs/smh.md``).

By job: the layers (:class:`SMHFactors`, :class:`SMHDense`, :class:`SMHConv2D`)
live with the others in :mod:`hashed_keras.layers`; :mod:`.layout` sizes the
matrix and places the layers; :mod:`.compress` (:func:`compress_smh`) turns a
model into its SMH twin; :mod:`.report` (:func:`smh_summary`,
:func:`smh_weights`) reports on one.
"""

from hashed_keras.layers.smh import SMHConv2D, SMHDense, SMHLayer
from hashed_keras.layers.smh_factors import SPEC_VERSION, SMHFactors
from hashed_keras.smh.compress import compress_smh
from hashed_keras.smh.layout import initializer_std, plan_layout
from hashed_keras.smh.report import smh_factors, smh_layers, smh_summary, smh_weights

__all__ = [
    "SMHFactors",
    "SMHLayer",
    "SMHDense",
    "SMHConv2D",
    "compress_smh",
    "smh_summary",
    "smh_weights",
    "smh_layers",
    "smh_factors",
    "plan_layout",
    "initializer_std",
    "SPEC_VERSION",
]
