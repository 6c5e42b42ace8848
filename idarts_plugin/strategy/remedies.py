"""The collapse remedies that act during a search, as one Lightning callback.

:class:`RemedyCallback` works with any of NNI's DARTS-style one-shot modules (NNI's own
first-order DARTS and this plugin's hypergradient modules), because it touches neither their
training step nor their hypergradient:

* **β-decay** (β-DARTS): a step pre-hook on the architecture optimiser adds
  ``λ_t · ∂R/∂α`` (:class:`~idarts_plugin.hypergrad.regularizers.BetaDecay`, closed form) to
  α's gradient just before Adam uses it, whatever computed that gradient. The regulariser
  depends on α alone, so its gradient is direct only: nothing flows through the weights.
* **auxiliary skip** (DARTS-): a forward hook on every mixed edge adds ``β_t · x`` to its
  output, with ``β_t`` decayed linearly to 0 over the search
  (:func:`~idarts_plugin.collapse.aux_skip_coefficient`); after the search the hooks are gone.

Both schedules are functions of the epoch, so a resumed search picks them up where it left.

:class:`EarlyStopCallback` is the early stop on the collapse signal for a strategy passed to
``NasExperiment``: it stops the search once the cell is more parameter-free than chance and
leaves α at the kept epoch's values, so NNI's export hands back that cell. (``idarts search``
decides the same from its run recorder's per-epoch rows, which also survive a resume.)

Example:
    >>> from idarts_plugin.collapse import Remedies
    >>> RemedyCallback(Remedies(beta_decay=1.0)).regulariser
    BetaDecay(weight=1.0, schedule='linear')
"""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from ..collapse import (
    EARLY_STOP_PATIENCE,
    EpochChoice,
    Remedies,
    aux_skip_coefficient,
    early_stop_choice,
    parameter_free_share,
)
from ..derive import derive
from ..hypergrad.checks import check_int
from ..hypergrad.regularizers import BetaDecay
from ..spaces import keep_shape_kinds

__all__ = [
    "AuxSkipShapeError",
    "EarlyStopCallback",
    "RemedyCallback",
    "edges_keep_shape",
    "mixed_edges",
]

_logger = logging.getLogger(__name__)


class AuxSkipShapeError(ValueError):
    """An edge's output does not have its input's shape, so no auxiliary skip fits it."""


def mixed_edges(pl_module: Any) -> list[nn.Module]:
    """The supernet's mixed edges: modules holding one architecture tensor ``_arch_alpha``."""
    return [m for m in pl_module.supernet_modules() if hasattr(m, "_arch_alpha")]


def edges_keep_shape(pl_module: Any) -> bool:
    """Whether no mixed edge of the supernet strides (what ``aux_skip: auto`` asks).

    An edge whose candidate ops hold a convolution or pooling with a stride above 1 (the DARTS
    space's reduction edges) changes its input's shape, so no auxiliary skip fits it. A space
    that changes the shape otherwise (channels only) still meets the auxiliary skip's own
    check, :class:`AuxSkipShapeError`, at its first step.
    """
    for edge in mixed_edges(pl_module):
        for sub in edge.modules():
            stride = getattr(sub, "stride", None)
            if stride is None:
                continue
            values = stride if isinstance(stride, tuple | list) else (stride,)
            if any(isinstance(v, int) and v > 1 for v in values):
                return False
    return True


class RemedyCallback(pl.Callback):
    """Apply β-decay and the auxiliary skip of a :class:`~idarts_plugin.collapse.Remedies`.

    Args:
        remedies: which remedies, with their weights and schedule; ``aux_skip: auto`` is
            resolved on the supernet at the first epoch (:func:`edges_keep_shape`).

    Attributes:
        coefficient: the β-decay λ of the current epoch.
        aux_weight: the auxiliary skip's weight in the current epoch.
    """

    def __init__(self, remedies: Remedies) -> None:
        self.remedies = remedies
        self.regulariser = (
            BetaDecay(weight=remedies.beta_decay, schedule=remedies.beta_decay_schedule)
            if remedies.beta_decay > 0
            else None
        )
        self.coefficient = 0.0
        self.aux_weight = 0.0
        self._edge_hooks: list[Any] = []
        self._optimizer_hook: Any = None

    # -- schedules --------------------------------------------------------------------------
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
        """Set this epoch's λ and β; install the hooks on the first epoch."""
        epoch, epochs = trainer.current_epoch, int(trainer.max_epochs or 1)
        if self.regulariser is not None:
            warmup = int(pl_module.warmup_epochs)  # NNI's DARTS modules all have it
            self.coefficient = self.regulariser.coefficient(
                epoch=epoch, first=warmup, last=epochs - 1
            )
            if self._optimizer_hook is None:
                self._optimizer_hook = _arch_optimizer(trainer).register_step_pre_hook(
                    self._add_regulariser
                )
        if self.remedies.aux_skip == "auto":
            keep = edges_keep_shape(pl_module)
            self.remedies = self.remedies.resolve(edges_keep_shape=keep)
            _logger.info(
                "aux_skip auto: %s",
                f"the auxiliary skip, {self.remedies.aux_skip:g} → 0 over the search"
                if keep
                else "off (an edge of this space strides, so it changes its input's shape)",
            )
        if float(self.remedies.aux_skip) > 0:
            self.aux_weight = aux_skip_coefficient(
                float(self.remedies.aux_skip), epoch=epoch, epochs=epochs
            )
            if not self._edge_hooks:
                self._edge_hooks = [
                    m.register_forward_hook(self._aux_skip) for m in mixed_edges(pl_module)
                ]
        pl_module.log_dict(
            {"remedy/beta_decay": self.coefficient, "remedy/aux_skip": self.aux_weight},
            on_step=False,
            on_epoch=True,
        )

    def on_train_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        """Remove the hooks: after the search the supernet has no auxiliary skip."""
        self.teardown_hooks()

    def teardown_hooks(self) -> None:
        """Remove every hook this callback installed (idempotent)."""
        for handle in self._edge_hooks:
            handle.remove()
        self._edge_hooks = []
        if self._optimizer_hook is not None:
            self._optimizer_hook.remove()
            self._optimizer_hook = None
        self.aux_weight = 0.0

    # -- the hooks --------------------------------------------------------------------------
    def _add_regulariser(self, optimizer: torch.optim.Optimizer, *_: Any) -> None:
        """Add ``λ_t ∂R/∂α`` to the gradient of every α the architecture optimiser steps."""
        if self.regulariser is None or self.coefficient == 0.0:
            return
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if not params:
            return
        for p, g in zip(
            params, self.regulariser.grads(params, coefficient=self.coefficient), strict=True
        ):
            p.grad.add_(g.to(p.grad.dtype))

    def _aux_skip(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        if self.aux_weight == 0.0:
            return output
        x = args[0] if args else None
        if not isinstance(x, Tensor) or not isinstance(output, Tensor) or x.shape != output.shape:
            raise AuxSkipShapeError(
                f"strategy.aux_skip adds each edge's input to its output, but edge "
                f"{getattr(module, 'label', module)!r} maps {_shape(x)} to {_shape(output)}; "
                f"use it with spaces whose edges keep the shape ({keep_shape_kinds()})"
            )
        return output + self.aux_weight * x


class EarlyStopCallback(pl.Callback):
    """Stop a search once its cell is collapsed, and hand back the cell chosen before.

    After every epoch it derives the cell from α (``rule``), records its parameter-free share
    and a copy of α, and asks :func:`~idarts_plugin.collapse.early_stop_choice` (the trigger: the
    space's :func:`~idarts_plugin.collapse.chance_share`); once the signal fires it stops the
    trainer, and when training ends it copies the kept epoch's α back into the architecture
    parameters if that is not the last epoch (α only; the weights are the last epoch's).

    Args:
        rule: the α derivation rule that names each epoch's cell
            (:func:`idarts_plugin.derive.alpha_rule` of the search's rule).
        patience: architecture epochs in a row above chance that fire the signal.

    Attributes:
        choice: the decision so far (:class:`~idarts_plugin.collapse.EpochChoice`), ``None``
            before the first epoch ends.

    Example:
        >>> EarlyStopCallback().choice is None
        True
    """

    def __init__(self, *, rule: str = "exclude_none", patience: int = EARLY_STOP_PATIENCE) -> None:
        self.rule = rule
        self.patience = check_int("patience", patience, minimum=1)
        self.shares: list[tuple[int, float | None]] = []
        self.alphas: dict[int, list[Tensor]] = {}
        self.choice: EpochChoice | None = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        """Record the epoch's cell and α; stop the trainer once the signal fires."""
        epoch = int(trainer.current_epoch)
        probs = {
            str(label): {str(c): float(p) for c, p in dist.items()}
            for label, dist in pl_module.export_probs().items()
        }
        self.shares.append((epoch, parameter_free_share(derive(probs, self.rule))))
        self.alphas[epoch] = [a.detach().clone() for a in pl_module.arch_parameters()]
        first = int(getattr(pl_module, "warmup_epochs", 0))
        self.choice = early_stop_choice(
            self.shares, probs, rule=self.rule, first=first, patience=self.patience
        )
        if self.choice.fired is not None and not trainer.should_stop:
            _logger.info("early stop: %s", self.choice.reason)
            trainer.should_stop = True

    def on_train_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        """Leave α at the kept epoch's values (when it is not the last epoch)."""
        if self.choice is None or self.choice.epoch == self.shares[-1][0]:
            return
        kept = self.alphas[self.choice.epoch]
        with torch.no_grad():
            for param, value in zip(pl_module.arch_parameters(), kept, strict=True):
                param.copy_(value)


def _shape(x: Any) -> str:
    return str(tuple(x.shape)) if isinstance(x, Tensor) else type(x).__name__


def _arch_optimizer(trainer: pl.Trainer) -> torch.optim.Optimizer:
    """The architecture optimiser NNI marks with ``is_arch_optimizer``."""
    for opt in trainer.optimizers:
        if getattr(opt, "is_arch_optimizer", False):
            return getattr(opt, "optimizer", opt)
    raise RuntimeError("no architecture optimiser found (NNI marks it is_arch_optimizer)")
