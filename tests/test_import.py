"""The library apart from the harness: a cheap `import hashed_keras`, no import of
hk_experiments."""

import re
import subprocess
import sys
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[1] / "hashed_keras"


def test_import_hashed_keras_loads_neither_keras_nor_tensorflow():
    code = (
        "import sys, hashed_keras, hashed_keras.lite.kernel_library, "
        "hashed_keras.lite.interpreter, hk_experiments.data\n"
        "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_library_never_imports_the_harness():
    pattern = re.compile(r"^\s*(from|import)\s+(hk_experiments|pipelines|benchmarks)\b", re.M)
    assert [p.name for p in LIBRARY.rglob("*.py") if pattern.search(p.read_text())] == []


def test_compress_is_the_function_after_its_module_is_imported():
    import hashed_keras
    import hashed_keras.compress  # noqa: F401  (binds the submodule's name on the package)

    assert callable(hashed_keras.compress) and callable(hashed_keras.summarize)


def test_convert_is_the_function_after_its_module_is_imported():
    import hashed_keras.lite.convert  # noqa: F401
    from hashed_keras import lite

    assert callable(lite.convert)
