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
from dataclasses import dataclass, field
from os import PathLike
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .config import ConfigError
from .derive import NB201_NOTATION
from .hypergrad.checks import check_choice, check_int
from .nb201.results import NB201_DATASETS

if TYPE_CHECKING:  # pragma: no cover
    from .search import SearchResult

__all__ = [
    "DEFAULT_OBJECTIVE",
    "OBJECTIVES",
    "REGISTRY",
    "Objective",
    "Option",
    "check_objective",
    "check_objective_options",
    "objective_help",
    "objective_value",
]


@dataclass(frozen=True, kw_only=True)
class Option:
    """One option of an objective.

    Attributes:
        default: its value when the tune config / ``--objective-option`` does not set it.
        check: ``(key, value) -> value``; raises ``ValueError`` naming ``key`` for a bad one.
        shown: how the help text shows the default (``None``: the default itself).
    """

    default: Any
    check: Callable[[str, Any], Any]
    shown: str | None = None


@dataclass(frozen=True, kw_only=True)
class Objective:
    """One objective.

    Attributes:
        name: what ``objective`` / ``--objective`` says.
        compute: ``(result, options) -> value`` (larger is better); ``options`` holds every
            option of :attr:`options`, checked, defaults filled in.
        help: one line for the help text.
        options: its options by name (an unknown one is refused before the search starts).
    """

    name: str
    compute: Callable[[SearchResult, Mapping[str, Any]], float]
    help: str
    options: Mapping[str, Option] = field(default_factory=lambda: MappingProxyType({}))

    def options_help(self) -> str:
        """``epochs=10, seeds=1``: the options with their defaults, for the help text."""
        return ", ".join(
            f"{k}={o.default if o.shown is None else o.shown}" for k, o in self.options.items()
        )


def _positive_int(key: str, value: Any) -> int:
    return check_int(key, value, minimum=1)


def _tables(key: str, value: Any) -> str | None:
    """A NAS-Bench-201 source that exists, found as ``nb201.source_path`` finds it.

    ``None`` or empty: ``$IDARTS_NB201``, which must then be set.
    """
    from .nb201.sources import source_path

    if value is not None and not isinstance(value, (str, PathLike)):
        raise ValueError(f"{key} must be a path to NAS-Bench-201 tables, got {value!r}")
    given = value is not None and str(value) != ""
    where = source_path(value)
    if where is None:
        raise ValueError(
            f"no NAS-Bench-201 source: give {key}: PATH (a directory of tables or an official "
            "benchmark file) or set IDARTS_NB201"
        )
    if not where.exists():
        if not given:
            raise ValueError(
                f"IDARTS_NB201={str(where)!r} does not exist; point it at NAS-Bench-201 tables "
                f"or give {key}: PATH"
            )
        raise ValueError(f"the NAS-Bench-201 source {str(where)!r} does not exist")
    return str(value) if given else None


def _nb201_dataset(key: str, value: Any) -> str:
    return check_choice(key, value, NB201_DATASETS, plural="data sets")


def _supernet_val_acc(result: SearchResult, options: Mapping[str, Any]) -> float:
    return float(result.metrics["supernet_val_acc"])


def _retrain_acc(result: SearchResult, options: Mapping[str, Any]) -> float:
    from .evaluate import evaluate_run

    report = evaluate_run(result.run_dir, epochs=options["epochs"], seeds=options["seeds"])
    return float(report.test_acc_mean)


def _nb201_test_acc(result: SearchResult, options: Mapping[str, Any]) -> float:
    from .nb201 import open_source

    if result.arch_string is None or result.notation != NB201_NOTATION:
        raise ValueError(
            "objective nb201_test_acc needs a space written in NAS-Bench-201's notation "
            f"(the nas-bench-201 space), not {result.notation or 'NNI export dicts'}"
        )
    source = open_source(options["tables"])
    dataset = options["dataset"]
    found = source.lookup(result.arch_string).results[dataset].test_acc
    if found is None:
        raise ValueError(f"the NAS-Bench-201 source has no {dataset} test accuracy")
    return float(found)


REGISTRY: Mapping[str, Objective] = MappingProxyType(
    {
        o.name: o
        for o in (
            Objective(
                name="supernet_val_acc",
                compute=_supernet_val_acc,
                help="the supernet's accuracy on the architecture split at the last epoch (free)",
            ),
            Objective(
                name="retrain_acc",
                compute=_retrain_acc,
                help="test accuracy of the exported architecture retrained from scratch",
                options=MappingProxyType(
                    {
                        "epochs": Option(default=10, check=_positive_int),
                        "seeds": Option(default=1, check=_positive_int),
                    }
                ),
            ),
            Objective(
                name="nb201_test_acc",
                compute=_nb201_test_acc,
                help="NAS-Bench-201 test accuracy of the exported cell (nas-bench-201 space)",
                options=MappingProxyType(
                    {
                        "tables": Option(default=None, check=_tables, shown="$IDARTS_NB201"),
                        "dataset": Option(default="cifar10", check=_nb201_dataset),
                    }
                ),
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
            f"{o.name}: {o.help}" + (f" ({o.options_help()})" if o.options else "")
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


def check_objective_options(
    name: str,
    options: Mapping[str, Any] | None,
    *,
    key: str = "objective_options",
    source: str | None = None,
) -> dict[str, Any]:
    """The options of objective ``name``, checked, with the defaults filled in.

    A tune config or ``idarts nni-trial`` checks them before its search starts, so a typo
    fails at once instead of after a search (or silently falling back to a default).

    Example:
        >>> check_objective_options("retrain_acc", {"epochs": 3})
        {'epochs': 3, 'seeds': 1}
        >>> check_objective_options("retrain_acc", {"epoch": 3})
        Traceback (most recent call last):
        ...
        idarts_plugin.config.ConfigError: key 'objective_options': unknown option 'epoch' of objective retrain_acc; valid: epochs, seeds

    Raises:
        ConfigError: an unknown objective, an option it does not have (listing those it has),
            or a bad value (naming ``key.option``).
    """
    objective = REGISTRY[check_objective(name, source=source)]
    given = dict(options or {})
    unknown = [k for k in given if k not in objective.options]
    if unknown:
        valid = ", ".join(objective.options) or "none"
        raise ConfigError(
            f"unknown option {unknown[0]!r} of objective {name}; valid: {valid}",
            key=key,
            source=source,
        )
    checked: dict[str, Any] = {}
    for opt_name, option in objective.options.items():
        try:  # a default is checked too (tables=None needs IDARTS_NB201)
            checked[opt_name] = option.check(opt_name, given.get(opt_name, option.default))
        except ValueError as exc:
            raise ConfigError(str(exc), key=f"{key}.{opt_name}", source=source) from None
    return checked


def objective_value(
    name: str, result: SearchResult, options: Mapping[str, Any] | None = None
) -> float:
    """The value of objective ``name`` for a finished search.

    Raises:
        ConfigError: an unknown objective or a bad option (:func:`check_objective_options`).
        ValueError: the objective does not apply to this search (e.g. NB201 outside its space)
            or came out non-finite.
    """
    checked = check_objective_options(name, options)
    value = REGISTRY[name].compute(result, checked)
    if not math.isfinite(value):
        raise ValueError(f"objective {name} is {value}")
    return value
