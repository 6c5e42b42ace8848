"""What a tuner maximises for one search: the objectives shared by Optuna and nnictl trials.

Each objective is one :class:`Objective` entry of :data:`REGISTRY` (name → function of the
finished search and its options, with its help text); :data:`OBJECTIVES`, validation and the
help text of ``idarts nni-trial --objective`` and of the tune config derive from it. Adding an
objective is adding an entry (and its test).

``supernet_val_acc``
    The supernet's accuracy on the architecture split at the last epoch (free).
``retrain_acc``
    Test accuracy of the exported architecture retrained from scratch
    (options ``epochs`` = 10, ``seeds`` = 1); costs a training run per trial.
``nb201_test_acc``
    NAS-Bench-201 test accuracy of the exported cell (options ``tables`` = a tables directory
    or ``IDARTS_NB201``, ``dataset`` = ``cifar10``); the space must be ``nas-bench-201``.

Example:
    >>> from idarts_plugin.objectives import OBJECTIVES, objective_help
    >>> OBJECTIVES
    ('supernet_val_acc', 'retrain_acc', 'nb201_test_acc')
    >>> objective_help()
    'supernet_val_acc (default) | retrain_acc | nb201_test_acc'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .config import ConfigError
from .derive import NB201_NOTATION

if TYPE_CHECKING:  # pragma: no cover
    from .search import SearchResult

__all__ = [
    "DEFAULT_OBJECTIVE",
    "OBJECTIVES",
    "REGISTRY",
    "Objective",
    "check_objective",
    "objective_help",
    "objective_value",
]


@dataclass(frozen=True)
class Objective:
    """One objective.

    Attributes:
        name: what ``objective`` / ``--objective`` says.
        compute: ``(result, options) -> value`` (larger is better).
        help: one line for the help text.
        options: its options with their defaults, as the help text shows them.
    """

    name: str
    compute: Callable[[SearchResult, Mapping[str, Any]], float]
    help: str
    options: str = ""


def _supernet_val_acc(result: SearchResult, options: Mapping[str, Any]) -> float:
    return float(result.metrics["supernet_val_acc"])


def _retrain_acc(result: SearchResult, options: Mapping[str, Any]) -> float:
    from .evaluate import evaluate_run

    report = evaluate_run(
        result.run_dir, epochs=int(options.get("epochs", 10)), seeds=int(options.get("seeds", 1))
    )
    return float(report.test_acc_mean)


def _nb201_test_acc(result: SearchResult, options: Mapping[str, Any]) -> float:
    from .nb201 import open_source

    if result.arch_string is None or result.notation != NB201_NOTATION:
        raise ValueError(
            "objective nb201_test_acc needs a space written in NAS-Bench-201's notation "
            f"(the nas-bench-201 space), not {result.notation or 'NNI export dicts'}"
        )
    source = open_source(options.get("tables"))
    dataset = options.get("dataset", "cifar10")
    found = source.lookup(result.arch_string).results[dataset].test_acc
    if found is None:
        raise ValueError(f"the NAS-Bench-201 source has no {dataset} test accuracy")
    return float(found)


REGISTRY: Mapping[str, Objective] = MappingProxyType(
    {
        o.name: o
        for o in (
            Objective(
                "supernet_val_acc",
                _supernet_val_acc,
                "the supernet's accuracy on the architecture split at the last epoch (free)",
            ),
            Objective(
                "retrain_acc",
                _retrain_acc,
                "test accuracy of the exported architecture retrained from scratch",
                "epochs=10, seeds=1",
            ),
            Objective(
                "nb201_test_acc",
                _nb201_test_acc,
                "NAS-Bench-201 test accuracy of the exported cell (nas-bench-201 space)",
                "tables=$IDARTS_NB201, dataset=cifar10",
            ),
        )
    }
)
"""The objectives by name, in the order the help text lists them."""

OBJECTIVES: tuple[str, ...] = tuple(REGISTRY)
DEFAULT_OBJECTIVE = "supernet_val_acc"


def objective_help(*, long: bool = False) -> str:
    """The objectives for a help text: ``a (default) | b | c``, or one line each with ``long``.

    Example:
        >>> print(objective_help(long=True).splitlines()[1])
        retrain_acc: test accuracy of the exported architecture retrained from scratch (epochs=10, seeds=1)
    """
    if long:
        return "\n".join(
            f"{o.name}: {o.help}" + (f" ({o.options})" if o.options else "")
            for o in REGISTRY.values()
        )
    return " | ".join(
        f"{name} (default)" if name == DEFAULT_OBJECTIVE else name for name in REGISTRY
    )


def check_objective(name: str, *, key: str = "objective", source: str | None = None) -> str:
    """Return ``name`` if it is a known objective.

    Raises:
        ConfigError: naming ``key`` and listing the valid objectives.
    """
    if name not in REGISTRY:
        raise ConfigError(
            f"unknown objective {name!r}; valid: {', '.join(OBJECTIVES)}", key=key, source=source
        )
    return name


def objective_value(
    name: str, result: SearchResult, options: Mapping[str, Any] | None = None
) -> float:
    """The value of objective ``name`` for a finished search.

    Raises:
        ConfigError: an unknown objective.
        ValueError: the objective does not apply to this search (e.g. NB201 outside its space)
            or came out non-finite.
    """
    value = REGISTRY[check_objective(name)].compute(result, dict(options or {}))
    if not math.isfinite(value):
        raise ValueError(f"objective {name} is {value}")
    return value
