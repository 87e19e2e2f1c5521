"""hashed_keras: weight-sharing model compression for Keras, from training to a phone."""

import importlib

from hashed_keras import hashing
from hashed_keras import layers
from hashed_keras import smh
from hashed_keras.compress import compress, summarize

__version__ = "0.1.0"

# Imported on first use (PEP 562): `hashed_keras.data.load(...)` works after a
# plain `import hashed_keras`, without loading the converter or the data sets
# for users who only need the layers.
_LAZY_SUBMODULES = ("baselines", "compress", "data", "lite", "models", "training")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"hashed_keras.{name}")
    raise AttributeError(f"module 'hashed_keras' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))


__all__ = ["compress", "summarize", "hashing", "layers", "smh", "__version__"]
