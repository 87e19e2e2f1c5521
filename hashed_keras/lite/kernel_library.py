"""Where the compiled kernels (``libhashed_keras_kernels.so``) are.

The library is built from ``hashed_keras/lite/kernels`` by CMake when the
package is installed (``pip install .`` or ``pip install -e .``, through
scikit-build-core) and installed next to this file: in ``site-packages``
for both a normal and an editable install (an editable install keeps the
Python files in the source tree, so the library is found through the
package's installed-files record).
"""

from __future__ import annotations

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
