"""Lightning and NNI one-shot pieces of a search: training module, recorder, bar, checkpoints.

The recorder is a thin callback: it gathers each epoch's inputs and hands them to the pure
row builders of :mod:`idarts_plugin.metrics`, then writes the run directory
(:mod:`idarts_plugin.outputs`) and the checkpoint.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytorch_lightning as pl
import torch
from nni.nas.evaluator.pytorch.lightning import ClassificationModule
from pytorch_lightning.callbacks import TQDMProgressBar
from torch.utils.data import DataLoader

from .. import outputs
from ..collapse import EARLY_STOP_PATIENCE, EpochChoice, early_stop_choice
from ..config import OptimizerConfig
from ..derive import alpha_rule, derive, describe_architecture
from ..hypergrad.solvers import NEUMANN_DIVERGED
from ..metrics import alpha_row, epoch_row, probs_from_alpha_row
from ..runtime import SearchError
from ..spaces import SpaceSpec

__all__ = [
    "ArchProgressBar",
    "GuardLike",
    "RunRecorder",
    "SearchModule",
    "alpha_rank_spread",
    "derived_export",
    "save_checkpoint",
    "search_module",
    "supernet_accuracy",
]

_logger = logging.getLogger(__name__)


class SearchModule(ClassificationModule):
    """NNI's classification module with DARTS' weight recipe (SGD + cosine).

    Build it with :func:`search_module`.
    """

    recipe: tuple[OptimizerConfig, int]

    def configure_optimizers(self) -> Any:
        """SGD with (Nesterov) momentum and a per-epoch cosine schedule to ``optimizer.lr_min``."""
        opt, epochs = self.recipe
        sgd = torch.optim.SGD(
            self.parameters(),
            lr=opt.lr,
            momentum=opt.momentum,
            weight_decay=opt.weight_decay,
            nesterov=opt.nesterov,
        )
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(sgd, T_max=epochs, eta_min=opt.lr_min)
        return {"optimizer": sgd, "lr_scheduler": {"scheduler": cosine, "interval": "epoch"}}

    def _final_report(self) -> None:
        """Report nothing to NNI: the nnictl integration reports once, itself."""

    def on_validation_epoch_end(self) -> None:
        """No NNI intermediate reports from inside the module (see above)."""


def search_module(num_classes: int, optimizer: OptimizerConfig, epochs: int) -> SearchModule:
    """The weight-training module of a search.

    Args:
        num_classes: classifier outputs.
        optimizer: the weight optimiser's settings.
        epochs: the cosine schedule's length.
    """
    module = SearchModule(
        num_classes=num_classes, learning_rate=optimizer.lr, weight_decay=optimizer.weight_decay
    )
    module.recipe = (optimizer, epochs)
    return module


def derived_export(
    pl_module: Any, rule: str, probs: Mapping[str, Mapping[Any, float]] | None = None
) -> dict[str, Any]:
    """NNI's export with each op label chosen by the derivation rule ``rule`` from α.

    ``argmax`` on the current α is NNI's own export; ``exclude_none`` replaces the op labels
    (string choices) with the most probable op other than ``none``; a rule that needs the
    supernet (``perturbation``) uses its α rule (:func:`idarts_plugin.derive.alpha_rule`).
    Input choices stay as NNI exports them.

    Args:
        pl_module: the one-shot module.
        rule: a derivation rule.
        probs: softmax(α) to derive from (an earlier epoch's, kept by the early stop);
            default: the module's current α.
    """
    rule = alpha_rule(rule)
    export = dict(pl_module.export())
    if rule == "argmax" and probs is None:
        return export
    chosen = derive(pl_module.export_probs() if probs is None else probs, rule)
    for label, value in export.items():
        if isinstance(value, str) and label in chosen:
            export[label] = chosen[label]
    return export


@torch.no_grad()
def alpha_rank_spread(pl_module: Any) -> float:
    """Largest difference of any α entry between data-parallel ranks (a collective)."""
    import torch.distributed as dist

    alphas = [p.detach().reshape(-1) for p in pl_module.arch_parameters()]
    flat = torch.cat(alphas).float() if alphas else torch.zeros(1)
    high, low = flat.clone(), flat.clone()
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    return float((high - low).max())


@torch.no_grad()
def supernet_accuracy(pl_module: Any, loader: DataLoader[Any]) -> float:
    """Supernet accuracy (softmax-mixed ops, BN in eval mode) on the architecture half."""
    model = pl_module.training_module.model
    was_training = model.training
    model.eval()
    correct = total = 0
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    try:
        for x, y in loader:
            out = model(x.to(device=device, dtype=dtype))
            correct += int((out.argmax(dim=1).cpu() == y).sum())
            total += len(y)
    finally:
        model.train(was_training)
    return correct / max(total, 1)


def save_checkpoint(trainer: Any, path: Path) -> None:
    """Write the checkpoint atomically, keeping the one before it as ``previous.ckpt``.

    Rank 0 writes; every rank must call this.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    if trainer.is_global_zero:
        path.parent.mkdir(parents=True, exist_ok=True)
    trainer.save_checkpoint(str(tmp))  # Lightning: rank 0 writes, then all ranks meet
    if trainer.is_global_zero:
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if path.exists():
            os.replace(path, path.with_name(Path(outputs.PREVIOUS_CHECKPOINT).name))
        os.replace(tmp, path)


class ArchProgressBar(TQDMProgressBar):
    """Lightning's bar plus the current argmax architecture."""

    def __init__(self, describe: Callable[[Any], str | None]) -> None:
        super().__init__(refresh_rate=1)
        self._describe = describe

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        """Lightning's items without ``v_num``, plus ``arch``."""
        items = dict(super().get_metrics(trainer, pl_module))
        items.pop("v_num", None)
        try:
            arch = self._describe(pl_module)
        except Exception:  # never let the bar break training
            arch = None
        if arch:
            items["arch"] = arch
        return items


class GuardLike(Protocol):
    """A stop request: ``signum`` is set once SIGTERM/SIGINT arrived."""

    signum: int | None


class RunRecorder(pl.Callback):
    """Record a search after every epoch: rows, plots, architecture, checkpoint, hooks.

    Writes ``metrics.csv``, ``alpha_history.csv``, ``alpha.png``, ``architecture.json`` and the
    checkpoint, then calls the ``on_epoch`` hooks.

    Args:
        run_dir: the run directory.
        space: the search space (for the architecture's notation).
        arch_loader: the architecture half, unshuffled (supernet accuracy).
        start_rows: the metrics and α rows of the epochs before (a resumed run), extended here.
        on_epoch: functions called with ``(epoch, metrics_row)`` on rank 0.
        derive_rule: the derivation rule of the exported architecture.
        guard: a stop request; an interrupted epoch is neither recorded nor saved.
        early_stop: stop once the cells of ``early_stop_patience`` epochs in a row are more
            parameter-free than a random cell of the space
            (:func:`idarts_plugin.collapse.early_stop_choice`);
            :attr:`epoch_choice` then names the epoch whose cell to keep. Decided from the rows, so a resumed search decides alike.
    """

    def __init__(
        self,
        run_dir: Path,
        space: SpaceSpec,
        arch_loader: DataLoader[Any],
        start_rows: tuple[list[dict[str, Any]], list[dict[str, Any]]],
        on_epoch: Sequence[Callable[[int, dict[str, Any]], None]] = (),
        *,
        derive_rule: str = "argmax",
        guard: GuardLike | None = None,
        early_stop: bool = False,
        early_stop_patience: int = EARLY_STOP_PATIENCE,
    ) -> None:
        self.run_dir = run_dir
        self.space = space
        self.arch_loader = arch_loader
        self.metrics_rows, self.alpha_rows = start_rows
        self.on_epoch = tuple(on_epoch)
        self.derive_rule = derive_rule
        self.guard = guard
        self.early_stop = early_stop
        self.early_stop_patience = early_stop_patience
        self.epoch_choice: EpochChoice | None = None
        self.diags: list[dict[str, float]] = []
        self.seen_steps = 0
        self.epoch_start = time.perf_counter()
        self.skipped_before = (0, 0)

    def _stopping(self) -> bool:
        return self.guard is not None and self.guard.signum is not None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
        """Reset the epoch's diagnostics and clock."""
        self.diags = []
        self.epoch_start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: Any, outputs_: Any, batch: Any, batch_idx: int
    ) -> None:
        """Stop on a non-finite loss, keep the step's diagnostics, honour a stop request.

        A non-finite loss stops only strategies that do not skip such steps themselves.
        """
        loss = outputs_.get("loss") if isinstance(outputs_, dict) else outputs_
        skips = hasattr(pl_module, "nonfinite_in_a_row")  # it skips such steps itself
        if not skips and isinstance(loss, torch.Tensor) and not bool(torch.isfinite(loss).all()):
            raise SearchError(
                f"the training loss became non-finite at epoch {trainer.current_epoch}, "
                f"batch {batch_idx}; lower optimizer.lr or set strategy.gradient_clip_val "
                f"(the last complete epoch is kept in {outputs.CHECKPOINT})"
            )
        steps = getattr(pl_module, "arch_steps", 0)
        diag = getattr(pl_module, "last_diagnostics", None)
        if diag is not None and steps != self.seen_steps:
            self.seen_steps = steps
            self.diags.append(diag.scalars())
        if self._stopping():
            trainer.should_stop = True  # a step boundary: stop here

    def _skipped(self, pl_module: Any) -> tuple[int, int] | None:
        """Steps skipped as non-finite since the last epoch (strategies that skip them)."""
        if not hasattr(pl_module, "skipped_weight_steps"):
            return None
        w_total = int(pl_module.skipped_weight_steps)
        a_total = int(pl_module.skipped_arch_steps)
        skipped = (w_total - self.skipped_before[0], a_total - self.skipped_before[1])
        self.skipped_before = (w_total, a_total)
        return skipped

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        """Record the epoch, write the run directory and the checkpoint, call the hooks."""
        if self._stopping():
            return  # an interrupted epoch is not complete: nothing recorded or saved
        epoch = trainer.current_epoch
        probs = pl_module.export_probs()
        export = derived_export(pl_module, self.derive_rule)
        seconds = time.perf_counter() - self.epoch_start
        row = epoch_row(
            epoch,
            seconds=seconds,
            probs=probs,
            export=export,
            supernet_val_acc=supernet_accuracy(pl_module, self.arch_loader),
            trainer_metrics=trainer.callback_metrics,
            diags=self.diags,
            skipped=self._skipped(pl_module),
            rank_spread=alpha_rank_spread(pl_module) if trainer.world_size > 1 else None,
            arch=describe_architecture(self.space, export) or "",
        )
        _warn_about_epoch(epoch, row, len(self.diags))
        self.metrics_rows.append(row)
        self.alpha_rows.append(alpha_row(epoch, probs))
        if trainer.is_global_zero:
            self._write(trainer, row, export, probs)
        save_checkpoint(trainer, self.run_dir / outputs.CHECKPOINT)  # every rank: a barrier
        if trainer.is_global_zero:
            for hook in self.on_epoch:
                hook(epoch, row)
        if self.early_stop:
            self._check_collapse(trainer, int(pl_module.warmup_epochs))

    def _check_collapse(self, trainer: pl.Trainer, warmup: int) -> None:
        """The early stop: stop once the signal fires (the same on every rank)."""
        shares = [(int(r["epoch"]), _number(r.get("param_free_share"))) for r in self.metrics_rows]
        probs = probs_from_alpha_row(self.alpha_rows[-1]) if self.alpha_rows else None
        self.epoch_choice = early_stop_choice(
            shares, probs, rule=self.derive_rule, first=warmup, patience=self.early_stop_patience
        )
        if self.epoch_choice.fired is not None and not trainer.should_stop:
            _logger.info("early stop: %s", self.epoch_choice.reason)
            trainer.should_stop = True

    def _write(
        self, trainer: pl.Trainer, row: dict[str, Any], export: dict[str, Any], probs: Any
    ) -> None:
        """Rank 0: the CSV files, the α plot, ``architecture.json`` and TensorBoard scalars."""
        outputs.write_csv_rows(self.run_dir / "metrics.csv", self.metrics_rows)
        outputs.write_csv_rows(self.run_dir / "alpha_history.csv", self.alpha_rows)
        try:
            outputs.plot_alpha_history(self.alpha_rows, self.run_dir / "alpha.png")
        except Exception as exc:  # a plot must never stop a search
            _logger.warning("could not plot α history: %s", exc)
        outputs.write_json(
            self.run_dir / "architecture.json",
            {
                "epoch": row["epoch"],
                "nni": export,
                "arch_string": row["arch"] or None,
                "derivation": self.derive_rule,
                "probs": probs,
            },
        )
        if trainer.logger is not None:
            scalars = {f"epoch/{k}": v for k, v in row.items() if isinstance(v, (int, float))}
            trainer.logger.log_metrics(scalars, step=trainer.global_step)


class _DropDivergenceNotes(logging.Filter):
    """Drops the solver's per-step "Neumann series diverged" log lines (by their event)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "idarts_event", None) != NEUMANN_DIVERGED


@contextmanager
def per_epoch_solver_notes() -> Iterator[None]:
    """While a search fits: a diverged Neumann solve is reported once per epoch, not per step.

    :class:`RunRecorder` counts the truncated solves (``hg_diverged_steps``) and logs one line
    per epoch with the keys that avoid them; the solver's own per-step warning is dropped.

    Example:
        >>> import logging
        >>> log = logging.getLogger("idarts_plugin.hypergrad.solvers")
        >>> from idarts_plugin.hypergrad import NEUMANN_DIVERGED
        >>> record = log.makeRecord(log.name, logging.WARNING, "", 0, "Neumann series diverged",
        ...                         None, None, extra={"idarts_event": NEUMANN_DIVERGED})
        >>> with per_epoch_solver_notes():
        ...     log.filter(record)  # dropped while a search fits
        False
        >>> bool(log.filter(record)), log.filters  # and passed on afterwards
        (True, [])
    """
    solver_log = logging.getLogger("idarts_plugin.hypergrad.solvers")
    per_step = _DropDivergenceNotes()
    solver_log.addFilter(per_step)
    try:
        yield
    finally:
        solver_log.removeFilter(per_step)


def _warn_about_epoch(epoch: int, row: dict[str, Any], steps: int) -> None:
    """Log a growing Neumann series and α differing between ranks.

    A truncated (diverged) series is a warning with the keys that avoid it. Growth alone is
    logged at INFO: along a search H is indefinite, so any γ > 0 amplifies its negative
    directions by ``1 + γ|λmin|`` per term (bounded for a short series, and no γ avoids it);
    the count stays in ``metrics.csv`` (``hg_growing_steps``, ``hg_growth_rate``).
    """
    growing = int(row.get("hg_growing_steps", 0) or 0)
    diverged = int(row.get("hg_diverged_steps", 0) or 0)
    if diverged:  # one line per epoch (the solver's per-step notes are dropped)
        _logger.warning(
            "epoch %d: the Neumann series grew in %d and diverged (truncated) in %d of %d "
            "architecture steps (γ·λ̂ ≥ 2 or negative curvature on the step's minibatch); "
            "set strategy.neumann_lr=safe, or a smaller strategy.neumann_lr",
            epoch,
            growing,
            diverged,
            steps,
        )
    elif growing:
        rate = row.get("hg_growth_rate")
        _logger.info(
            "epoch %d: the Neumann series grew in %d of %d architecture steps (growth %s per "
            "term: negative curvature, or γ·λ̂ > 2; no term was truncated)",
            epoch,
            growing,
            steps,
            f"{rate:.3g}" if isinstance(rate, (int, float)) else "n/a",
        )
    spread = row.get("alpha_rank_max_diff")
    if spread is not None and spread > 0:
        _logger.error("α differs between ranks by %.3g after epoch %d", spread, epoch)


def _number(value: Any) -> float | None:
    """A row's value as a float (rows read back from CSV hold strings; ``""``: none)."""
    if value is None or value == "":
        return None
    return float(value)
