"""TFLite export of hashed models and the runtime that runs them.

* :func:`convert`: a Keras model to a `.tflite` storing only shared variables.
* :class:`Interpreter`: the stock interpreter with the hashed_keras kernels.

Names load on first use (PEP 562): the kernels' path and the verifier need
neither Keras nor TensorFlow.
"""

from hashed_keras._lazy import lazy_package

_NAMES = {
    "convert": "convert",
    "ConversionError": "convert",
    "ConversionReport": "convert",
    "Interpreter": "interpreter",
    "make_interpreter": "interpreter",
    "load_kernels": "interpreter",
    "library_path": "kernel_library",
}
lazy_package(
    __name__,
    {
        **{name: f"{module}:{name}" for name, module in _NAMES.items()},
        **{
            name: name
            for name in ("flatbuffer", "interpreter", "kernel_library", "measure", "ops", "verify")
        },
    },
)

__all__ = list(_NAMES)
