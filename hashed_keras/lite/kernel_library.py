"""Where the compiled kernels (``libhashed_keras_kernels.so``) are, and their C ABI.

The library is built from ``hashed_keras/lite/kernels`` by CMake when the
package is installed (``pip install .`` or ``pip install -e .``, through
scikit-build-core) and installed next to this file: in ``site-packages``
for both a normal and an editable install (an editable install keeps the
Python files in the source tree, so the library is found through the
package's installed-files record).

:func:`load` opens it with :mod:`ctypes`, every ``HK_API`` function of
``hk_kernels.h`` and ``simd_hash.h`` declared here once (the verifier, the
tests and the benchmarks call the C ABI through it).
"""

from __future__ import annotations

import ctypes
import functools
import importlib.metadata
import os
import sys
from pathlib import Path

ENV_VAR = "HASHED_KERAS_KERNELS"
"""Environment variable: the path of a ``libhashed_keras_kernels`` to use
instead of the installed one (e.g. a sanitizer build)."""

_DISTRIBUTION = "hashed_keras"


def library_file_name() -> str:
    """``libhashed_keras_kernels.so`` (``.dylib`` on macOS, ``.dll`` on Windows)."""
    if sys.platform == "darwin":
        return "libhashed_keras_kernels.dylib"
    if sys.platform == "win32":
        return "hashed_keras_kernels.dll"
    return "libhashed_keras_kernels.so"


def _from_metadata(name: str) -> Path | None:
    try:
        files = importlib.metadata.files(_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files or ():
        if entry.name == name:
            path = Path(entry.locate())
            if path.is_file():
                return path.resolve()
    return None


def library_path() -> str:
    """Absolute path of the kernels library.

    Looks at ``$HASHED_KERAS_KERNELS`` first, then next to this module (a
    normal install), then in the files the installed distribution records (an
    editable install).

    Raises:
      FileNotFoundError: if the library was not built, with how to build it.
    """
    override = os.environ.get(ENV_VAR)
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"${ENV_VAR} is set to {override!r}, which is not a file.")
        return str(path.resolve())
    name = library_file_name()
    beside = Path(__file__).resolve().parent / name
    if beside.is_file():
        return str(beside)
    recorded = _from_metadata(name)
    if recorded is not None:
        return str(recorded)
    raise FileNotFoundError(
        f"The hashed_keras kernels library ({name}) is not built. Run "
        f"`pip install -e .` (or `make` targets, which do it) in the repository "
        f"to compile it with CMake, or set ${ENV_VAR} to a built copy."
    )


# ------------------------------------------------------------------ the C ABI
# Status codes of the hk_*_weights functions (hk_kernels.h).
HK_OK, HK_ERROR_OPTIONS, HK_ERROR_ARGUMENTS = 0, 1, 2


class HkLimits(ctypes.Structure):
    """``HkLimits`` of ``hk_kernels.h`` (0: the library's default)."""

    _fields_ = [
        (name, ctypes.c_uint64)
        for name in ("struct_size", "max_virtual_weights", "max_rebuild_bytes", "max_tensor_bytes")
    ]


_F32P, _U32 = ctypes.POINTER(ctypes.c_float), ctypes.c_uint32
_OPTIONS = [ctypes.c_char_p, ctypes.c_size_t]  # FlexBuffers options and their length
_ERROR = [ctypes.c_char_p, ctypes.c_size_t]  # the message buffer and its size
_ARRAY = [_F32P, ctypes.c_int64]  # a float array and its length
_SIGNATURES = {  # name: (restype, argtypes)
    "hk_verify_model": (
        ctypes.c_int,
        [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(HkLimits), *_ERROR],
    ),
    "hk_xxh32": (_U32, [_U32, _U32]),
    # options, buckets, scale, out, bias_out, error
    "hk_hashed_weights": (ctypes.c_int, [*_OPTIONS, *_ARRAY * 4, *_ERROR]),
    # options, buckets, scale, out, error
    "hk_fresh_weights": (ctypes.c_int, [*_OPTIONS, *_ARRAY * 3, *_ERROR]),
    # options, u, v, scales, channel_scale, out, bias_out, error
    "hk_smh_weights": (ctypes.c_int, [*_OPTIONS, *_ARRAY * 6, *_ERROR]),
    "hk_kernels_version": (ctypes.c_char_p, []),
    "hk_simd_path": (ctypes.c_char_p, []),
    "hk_simd_select": (ctypes.c_int, [ctypes.c_char_p]),
    "hk_simd_xxh32_keys": (None, [_U32, _U32, ctypes.c_size_t, _U32, ctypes.POINTER(_U32)]),
}


def load(path: str | None = None) -> ctypes.CDLL:
    """The kernels library at ``path`` (default :func:`library_path`) through
    :mod:`ctypes`, with its C functions' types declared; cached per path.

    A function a build lacks (an older library) is simply absent: check with
    ``hasattr(load(), name)``.
    """
    return _load(path or library_path())


@functools.cache
def _load(path: str) -> ctypes.CDLL:
    library = ctypes.CDLL(path)
    for name, (restype, argtypes) in _SIGNATURES.items():
        function = getattr(library, name, None)
        if function is not None:
            function.restype, function.argtypes = restype, argtypes
    return library
