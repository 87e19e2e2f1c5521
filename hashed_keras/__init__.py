"""hashed_keras: weight-sharing model compression for Keras, from training to a phone."""

from hashed_keras import hashing
from hashed_keras import layers
from hashed_keras import smh
from hashed_keras.compress import compress, summarize

__version__ = "0.1.0"

__all__ = ["compress", "summarize", "hashing", "layers", "smh", "__version__"]
