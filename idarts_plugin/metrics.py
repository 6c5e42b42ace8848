"""The per-epoch rows of ``metrics.csv`` and ``alpha_history.csv``, as pure functions.

The Lightning callback that records a search (:class:`idarts_plugin.nni_adapter.RunRecorder`)
only gathers the epoch's inputs (trainer metrics, the engine's per-step diagnostics, softmax(α),
the derived export) and writes the rows these functions build; the rows themselves depend on
nothing else, so they are tested without a trainer.

Example:
    >>> probs = {"cell/0_1": {"none": 0.2, "conv_3x3": 0.8}}
    >>> row = epoch_row(0, seconds=1.5, probs=probs, export={"cell/0_1": "conv_3x3"},
    ...                 supernet_val_acc=0.5, arch="")
    >>> row["decided_edges"], round(row["alpha_margin_min"], 3), row["param_free_share"]
    (1, 0.6, 0.0)
    >>> alpha_row(0, probs)
    {'epoch': 0, 'cell/0_1:none': 0.2, 'cell/0_1:conv_3x3': 0.8}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .collapse import parameter_free_share
from .derive import DECIDED_MARGIN, edge_decisions
from .hypergrad.diagnostics import epoch_means

__all__ = ["DIAGNOSTIC_MEANS", "alpha_row", "epoch_row"]

DIAGNOSTIC_MEANS = epoch_means()
"""Engine diagnostics averaged over the epoch's architecture steps (columns ``hg_<key>``): the
fields of :class:`~idarts_plugin.hypergrad.Diagnostics` and its ``solve`` marked
:data:`~idarts_plugin.hypergrad.diagnostics.EPOCH_MEAN`, in their order."""


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _diagnostic_columns(diags: Sequence[Mapping[str, float]]) -> dict[str, Any]:
    """The ``hg_*`` columns: means of the engine's diagnostics and counts of bad steps."""
    row: dict[str, Any] = {}
    for key in DIAGNOSTIC_MEANS:
        vals = [d[key] for d in diags if key in d]
        if vals:
            row[f"hg_{key}"] = _mean(vals)
    curv = [d["step_curvature"] for d in diags if "step_curvature" in d]
    if curv:
        row["hg_step_curvature_max"] = max(curv)
    if diags:
        row["hg_growing_steps"] = int(sum(d.get("growing", 0.0) for d in diags))
        row["hg_diverged_steps"] = sum(d.get("diverged", 0.0) for d in diags)
        row["hg_nonfinite_steps"] = sum(1 - d.get("finite", 1.0) for d in diags)
    return row


def epoch_row(
    epoch: int,
    *,
    seconds: float,
    probs: Mapping[str, Mapping[Any, float]],
    export: Mapping[str, Any],
    supernet_val_acc: float,
    arch: str,
    trainer_metrics: Mapping[str, Any] | None = None,
    diags: Sequence[Mapping[str, float]] = (),
    skipped: tuple[int, int] | None = None,
    rank_spread: float | None = None,
) -> dict[str, Any]:
    """One ``metrics.csv`` row (the column order is the file's).

    Args:
        epoch: the epoch (from 0).
        seconds: its wall time.
        probs: softmax(α) per label.
        export: the derived architecture (NNI's export dict after the derivation rule).
        supernet_val_acc: the supernet's accuracy on the architecture split.
        arch: the architecture as its space writes it (``""`` when it has no notation).
        trainer_metrics: Lightning's ``callback_metrics`` (``train_loss`` / ``train_acc``, as
            floats or 0-d tensors).
        diags: the engine's diagnostics of each architecture step (``Diagnostics.scalars()``).
        skipped: ``(weight steps, architecture steps)`` skipped as non-finite this epoch, for
            strategies that skip them.
        rank_spread: largest α difference between data-parallel ranks (several processes).

    Returns:
        The row: epoch, seconds, losses and accuracies, α's entropy and margins, decided
        edges, the parameter-free share, ``hg_*`` diagnostics, skipped steps, the rank
        spread, the architecture, then ``entropy:<label>`` and ``margin:<label>`` per edge.
    """
    row: dict[str, Any] = {"epoch": epoch, "seconds": seconds}
    for key in ("train_loss", "train_acc"):
        if trainer_metrics is not None and key in trainer_metrics:
            row[key] = float(trainer_metrics[key])
    if diags:
        row["val_loss"] = _mean([d["val_loss"] for d in diags])
    row["supernet_val_acc"] = supernet_val_acc
    decisions = edge_decisions(probs)  # each edge's entropy and margin, computed once
    entropies = {label: d.entropy for label, d in decisions.items()}
    if entropies:
        row["alpha_entropy_mean"] = _mean(list(entropies.values()))
        row["alpha_entropy_min"] = min(entropies.values())
    if decisions:
        margins = [d.margin for d in decisions.values()]
        row["alpha_margin_min"] = min(margins)
        row["decided_edges"] = sum(1 for m in margins if m >= DECIDED_MARGIN)
    share = parameter_free_share(export)
    if share is not None:
        row["param_free_share"] = share
    row.update(_diagnostic_columns(diags))
    if skipped is not None:
        row["skipped_weight_steps"], row["skipped_arch_steps"] = skipped
    if rank_spread is not None:
        row["alpha_rank_max_diff"] = rank_spread
    row["arch"] = arch
    for label, value in entropies.items():
        row[f"entropy:{label}"] = value
    for label, d in decisions.items():
        row[f"margin:{label}"] = d.margin
    return row


def alpha_row(epoch: int, probs: Mapping[str, Mapping[Any, float]]) -> dict[str, Any]:
    """One ``alpha_history.csv`` row: ``epoch`` and softmax(α) as ``<label>:<choice>`` columns."""
    row: dict[str, Any] = {"epoch": epoch}
    for label, dist in probs.items():
        for choice, p in dist.items():
            row[f"{label}:{choice}"] = float(p)
    return row


def probs_from_alpha_row(row: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """softmax(α) per label from an ``alpha_history.csv`` row (the inverse of :func:`alpha_row`).

    Example:
        >>> probs_from_alpha_row(alpha_row(3, {"e/0": {"none": 0.25, "skip": 0.75}}))
        {'e/0': {'none': 0.25, 'skip': 0.75}}
    """
    out: dict[str, dict[str, float]] = {}
    for key, value in row.items():
        if key == "epoch" or value in (None, ""):
            continue
        label, _, choice = key.rpartition(":")
        out.setdefault(label, {})[choice] = float(value)
    return out
