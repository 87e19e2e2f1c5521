"""``Interpreter``: the stock TFLite interpreter with the hashed_keras kernels loaded.

The kernels are a delegate plugin (``libhashed_keras_kernels.so``) that claims
the hashed custom operators; everything else runs on the runtime's own kernels.
Runtimes, in order of preference: ``ai_edge_litert`` (LiteRT), TensorFlow's
``tf.lite``, ``tflite_runtime``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from hashed_keras.lite.kernel_library import library_path

RUNTIMES = ("ai_edge_litert", "tensorflow", "tflite_runtime")
WEIGHTS = ("rebuilt", "on_the_fly")
"""Execution modes (``weights=``): rebuild every weight tensor once, when the
interpreter is created, and run the runtime's own kernels (fast); or compute
the FULLY_CONNECTED and CONV_2D layers straight from the shared variables at
every invoke, holding no rebuilt weights (small in memory). README, "Deploying"."""


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
        "No TFLite runtime found: pip install ai-edge-litert (or tensorflow, or tflite-runtime)."
    )


def _delegate_options(max_virtual_weights=None, max_rebuild_bytes=None, weights="rebuilt") -> dict:
    """The delegate plugin's options: the mode and the limits (docs/tflite_format.md)."""
    from hashed_keras.lite.verify import _limit  # the one check of a limit's value

    if weights not in WEIGHTS:
        raise ValueError(f"weights={weights!r}; choose one of {WEIGHTS}.")
    limits = {
        key: str(_limit(key, value))
        for key, value in (
            ("max_virtual_weights", max_virtual_weights),
            ("max_rebuild_bytes", max_rebuild_bytes),
        )
        if value is not None
    }
    return {"weights": weights, **limits}


def load_kernels(
    runtime: str | None = None,
    *,
    max_virtual_weights=None,
    max_rebuild_bytes=None,
    weights="rebuilt",
):
    """The hashed_keras kernels as a delegate object of ``runtime``.

    Args:
      runtime: one of :data:`RUNTIMES`; default: the first importable.
      max_virtual_weights, max_rebuild_bytes: raise (or lower) the limits on
        what a model may make the kernels rebuild (default: the library's,
        ``HK_DEFAULT_*`` in ``hk_kernels.h``).
      weights: one of :data:`WEIGHTS`.
    """
    module = _runtime_module(runtime or _default_runtime())
    return module.load_delegate(
        library_path(), _delegate_options(max_virtual_weights, max_rebuild_bytes, weights)
    )


def _load(model_path, model_content, verify, limits):
    """The model's bytes, verified unless ``verify`` is False.

    The file is read once and the same bytes go to the runtime, so what was
    verified is what runs.
    """
    if (model_path is None) == (model_content is None):
        raise ValueError("Give exactly one of model_path and model_content.")
    if model_content is None:
        model_content = Path(model_path).read_bytes()
    content = bytes(model_content)
    if verify:
        from hashed_keras.lite.verify import verify as verify_content

        verify_content(content, **limits)
    return content


def _delegates(module, extra, limits, weights):
    """Our kernels first, then the caller's delegates."""
    options = _delegate_options(
        limits.get("max_virtual_weights"), limits.get("max_rebuild_bytes"), weights
    )
    return [module.load_delegate(library_path(), options), *(extra or [])]


def make_interpreter(
    model_path=None,
    model_content=None,
    *,
    num_threads=None,
    runtime: str | None = None,
    experimental_delegates=None,
    verify=True,
    weights="rebuilt",
    max_virtual_weights=None,
    max_rebuild_bytes=None,
    max_tensor_bytes=None,
    **kwargs,
):
    """A stock interpreter of ``runtime`` with the kernels loaded.

    The model is verified first (:func:`hashed_keras.lite.verify.verify`): an
    invalid or hostile file raises :class:`~hashed_keras.lite.verify.InvalidModelError`
    with one line saying what is wrong, before the runtime sees it.

    Args:
      model_path, model_content: the model, as for the stock interpreter.
      num_threads: threads for the runtime's own kernels.
      runtime: one of :data:`RUNTIMES`; default: the first importable.
      experimental_delegates: more delegates, applied after ours.
      verify: set False to skip the verification (only for files you trust).
      weights: ``"rebuilt"`` (default) or ``"on_the_fly"`` (:data:`WEIGHTS`).
      max_virtual_weights: most virtual weights the model's operators may
        rebuild together (default ``2**26``).
      max_rebuild_bytes: most bytes the kernels may allocate for rebuilt
        weights (default ``2**28``).
      max_tensor_bytes: most bytes of any one non-constant tensor (default
        ``2**30``; checked by the verifier).
      **kwargs: passed on to the stock interpreter.

    Returns:
      An instance of the runtime's own ``Interpreter`` class.
    """
    runtime = runtime or _default_runtime()
    module = _runtime_module(runtime)
    limits = _limits(max_virtual_weights, max_rebuild_bytes, max_tensor_bytes)
    content = _load(model_path, model_content, verify, limits)
    return module.Interpreter(
        model_content=content,
        num_threads=num_threads,
        experimental_delegates=_delegates(module, experimental_delegates, limits, weights),
        **kwargs,
    )


def _limits(max_virtual_weights, max_rebuild_bytes, max_tensor_bytes) -> dict:
    return {
        "max_virtual_weights": max_virtual_weights,
        "max_rebuild_bytes": max_rebuild_bytes,
        "max_tensor_bytes": max_tensor_bytes,
    }


def __getattr__(name):
    """``Interpreter`` is made on first use, over the runtime found then (PEP 562)."""
    if name != "Interpreter":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()["Interpreter"] = _interpreter_class(_runtime_module(_default_runtime()).Interpreter)
    return globals()["Interpreter"]


def _interpreter_class(stock):
    class Interpreter(stock):
        """The preferred runtime's ``Interpreter``, with the hashed_keras kernels.

        Use it exactly like the stock interpreter:

        >>> interpreter = Interpreter("model.tflite", num_threads=2)
        >>> interpreter.allocate_tensors()
        >>> interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        >>> interpreter.invoke()

        The file is verified before the runtime sees it: an invalid or hostile
        file raises :class:`~hashed_keras.lite.verify.InvalidModelError` (a
        ``ValueError``) with one line saying what is wrong.

        Args:
          model_path: path of a ``.tflite`` file.
          model_content: or its bytes.
          num_threads: threads for the runtime's own kernels.
          experimental_delegates: more delegates, applied after ours.
          verify: set False to skip the verification (only for files you trust).
          weights: ``"rebuilt"`` (default: every weight tensor rebuilt once,
            the runtime's fast kernels) or ``"on_the_fly"`` (dense and
            convolution layers computed from the shared variables at every
            invoke, no rebuilt weights held; :data:`WEIGHTS`).
          max_virtual_weights, max_rebuild_bytes, max_tensor_bytes: the limits on
            what a model may make the kernels and the runtime allocate (see
            :func:`make_interpreter`); raise them for a larger model.
          **kwargs: passed on to the stock interpreter.
        """

        def __init__(
            self,
            model_path=None,
            model_content=None,
            num_threads=None,
            experimental_delegates=None,
            *,
            verify=True,
            weights="rebuilt",
            max_virtual_weights=None,
            max_rebuild_bytes=None,
            max_tensor_bytes=None,
            **kwargs,
        ):
            module = _runtime_module(_default_runtime())
            limits = _limits(max_virtual_weights, max_rebuild_bytes, max_tensor_bytes)
            content = _load(model_path, model_content, verify, limits)
            super().__init__(
                model_content=content,
                num_threads=num_threads,
                experimental_delegates=_delegates(module, experimental_delegates, limits, weights),
                **kwargs,
            )

    Interpreter.__qualname__ = "Interpreter"
    return Interpreter
