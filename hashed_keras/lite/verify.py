"""Verifying a `.tflite` file before a runtime sees it.

The checks are native code (``hk_verify_model`` in the kernels library, built
on the official TFLite schema): the Python loader
(:class:`hashed_keras.lite.Interpreter`), the Android app and any C/C++ caller
refuse exactly the same files, with the same one-line messages. What is
checked: ``docs/tflite_format.md``, "Verification".

This module imports neither TensorFlow nor Keras (only :mod:`ctypes` and
:mod:`hashed_keras.lite.kernel_library`).
"""

from __future__ import annotations

import ctypes
import functools
import os

from hashed_keras.lite import kernel_library

# Result codes of hk_verify_model (hk_kernels.h) and the short reason names
# of InvalidModelError.reason.
OK = 0
REASONS = {
    10: "schema",
    11: "buffer",
    12: "index",
    13: "tensor",
    14: "graph",
    15: "operator",
    16: "limit",
}

_ERROR_LEN = 1024


class InvalidModelError(ValueError):
    """A `.tflite` file the verifier refuses.

    Attributes:
      code: the ``HK_VERIFY_*`` code of ``hk_kernels.h`` (10..16).
      reason: its name: ``"schema"`` (not a TFLite flatbuffer), ``"buffer"``
        (a buffer outside the file), ``"index"`` (an index out of range),
        ``"tensor"`` (a shape, type or byte size), ``"graph"`` (e.g. a constant
        as graph input or operator output), ``"operator"`` (one of the
        hashed_keras operators is invalid) or ``"limit"`` (over a limit).
      message: the verifier's one line (what, where, what to do).
    """

    def __init__(self, code: int, message: str):
        self.code = int(code)
        self.reason = REASONS.get(self.code, "unknown")
        self.message = message
        super().__init__(f"Invalid .tflite model ({self.reason}): {message}")


@functools.cache  # found once: library_path() reads the install record
def _verify_function():
    library = kernel_library.load()
    if not hasattr(library, "hk_verify_model"):  # an old build of the library
        raise RuntimeError(
            f"The kernels library {kernel_library.library_path()} has no hk_verify_model: "
            "it predates the verifier; rebuild it (`pip install -e .`)."
        )
    return library.hk_verify_model


def _limit(name: str, value) -> int:
    if value is None:
        return 0  # the library's default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int or None (the default), got {value!r}.")
    if value >= 1 << 64:
        raise ValueError(f"{name} must be below 2**64, got {value}.")
    return value


def verify(
    content,
    *,
    max_virtual_weights: int | None = None,
    max_rebuild_bytes: int | None = None,
    max_tensor_bytes: int | None = None,
) -> None:
    """Verifies a `.tflite` model held in memory; raises if it is invalid.

    Args:
      content: the file's bytes (``bytes``, ``bytearray`` or ``memoryview``).
      max_virtual_weights: most weights (and hashed biases) the model's
        hashed_keras operators may rebuild, all together. None: the library's
        default (2**26).
      max_rebuild_bytes: most bytes the delegate may allocate to rebuild them
        (outputs, dequantized int8 inputs, scratch). None: 2**28.
      max_tensor_bytes: most bytes of any one non-constant tensor the runtime
        would allocate. None: 2**30.

    Raises:
      InvalidModelError: the file is not a valid model, or is over a limit
        (``reason == "limit"``); its message says what, where and what to do.
      TypeError: ``content`` is not bytes-like.
      ValueError: a limit is not a positive int.

    Example:

    ```python
    from hashed_keras.lite.verify import InvalidModelError, verify

    try:
        verify(open("model.tflite", "rb").read())
    except InvalidModelError as error:
        print(error.reason, error.message)
    ```
    """
    if isinstance(content, memoryview):
        content = content.tobytes()
    elif isinstance(content, bytearray):
        content = bytes(content)
    if not isinstance(content, bytes):
        raise TypeError(f"content must be bytes, got {type(content).__name__}.")
    limits = kernel_library.HkLimits(
        ctypes.sizeof(kernel_library.HkLimits),
        _limit("max_virtual_weights", max_virtual_weights),
        _limit("max_rebuild_bytes", max_rebuild_bytes),
        _limit("max_tensor_bytes", max_tensor_bytes),
    )
    error = ctypes.create_string_buffer(_ERROR_LEN)
    code = _verify_function()(content, len(content), ctypes.byref(limits), error, _ERROR_LEN)
    if code != OK:
        raise InvalidModelError(code, error.value.decode("utf-8", "replace"))


def verify_file(path, **limits) -> None:
    """Verifies a `.tflite` file on disk; raises if it is invalid.

    Args:
      path: the file (``str`` or ``os.PathLike``).
      **limits: ``max_virtual_weights``, ``max_rebuild_bytes``,
        ``max_tensor_bytes``, as for :func:`verify`.

    Raises:
      FileNotFoundError: there is no such file.
      InvalidModelError: as for :func:`verify`, with the path in the message.

    Example:

    ```python
    from hashed_keras.lite.verify import verify_file

    verify_file("runs/mlp3/model.tflite", max_virtual_weights=1 << 28)
    ```
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No model file at {path!r}: check the path (convert a model with "
            "hashed_keras.lite.convert or pipelines.convert)."
        )
    with open(path, "rb") as file:
        content = file.read()
    try:
        verify(content, **limits)
    except InvalidModelError as error:
        raise InvalidModelError(error.code, f"{path}: {error.message}") from None
