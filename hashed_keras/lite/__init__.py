"""TFLite export of hashed models and the runtime that runs them.

* :func:`convert`: a Keras model to a `.tflite` storing only shared variables.
* :class:`Interpreter`: the stock interpreter with the hashed_keras kernels.

Names load on first use (PEP 562): the kernels' path and the verifier need
neither Keras nor TensorFlow.
"""

import importlib

_NAMES = {"convert": "convert", "ConversionError": "convert", "ConversionReport": "convert",
          "Interpreter": "interpreter", "make_interpreter": "interpreter",
          "load_kernels": "interpreter", "library_path": "kernel_library"}


def __getattr__(name):
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_NAMES))


__all__ = list(_NAMES)
