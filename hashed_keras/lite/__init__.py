"""TFLite export of hashed models and the runtime that runs them.

* :func:`convert`: a Keras model to a `.tflite` storing only shared variables.
* :class:`Interpreter`: the stock interpreter with the hashed_keras kernels.
"""

from hashed_keras.lite.convert import ConversionError, ConversionReport, convert
from hashed_keras.lite.interpreter import Interpreter, load_kernels, make_interpreter
from hashed_keras.lite.kernel_library import library_path

__all__ = ["convert", "ConversionError", "ConversionReport", "Interpreter",
           "make_interpreter", "load_kernels", "library_path"]
