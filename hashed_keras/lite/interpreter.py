"""``Interpreter``: the stock TFLite interpreter with the hashed_keras kernels loaded.

The kernels are a delegate plugin (``libhashed_keras_kernels.so``) that claims
the hashed custom operators; everything else runs on the runtime's own kernels.
Runtimes, in order of preference: ``ai_edge_litert`` (LiteRT), TensorFlow's
``tf.lite``, ``tflite_runtime``.
"""

from __future__ import annotations

import importlib

from hashed_keras.lite.kernel_library import library_path

RUNTIMES = ("ai_edge_litert", "tensorflow", "tflite_runtime")


def _runtime_module(name: str):
    if name == "ai_edge_litert":
        return importlib.import_module("ai_edge_litert.interpreter")
    if name == "tensorflow":
        import tensorflow as tf
        return _TfLite(tf)
    if name == "tflite_runtime":
        return importlib.import_module("tflite_runtime.interpreter")
    raise ValueError(f"Unknown runtime {name!r}; choose one of {RUNTIMES}.")


class _TfLite:
    """tf.lite presented like the two interpreter modules."""

    def __init__(self, tf):
        self.Interpreter = tf.lite.Interpreter
        self.load_delegate = tf.lite.experimental.load_delegate


def _default_runtime() -> str:
    for name in RUNTIMES:
        try:
            _runtime_module(name)
            return name
        except ImportError:
            continue
    raise ImportError(
        "No TFLite runtime found: pip install ai-edge-litert (or tensorflow, or "
        "tflite-runtime).")


def load_kernels(runtime: str | None = None):
    """The hashed_keras kernels as a delegate object of ``runtime``."""
    module = _runtime_module(runtime or _default_runtime())
    return module.load_delegate(library_path())


def _delegates(module, extra):
    """Our kernels first, then the caller's delegates."""
    return [module.load_delegate(library_path()), *(extra or [])]


def make_interpreter(model_path=None, model_content=None, *, num_threads=None,
                     runtime: str | None = None, experimental_delegates=None, **kwargs):
    """A stock interpreter of ``runtime`` with the kernels loaded.

    Args:
      model_path, model_content: the model, as for the stock interpreter.
      num_threads: threads for the runtime's own kernels.
      runtime: one of :data:`RUNTIMES`; default: the first importable.
      experimental_delegates: more delegates, applied after ours.
      **kwargs: passed on to the stock interpreter.

    Returns:
      An instance of the runtime's own ``Interpreter`` class.
    """
    runtime = runtime or _default_runtime()
    module = _runtime_module(runtime)
    return module.Interpreter(model_path=model_path, model_content=model_content,
                              num_threads=num_threads,
                              experimental_delegates=_delegates(module, experimental_delegates),
                              **kwargs)


def _stock_interpreter_class():
    return _runtime_module(_default_runtime()).Interpreter


class Interpreter(_stock_interpreter_class()):
    """The preferred runtime's ``Interpreter``, with the hashed_keras kernels.

    Use it exactly like the stock interpreter:

    >>> interpreter = Interpreter("model.tflite", num_threads=2)
    >>> interpreter.allocate_tensors()
    >>> interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    >>> interpreter.invoke()

    Args:
      model_path: path of a ``.tflite`` file.
      model_content: or its bytes.
      num_threads: threads for the runtime's own kernels.
      experimental_delegates: more delegates, applied after ours.
      **kwargs: passed on to the stock interpreter.
    """

    def __init__(self, model_path=None, model_content=None, num_threads=None,
                 experimental_delegates=None, **kwargs):
        module = _runtime_module(_default_runtime())
        super().__init__(model_path=model_path, model_content=model_content,
                         num_threads=num_threads,
                         experimental_delegates=_delegates(module, experimental_delegates),
                         **kwargs)
