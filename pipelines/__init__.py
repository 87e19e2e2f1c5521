"""The command-line apps of hashed_keras: train, convert, inspect, evaluate, benchmark, demo.

Importing the package (which ``python -m pipelines.X`` does first, and the
``benchmarks`` commands do before anything imports TensorFlow) keeps
TensorFlow's C++ banners and absl's INFO chatter off the terminal, unless
``--verbose`` is on the command line or ``HASHED_KERAS_VERBOSE=1`` is set.
Child processes (fresh-process measurements) inherit it through the
environment and through this package.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import tempfile

VERBOSE = "--verbose" in sys.argv or os.environ.get("HASHED_KERAS_VERBOSE") == "1"


@contextlib.contextmanager
def stderr_shown_on_failure(quiet: bool = not VERBOSE):
    """With ``quiet`` (default: unless verbose): file descriptor 2 (this
    process's and its children's) goes to a temporary file while the block
    runs, shown only if it fails.

    TensorFlow's native libraries print banners (oneDNN, CPU features) while
    they load, before any log level applies; LiteRT and the converter print
    "Created TensorFlow Lite XNNPACK delegate" and the like as they work.
    """
    if not quiet:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            sys.stderr.flush()
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode("utf-8", "replace"))
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def quietly(main):
    """``main`` (an ``absl.app.run`` main) with file descriptor 2 shown only if
    it fails, unless verbose: for commands that print their results to stdout
    and nothing of their own to stderr (the speed benchmarks), where LiteRT
    prints "Created TensorFlow Lite XNNPACK delegate" as interpreters start."""

    @functools.wraps(main)
    def run(argv):
        with stderr_shown_on_failure():
            return main(argv)

    return run


def _import_quietly(modules) -> None:
    """Imports ``modules`` (a missing optional one is skipped; TensorFlow is
    required) with their banners shown only if an import fails."""
    with stderr_shown_on_failure():
        for name in modules:
            try:
                __import__(name)
            except ImportError:
                if name == "tensorflow":
                    raise


if not VERBOSE:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    _import_quietly(("tensorflow", "keras", "ai_edge_litert.interpreter"))
    # TensorFlow's and absl's Python loggers ("Assets written to", ...): absl's
    # app.run resets absl's level when it starts, so set it after that too.
    for _name in ("tensorflow", "absl", "h5py"):
        logging.getLogger(_name).setLevel(logging.WARNING)
    from absl import app as _app
    from absl import logging as _absl_logging

    _app.call_after_init(lambda: _absl_logging.set_verbosity(_absl_logging.WARNING))
