"""The one set of argument checks used by the engine, the strategies and the run config.

Each returns the value (converted) or raises :class:`ValueError` naming the argument, the
value and what is allowed; :mod:`idarts_plugin.config` turns the message into a
:class:`~idarts_plugin.config.ConfigError` naming the config key.

Example:
    >>> check_int("steps", 3, minimum=0)
    3
    >>> check_number("lr", 0, minimum=0, strict=True)
    Traceback (most recent call last):
    ...
    ValueError: lr must be a finite number > 0, got 0
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["check_bool", "check_choice", "check_int", "check_number", "check_pair"]


def check_int(name: str, value: Any, *, minimum: int) -> int:
    """An integer (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_number(
    name: str, value: Any, *, minimum: float | None = None, strict: bool = False
) -> float:
    """A finite number (not a bool), ``>= minimum`` (``> minimum`` when ``strict``)."""
    bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum:g}"
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and (minimum is None or value > minimum or (value == minimum and not strict)):
        return float(value)
    raise ValueError(f"{name} must be a finite number{bound}, got {value!r}")


def check_bool(name: str, value: Any) -> bool:
    """``True`` or ``False`` (not 0/1 or a string)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[str], *, plural: str = "values") -> str:
    """One of ``choices`` (listed in the error as "valid ``plural``")."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid {plural}: {', '.join(choices)}")
    return str(value)


def check_pair(name: str, value: Any, *, low: float, high: float) -> tuple[float, float]:
    """Two numbers in ``[low, high)`` (Adam's betas)."""
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v < high
            for v in value
        )
    ):
        raise ValueError(f"{name} must be two numbers in [{low:g}, {high:g}), got {value!r}")
    return float(value[0]), float(value[1])
