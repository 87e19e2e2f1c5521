"""The child process that loads mutants: ``python -m benchmarks.mutation.worker``.

Protocol (one JSON object per line): the parent writes
``{"path": ..., "route": ...}`` on stdin; the worker answers on its original
stdout with ``{"status": "ok" | "error", "stage": ..., "message": ...,
"outputs": [...], "code": ...}`` once the mutant's interpreter is gone. A
Python exception is a clean error (``status: "error"``); a crash is the
process dying before it answers, a hang is no answer in time (the parent
tells them apart, see :mod:`~benchmarks.mutation.runner`). Everything else the
process prints (the runtime's and kernels' logs, sanitizer reports) goes to
stderr: fd 1 is pointed at fd 2 so no native library can corrupt the protocol.

Routes:
  ``ours``: ``hashed_keras.lite.Interpreter(model_content=...)``, our loading
    path (with the verifier, once it is wired in there).
  ``bare``: ``ai_edge_litert`` with the kernels' delegate and no verification.
  Both in the execution mode ``$HK_MUTATION_WEIGHTS`` (``rebuilt``, the default, or
  ``on_the_fly``: ``lite.Interpreter(..., weights=...)``, the delegate option).
  ``stock``: ``ai_edge_litert`` alone.
  ``verify``: the native verifier ``hk_verify_model`` (code and message), if the
    library exports it.
  ``_crash``, ``_hang``: the harness's self-test (the worker kills itself with
    SIGSEGV, or sleeps).

The worker imports neither Keras nor TensorFlow: ``hashed_keras`` and
``hashed_keras.lite`` are bound to bare package modules (their ``__init__``
imports Keras), then ``hashed_keras.lite.interpreter`` is imported on its own.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import sys
import time
import traceback
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_INPUT_ELEMENTS = 1 << 22


def _light_packages():
    """Makes ``import hashed_keras.lite.X`` skip the package ``__init__`` files."""
    if "hashed_keras" in sys.modules:
        return
    for name, folder in (
        ("hashed_keras", ROOT / "hashed_keras"),
        ("hashed_keras.lite", ROOT / "hashed_keras" / "lite"),
    ):
        module = types.ModuleType(name)
        module.__path__ = [str(folder)]
        module.__file__ = str(folder / "__init__.py")
        sys.modules[name] = module
    sys.modules["hashed_keras"].lite = sys.modules["hashed_keras.lite"]


class Routes:
    def __init__(self):
        import numpy as np
        from ai_edge_litert import interpreter as litert

        from hashed_keras.lite import kernel_library

        self.np = np
        self.litert = litert
        self.library = kernel_library.library_path()
        self._ours = None
        self._verify = None
        self._lib = kernel_library.load(self.library)
        self.has_verifier = hasattr(self._lib, "hk_verify_model")
        # Until the library has the verifier, our loading path cannot verify: it is
        # then run without (= the bare delegate through our Interpreter class).
        self.ours_kwargs = {} if self.has_verifier else {"verify": False}
        self.weights = os.environ.get("HK_MUTATION_WEIGHTS", "rebuilt")
        self.delegate_options = {} if self.weights == "rebuilt" else {"weights": self.weights}
        if self.delegate_options:
            self.ours_kwargs["weights"] = self.weights

    def interpreter(self, route, content):
        if route == "ours":
            if self._ours is None:
                import inspect

                from hashed_keras.lite.interpreter import Interpreter

                self._ours = Interpreter
                if "verify" not in inspect.signature(Interpreter.__init__).parameters:
                    self.ours_kwargs = {k: v for k, v in self.ours_kwargs.items() if k != "verify"}
            return self._ours(model_content=content, **self.ours_kwargs)
        if route == "bare":
            delegate = self.litert.load_delegate(self.library, self.delegate_options)
            return self.litert.Interpreter(model_content=content, experimental_delegates=[delegate])
        if route == "stock":
            return self.litert.Interpreter(model_content=content)
        raise ValueError(f"unknown route {route!r}")

    def verify(self, content):
        if self._verify is None:
            function = getattr(self._lib, "hk_verify_model", None)
            self._verify = function or False
        if self._verify is False:
            return {
                "status": "ok",
                "stage": "verify",
                "code": None,
                "message": "hk_verify_model is not in the library",
            }
        error = ctypes.create_string_buffer(1024)
        code = self._verify(content, len(content), None, error, len(error))
        return {
            "status": "ok",
            "stage": "verify",
            "code": int(code),
            "message": error.value.decode(errors="replace"),
        }

    def run(self, route, content, want_outputs):
        from benchmarks.mutation.seeds import sample_input

        np = self.np
        stage = "load"
        interpreter = None
        try:
            interpreter = self.interpreter(route, content)
            stage = "allocate_tensors"
            interpreter.allocate_tensors()
            stage = "set_tensor"
            details = interpreter.get_input_details()
            skipped = False
            for detail in details:
                shape = [int(d) for d in detail["shape"]]
                if any(d < 0 for d in shape) or int(np.prod(shape)) > MAX_INPUT_ELEMENTS:
                    skipped = True
                    continue
                interpreter.set_tensor(detail["index"], sample_input(shape, detail["dtype"]))
            stage = "invoke"
            interpreter.invoke()
            stage = "outputs"
            outputs = []
            for detail in interpreter.get_output_details():
                value = interpreter.get_tensor(detail["index"])
                outputs.append(
                    value.astype(np.float64).ravel().tolist()[:4096]
                    if want_outputs and value.size <= 4096
                    else None
                )
                outputs[-1] = [
                    int(detail["index"]),
                    list(value.shape),
                    str(value.dtype),
                    outputs[-1],
                ]
            result = {
                "status": "ok",
                "stage": "done",
                "outputs": outputs,
                "message": "inputs too large: not set" if skipped else "",
            }
        except Exception as error:  # noqa: BLE001 - every Python exception is a clean error
            line = (str(error).strip().splitlines() or [""])[0][:400]
            result = {
                "status": "error",
                "stage": stage,
                "type": type(error).__name__,
                "message": line,
                "code": getattr(error, "code", None),
            }
        del interpreter
        gc.collect()
        return result


def main():
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # native prints go to stderr
    sys.stdout = sys.stderr
    limit_mb = int(os.environ.get("HK_MUTATION_MEMORY_MB", "0") or 0)
    if limit_mb > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, limit_mb << 20))
    start = time.perf_counter()
    _light_packages()
    routes = Routes()
    keras_loaded = "keras" in sys.modules or "tensorflow" in sys.modules
    protocol.write(
        json.dumps(
            {
                "ready": True,
                "import_seconds": time.perf_counter() - start,
                "keras_loaded": keras_loaded,
                "has_verifier": routes.has_verifier,
                "library": routes.library,
            }
        )
        + "\n"
    )
    for line in sys.stdin:
        request = json.loads(line)
        route = request["route"]
        content = Path(request["path"]).read_bytes()
        began = time.perf_counter()
        print(f"--- {request.get('tag', '')} {route}", file=sys.stderr, flush=True)
        try:
            if route == "verify":
                result = routes.verify(content)
            elif route == "_crash":  # harness self-test: a crash
                os.kill(os.getpid(), __import__("signal").SIGSEGV)
            elif route == "_hang":  # harness self-test: a hang
                time.sleep(3600)
            else:
                result = routes.run(route, content, request.get("outputs", False))
        except BaseException:  # noqa: BLE001 - a harness bug: report, don't die silently
            result = {"status": "harness", "message": traceback.format_exc()[-800:]}
        result["seconds"] = time.perf_counter() - began
        protocol.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
