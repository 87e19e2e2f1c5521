"""Argument checks shared by every public entry point: each returns the value as a plain
Python type, or raises a ``ValueError`` that names the argument."""

from __future__ import annotations

import math

import numpy as np


def is_int(value) -> bool:
    """Whether ``value`` is a Python or numpy integer (not a bool)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value) -> bool:
    """Whether ``value`` is a finite Python or numpy number (not a bool)."""
    return (
        isinstance(value, (int, float, np.number))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def integer(value, name, low=None) -> int:
    """An integer, at least ``low`` if given."""
    if not is_int(value):
        raise ValueError(f"`{name}` must be an integer, got {value!r}.")
    if low is not None and value < low:
        raise ValueError(f"`{name}` must be >= {low}, got {value}.")
    return int(value)


def boolean(value, name) -> bool:
    """True or False (numpy booleans included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be True or False, got {value!r}.")
    return bool(value)


def number(value, name, positive=False) -> float:
    """A finite number (strictly positive if ``positive``)."""
    what = "a positive finite number" if positive else "a finite number"
    if not is_number(value) or (positive and not float(value) > 0):
        raise ValueError(f"`{name}` must be {what}, got {value!r}.")
    return float(value)


def fraction(value, name, what="the fraction of virtual weights that is stored, e.g. 1/8"):
    """A number in (0, 1]; ``what`` says what it is a fraction of."""
    if not is_number(value) or not 0.0 < float(value) <= 1.0:
        raise ValueError(f"`{name}` must be in (0, 1] ({what}), got {value!r}.")
    return float(value)


def seed(value, name="seed", optional=False):
    """A seed in [0, 2**32) (``None`` passes through if ``optional``)."""
    if value is None and optional:
        return None
    if not is_int(value):
        raise ValueError(
            f"`{name}` must be an integer in [0, 2**32)"
            f"{' or None' if optional else ''}, got {value!r}."
        )
    if not 0 <= value < 2**32:
        raise ValueError(f"`{name}` must be in [0, 2**32), got {value}.")
    return int(value)


def pair(value, name) -> tuple:
    """A pair of positive integers from an int or a 2-sequence."""
    given = value
    if is_int(value):
        value = (value, value)
    try:
        value = tuple(value)
    except TypeError:
        value = None
    if value is None or len(value) != 2 or any(not is_int(v) or v < 1 for v in value):
        raise ValueError(
            f"`{name}` must be a positive integer or a pair of positive integers, got {given!r}."
        )
    return tuple(int(v) for v in value)
