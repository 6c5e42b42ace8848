"""Optuna studies over a search's outer hyperparameters (K, γ, T, learning rates, ...).

A *tune config* (YAML) names a base run config and the distributions of any of its keys::

    base: ../configs/digits-nb201.yaml      # relative to the tune file
    overrides: [trainer.epochs=5]           # fixed for every trial
    params:
      strategy.neumann_steps: {type: int, low: 0, high: 10}
      strategy.neumann_lr: {type: float, low: 1.0e-4, high: 0.1, log: true}
      strategy.inner_steps: {type: categorical, choices: [1, 2, 4]}
    sampler: {name: tpe, seed: 0}           # tpe | cmaes | random | nsga2 (default: tpe, nsga2 with cost_objective)
    pruner: {name: median, n_startup_trials: 2, n_warmup_steps: 1}   # median | hyperband | threshold | none
    objective: supernet_val_acc             # supernet_val_acc | retrain_acc | nb201_test_acc
    objective_options: {}                   # retrain: {epochs, seeds}; nb201: {tables, dataset}
    cost_objective: false                   # add search seconds as a 2nd objective (Pareto front)
    output_dir: runs/tune

Every trial runs one search (its run directory under ``output_dir/<study>/trial-<n>``),
reports the objective's per-epoch value (supernet accuracy on the architecture split) for
pruning, and stores the architecture, run directory and diagnostics as user attributes. A
trial that raises (a diverging search, a NaN) is recorded as FAIL with its reason and the
study goes on.

The trial vocabulary (user attributes, metric names, seeding) is shared with the NNI tuner:
see :mod:`idarts_plugin.integrations.trials`. A ``sampler.seed`` seeds each trial from
``(seed, trial number)``, so several workers with the same tune file never replay each other.

Optuna is an optional dependency: ``pip install 'idarts-plugin[optuna]'``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .._optional import driver_for_url, try_import
from ..config import ConfigError, RunConfig, apply_overrides, set_value
from ..hypergrad.checks import check_bool
from ..objectives import (
    DEFAULT_OBJECTIVE,
    OBJECTIVES,
    check_objective_options,
    objective_value,
)
from .trials import objective_names, record_search, seeded

__all__ = [
    "OBJECTIVES",
    "TuneConfig",
    "default_storage",
    "load_tune_config",
    "make_objective",
    "name_metrics",
    "open_storage",
    "pruning_callback",
    "run_study",
]

_logger = logging.getLogger(__name__)

_SAMPLER_CLASSES = {
    "tpe": "TPESampler",
    "cmaes": "CmaEsSampler",
    "random": "RandomSampler",
    "nsga2": "NSGAIISampler",
}
"""Sampler name → its class in ``optuna.samplers``."""
_PRUNER_CLASSES = {
    "median": "MedianPruner",
    "hyperband": "HyperbandPruner",
    "threshold": "ThresholdPruner",
    "none": "NopPruner",
}
"""Pruner name → its class in ``optuna.pruners`` (``none`` takes no options)."""
SAMPLERS = tuple(_SAMPLER_CLASSES)
PRUNERS = tuple(_PRUNER_CLASSES)


def _import_optuna() -> Any:
    return try_import("optuna", purpose="tuning with Optuna")


DEFAULT_SAMPLER = "tpe"
"""The sampler of a single-objective study whose tune config names none (no ``sampler``
section, an empty one, or one without ``name`` such as ``{seed: 0}``)."""
DEFAULT_MULTI_OBJECTIVE_SAMPLER = "nsga2"
"""The same with ``cost_objective: true`` (Optuna's own default for a multi-objective study)."""
DEFAULT_PRUNER = "median"
"""The pruner when the tune config names none."""


@dataclass(frozen=True, kw_only=True)
class TuneConfig:
    """A validated tune config (see the module docstring for the YAML form)."""

    base: RunConfig
    base_dict: dict[str, Any]
    params: dict[str, dict[str, Any]]
    sampler: dict[str, Any] = field(default_factory=dict)
    """``{"name": ..., "seed": ..., **options}``; without ``name``, :func:`make_sampler` picks by
    the number of objectives."""
    pruner: dict[str, Any] = field(default_factory=lambda: {"name": DEFAULT_PRUNER})
    objective: str = DEFAULT_OBJECTIVE
    objective_options: dict[str, Any] = field(default_factory=dict)
    cost_objective: bool = False
    output_dir: str = "runs/tune"

    @property
    def directions(self) -> list[str]:
        """Optuna directions: maximise the objective (and minimise cost)."""
        return ["maximize", "minimize"] if self.cost_objective else ["maximize"]


def _check_param(key: str, spec: Any, source: str) -> dict[str, Any]:
    where = f"params.{key}"
    if not isinstance(spec, Mapping) or "type" not in spec:
        raise ConfigError("must be a mapping with a 'type'", key=where, source=source)
    kind = spec["type"]
    if kind in ("int", "float"):
        extra = set(spec) - {"type", "low", "high", "log", "step"}
        if extra or "low" not in spec or "high" not in spec:
            raise ConfigError(
                f"{kind} needs low and high (optional: log, step); got keys {sorted(spec)}",
                key=where,
                source=source,
            )
        if not spec["low"] < spec["high"]:
            raise ConfigError(
                f"low must be < high, got {spec['low']} and {spec['high']}",
                key=where,
                source=source,
            )
        if spec.get("log") and spec["low"] <= 0:
            raise ConfigError("log scale needs low > 0", key=where, source=source)
    elif kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(
                "categorical needs a non-empty list 'choices'", key=where, source=source
            )
    else:
        raise ConfigError(
            f"unknown type {kind!r}; valid types: int, float, categorical", key=where, source=source
        )
    if key.count(".") < 1:
        raise ConfigError(
            "must be a dotted run-config key such as strategy.neumann_steps",
            key=where,
            source=source,
        )
    return dict(spec)


_TUNE_KEYS = (
    "base",
    "overrides",
    "params",
    "sampler",
    "pruner",
    "objective",
    "objective_options",
    "cost_objective",
    "output_dir",
)


def _read_tune_yaml(path: str | Path) -> dict[str, Any]:
    source = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", source=source) from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"malformed YAML: {getattr(exc, 'problem', exc)}", source=source
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError("a tune config must be a mapping", source=source)
    bad = sorted(set(raw) - set(_TUNE_KEYS))
    if bad:
        raise ConfigError(
            f"unknown key; valid keys: {', '.join(sorted(_TUNE_KEYS))}", key=bad[0], source=source
        )
    return raw


def _base_config(
    path: str | Path, raw: Mapping[str, Any], overrides: tuple[str, ...]
) -> tuple[RunConfig, dict[str, Any]]:
    """The base run config (``base:`` relative to the tune file) with every fixed override."""
    source = str(path)
    base_path = raw.get("base")
    base_raw: dict[str, Any] = {}
    if base_path is not None:
        resolved = (Path(path).parent / base_path).resolve()
        base_raw = yaml.safe_load(resolved.read_text()) if resolved.is_file() else None  # type: ignore[assignment]
        if base_raw is None:
            raise ConfigError(
                f"base run config {str(resolved)!r} does not exist", key="base", source=source
            )
    base_raw = apply_overrides(base_raw, [*list(raw.get("overrides") or []), *overrides])
    return RunConfig.from_dict(base_raw, source=str(base_path or source)), base_raw


def _named(raw: Mapping[str, Any], key: str, valid: Any, source: str) -> dict[str, Any]:
    """The ``sampler`` / ``pruner`` section, its ``name`` (if given) checked against ``valid``."""
    section = raw[key]
    if not isinstance(section, Mapping):
        raise ConfigError(f"must be a mapping such as {{name: {valid[0]}}}", key=key, source=source)
    spec = dict(section)
    if "name" in spec and spec["name"] not in valid:
        raise ConfigError(
            f"unknown {key} {spec.get('name')!r}; valid: {', '.join(valid)}",
            key=f"{key}.name",
            source=source,
        )
    return spec


def _check_settable(params: Mapping[str, Any], base_raw: dict[str, Any], source: str) -> None:
    """Every key must be settable: try each choice (a number's low end) on the base config."""
    for key, spec in params.items():
        probes = spec["choices"] if spec["type"] == "categorical" else [spec["low"]]
        for probe in probes:
            try:
                RunConfig.from_dict(set_value(base_raw, key, probe), source=source)
            except ConfigError as exc:
                raise ConfigError(
                    f"cannot be tuned ({probe!r}): {exc}", key=f"params.{key}", source=source
                ) from None


def load_tune_config(path: str | Path, overrides: tuple[str, ...] = ()) -> TuneConfig:
    """Read and validate a tune config; the base run config is validated too.

    Raises:
        ConfigError: naming the tune file (or the base file) and the key.
    """
    source = str(path)
    raw = _read_tune_yaml(path)
    base, base_raw = _base_config(path, raw, overrides)
    params_raw = raw.get("params") or {}
    if not isinstance(params_raw, Mapping) or not params_raw:
        raise ConfigError(
            "must map at least one run-config key to a distribution", key="params", source=source
        )
    params = {k: _check_param(k, v, source) for k, v in params_raw.items()}
    given: dict[str, Any] = {}  # what the file sets; TuneConfig's defaults fill the rest
    for key, valid in (("sampler", SAMPLERS), ("pruner", PRUNERS)):
        if raw.get(key):  # an empty section is the default
            given[key] = _named(raw, key, valid, source)
    if raw.get("objective") is not None:
        given["objective"] = raw["objective"]
    if raw.get("objective_options"):
        if not isinstance(raw["objective_options"], Mapping):
            raise ConfigError("must be a mapping", key="objective_options", source=source)
        given["objective_options"] = dict(raw["objective_options"])
    if raw.get("cost_objective") is not None:
        try:
            given["cost_objective"] = check_bool("cost_objective", raw["cost_objective"])
        except ValueError as exc:
            raise ConfigError(str(exc), key="cost_objective", source=source) from None
    if raw.get("output_dir") is not None:
        given["output_dir"] = str(raw["output_dir"])
    cfg = TuneConfig(base=base, base_dict=base_raw, params=params, **given)
    check_objective_options(cfg.objective, cfg.objective_options, source=source)
    _check_settable(params, base_raw, source)
    return cfg


def make_sampler(spec: Mapping[str, Any], *, multi_objective: bool) -> Any:
    """An Optuna sampler from ``{"name": ..., "seed": ..., **options}``.

    A ``seed`` seeds each trial from ``(seed, trial number)``
    (:class:`~idarts_plugin.integrations.trials.TrialSeededSampler`): reproducible, and
    several workers on one study never replay each other's parameters.
    """
    optuna = _import_optuna()
    default = DEFAULT_MULTI_OBJECTIVE_SAMPLER if multi_objective else DEFAULT_SAMPLER
    name = spec.get("name", default)

    if name not in _SAMPLER_CLASSES:
        raise ValueError(f"unknown sampler {name!r}; valid: {', '.join(SAMPLERS)}")

    def build(opts: dict[str, Any]) -> Any:
        opts = {k: v for k, v in opts.items() if k != "name"}
        if name == "cmaes":
            try_import("cmaes", purpose="the CMA-ES sampler")
        return getattr(optuna.samplers, _SAMPLER_CLASSES[name])(**opts)

    return seeded(build, spec)


def make_pruner(spec: Mapping[str, Any]) -> Any:
    """An Optuna pruner from ``{"name": ..., **options}``."""
    optuna = _import_optuna()
    opts = {k: v for k, v in spec.items() if k != "name"}
    name = spec.get("name", DEFAULT_PRUNER)
    if name not in _PRUNER_CLASSES:
        raise ValueError(f"unknown pruner {name!r}; valid: {', '.join(PRUNERS)}")
    if name == "none":
        return optuna.pruners.NopPruner()
    return getattr(optuna.pruners, _PRUNER_CLASSES[name])(**opts)


def _suggest(trial: Any, key: str, spec: Mapping[str, Any]) -> Any:
    if spec["type"] == "int":
        return trial.suggest_int(
            key, spec["low"], spec["high"], step=spec.get("step", 1), log=bool(spec.get("log"))
        )
    if spec["type"] == "float":
        return trial.suggest_float(
            key, spec["low"], spec["high"], step=spec.get("step"), log=bool(spec.get("log"))
        )
    return trial.suggest_categorical(key, spec["choices"])


def pruning_callback(
    trial: Any, *, metric: str = "supernet_val_acc"
) -> Callable[[int, dict[str, Any]], None]:
    """An ``on_epoch`` hook for :func:`idarts_plugin.search.run_search` (or your own loop).

    Reports ``row[metric]`` at every epoch and raises ``optuna.TrialPruned`` when the study's
    pruner says so. For a Lightning loop of your own, call it from a callback's
    ``on_train_epoch_end`` with ``(epoch, {metric: value})``.
    """
    optuna = _import_optuna()

    def hook(epoch: int, row: dict[str, Any]) -> None:
        value = row.get(metric)
        if value is None or not math.isfinite(float(value)):
            return
        if len(trial.study.directions) == 1:  # Optuna cannot prune multi-objective trials
            trial.report(float(value), step=epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch}: {metric}={float(value):.4f}")

    return hook


def make_objective(config: TuneConfig, *, study_name: str = "study") -> Callable[[Any], Any]:
    """The Optuna objective: one search per trial, pruned per epoch.

    Returns a function ``objective(trial) -> float | (float, float)``.
    """
    from ..search import run_search

    def objective(trial: Any) -> Any:
        raw = config.base_dict
        for key, spec in config.params.items():
            raw = set_value(raw, key, _suggest(trial, key, spec))
        run_cfg = RunConfig.from_dict(raw)
        run_cfg = dataclasses.replace(
            run_cfg, trainer=dataclasses.replace(run_cfg.trainer, progress_bar=False)
        )
        run_dir = (Path(config.output_dir) / study_name / f"trial-{trial.number}").resolve()
        trial.set_user_attr("run_dir", str(run_dir))
        _logger.info("trial %d parameters: %s", trial.number, trial.params)
        result = run_search(run_cfg, run_dir=run_dir, on_epoch=[pruning_callback(trial)])
        record_search(
            trial,
            run_dir=result.run_dir,
            architecture=result.architecture,
            arch_string=result.arch_string,
            metrics=result.metrics,
            seconds=result.seconds,
            epochs=result.epochs,
        )
        value = objective_value(config.objective, result, config.objective_options)
        return (value, result.seconds) if config.cost_objective else value

    return objective


def open_storage(url: str, *, attempts: int = 6) -> Any:
    """An Optuna ``RDBStorage`` that several workers may open at once on a fresh database.

    Workers that start together race to create Optuna's tables (PostgreSQL then reports a
    unique violation in ``pg_type``, SQLite "table studies already exists"); the loser retries
    after a short random wait and finds the tables made. A heartbeat marks the running trials of a worker that died as FAIL, so a
    crashed machine does not leave trials RUNNING for ever.
    """
    optuna = _import_optuna()
    import random
    import time

    import sqlalchemy.exc

    driver = driver_for_url(url)
    if driver is not None:
        try_import(driver, purpose=f"the storage {url.split('://', 1)[0]}://...")
    kwargs: dict[str, Any] = {}
    if not url.startswith("sqlite"):
        kwargs = {"heartbeat_interval": 60, "grace_period": 240}
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except (
            sqlalchemy.exc.IntegrityError,
            sqlalchemy.exc.ProgrammingError,
            sqlalchemy.exc.OperationalError,
        ) as exc:
            # SQLite reports the same race as "table ... already exists" or a locked file;
            # any other operational error (no server, bad password) is not retried.
            racing = not isinstance(exc, sqlalchemy.exc.OperationalError) or any(
                text in str(exc) for text in ("already exists", "database is locked")
            )
            if not racing or attempt == attempts - 1:
                raise
            _logger.info(
                "storage schema being created by another worker (%s); retrying", type(exc).__name__
            )
            time.sleep(0.2 + random.random())
    raise AssertionError("unreachable")


def name_metrics(study: Any, names: list[str]) -> None:
    """Name the study's objectives (dashboards show them instead of "Objective 0")."""
    if list(study.metric_names or []) != names:
        optuna = _import_optuna()
        with warnings.catch_warnings():  # experimental since Optuna 3.2, stable in use
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)


def default_storage(config: TuneConfig) -> str:
    """``sqlite:///<output_dir>/optuna.db`` (absolute), creating the directory."""
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{out.resolve() / 'optuna.db'}"


def run_study(
    config: TuneConfig,
    *,
    study_name: str,
    storage: str | None = None,
    n_trials: int | None = None,
    timeout: float | None = None,
) -> Any:
    """Create or join the study and run trials; returns the ``optuna.Study``.

    Args:
        config: the tune config.
        study_name: joins an existing study of that name in ``storage`` (several workers may
            run this at once against one storage).
        storage: an SQLAlchemy URL; default ``sqlite:///<output_dir>/optuna.db``.
        n_trials: trials *this worker* runs (``None``: until ``timeout``).
        timeout: seconds this worker runs.
    """
    optuna = _import_optuna()
    if storage is None:
        storage = default_storage(config)
    multi = config.cost_objective
    study = optuna.create_study(
        study_name=study_name,
        storage=open_storage(storage),
        load_if_exists=True,
        directions=config.directions,
        sampler=make_sampler(config.sampler, multi_objective=multi),
        pruner=make_pruner(config.pruner),
    )
    name_metrics(study, objective_names(config.objective, cost_objective=config.cost_objective))
    objective = make_objective(config, study_name=study_name)
    from ..search import SearchInterruptedError

    interrupted: list[SearchInterruptedError] = []

    def wrapped(trial: Any) -> Any:
        try:
            return objective(trial)
        except optuna.TrialPruned:
            raise
        except SearchInterruptedError as exc:  # SIGTERM/SIGINT: FAIL this trial, start no other
            trial.set_user_attr("fail_reason", f"interrupted: {exc}")
            interrupted.append(exc)
            study.stop()
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            trial.set_user_attr("fail_reason", reason)
            _logger.warning("trial %d failed: %s", trial.number, reason)
            raise

    study.optimize(
        wrapped, n_trials=n_trials, timeout=timeout, catch=(Exception,), gc_after_trial=True
    )
    if interrupted:
        raise interrupted[0]
    return study
