"""A method *specification*: which engine method, and how its step size follows training.

A strategy holds one :class:`MethodSpec` and builds the method for each architecture step
from it (the step size may follow the weight optimiser's current learning rate). Torch only,
like the rest of the engine, so a run config can be validated without loading NNI.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import Tensor

from .autodiff import HVP_MODES
from .checks import check_bool, check_choice, check_int, check_number, check_pair
from .methods import METHODS, Method, make_method, method_options
from .solvers import AutoStepSize, GrowthMonitor, WarmStart

__all__ = [
    "BN_MODES",
    "CURVATURE_KINDS",
    "HESSIAN_BATCHES",
    "VIRTUAL_STEPS",
    "CurvatureSpec",
    "MethodSpec",
    "SearchOptions",
    "VirtualStep",
]

LrOption = float | Literal["auto", "safe", "weight_lr"] | None
VirtualStep = Literal["sgd", "optimizer"]
VIRTUAL_STEPS = ("sgd", "optimizer")
HESSIAN_BATCHES = ("separate", "shared")

BN_MODES = ("batch", "frozen", "running")
"""BatchNorm statistics in the curvature products (see :mod:`idarts_plugin.hypergrad.functional`)."""
GGN_MIXED = ("exact", "gauss_newton")

CURVATURE_KINDS = ("hessian", "ggn")


@dataclass(frozen=True)
class CurvatureSpec:
    """Which matrix the implicit term inverts, and on which examples.

    Args:
        kind: ``"hessian"`` or ``"ggn"``.
        bn: ``"batch"``, ``"frozen"`` or ``"running"`` (BatchNorm statistics in the products).
        batches: training minibatches averaged over (≥ 1).
        mixed: ``kind="ggn"`` only: the mixed block ``∇²_{αw}`` exact (``"exact"``) or
            Gauss–Newton (``"gauss_newton"``).

    Example:
        >>> CurvatureSpec(kind="ggn", bn="frozen").plain
        False
        >>> CurvatureSpec().plain
        True
    """

    kind: str = "hessian"
    bn: str = "batch"
    batches: int = 1
    mixed: str = "exact"

    def __post_init__(self) -> None:
        check_choice("curvature", self.kind, CURVATURE_KINDS)
        check_choice("curvature_bn", self.bn, BN_MODES)
        check_int("hessian_batches", self.batches, minimum=1)
        check_choice("ggn mixed block", self.mixed, GGN_MIXED)

    @property
    def plain(self) -> bool:
        """The minibatch Hessian with its own statistics (what the methods build by default)."""
        return self.kind == "hessian" and self.bn == "batch" and self.batches == 1


SAFE_ITERATIONS = 10
"""Power iterations of the first λ̂ estimate of ``lr="safe"``; later steps take one, warm."""


@dataclass(frozen=True)
class MethodSpec:
    """A hypergradient method whose step size may follow the weight learning rate.

    Args:
        name: a method name from :data:`idarts_plugin.hypergrad.METHODS`.
        options: fixed options of that method (``steps``, ``tol``, ``damping``, ...).
        lr: the method's step size (γ, ξ or η): a number, ``"auto"`` (Neumann only:
            ``γ = safety/λ̂max`` by power iteration, estimate shared across steps), ``"safe"``
            (Neumann only: ``γ = min(weight lr, 0.9/λ̂)`` with λ̂ of the step's minibatch
            Hessian from one warm-started power iteration per step), or
            ``None``/``"weight_lr"`` to use the weight optimiser's *current* learning rate,
            as the iDARTS and DARTS papers do.
        hvp: ``"exact"`` or ``"finite_difference"``.
        warm_start: Neumann only: start each solve from the previous one's ``x``
            (:class:`~idarts_plugin.hypergrad.WarmStart`).
        inner_weight_decay: differentiate the inner problem the weight optimiser solves,
            ``L_tr + ½ λ‖w‖²`` with its weight decay λ (``H + λI``; ``∇L_tr + λw`` in the
            virtual step), instead of the training criterion alone.
        virtual_step: DARTS-V2 only: ``"sgd"`` (the paper's ``w − ξ∇w L_tr``) or
            ``"optimizer"`` (as DARTS' code: the SGD weight optimiser's momentum and weight
            decay, ``w − ξ(μ·buffer + ∇w L_tr + λw)``).
        monitor_every: Neumann only: one extra product every this many steps for a
            :class:`~idarts_plugin.hypergrad.GrowthMonitor` (``max|1 − γλ|`` carried across
            steps, which flags growth a short series cannot see in its own terms); 0: off.

    Example:
        >>> spec = MethodSpec(name="neumann", options={"steps": 2}, lr=None)
        >>> spec.build(weight_lr=0.025)
        Implicit(Neumann(steps=2, lr=0.025, max_growth=1000.0))
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    lr: LrOption = None
    hvp: str = "exact"
    warm_start: bool = False
    inner_weight_decay: bool = False
    virtual_step: VirtualStep = "sgd"
    monitor_every: int = 0
    _auto: AutoStepSize | None = field(default=None, init=False, repr=False, compare=False)
    _warm: WarmStart | None = field(default=None, init=False, repr=False, compare=False)
    _monitor: GrowthMonitor | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_choice("hypergradient method", self.name, METHODS, plural="methods")
        check_choice("hvp mode", self.hvp, HVP_MODES, plural="modes")
        accepts = method_options(self.name)  # what the method can do follows its factory
        if self.lr in ("auto", "safe"):
            if "max_lr" not in accepts:
                raise ValueError(
                    f"lr={self.lr!r} is only available for neumann (an automatic step size), "
                    f"not {self.name!r}"
                )
            auto = AutoStepSize() if self.lr == "auto" else _safe_estimator()
            object.__setattr__(self, "_auto", auto)
        elif self.lr not in (None, "weight_lr"):
            if isinstance(self.lr, str):
                raise ValueError(
                    f"lr must be a number, 'auto', 'safe' or 'weight_lr', got {self.lr!r}"
                )
            check_number("lr", self.lr, minimum=0, strict=True)
        check_bool("inner_weight_decay", self.inner_weight_decay)
        check_choice("virtual_step", self.virtual_step, VIRTUAL_STEPS)
        if self.virtual_step != "sgd" and "velocity" not in accepts:
            raise ValueError(f"virtual_step is only available for unrolled, not {self.name!r}")
        if check_bool("warm_start", self.warm_start):
            if "warm_start" not in accepts:
                raise ValueError(f"warm_start is only available for neumann, not {self.name!r}")
            object.__setattr__(self, "_warm", WarmStart())
        if check_int("monitor_every", self.monitor_every, minimum=0):
            if "monitor" not in accepts:
                raise ValueError(f"monitor_every is only available for neumann, not {self.name!r}")
            object.__setattr__(self, "_monitor", GrowthMonitor(every=self.monitor_every))
        # Fail now, not at the first architecture step, on bad options (on a throw-away
        # build: the shared warm-start state is only attached to real ones).
        make_method(self.name, **self._options(weight_lr=1.0))

    @property
    def uses_lr(self) -> bool:
        """Whether the method has a step size at all (an ``lr`` option in its factory)."""
        return "lr" in method_options(self.name)

    def _options(self, *, weight_lr: float) -> dict[str, Any]:
        options = dict(self.options)
        if self.uses_lr:
            if self._auto is not None:
                options["lr"] = self._auto
                if self.lr == "safe":
                    options["max_lr"] = weight_lr
            elif self.lr in (None, "weight_lr"):
                options["lr"] = weight_lr
            else:
                options["lr"] = self.lr
        return options

    @property
    def decays_weights(self) -> bool:
        """Whether the training loss it differentiates includes the weight decay."""
        return self.inner_weight_decay or self.virtual_step == "optimizer"

    def build(self, *, weight_lr: float, velocity: Sequence[Tensor] | None = None) -> Method:
        """The method for one architecture step, given the current weight learning rate.

        A step size that follows a weight learning rate of 0 (a warm-up schedule starting at
        0) gives a first-order step: every second-order term is proportional to it.

        Args:
            weight_lr: the weight optimiser's current learning rate.
            velocity: ``virtual_step="optimizer"``: the momentum term ``μ·buffer`` of each
                weight tensor (required then, ignored otherwise).
        """
        if self.uses_lr and weight_lr == 0 and (self.lr in (None, "weight_lr", "safe")):
            return make_method("first_order")
        options = self._options(weight_lr=weight_lr)
        if self._warm is not None:
            options["warm_start"] = self._warm
        if self._monitor is not None:
            options["monitor"] = self._monitor
        if self.virtual_step == "optimizer":
            if velocity is None:
                raise ValueError("virtual_step='optimizer' needs the optimiser's velocity")
            options["velocity"] = velocity
        return make_method(self.name, **options)

    def state_dict(self) -> dict[str, Any]:
        """The state carried across steps (λ̂ estimator, warm-start solution), for checkpoints."""
        return {
            "auto": self._auto.state_dict() if self._auto is not None else None,
            "warm": self._warm.state_dict() if self._warm is not None else None,
            "monitor": self._monitor.state_dict() if self._monitor is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if self._auto is not None and state.get("auto") is not None:
            self._auto.load_state_dict(state["auto"])
        if self._warm is not None and state.get("warm") is not None:
            self._warm.load_state_dict(state["warm"])
        if self._monitor is not None and state.get("monitor") is not None:
            self._monitor.load_state_dict(state["monitor"])

    @property
    def auto(self) -> AutoStepSize | None:
        """The shared λmax estimator of ``lr="auto"`` (its state goes into checkpoints)."""
        return self._auto


SAFE_MIX = 0.3
"""Share of a fresh random vector in each warm start of ``lr="safe"``'s power iteration (so a
new sharp direction is found within a few steps; see :class:`AutoStepSize`)."""
SAFE_DECAY = 0.9
"""Running-maximum decay of ``lr="safe"``'s λ̂ per step."""


def _safe_estimator() -> AutoStepSize:
    """λ̂ for ``lr="safe"``: one warm-started power iteration per step (amortised).

    A random share in every warm start and a decaying running maximum keep the estimate from
    going stale when a new sharp direction appears.
    """
    return AutoStepSize(
        iterations=SAFE_ITERATIONS,
        warm_iterations=1,
        safety=0.9,
        mix=SAFE_MIX,
        decay=SAFE_DECAY,
    )


_METHOD_ALIASES = {"method": "name", "method_options": "options", "method_lr": "lr"}
"""Keyword names of the method's fields in :meth:`SearchOptions.from_kwargs` (and strategies)."""


@dataclass(frozen=True)
class SearchOptions:
    """Every option of a hypergradient search besides NNI's own, validated once.

    Built from the run config (or a strategy's keyword arguments) and handed whole to the
    strategy and its Lightning module; adding an option means a field here, its check in
    :meth:`__post_init__`, and the code that uses it.

    Args:
        method: the hypergradient method and how its step size follows training.
        inner_steps: weight steps per architecture step (T ≥ 1).
        arc_learning_rate: Adam learning rate of α.
        arc_betas: Adam betas of α.
        arc_weight_decay: Adam weight decay of α.
        warmup_epochs: epochs of weight training before α moves.
        gradient_clip_val: clip the weight gradients (``None``: off).
        log_prob_every_n_step: log α's softmax every this many steps.
        hessian_batch: ``"separate"`` or ``"shared"`` forward pass for the Hessian terms
            (``shared`` needs exact products).
        max_nonfinite_steps: non-finite steps in a row before the search stops.
        curvature: ``"hessian"`` or ``"ggn"``: the matrix the implicit term inverts
            (:class:`CurvatureSpec`).
        curvature_bn: BatchNorm statistics in the curvature products: ``"batch"``,
            ``"frozen"`` or ``"running"``.
        hessian_batches: training minibatches (this step's and the previous ones) the
            curvature products average over.

    Example:
        >>> opts = SearchOptions.from_kwargs(method="neumann", method_options={"steps": 3})
        >>> opts.method.options, opts.inner_steps
        ({'steps': 3}, 1)
    """

    method: MethodSpec = field(default_factory=lambda: MethodSpec(name="neumann"))
    inner_steps: int = 1
    arc_learning_rate: float = 3e-4
    arc_betas: tuple[float, float] = (0.5, 0.999)
    arc_weight_decay: float = 1e-3
    warmup_epochs: int = 0
    gradient_clip_val: float | None = None
    log_prob_every_n_step: int = 10
    hessian_batch: str = "separate"
    max_nonfinite_steps: int = 10
    curvature: str = "hessian"
    curvature_bn: str = "batch"
    hessian_batches: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.method, MethodSpec):
            raise TypeError(f"method must be a MethodSpec, got {self.method!r}")
        check_int("inner_steps", self.inner_steps, minimum=1)
        check_number("arc_learning_rate", self.arc_learning_rate, minimum=0, strict=True)
        object.__setattr__(
            self, "arc_betas", check_pair("arc_betas", self.arc_betas, low=0, high=1)
        )
        check_number("arc_weight_decay", self.arc_weight_decay, minimum=0)
        check_int("warmup_epochs", self.warmup_epochs, minimum=0)
        if self.gradient_clip_val is not None:
            check_number("gradient_clip_val", self.gradient_clip_val, minimum=0, strict=True)
        check_int("log_prob_every_n_step", self.log_prob_every_n_step, minimum=1)
        check_choice("hessian_batch", self.hessian_batch, HESSIAN_BATCHES)
        if self.hessian_batch == "shared" and self.method.hvp != "exact":
            raise ValueError("hessian_batch='shared' reuses a forward graph: it needs hvp='exact'")
        check_int("max_nonfinite_steps", self.max_nonfinite_steps, minimum=1)
        spec = self.curvature_spec
        if not spec.plain and self.hessian_batch == "shared":
            raise ValueError(
                "hessian_batch='shared' reuses the weight step's own minibatch Hessian; "
                "curvature, curvature_bn and hessian_batches other than their defaults need "
                "hessian_batch='separate'"
            )
        if spec.kind == "ggn" and self.method.hvp != "exact":
            raise ValueError("curvature='ggn' is computed exactly: it needs hvp='exact'")

    @property
    def curvature_spec(self) -> CurvatureSpec:
        """The curvature the implicit term inverts (from the three curvature fields)."""
        return CurvatureSpec(
            kind=self.curvature, bn=self.curvature_bn, batches=self.hessian_batches
        )

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """Every keyword :meth:`from_kwargs` accepts."""
        method = [_METHOD_ALIASES.get(f, f) for f in _spec_fields()]
        inverse = {v: k for k, v in _METHOD_ALIASES.items()}
        return (*[inverse.get(f, f) for f in method], *_loop_fields())

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> SearchOptions:
        """Build from flat keywords, the method's and the loop's.

        The method's are ``method``, ``method_options``, ``method_lr``, ``hvp``,
        ``warm_start``, ``inner_weight_decay``, ``virtual_step`` and ``monitor_every``; the
        others are fields.

        Raises:
            TypeError: an unknown keyword (the valid ones are listed).
            ValueError: an invalid value (named).
        """
        unknown = sorted(set(kwargs) - set(cls.option_names()))
        if unknown:
            raise TypeError(
                f"unknown option(s) {', '.join(map(repr, unknown))}; valid: {', '.join(cls.option_names())}"
            )
        spec = {
            _METHOD_ALIASES.get(k, k): v
            for k, v in kwargs.items()
            if _METHOD_ALIASES.get(k, k) in _spec_fields()
        }
        spec.setdefault("name", "neumann")
        spec["options"] = dict(spec.get("options") or {})
        loop = {k: v for k, v in kwargs.items() if k in _loop_fields()}
        return cls(method=MethodSpec(**spec), **loop)


def _spec_fields() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(MethodSpec) if f.init)


def _loop_fields() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(SearchOptions) if f.name != "method")
