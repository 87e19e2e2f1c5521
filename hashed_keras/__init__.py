"""hashed_keras: weight-sharing model compression for Keras, from training to a phone.

``import hashed_keras`` loads neither Keras nor TensorFlow: the submodules
(``hashing``, ``layers``, ``smh``, ``compress``, ``lite``, ...) load on first
use (PEP 562). The experiment harness (zoo, data sets, training, baselines) is
the separate package ``hk_experiments``.
"""

from hashed_keras._lazy import lazy_package

__version__ = "0.1.0"

lazy_package(
    __name__,
    {
        "compress": "compress:compress",
        "summarize": "compress:summarize",
        **{name: name for name in ("hashing", "layers", "lite", "replaceable", "smh")},
    },
)

__all__ = ["compress", "summarize", "hashing", "layers", "smh", "__version__"]
