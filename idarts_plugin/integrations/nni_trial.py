"""One search as one ``nnictl`` trial: tuner parameters in, per-epoch and final metrics out.

An nnictl experiment runs ``idarts nni-trial CONFIG.yaml`` as its ``trialCommand``. The trial

1. reads the tuner's parameters (``nni.get_next_parameter()``) and applies them to the run
   config as ``section.key`` overrides (a search-space key *is* the config key, e.g.
   ``strategy.neumann_steps``; see :func:`parameters_to_overrides` for nested choices);
2. runs the search (:func:`idarts_plugin.search.run_search`, not NNI's ``NasExperiment``,
   whose sequential engine would swallow the trial's metrics) with its run directory in the
   trial's output directory (``$NNI_OUTPUT_DIR/run``), which the web UI's trial view shows;
3. reports one intermediate result per epoch, ``{"default": <supernet accuracy>, "epoch": e,
   ...every numeric metric of the epoch}`` (:func:`intermediate_result`), and exactly one
   final result of numbers only (every key of it becomes a column
   *and* an axis of the web UI's hyper-parameter chart): ``{"default": <objective>,
   "arch_code": 412513, "search_seconds": ..., "epochs": ..., "param:<key>": <value the
   trial ran with>, ...}`` (:func:`idarts_plugin.integrations.trials.nni_final_result`;
   a space other than NAS-Bench-201 adds the text column ``arch``). The tuner learns
   everything it records from these results, through NNI, whatever host the trial ran on.
   The full architecture string and the run directory (on the trial's host) are in the
   trial log. The search module
   already silences the FINAL report NNI's ``SupervisedLearningModule`` would send itself.

A trial whose search fails (a non-finite loss, a bad parameter) reports nothing final and
exits non-zero, so NNI marks it FAILED and the tuner hears about it.

Example (``examples/nnictl/config.yml``)::

    trialCommand: idarts nni-trial ../configs/digits-nb201.yaml --set trainer.epochs=10
    searchSpaceFile: search_space.json    # {"strategy.neumann_steps": {"_type": "choice", ...}}
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import ConfigError, RunConfig, load_config, set_value
from ..objectives import (
    DEFAULT_OBJECTIVE,
    check_objective,
    check_objective_options,
    objective_value,
)
from .trials import nni_final_result, numeric_metrics

__all__ = ["TrialOutcome", "intermediate_result", "parameters_to_overrides", "run_trial"]

_logger = logging.getLogger(__name__)


def intermediate_result(epoch: int, default: float, row: Mapping[str, Any]) -> dict[str, Any]:
    """One epoch's intermediate result: ``default``, ``epoch`` and every finite numeric metric.

    Numbers only: the web UI's intermediate chart offers each numeric key, and the tuner
    records the last epoch's as the trial's diagnostics (per-edge ``entropy:`` / ``margin:``
    columns are left out, as in the Optuna study: :func:`~.trials.numeric_metrics`).

    Example:
        >>> intermediate_result(1, 0.5, {"train_loss": 2.0, "arch": "|none~0|", "x": float("nan")})
        {'default': 0.5, 'epoch': 1, 'train_loss': 2.0}
    """
    return {"default": float(default), "epoch": int(epoch), **numeric_metrics(row)}


@dataclass(frozen=True)
class TrialOutcome:
    """What :func:`run_trial` reported.

    Attributes:
        parameters: the tuner's parameters, flattened to config keys.
        final: the final result sent to NNI.
        run_dir: the search's run directory.
    """

    parameters: dict[str, Any]
    final: dict[str, Any]
    run_dir: Path


def parameters_to_overrides(parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """Flatten an NNI parameter dict to ``{"section.key": value}``.

    Plain keys pass through. A nested choice (``{"_type": "choice", "_value": [{"_name":
    "neumann", "strategy.neumann_steps": {...}}, ...]}``) arrives as a dict with ``_name``: the
    key takes ``_name`` as its value and the dict's other entries are flattened beside it.

    Example:
        >>> parameters_to_overrides({"strategy.name": {"_name": "implicit",
        ...                                             "strategy.neumann_steps": 3}})
        {'strategy.name': 'implicit', 'strategy.neumann_steps': 3}

    Raises:
        ConfigError: a key that is not ``section.key``, or a nested dict without ``_name``.
    """
    out: dict[str, Any] = {}

    def visit(key: str, value: Any) -> None:
        if isinstance(value, Mapping):
            if "_name" not in value:
                raise ConfigError(
                    f"search-space value {dict(value)!r} is a dict without '_name'; use config "
                    "keys (section.key) as the search space's keys",
                    key=key,
                )
            visit(key, value["_name"])
            for k, v in value.items():
                if k != "_name":
                    visit(str(k), v)
            return
        if key.count(".") < 1:
            raise ConfigError(
                "a search-space key must be a run-config key 'section.key' "
                "(e.g. strategy.neumann_steps)",
                key=key,
            )
        out[key] = value

    for key, value in (parameters or {}).items():
        visit(str(key), value)
    return out


def _trial_output_dir() -> Path | None:
    value = os.environ.get("NNI_OUTPUT_DIR")
    return Path(value) if value else None


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def run_trial(
    config: str | os.PathLike[str] | None,
    *,
    overrides: Sequence[str] = (),
    objective: str = DEFAULT_OBJECTIVE,
    objective_options: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    report_intermediate: Callable[[Any], None] | None = None,
    report_final: Callable[[Any], None] | None = None,
) -> TrialOutcome:
    """Run one search as an NNI trial (see the module docstring).

    Args:
        config: the run config YAML (``None``: defaults).
        overrides: ``section.key=value`` strings applied before the tuner's parameters.
        objective: what the final ``default`` is (:data:`idarts_plugin.objectives.OBJECTIVES`).
        objective_options: options of the objective (retrain epochs, NB201 tables, ...).
        parameters: the tuner's parameters (default: ``nni.get_next_parameter()``).
        run_dir: where the run goes (default ``$NNI_OUTPUT_DIR/run``, outside NNI the config's
            ``output`` section).
        report_intermediate: default ``nni.report_intermediate_result``.
        report_final: default ``nni.report_final_result``.

    Returns:
        The trial's parameters, final result and run directory.

    Raises:
        ConfigError: a parameter that is not a valid config key or value.
        idarts_plugin.search.SearchError: the search failed (nothing final is reported).
    """
    import nni

    from ..search import run_search

    check_objective(objective, key="--objective")
    check_objective_options(objective, objective_options, key="--objective-option")
    if parameters is None:
        parameters = nni.get_next_parameter() or {}
    flat = parameters_to_overrides(parameters)
    cfg = load_config(None if config is None else Path(config), overrides)
    raw = cfg.to_dict()
    for key, value in flat.items():
        raw = set_value(raw, key, value)
    try:
        cfg = RunConfig.from_dict(raw, source="the tuner's parameters")
    except ConfigError as exc:
        raise ConfigError(f"{exc} (parameters: {json.dumps(flat, default=str)})") from None
    cfg = dataclasses.replace(cfg, trainer=dataclasses.replace(cfg.trainer, progress_bar=False))
    if run_dir is None:
        out = _trial_output_dir()
        run_dir = out / "run" if out is not None else None
    intermediate = report_intermediate or nni.report_intermediate_result
    final_report = report_final or nni.report_final_result
    _logger.info("trial parameters: %s", flat)

    def on_epoch(epoch: int, row: dict[str, Any]) -> None:
        default = _finite(row.get("supernet_val_acc"))
        if default is None:
            return
        intermediate(intermediate_result(epoch, default, row))

    result = run_search(cfg, run_dir=run_dir, on_epoch=[on_epoch])
    value = objective_value(objective, result, objective_options)
    extra: dict[str, float] = {}
    if objective != "supernet_val_acc":
        acc = _finite(result.metrics.get("supernet_val_acc"))
        if acc is not None:
            extra["supernet_val_acc"] = acc
    final = nni_final_result(
        value,
        parameters=flat,
        arch_string=result.arch_string or json.dumps(result.architecture, sort_keys=True),
        architecture=result.architecture,
        seconds=result.seconds,
        epochs=result.epochs,
        extra=extra,
    )
    _logger.info(
        "architecture: %s (arch_code %s)",
        result.arch_string or json.dumps(result.architecture, sort_keys=True),
        final.get("arch_code"),
    )
    _logger.info("run directory: %s", Path(result.run_dir).resolve())
    final_report(final)
    return TrialOutcome(parameters=flat, final=final, run_dir=Path(result.run_dir))
