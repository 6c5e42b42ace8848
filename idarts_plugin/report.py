"""What a finished search reports: the verdict, the ground-truth rank, the look-up, summary.

:func:`idarts_plugin.search.run_search` fits the supernet and derives the cell; this module
turns its :class:`SearchResult` (also importable from :mod:`idarts_plugin.search`) into what
a user reads afterwards (the log's verdict and warnings, ``summary.json``,
``nb201_lookup.json``, ``cell.png``).

Example:
    >>> from idarts_plugin.report import write_report  # doctest: +SKIP
    >>> write_report(cfg, spec, result, "fashion-mnist")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from . import outputs
from .collapse import collapse_warning
from .config import RunConfig
from .derive import NB201_NOTATION
from .spaces import SpaceSpec

__all__ = [
    "SearchResult",
    "rank_in_ground_truth",
    "record_nb201",
    "warn_about_decision",
    "write_report",
]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchResult:
    """What a finished search hands back (also written to ``summary.json``).

    Attributes:
        run_dir: the run directory.
        architecture: NNI's export dict (label → chosen op / inputs).
        arch_string: NAS-Bench-201 arch string, DARTS genotype, or ``None``.
        notation: ``arch_string``'s notation (the space kind's, a key of
            :data:`idarts_plugin.derive.NOTATIONS`), ``None`` with it.
        probs: softmax(α) per label at the end.
        metrics: the last epoch's metrics row.
        epochs: epochs completed.
        seconds: wall time of this process' part of the search.
        decision: per-edge margin and entropy, the verdict, the derivation rule, the
            architecture learning rate used and (NAS-Bench-201) the effective cell.
    """

    run_dir: Path
    architecture: dict[str, Any]
    arch_string: str | None
    probs: dict[str, dict[str, float]]
    metrics: dict[str, Any]
    epochs: int
    seconds: float
    decision: dict[str, Any] = dataclasses.field(default_factory=dict)
    notation: str | None = None


def write_report(cfg: RunConfig, spec: SpaceSpec, result: SearchResult, data_name: str) -> None:
    """Rank 0 of a finished search: what the user reads afterwards, in ``result.run_dir``.

    Logs the verdict and its warnings, adds the ground-truth rank to ``result.decision``
    (``output.ground_truth``, NAS-Bench-201 notation), looks the cell up in NAS-Bench-201
    (``nb201_lookup.json``), draws the cell (``cell.png``) and writes ``summary.json``. A
    failing rank, look-up or plot is logged and never loses the finished search.

    Args:
        cfg: the search's run config.
        spec: its resolved space.
        result: the finished search.
        data_name: the data set searched on (its NAS-Bench-201 counterpart, if any).
    """
    run_dir = result.run_dir
    warn_about_decision(result.decision, cfg)
    if cfg.output.ground_truth and spec.notation == NB201_NOTATION:
        rank_in_ground_truth(cfg, result)
    nb201 = record_nb201(cfg, spec, data_name, result.arch_string, run_dir)
    if spec.cell_plot:
        try:
            outputs.plot_cell(result.architecture, run_dir / "cell.png", title=result.arch_string)
        except Exception as exc:  # a plot must never lose a finished search
            _logger.warning("could not plot the cell: %s", exc)
    outputs.write_json(
        run_dir / "summary.json",
        {
            "architecture": result.architecture,
            "arch_string": result.arch_string,
            "probs": result.probs,
            "metrics": result.metrics,
            "epochs": result.epochs,
            "seconds_this_process": result.seconds,
            "space": {"kind": spec.kind, "options": spec.options},
            "strategy": cfg.strategy.name,
            "decision": result.decision,
            "nb201": nb201,
            "finished": datetime.now().isoformat(timespec="seconds"),
        },
    )


def warn_about_decision(decision: dict[str, Any], cfg: RunConfig) -> None:
    """Log the verdict; warn of an undecided α, dead nodes or a mostly param-free cell."""
    text = decision["verdict"]["text"]
    if decision["verdict"]["decided"]:
        _logger.info(text)
    else:
        lr = cfg.strategy.arc_learning_rate
        _logger.warning(
            "the search ended undecided: %s (strategy.arc_learning_rate is %s, %.3g used)",
            text,
            lr,
            decision["arc_learning_rate"],
        )
    if decision.get("dead_nodes"):
        _logger.warning(
            "the derived cell has disconnected nodes %s: it computes %s; "
            "strategy.derive=exclude_none never picks 'none'",
            decision["dead_nodes"],
            decision["effective_arch"],
        )
    warning = collapse_warning(decision.get("param_free_share"))
    if warning is not None:
        _logger.warning(warning)


def rank_in_ground_truth(cfg: RunConfig, result: SearchResult) -> None:
    """Add where the cell ranks among random cells (``output.ground_truth``) to the decision."""
    from .ground_truth import rank_found_cell

    try:
        decided = result.decision.get("verdict", {}).get("decided")
        rank = rank_found_cell(cfg, result.arch_string, decided=decided)
    except Exception as exc:  # a ranking must never lose a finished search
        _logger.warning("could not rank the cell in the ground truth: %s", exc)
        rank = None
    if rank is not None:
        result.decision["ground_truth"] = rank
        _logger.info(rank["text"])


def record_nb201(
    cfg: RunConfig, spec: SpaceSpec, data_name: str, arch: str | None, run_dir: Path
) -> dict[str, Any] | None:
    """Look up the found cell's benchmark accuracy when a source is configured."""
    from .data import DATASETS

    info = DATASETS.get(data_name)
    if spec.notation != NB201_NOTATION or arch is None or info is None or info.nb201 is None:
        return None
    source_path = cfg.output.nb201_source or os.environ.get("IDARTS_NB201")
    if not source_path:
        _logger.info("no NAS-Bench-201 source configured (output.nb201_source / IDARTS_NB201)")
        return None
    from .nb201 import NB201Error, open_source

    try:
        found = open_source(source_path).lookup(arch)
    except (NB201Error, OSError, KeyError, ImportError) as exc:
        _logger.warning("NAS-Bench-201 look-up failed: %s", exc)
        return {"error": str(exc)}
    record = {
        "arch": found.arch,
        "index": found.index,
        "source": str(source_path),
        "results": {ds: dataclasses.asdict(r) for ds, r in found.results.items()},
        "searched_on": info.nb201,
    }
    outputs.write_json(run_dir / "nb201_lookup.json", record)
    return record
