"""hashed_keras: weight-sharing model compression for Keras, from training to a phone.

``import hashed_keras`` loads neither Keras nor TensorFlow: the submodules
(``hashing``, ``layers``, ``smh``, ``compress``, ``lite``, ...) load on first
use (PEP 562). The experiment harness (zoo, data sets, training, baselines) is
the separate package ``hk_experiments``.
"""

import importlib
import sys
import types

__version__ = "0.1.0"

_SUBMODULES = ("compress", "hashing", "layers", "lite", "replaceable", "smh")


def _compress_module():
    return importlib.import_module(f"{__name__}.compress")


class _Package(types.ModuleType):
    # `hashed_keras.compress` is the function, although `compress` is also the
    # submodule's name: the import system's binding of the submodule is ignored.
    compress = property(lambda self: _compress_module().compress, lambda self, module: None)
    summarize = property(lambda self: _compress_module().summarize)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES) | {"summarize"})


sys.modules[__name__].__class__ = _Package

__all__ = ["compress", "summarize", "hashing", "layers", "smh", "__version__"]
