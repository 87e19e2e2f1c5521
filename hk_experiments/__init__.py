"""hk_experiments: the experiment harness around the hashed_keras library.

The model zoo (:mod:`~hk_experiments.models`), data sets (:mod:`~hk_experiments.data`),
training runs (:mod:`~hk_experiments.training`), hyper-parameter search
(:mod:`~hk_experiments.tuning`), peak-memory measurement
(:mod:`~hk_experiments.measure`) and the baselines (:mod:`~hk_experiments.baselines`).
It depends on hashed_keras, never the reverse; install it with
``pip install .[experiments]``. Submodules load on first use (PEP 562).
"""

import importlib

_SUBMODULES = ("baselines", "data", "measure", "models", "training", "tuning", "zoo")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
