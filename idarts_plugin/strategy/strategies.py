"""NNI one-shot strategies with second-order architecture gradients.

Each is a thin subclass of :class:`nni.nas.strategy.DARTS` that overrides only
``configure_oneshot_module``, so it is used exactly like NNI's own::

    from nni.nas.experiment import NasExperiment
    from idarts_plugin import ImplicitDARTS
    NasExperiment(model_space, evaluator, ImplicitDARTS(neumann_steps=2)).run()
"""

from __future__ import annotations

from typing import Any, ClassVar

from nni.nas.oneshot.pytorch.base_lightning import BaseOneShotLightningModule
from nni.nas.strategy import DARTS
from pytorch_lightning import LightningModule

from ..budget import SCHEDULE_KEYS, AlphaSchedule
from ..collapse import REMEDY_KEYS, Remedies
from ..hypergrad.spec import MethodSpec, OptionError, SearchOptions
from ..strategy_table import STRATEGY_TABLE
from .module import HypergradientDartsModule

__all__ = ["AmendedDARTS", "HypergradientDARTS", "ImplicitDARTS", "UnrolledDARTS"]


class HypergradientDARTS(DARTS):
    """DARTS with any engine hypergradient (the base of the named strategies).

    Takes a ready :class:`~idarts_plugin.hypergrad.SearchOptions` (``options=``) or its
    keywords (below), validated once; other keywords go to :class:`nni.nas.strategy.DARTS`.

    Args:
        method: the hypergradient method name (``first_order``, ``unrolled``, ``neumann``,
            ``amended``, ``cg``).
        method_options: fixed options of the method (e.g. ``{"steps": 10, "damping": 0.1}``).
        method_lr: the method's step size (γ, ξ, η): a number, ``"auto"`` (Neumann), or
            ``None`` for the weight optimiser's current learning rate.
        inner_steps: weight steps per architecture step (T ≥ 1).
        arc_learning_rate: Adam learning rate of α, or ``"auto"`` (the default, as the run
            config's): ``arc_travel`` spread over the search's architecture steps, at most
            ``arc_horizon`` of them, fitted when the fit starts
            (:class:`~idarts_plugin.budget.AlphaSchedule`).
        arc_betas: Adam betas of α.
        arc_weight_decay: Adam weight decay of α.
        warmup_epochs: epochs before α starts to move, or ``"auto"`` (the default): a sixth
            of the trainer's epochs, at most the whole epochs that hold ``warmup_steps``
            weight steps.
        arc_travel: ``lr × architecture steps`` of ``arc_learning_rate="auto"`` (30).
        arc_horizon: ``"auto"``'s cap in architecture steps (480; ``None``: the whole search).
        warmup_steps: ``warmup_epochs="auto"``'s cap in weight steps (96; ``None``: no cap).
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
        options: the engine's options above as one validated object (instead of their
            keywords; its ``arc_learning_rate`` and ``warmup_epochs`` are numbers, so it
            fixes the schedule).
        schedule: the five schedule keywords above as one
            :class:`~idarts_plugin.budget.AlphaSchedule` (instead of the keywords);
            ``AlphaSchedule.paper()`` is the papers' (Adam 3e-4, no warm-up).
        beta_decay: β-DARTS' α regulariser λ (0: off; default 2); see
            :class:`idarts_plugin.collapse.Remedies`.
        beta_decay_schedule: ``"linear"`` (0 → λ over the search) or ``"constant"``.
        aux_skip: DARTS-' auxiliary skip's initial weight, decayed to 0 over the search
            (0, the default: off); ``"auto"``: 1 when no edge of the space strides
            (NAS-Bench-201, ``cell``), off otherwise (the DARTS space).
        early_stop: ``"collapse"`` (the default): stop once the cell is more parameter-free
            than a random cell for ``early_stop_patience`` epochs in a row and export the least
            parameter-free cell before
            (:class:`~idarts_plugin.strategy.remedies.EarlyStopCallback`); ``"off"``.
        early_stop_patience: those epochs in a row (default 2; 1: the first one fires).
        remedies: the remedies as one :class:`~idarts_plugin.collapse.Remedies` (instead of
            the keywords); ``Remedies.off()`` is the search as the papers ran it.
        **kwargs: passed on to :class:`nni.nas.strategy.DARTS`.

    With an ``auto`` schedule (the default) ``options.arc_learning_rate`` and
    ``options.warmup_epochs`` hold the engine's defaults until the fit starts; the one-shot
    module then fits them to the trainer's epochs and batches, logs them, and holds them in its
    own ``options``.

    Example:
        >>> strategy = HypergradientDARTS(method="cg", method_options={"steps": 10, "damping": 0.1})
        >>> strategy.options.method.options
        {'steps': 10, 'damping': 0.1}
        >>> strategy.schedule.resolve(epochs=36, steps_per_epoch=64)  # lr, warm-up, steps
        (0.0625, 2, 2176)
    """

    def __init__(
        self,
        *,
        options: SearchOptions | None = None,
        remedies: Remedies | None = None,
        schedule: AlphaSchedule | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("penalty") is not None:
            raise ValueError(
                "penalty= (NNI's expected-cost penalty) is not supported by the hypergradient "
                "strategies: its gradient would have to pass through the implicit term too; "
                "use nni.nas.strategy.DARTS for a cost-penalised first-order search"
            )
        kwargs.pop("penalty", None)
        remedy_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in REMEDY_KEYS}
        if remedies is None:
            remedies = Remedies(**remedy_kwargs)
        elif remedy_kwargs:
            raise TypeError(
                f"give either remedies= or remedy keywords, not both ({sorted(remedy_kwargs)})"
            )
        self.remedies = remedies
        timing = {k: kwargs.pop(k) for k in list(kwargs) if k in SCHEDULE_KEYS}
        if schedule is not None and timing:
            raise TypeError(f"give either schedule= or its keywords, not both ({sorted(timing)})")
        if options is not None and (schedule is not None or timing):
            raise TypeError(
                "give either options= (its arc_learning_rate and warmup_epochs fix the "
                f"schedule) or a schedule, not both ({sorted(timing) or ['schedule']})"
            )
        ours = {k: kwargs.pop(k) for k in list(kwargs) if k in SearchOptions.option_names()}
        if options is None:
            schedule = schedule if schedule is not None else AlphaSchedule(**timing)
            fixed = {
                k: getattr(schedule, k)
                for k in ("arc_learning_rate", "warmup_epochs")
                if getattr(schedule, k) != "auto"
            }
            options = SearchOptions.for_search(**ours, **fixed)
        elif ours:
            raise TypeError(f"give either options= or keyword options, not both ({sorted(ours)})")
        else:
            schedule = AlphaSchedule(
                arc_learning_rate=options.arc_learning_rate, warmup_epochs=options.warmup_epochs
            )
        self.schedule = schedule
        super().__init__(
            arc_learning_rate=options.arc_learning_rate,
            gradient_clip_val=options.gradient_clip_val,
            log_prob_every_n_step=options.log_prob_every_n_step,
            warmup_epochs=options.warmup_epochs,
            **kwargs,
        )
        self.options = options

    @property
    def method(self) -> MethodSpec:
        """The hypergradient method (``options.method``)."""
        return self.options.method

    def configure_oneshot_module(
        self, training_module: LightningModule
    ) -> BaseOneShotLightningModule:
        """Build the Lightning module that applies the hypergradient."""
        return HypergradientDartsModule(
            training_module, options=self.options, remedies=self.remedies, schedule=self.schedule
        )


class _TableStrategy(HypergradientDARTS):
    """A :data:`~idarts_plugin.strategy_table.STRATEGY_TABLE` entry as a Python class.

    It takes the entry's config keys as keywords, with the entry's defaults (the run
    config's), fixes the entry's method, and reports an invalid value under the key's name.
    """

    strategy_name: ClassVar[str]

    def __init__(self, **kwargs: Any) -> None:
        entry = STRATEGY_TABLE[self.strategy_name]
        own = {k: kwargs.pop(k) for k in list(kwargs) if k in entry.defaults}
        try:
            super().__init__(**entry.method_kwargs({**entry.defaults, **own}), **kwargs)
        except OptionError as exc:
            raise exc.renamed(entry.renames) from None


class ImplicitDARTS(_TableStrategy):
    """iDARTS (Zhang et al., ICML 2021): the implicit gradient with a Neumann series.

    Args:
        neumann_steps: K, the number of Neumann terms beyond the first.
        neumann_lr: γ: ``"auto"`` uses ``0.9/λ̂max`` of the minibatch Hessian (much closer to
            the exact implicit gradient; see ``benchmarks/RESULTS.md``), ``None`` (the paper's)
            the weight optimiser's current learning rate, ``"safe"`` ``min(weight lr,
            0.9/λ̂)`` with λ̂ from one warm-started power iteration per step (γ·λ̂ is logged as
            ``hypergrad/step_curvature``), or a number.
        **kwargs: see :class:`HypergradientDARTS` (``inner_steps``, ``arc_learning_rate``,
            ``arc_betas``, ``arc_weight_decay``, ``warmup_epochs``, ``hvp``,
            ``gradient_clip_val``, the remedies, ...).

    The defaults are the run config's (``STRATEGY_TABLE["implicit"].defaults``).

    Example:
        >>> strategy = ImplicitDARTS(neumann_steps=2, inner_steps=1)
        >>> strategy.method.options, strategy.method.lr
        ({'steps': 2}, 'auto')
    """

    strategy_name = "implicit"


class UnrolledDARTS(_TableStrategy):
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

    strategy_name = "unrolled"


class AmendedDARTS(_TableStrategy):
    """Amended-DARTS (Bi et al., 2019): ``H⁻¹ ≈ ηH`` in the implicit gradient.

    Args:
        amended_lr: η; ``None`` uses the weight optimiser's current learning rate.
        **kwargs: see :class:`HypergradientDARTS`.

    Example:
        >>> strategy = AmendedDARTS(amended_lr=0.01)
    """

    strategy_name = "amended"
