"""The Lightning module that applies an engine hypergradient inside NNI's DARTS loop."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from nni.nas.oneshot.pytorch.differentiable import DartsLightningModule
from torch import Tensor, nn

from ..budget import AlphaSchedule
from ..collapse import Remedies
from ..hypergrad import Diagnostics, SolveInfo
from ..hypergrad.autodiff import twice_differentiable
from ..hypergrad.distributed import process_group_mean
from ..hypergrad.methods import MethodBuilder
from ..hypergrad.problem import network_problem
from ..hypergrad.spec import MethodSpec, SearchOptions

__all__ = ["HypergradientDartsModule", "NonFiniteStepsError"]


class NonFiniteStepsError(RuntimeError):
    """Too many training steps in a row had a non-finite loss or hypergradient."""


def _all_ranks(flag: bool, device: torch.device) -> bool:
    """``flag`` on every data-parallel rank (a collective: every rank must call it)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item() > 0.5)


def _finite(t: Tensor) -> bool:
    return bool(torch.isfinite(t.detach()).all())


_logger = logging.getLogger(__name__)

_WeightGrads = list[tuple[Tensor, Tensor | None]]
"""``(weight, ∇w L_tr)`` pairs: a weight step's gradients taken from the Hessian terms' graph."""


def _split_batch(batch: Any, where: str) -> tuple[Any, Any]:
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise TypeError(
        f"the {where} batch must be an (inputs, targets) pair to compute a hypergradient, "
        f"got {type(batch).__name__}"
    )


def _loss_of(step_output: Any) -> Tensor:
    """The loss tensor of a ``training_step`` output (a tensor or a dict with ``"loss"``)."""
    loss: Tensor = step_output["loss"] if isinstance(step_output, dict) else step_output
    return loss


def _skipped_step(
    alphas: Sequence[Tensor], exc: Exception, *, val_loss_value: float | None
) -> tuple[tuple[Tensor, ...], Diagnostics]:
    """Non-finite "gradients" and diagnostics that make the caller skip and count the step."""
    grads = tuple(torch.full_like(a, float("nan")) for a in alphas)
    diag = Diagnostics(
        method="skipped",
        hvp="none",
        direct_norm=float("nan"),
        implicit_norm=float("nan"),
        solution_norm=float("nan"),
        hypergrad_norm=float("nan"),
        n_hvp=0,
        n_grad=0,
        val_loss=float("nan") if val_loss_value is None else val_loss_value,
        solve=SolveInfo(converged=False, note=str(exc)),
        finite=False,
    )
    return grads, diag


class HypergradientDartsModule(DartsLightningModule):
    """NNI's ``DartsLightningModule`` with the architecture gradient from the engine.

    Each training step: (1) every ``inner_steps``-th batch, an architecture step whose
    gradient is :func:`~idarts_plugin.hypergrad.compute_hypergradient` on the step's training
    batch (Hessian terms) and validation batch (``∇ L_val``), applied by Adam; (2) a weight
    step on the training batch, exactly as NNI does. The hypergradient never writes into the
    weights, their ``.grad`` or BatchNorm statistics.

    ``hessian_batch`` chooses the Hessian terms' forward pass:

    * ``"separate"`` (default, as the paper's code): a forward pass of its own on the step's
      training batch at the current weights (BatchNorm statistics untouched), then the weight
      step at the updated α.
    * ``"shared"``: the weight step's own forward pass is reused (exact HVPs only), saving one
      forward pass per architecture step; w and α are then updated simultaneously from
      ``(w_t, α_t)``. On one process at full precision the weight step also reuses the
      first-order gradient the Hessian terms were built on, saving its backward pass too
      (with data parallelism or a loss scaler it runs Lightning's own backward).

    Args:
        training_module: the evaluator's Lightning module; it must expose ``criterion``
            (NNI's ``Classification``/``Regression`` modules do) and a ``model``.
        options: the method and every loop option
            (:class:`~idarts_plugin.hypergrad.SearchOptions`): ``inner_steps`` weight steps
            per architecture step, α's Adam (``arc_learning_rate``, ``arc_betas``,
            ``arc_weight_decay``), ``gradient_clip_val`` of the weight gradients,
            ``warmup_epochs``, ``hessian_batch``, and ``max_nonfinite_steps``: a step whose
            training loss or hypergradient is non-finite is skipped (weights, α, optimiser
            states and BatchNorm statistics as before it) and logged; this many in a row raise
            :class:`NonFiniteStepsError` (the last checkpoint stays intact).
        remedies: the collapse remedies (:class:`~idarts_plugin.collapse.Remedies`; default:
            their defaults).
        schedule: α's schedule (:class:`~idarts_plugin.budget.AlphaSchedule`). An ``auto``
            value is fitted to the trainer's ``max_epochs`` and batches an epoch when training
            starts (:meth:`fit_schedule`) and replaces the one in ``options``; ``None``: the
            numbers in ``options``.

    Data parallel (Lightning's DDP): each rank computes the hypergradient on its own shard and
    every derivative in it is averaged across ranks (double backward bypasses DDP's hooks), so
    all ranks apply the union batch's hypergradient and hold identical α. The skip decision
    for non-finite steps is taken jointly by all ranks.

    Mixed precision: the weight step runs under the trainer's autocast; the hypergradient is
    computed with autocast disabled, so every Hessian-vector product is float32 (with
    ``hessian_batch="shared"`` under autocast the weight step's low-precision graph is not
    reused: the Hessian terms get their own float32 pass).
    """

    def __init__(
        self,
        training_module: pl.LightningModule,
        *,
        options: SearchOptions,
        remedies: Remedies | None = None,
        schedule: AlphaSchedule | None = None,
    ) -> None:
        if not isinstance(options, SearchOptions):
            raise TypeError(f"options must be a SearchOptions, got {options!r}")
        if schedule is not None and not isinstance(schedule, AlphaSchedule):
            raise TypeError(f"schedule must be an AlphaSchedule, got {schedule!r}")
        super().__init__(
            training_module,
            arc_learning_rate=options.arc_learning_rate,
            gradient_clip_val=options.gradient_clip_val,
            log_prob_every_n_step=options.log_prob_every_n_step,
            warmup_epochs=options.warmup_epochs,
        )
        self.options = options
        self.remedies = remedies or Remedies()
        self.schedule = schedule
        self.method_builder = MethodBuilder(options.method)
        self.last_diagnostics: Diagnostics | None = None
        self.arch_steps = 0
        self.nonfinite_in_a_row = 0
        self.skipped_weight_steps = 0
        self.skipped_arch_steps = 0
        self.weight_gradients_reused = 0
        self._pending_weight_grads: _WeightGrads | None = None
        self._recent_batches: list[tuple[Any, Any]] = []

    @property
    def method(self) -> MethodSpec:
        """The hypergradient method (``options.method``)."""
        return self.options.method

    @property
    def inner_steps(self) -> int:
        """Weight steps per architecture step."""
        return self.options.inner_steps

    @property
    def hessian_batch(self) -> str:
        """``"separate"`` or ``"shared"``."""
        return self.options.hessian_batch

    @property
    def max_nonfinite_steps(self) -> int:
        """Non-finite steps in a row before the search stops."""
        return self.options.max_nonfinite_steps

    def configure_callbacks(self) -> list[pl.Callback]:
        """The remedies' callbacks: those that act in training, and the early stop.

        :class:`~idarts_plugin.strategy.remedies.RemedyCallback` and
        :class:`~idarts_plugin.strategy.remedies.EarlyStopCallback`.

        ``idarts search`` adds the remedy callback to its trainer itself (before its recorder,
        which holds its early stop) and builds this module without remedies.
        """
        from .remedies import EarlyStopCallback, RemedyCallback

        callbacks: list[pl.Callback] = []
        if self.remedies.acts_in_training:
            callbacks.append(RemedyCallback(self.remedies))
        if self.remedies.early_stop == "collapse":
            callbacks.append(EarlyStopCallback(patience=self.remedies.early_stop_patience))
        return callbacks

    def on_train_start(self) -> None:
        """Fit an ``auto`` schedule to the run (:meth:`fit_schedule`), then the evaluator's hook."""
        self.fit_schedule()
        super().on_train_start()

    def fit_schedule(self) -> tuple[float, int] | None:
        """Resolve an ``auto`` α schedule for this trainer: its epochs and batches an epoch.

        A trainer limited by ``max_steps`` alone counts ``ceil(max_steps / batches)`` epochs
        (at most: Lightning counts the architecture optimiser's steps too).

        Sets ``options``, the warm-up and the architecture optimiser's learning rate (a resumed
        fit resolves the same numbers).

        Returns:
            ``(arc_learning_rate, warmup_epochs)``, or ``None`` when nothing is ``auto``.

        Raises:
            ValueError: the trainer has neither ``max_epochs`` nor ``max_steps``, or its
                training loader no length, so ``auto`` has no budget to fit.
        """
        schedule = self.schedule
        if schedule is None or schedule.is_fixed:
            return None
        trainer = self.trainer
        epochs, batches = trainer.max_epochs, trainer.num_training_batches
        sized = math.isfinite(batches) and batches >= 1
        step_limited = isinstance(trainer.max_steps, int) and trainer.max_steps > 0
        if sized and step_limited and not (isinstance(epochs, int) and epochs >= 1):
            epochs = -(-trainer.max_steps // int(batches))
        if not (sized and isinstance(epochs, int) and epochs >= 1):
            raise ValueError(
                "arc_learning_rate / warmup_epochs 'auto' fit the search's length, but the "
                f"trainer has max_epochs={epochs!r}, max_steps={trainer.max_steps!r} and "
                f"{batches!r} batches an epoch: give the trainer max_epochs (or max_steps) and "
                "a sized training loader, or give numbers (arc_learning_rate=3e-4, "
                "warmup_epochs=0 are the papers')"
            )
        lr, warmup, steps = schedule.resolve(
            epochs=epochs, steps_per_epoch=int(batches), inner_steps=self.inner_steps
        )
        self.options = dataclasses.replace(self.options, arc_learning_rate=lr, warmup_epochs=warmup)
        self.arc_learning_rate, self.warmup_epochs = lr, warmup
        optimizer = self.architecture_optimizers()
        for opt in optimizer if isinstance(optimizer, list) else [optimizer] if optimizer else []:
            for group in opt.param_groups:
                group["lr"] = lr
        _logger.info(
            "α schedule auto: %d warm-up epoch(s), then Adam lr %.4g over %d architecture steps",
            warmup,
            lr,
            steps,
        )
        return lr, warmup

    # -- optimisers -------------------------------------------------------------------------
    def configure_architecture_optimizers(self) -> torch.optim.Optimizer:
        """Adam over α with the configured betas and weight decay (NNI hard-codes them)."""
        params = self.arch_parameters()
        if not params:
            raise ValueError("No architecture parameters found. Nothing to search.")
        return torch.optim.Adam(
            params,
            lr=self.arc_learning_rate,
            betas=self.options.arc_betas,
            weight_decay=self.options.arc_weight_decay,
        )

    def arch_parameters(self) -> list[nn.Parameter]:
        """α tensors in a stable order (NNI's base returns them from a set)."""
        seen: dict[int, nn.Parameter] = {}
        for m in self.supernet_modules():
            if hasattr(m, "arch_parameters"):
                for p in m.arch_parameters():
                    seen.setdefault(id(p), p)
        order = {id(p): i for i, p in enumerate(self.training_module.model.parameters())}
        return sorted(seen.values(), key=lambda p: order.get(id(p), len(order)))

    def _weight_optimizer(self) -> Any:
        optimizers = self.optimizers()
        if not isinstance(optimizers, list):
            optimizers = [optimizers]
        for opt in optimizers:
            if not getattr(opt, "is_arch_optimizer", False):
                return opt
        raise RuntimeError("no weight optimiser configured by the evaluator")

    def weight_learning_rate(self) -> float:
        """The weight optimiser's current learning rate (first parameter group)."""
        return float(self._weight_optimizer().param_groups[0]["lr"])

    def inner_problem(self, weights: Sequence[Tensor]) -> tuple[list[float], list[Tensor] | None]:
        """The weight optimiser's facts the hypergradient needs, per weight tensor.

        Returns:
            ``(weight_decay, velocity)``: each weight's decay λ from its parameter group
            (zeros unless the method differentiates ``L_tr + ½λ‖w‖²``), and for
            ``virtual_step="optimizer"`` the SGD momentum term ``μ·momentum_buffer`` (zeros
            before the first step, as in DARTS' code), else ``None``.

        Raises:
            TypeError: ``virtual_step="optimizer"`` with a weight optimiser that is not SGD.
        """
        decay = [0.0] * len(weights)
        if not self.method.decays_weights:
            return decay, None
        opt = getattr(self._weight_optimizer(), "optimizer", self._weight_optimizer())
        group_of = {id(p): g for g in opt.param_groups for p in g["params"]}
        decay = [float(group_of.get(id(w), {}).get("weight_decay", 0.0)) for w in weights]
        if self.method.virtual_step != "optimizer":
            return decay, None
        if not isinstance(opt, torch.optim.SGD):
            raise TypeError(
                f"virtual_step='optimizer' takes the virtual step like an SGD weight optimiser "
                f"(momentum + weight decay, as DARTS' code), but the evaluator's optimiser is "
                f"{type(opt).__name__}; use virtual_step='sgd'"
            )
        velocity = []
        for w in weights:
            buf = opt.state.get(w, {}).get("momentum_buffer")
            mu = float(group_of.get(id(w), {}).get("momentum", 0.0))
            velocity.append(torch.zeros_like(w) if buf is None else mu * buf.detach())
        return decay, velocity

    # -- the hypergradient ------------------------------------------------------------------
    def hypergradient(
        self,
        train_batch: Any,
        val_batch: Any,
        *,
        weight_lr: float,
        train_loss_value: Tensor | None = None,
    ) -> tuple[list[nn.Parameter], tuple[Tensor, ...], Diagnostics]:
        """Compute α's gradient on the given batches at the current weights (no side effects).

        Args:
            train_batch: the training minibatch of the Hessian terms.
            val_batch: the validation minibatch.
            weight_lr: the weight optimiser's current learning rate.
            train_loss_value: the training loss already computed on ``train_batch`` from the
                model's own parameters (the weight step's); its graph is reused and retained.

        Returns:
            ``(alphas, gradients, diagnostics)``.
        """
        alphas, grads, diagnostics, _ = self._hypergradient(
            train_batch, val_batch, weight_lr=weight_lr, train_loss_value=train_loss_value
        )
        return alphas, grads, diagnostics

    def _hypergradient(
        self,
        train_batch: Any,
        val_batch: Any,
        *,
        weight_lr: float,
        train_loss_value: Tensor | None = None,
    ) -> tuple[list[nn.Parameter], tuple[Tensor, ...], Diagnostics, _WeightGrads | None]:
        """:meth:`hypergradient`, plus the weight step's gradients when they were a by-product.

        The fourth value: ``(weight, ∇w L_tr)`` pairs if ``train_loss_value``'s graph was used.
        """
        alphas = self.arch_parameters()
        problem = network_problem(
            self.training_module.model,
            self._criterion(),
            self._curvature_batches(_split_batch(train_batch, "training")),
            _split_batch(val_batch, "validation"),
            alphas=alphas,
            curvature=self.options.curvature_spec,
            hvp=self.method.hvp,
            step_loss=train_loss_value,
        )
        decay, velocity = self.inner_problem(problem.weights)
        method = self.method_builder.build(weight_lr=weight_lr, velocity=velocity)
        try:
            result = problem.hypergradient(method, reduce=process_group_mean(), weight_decay=decay)
        except FloatingPointError as exc:  # lr="auto" with a λ̂ of 0 or non-finite
            return alphas, *_skipped_step(alphas, exc, val_loss_value=None), None
        return alphas, result.grads, result.diagnostics, problem.weight_gradients()

    def _criterion(self) -> Any:
        """The evaluator module's ``criterion`` (NNI's Classification/Regression have one)."""
        criterion = getattr(self.training_module, "criterion", None)
        if criterion is None:
            raise TypeError(
                "the evaluator's module has no `criterion`; hypergradient strategies need one "
                "(NNI's Classification and Regression evaluators provide it)"
            )
        return criterion

    def _curvature_batches(self, current: tuple[Any, Any]) -> list[tuple[Any, Any]]:
        """This step's training batch first, then the previous ones.

        The curvature averages over ``hessian_batches`` of them (fewer at a search's start).
        """
        batches = [current, *self._recent_batches]
        self._recent_batches = batches[: self.options.hessian_batches - 1]
        return batches

    def _arch_step_due(self, batch_idx: int) -> bool:
        warm = self.warmup_epochs == 0 or self.trainer.current_epoch >= self.warmup_epochs
        return warm and batch_idx % self.inner_steps == 0

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        """One architecture step (when due) then one weight step."""
        arc_optim = self.architecture_optimizers()
        if not isinstance(arc_optim, (torch.optim.Optimizer, pl.core.optimizer.LightningOptimizer)):
            raise TypeError(f"expected a single architecture optimiser, got {arc_optim!r}")
        trn_batch, val_batch = batch["train"], batch["val"]
        arch_due = self._arch_step_due(batch_idx)

        if arch_due and self.hessian_batch == "shared":
            # One forward pass serves the Hessian terms and the weight step.
            self.resample()
            snapshot = self._buffers_snapshot()
            with twice_differentiable():  # its graph is differentiated twice (attention)
                loss_and_metrics = self.training_module.training_step(trn_batch, 2 * batch_idx + 1)
            w_step_loss = _loss_of(loss_and_metrics)
            weight_ok = _all_ranks(_finite(w_step_loss), w_step_loss.device)
            if weight_ok:
                alphas, grads, diag, weight_grads = self._hypergradient(
                    trn_batch,
                    val_batch,
                    weight_lr=self.weight_learning_rate(),
                    train_loss_value=w_step_loss,
                )
                if weight_grads is not None and self._may_reuse_weight_gradients():
                    self._pending_weight_grads = weight_grads
                try:
                    self.advance_optimization(w_step_loss, batch_idx, self.gradient_clip_val)
                finally:
                    self._pending_weight_grads = None
                arch_ok = self._maybe_apply_arch_gradient(arc_optim, alphas, grads, diag)
            else:
                self._restore_buffers(snapshot)  # the forward put NaN into BN statistics
                arch_ok = False
        else:
            arch_ok = True
            if arch_due:
                self.resample()
                result = self.hypergradient(
                    trn_batch, val_batch, weight_lr=self.weight_learning_rate()
                )
                arch_ok = self._maybe_apply_arch_gradient(arc_optim, *result)
            self.resample()
            snapshot = self._buffers_snapshot()
            loss_and_metrics = self.training_module.training_step(trn_batch, 2 * batch_idx + 1)
            w_step_loss = _loss_of(loss_and_metrics)
            weight_ok = _all_ranks(_finite(w_step_loss), w_step_loss.device)
            if weight_ok:
                self.advance_optimization(w_step_loss, batch_idx, self.gradient_clip_val)
            else:
                self._restore_buffers(snapshot)  # the forward put NaN into BN statistics
        self._count_nonfinite(batch_idx, weight_ok=weight_ok, arch_ok=arch_ok or not arch_due)
        self.advance_lr_schedulers(batch_idx)
        if batch_idx % self.log_prob_every_n_step == 0:
            self.log_probs(self.export_probs())
        return loss_and_metrics

    def _may_reuse_weight_gradients(self) -> bool:
        """Whether the weight step may take ``∇w L_tr`` from the Hessian terms' graph.

        Not with several processes (DDP's gradient hooks must see a real backward pass) nor
        with a loss scaler (it expects scaled gradients).
        """
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            return False
        return getattr(self.trainer.precision_plugin, "scaler", None) is None

    def backward(self, loss: Tensor, *args: Any, **kwargs: Any) -> None:
        """``loss.backward()``, or the gradients already at hand (``hessian_batch="shared"``).

        Lightning's manual backward ends here, after its hooks; when the architecture step
        already computed ``∇w L_tr`` of this very loss, those gradients are accumulated into
        the weights' ``.grad`` exactly as a backward pass would, and the pass is saved.
        """
        pending, self._pending_weight_grads = self._pending_weight_grads, None
        if pending is None:
            super().backward(loss, *args, **kwargs)
            return
        with torch.no_grad():
            for param, grad in pending:
                if grad is not None:
                    param.grad = grad if param.grad is None else param.grad + grad
        self.weight_gradients_reused += 1

    def _buffers_snapshot(self) -> list[tuple[Tensor, Tensor]]:
        """Copies of the model's buffers (BatchNorm statistics), to undo a non-finite step."""
        return [(b, b.detach().clone()) for b in self.training_module.model.buffers()]

    @staticmethod
    def _restore_buffers(snapshot: list[tuple[Tensor, Tensor]]) -> None:
        with torch.no_grad():
            for buf, saved in snapshot:
                buf.copy_(saved)

    def _maybe_apply_arch_gradient(
        self,
        arc_optim: Any,
        alphas: list[nn.Parameter],
        grads: tuple[Tensor, ...],
        diag: Diagnostics,
    ) -> bool:
        """Apply the step unless the hypergradient is non-finite (decided on all ranks)."""
        ok = diag.finite and math.isfinite(diag.val_loss) and all(_finite(g) for g in grads)
        device = grads[0].device if grads else torch.device("cpu")
        if not _all_ranks(ok, device):
            self.skipped_arch_steps += 1
            self.last_diagnostics = diag
            _logger.warning(
                "epoch %d: architecture step skipped, the hypergradient is non-finite "
                "(validation loss %s%s); α and its optimiser are unchanged",
                self.trainer.current_epoch,
                diag.val_loss,
                f"; {diag.solve.note}" if diag.solve.note else "",
            )
            return False
        self._apply_arch_gradient(arc_optim, alphas, grads, diag)
        return True

    def _count_nonfinite(self, batch_idx: int, *, weight_ok: bool, arch_ok: bool) -> None:
        if weight_ok and arch_ok:
            self.nonfinite_in_a_row = 0
            return
        if not weight_ok:
            self.skipped_weight_steps += 1
            _logger.warning(
                "epoch %d, batch %d: weight step skipped, the training loss is non-finite; "
                "weights and their optimiser are unchanged",
                self.trainer.current_epoch,
                batch_idx,
            )
        self.nonfinite_in_a_row += 1
        if self.nonfinite_in_a_row >= self.max_nonfinite_steps:
            raise NonFiniteStepsError(
                f"{self.nonfinite_in_a_row} steps in a row had a non-finite training loss or "
                f"hypergradient (epoch {self.trainer.current_epoch}, batch {batch_idx}); "
                "lower optimizer.lr or the γ/η of the method, or set strategy.gradient_clip_val"
            )

    def _apply_arch_gradient(
        self,
        arc_optim: Any,
        alphas: list[nn.Parameter],
        grads: tuple[Tensor, ...],
        diag: Diagnostics,
    ) -> None:
        arc_optim.zero_grad()
        for p, g in zip(alphas, grads, strict=True):
            p.grad = g.to(p.dtype).clone()
        if getattr(self.trainer.precision_plugin, "scaler", None) is not None:
            # fp16: the loss scaler would "unscale" a gradient it never scaled (the
            # hypergradient is computed in float32); step the torch optimiser directly.
            getattr(arc_optim, "optimizer", arc_optim).step()
        else:
            arc_optim.step()
        self.arch_steps += 1
        self.last_diagnostics = diag
        self.log_dict(
            {f"hypergrad/{k}": v for k, v in diag.scalars().items()},
            on_step=True,
            on_epoch=False,
        )
        self.log("val_loss", diag.val_loss, prog_bar=True, on_step=True, on_epoch=False)

    # -- checkpoints ------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the state carried across steps (λ̂ estimator, warm-start solution)."""
        checkpoint["idarts_method_state"] = self.method_builder.state_dict()
        checkpoint["idarts_arch_steps"] = self.arch_steps

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore what :meth:`on_save_checkpoint` stored (and the older λ̂-only format)."""
        state = checkpoint.get("idarts_method_state")
        if state is None and checkpoint.get("idarts_auto_step") is not None:
            state = {"auto": checkpoint["idarts_auto_step"]}
        if state is not None:
            self.method_builder.load_state_dict(state)
        self.arch_steps = int(checkpoint.get("idarts_arch_steps", 0))
