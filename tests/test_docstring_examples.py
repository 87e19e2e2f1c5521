"""The ``Example`` blocks of the library's public classes and functions run as written."""

import doctest
import importlib
import inspect
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import hashed_keras

MODULES = [
    "hashed_keras.hashing",
    "hashed_keras.compress",
    "hashed_keras.layers",
    "hashed_keras.smh",
    "hashed_keras.lite.ops",
    "hashed_keras.lite.convert",
]


def _examples():
    found = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", None) or dir(module):
            obj = getattr(module, attr)
            if attr.startswith("_") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if ">>>" in (obj.__doc__ or "") and obj.__module__.startswith("hashed_keras"):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return sorted(found.items())


@pytest.mark.parametrize("name,obj", _examples(), ids=[name for name, _ in _examples()])
def test_docstring_example_runs(name, obj):
    module = importlib.import_module(obj.__module__)
    smh = importlib.import_module("hashed_keras.smh")
    globs = {
        **vars(module),
        **{k: getattr(smh, k) for k in smh.__all__},
        "keras": keras,
        "np": np,
        "tf": tf,
        "hashed_keras": hashed_keras,
    }
    test = doctest.DocTestParser().get_doctest(obj.__doc__, globs, name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    keras.utils.set_random_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. compress_smh's "off the target" warning
        runner.run(test, out=lambda text: pytest.fail(text, pytrace=False))
    assert runner.summarize(verbose=False).attempted > 0
