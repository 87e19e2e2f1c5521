"""Package attributes loaded on first use (PEP 562), for hashed_keras and hashed_keras.lite."""

import importlib
import sys
import types


def lazy_package(package: str, names: dict) -> None:
    """Makes ``package`` import each of ``names`` on first use.

    Args:
      package: the package's ``__name__``.
      names: ``{name: "submodule"}`` for a submodule, ``{name: "submodule:attribute"}``
        for a name defined in one. A function named like its submodule
        (``hashed_keras.compress``, ``hashed_keras.lite.convert``) stays the
        function after the submodule is imported.
    """

    class LazyPackage(types.ModuleType):
        def __getattr__(self, name):
            if name not in names:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            module, _, attribute = names[name].partition(":")
            module = importlib.import_module(f"{package}.{module}")
            return getattr(module, attribute) if attribute else module

        def __setattr__(self, name, value):
            if ":" in names.get(name, "") and isinstance(value, types.ModuleType):
                return  # the import system binding the submodule: keep the function
            super().__setattr__(name, value)

        def __dir__(self):
            return sorted(set(super().__dir__()) | set(names))

    sys.modules[package].__class__ = LazyPackage
