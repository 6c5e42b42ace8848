"""What a tuner maximises for one search: the objectives shared by Optuna and nnictl trials.

``supernet_val_acc``
    The supernet's accuracy on the architecture split at the last epoch (free).
``retrain_acc``
    Test accuracy of the exported architecture retrained from scratch
    (options ``epochs`` = 10, ``seeds`` = 1); costs a training run per trial.
``nb201_test_acc``
    NAS-Bench-201 test accuracy of the exported cell (options ``tables`` = a tables directory
    or ``IDARTS_NB201``, ``dataset`` = ``cifar10``); the space must be ``nas-bench-201``.

Example:
    >>> from idarts_plugin.objectives import OBJECTIVES
    >>> OBJECTIVES
    ('supernet_val_acc', 'retrain_acc', 'nb201_test_acc')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .config import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from .search import SearchResult

__all__ = ["OBJECTIVES", "check_objective", "objective_value"]

OBJECTIVES = ("supernet_val_acc", "retrain_acc", "nb201_test_acc")


def check_objective(name: str, *, key: str = "objective", source: str | None = None) -> str:
    """Return ``name`` if it is a known objective.

    Raises:
        ConfigError: naming ``key`` and listing the valid objectives.
    """
    if name not in OBJECTIVES:
        raise ConfigError(
            f"unknown objective {name!r}; valid: {', '.join(OBJECTIVES)}", key=key, source=source
        )
    return name


def objective_value(
    name: str, result: SearchResult, options: Mapping[str, Any] | None = None
) -> float:
    """The value of objective ``name`` for a finished search.

    Raises:
        ValueError: the objective does not apply to this search (e.g. NB201 outside its space)
            or came out non-finite.
    """
    check_objective(name)
    opts = dict(options or {})
    if name == "supernet_val_acc":
        value = float(result.metrics["supernet_val_acc"])
    elif name == "retrain_acc":
        from .evaluate import evaluate_run

        report = evaluate_run(
            result.run_dir, epochs=int(opts.get("epochs", 10)), seeds=int(opts.get("seeds", 1))
        )
        value = float(report.test_acc_mean)
    else:
        from .nb201 import open_source

        if result.arch_string is None:
            raise ValueError("objective nb201_test_acc needs the nas-bench-201 space")
        source = open_source(opts.get("tables"))
        dataset = opts.get("dataset", "cifar10")
        found = source.lookup(result.arch_string).results[dataset].test_acc
        if found is None:
            raise ValueError(f"the NAS-Bench-201 source has no {dataset} test accuracy")
        value = float(found)
    if not math.isfinite(value):
        raise ValueError(f"objective {name} is {value}")
    return value
