"""NNI one-shot strategies with second-order architecture gradients.

Each is a thin subclass of :class:`nni.nas.strategy.DARTS` that overrides only
``configure_oneshot_module``, so it is used exactly like NNI's own::

    from nni.nas.experiment import NasExperiment
    from idarts_plugin import ImplicitDARTS
    NasExperiment(model_space, evaluator, ImplicitDARTS(neumann_steps=2)).run()
"""

from __future__ import annotations

from typing import Any, Literal

from nni.nas.oneshot.pytorch.base_lightning import BaseOneShotLightningModule
from nni.nas.strategy import DARTS
from pytorch_lightning import LightningModule

from ..hypergrad.spec import LrOption, MethodSpec, VirtualStep
from .module import HypergradientDartsModule

__all__ = ["AmendedDARTS", "HypergradientDARTS", "ImplicitDARTS", "UnrolledDARTS"]


def _positive_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _positive_float(name: str, value: Any, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(
            f"{name} must be a number {'>= 0' if allow_zero else '> 0'}, got {value!r}"
        )
    return float(value)


class HypergradientDARTS(DARTS):
    """DARTS with any engine hypergradient (the base of the named strategies).

    Args:
        method: the hypergradient method name (``first_order``, ``unrolled``, ``neumann``,
            ``amended``, ``cg``).
        method_options: fixed options of the method (e.g. ``{"steps": 10, "damping": 0.1}``).
        method_lr: the method's step size (γ, ξ, η): a number, ``"auto"`` (Neumann), or
            ``None`` for the weight optimiser's current learning rate.
        inner_steps: weight steps per architecture step (T ≥ 1).
        arc_learning_rate: Adam learning rate of α.
        arc_betas: Adam betas of α.
        arc_weight_decay: Adam weight decay of α.
        warmup_epochs: epochs before α starts to move.
        hvp: ``"exact"`` (double backward) or ``"finite_difference"`` (less memory).
        gradient_clip_val: clip the weight gradients (``None``: off).
        log_prob_every_n_step: log α's softmax every this many steps.
        hessian_batch: ``"separate"`` (the Hessian terms get their own forward pass on the
            step's training batch, as in the paper's code) or ``"shared"`` (reuse the weight
            step's forward pass, and on one process at full precision its gradient too: one
            forward and one backward pass less per architecture step, w and α updated
            simultaneously; exact HVPs only).
        max_nonfinite_steps: skip (and log) a step whose loss or hypergradient is non-finite;
            stop after this many in a row.
        warm_start: Neumann only: start each solve from the previous step's solution, so a
            short series per step accumulates across steps (amortised implicit
            differentiation); the solution is kept in checkpoints.
        inner_weight_decay: differentiate the inner problem the weight optimiser solves,
            ``L_tr + ½λ‖w‖²`` with each weight's decay λ from its parameter group
            (``H + λI``), instead of the criterion alone (the papers' equations).
        virtual_step: DARTS-V2 only: ``"sgd"`` (the paper's plain step) or ``"optimizer"``
            (momentum and weight decay of the SGD weight optimiser, as DARTS' code).
        **kwargs: passed on to :class:`nni.nas.strategy.DARTS`.

    Example:
        >>> strategy = HypergradientDARTS(method="cg", method_options={"steps": 10, "damping": 0.1})
    """

    def __init__(
        self,
        *,
        method: str = "neumann",
        method_options: dict[str, Any] | None = None,
        method_lr: LrOption = None,
        inner_steps: int = 1,
        arc_learning_rate: float = 3e-4,
        arc_betas: tuple[float, float] = (0.5, 0.999),
        arc_weight_decay: float = 1e-3,
        warmup_epochs: int = 0,
        hvp: Literal["exact", "finite_difference"] = "exact",
        gradient_clip_val: float | None = None,
        log_prob_every_n_step: int = 10,
        hessian_batch: Literal["separate", "shared"] = "separate",
        max_nonfinite_steps: int = 10,
        warm_start: bool = False,
        inner_weight_decay: bool = False,
        virtual_step: VirtualStep = "sgd",
        **kwargs: Any,
    ) -> None:
        if kwargs.get("penalty") is not None:
            raise ValueError(
                "penalty= (NNI's expected-cost penalty) is not supported by the hypergradient "
                "strategies: its gradient would have to pass through the implicit term too; "
                "use nni.nas.strategy.DARTS for a cost-penalised first-order search"
            )
        if hessian_batch not in ("separate", "shared"):
            raise ValueError(
                f"unknown hessian_batch {hessian_batch!r}; valid values: separate, shared"
            )
        if hessian_batch == "shared" and hvp != "exact":
            raise ValueError("hessian_batch='shared' reuses a forward graph: it needs hvp='exact'")
        super().__init__(
            arc_learning_rate=_positive_float("arc_learning_rate", arc_learning_rate),
            gradient_clip_val=gradient_clip_val,
            log_prob_every_n_step=_positive_int("log_prob_every_n_step", log_prob_every_n_step, 1),
            warmup_epochs=_positive_int("warmup_epochs", warmup_epochs, 0),
            **kwargs,
        )
        if gradient_clip_val is not None:
            _positive_float("gradient_clip_val", gradient_clip_val)
        if len(arc_betas) != 2 or not all(0 <= b < 1 for b in arc_betas):
            raise ValueError(f"arc_betas must be two numbers in [0, 1), got {arc_betas!r}")
        self.method = MethodSpec(
            name=method,
            options=dict(method_options or {}),
            lr=method_lr,
            hvp=hvp,
            warm_start=warm_start,
            inner_weight_decay=inner_weight_decay,
            virtual_step=virtual_step,
        )
        self.inner_steps = _positive_int("inner_steps", inner_steps, 1)
        self.hessian_batch = hessian_batch
        self.max_nonfinite_steps = _positive_int("max_nonfinite_steps", max_nonfinite_steps, 1)
        self.arc_betas = (float(arc_betas[0]), float(arc_betas[1]))
        self.arc_weight_decay = _positive_float(
            "arc_weight_decay", arc_weight_decay, allow_zero=True
        )

    def configure_oneshot_module(
        self, training_module: LightningModule
    ) -> BaseOneShotLightningModule:
        """Build the Lightning module that applies the hypergradient."""
        return HypergradientDartsModule(
            training_module,
            method=self.method,
            inner_steps=self.inner_steps,
            arc_learning_rate=self.arc_learning_rate,
            arc_betas=self.arc_betas,
            arc_weight_decay=self.arc_weight_decay,
            gradient_clip_val=self.gradient_clip_val,
            log_prob_every_n_step=self.log_prob_every_n_step,
            warmup_epochs=self.warmup_epochs,
            hessian_batch=self.hessian_batch,
            max_nonfinite_steps=self.max_nonfinite_steps,
        )


class ImplicitDARTS(HypergradientDARTS):
    """iDARTS (Zhang et al., ICML 2021): the implicit gradient with a Neumann series.

    Args:
        neumann_steps: K, the number of Neumann terms beyond the first (paper default 2).
        neumann_lr: γ; ``None`` (paper default) uses the weight optimiser's current learning
            rate, ``"auto"`` uses ``0.9/λ̂max`` of the minibatch Hessian (much closer to the
            exact implicit gradient; see ``benchmarks/RESULTS.md``), ``"safe"`` uses
            ``min(weight lr, 0.9/λ̂)`` with λ̂ from one warm-started power iteration per step
            (γ·λ̂ is logged as ``hypergrad/step_curvature``).
        **kwargs: see :class:`HypergradientDARTS` (``inner_steps``, ``arc_learning_rate``,
            ``arc_betas``, ``arc_weight_decay``, ``warmup_epochs``, ``hvp``,
            ``gradient_clip_val``, ...).

    Example:
        >>> strategy = ImplicitDARTS(neumann_steps=2, inner_steps=1)
    """

    def __init__(
        self, *, neumann_steps: int = 2, neumann_lr: LrOption = None, **kwargs: Any
    ) -> None:
        _positive_int("neumann_steps", neumann_steps, 0)
        super().__init__(
            method="neumann",
            method_options={"steps": neumann_steps},
            method_lr=neumann_lr,
            **kwargs,
        )


class UnrolledDARTS(HypergradientDARTS):
    """DARTS second order (DARTS-V2): one virtual SGD step of size ξ.

    Args:
        unrolled_lr: ξ; ``None`` uses the weight optimiser's current learning rate (as DARTS).
        virtual_step: ``"sgd"`` (default: the paper's ``w − ξ∇w L_tr``) or ``"optimizer"``
            (``w − ξ(μ·buffer + ∇w L_tr + λw)``, the SGD weight optimiser's step, as DARTS'
            code takes it).
        **kwargs: see :class:`HypergradientDARTS`.

    Example:
        >>> strategy = UnrolledDARTS(hvp="finite_difference")
    """

    def __init__(self, *, unrolled_lr: float | None = None, **kwargs: Any) -> None:
        super().__init__(method="unrolled", method_lr=unrolled_lr, **kwargs)


class AmendedDARTS(HypergradientDARTS):
    """Amended-DARTS (Bi et al., 2019): ``H⁻¹ ≈ ηH`` in the implicit gradient.

    Args:
        amended_lr: η; ``None`` uses the weight optimiser's current learning rate.
        **kwargs: see :class:`HypergradientDARTS`.

    Example:
        >>> strategy = AmendedDARTS(amended_lr=0.01)
    """

    def __init__(self, *, amended_lr: float | None = None, **kwargs: Any) -> None:
        super().__init__(method="amended", method_lr=amended_lr, **kwargs)
