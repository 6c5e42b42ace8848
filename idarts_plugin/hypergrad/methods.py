"""Hypergradient methods, their diagnostics and the name → method registry.

A *method* turns ``(train_loss, val_loss, weights, alphas)`` into one gradient per
architecture tensor. Two families exist:

* :class:`Implicit` — the IFT form ``∇α L_val − ∇²_{αw} L_tr · x`` with ``x ≈ H⁻¹ ∇w L_val``
  from a :class:`~idarts_plugin.hypergrad.solvers.LinearSolver` (Neumann, CG, amended, or
  zero for first-order DARTS).
* :class:`Unrolled` — DARTS-V2: differentiate ``L_val(w − ξ∇w L_tr(w, α), α)`` through one
  virtual SGD step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Protocol, cast

import torch
from torch import Tensor

from .autodiff import (
    LossFn,
    TrainCurvature,
    grads,
    is_finite,
    leaves,
    make_curvature,
    norm,
)
from .diagnostics import Diagnostics, SolveInfo
from .distributed import Reduce, reduced
from .solvers import (
    SOLVERS,
    AutoStepSize,
    GrowthMonitor,
    LinearSolver,
    WarmStart,
    Zero,
)
from .spec import FD_SCALE, METHOD_OPTIONS, MethodSpec, check_method_option

__all__ = [
    "METHODS",
    "Diagnostics",
    "HypergradResult",
    "Implicit",
    "Method",
    "MethodBuilder",
    "Unrolled",
    "make_method",
    "method_options",
]


@dataclass(frozen=True)
class HypergradResult:
    """The gradients (one per architecture tensor) and their diagnostics."""

    grads: tuple[Tensor, ...]
    diagnostics: Diagnostics


class Method(Protocol):
    """A hypergradient method."""

    @property
    def name(self) -> str:
        """The method's name (used in diagnostics)."""
        ...

    def __call__(
        self,
        train_loss: LossFn,
        val_loss: LossFn,
        weights: Sequence[Tensor],
        alphas: Sequence[Tensor],
        *,
        hvp: str,
        fd_scale: float,
        curvature: TrainCurvature | None = None,
        reduce: Reduce | None = None,
    ) -> HypergradResult:
        """Compute the hypergradient at ``(weights, alphas)``.

        ``curvature``, if given, replaces the one built from ``train_loss`` (it must belong to
        the same point, e.g. :meth:`ExactCurvature.from_loss` of the weight step's loss).
        ``reduce``, if given, averages every derivative over data-parallel ranks
        (:mod:`idarts_plugin.hypergrad.distributed`).
        """
        ...


def _val_grads(
    val_loss: LossFn,
    weights: Sequence[Tensor],
    alphas: Sequence[Tensor],
    reduce: Reduce | None = None,
) -> tuple[float, list[Tensor], list[Tensor]]:
    w, a = leaves(weights), leaves(alphas)
    value = val_loss(w, a)
    g = grads(value, [*a, *w])
    if reduce is not None:
        g = reduce(g)
    return float(value.detach()), g[: len(a)], g[len(a) :]


def _finish(
    name: str,
    hvp: str,
    direct: list[Tensor],
    implicit: list[Tensor] | None,
    solution: list[Tensor] | None,
    info: SolveInfo,
    *,
    n_hvp: int,
    n_grad: int,
    val_loss: float,
) -> HypergradResult:
    out = direct if implicit is None else [d - m for d, m in zip(direct, implicit, strict=True)]
    finite = is_finite(out)
    if not finite:
        # Never hand back NaN/inf: fall back to the first-order term, and say so.
        note = (info.note + "; " if info.note else "") + "non-finite second-order term dropped"
        info = replace(info, diverged=True, note=note)
        out = direct if is_finite(direct) else [torch.zeros_like(d) for d in direct]
    diag = Diagnostics(
        method=name,
        hvp=hvp if n_hvp else "none",
        direct_norm=norm(direct),
        implicit_norm=norm(implicit) if implicit is not None else 0.0,
        solution_norm=norm(solution) if solution is not None else 0.0,
        hypergrad_norm=norm(out),
        n_hvp=n_hvp,
        n_grad=n_grad,
        val_loss=val_loss,
        solve=info,
        finite=finite,
    )
    return HypergradResult(tuple(t.detach() for t in out), diag)


class Implicit:
    """The implicit (IFT) hypergradient with a pluggable linear solver.

    Args:
        solver: how ``x ≈ H⁻¹ ∇w L_val`` is approximated.

    Example:
        >>> from idarts_plugin.hypergrad import Neumann
        >>> Implicit(Neumann(steps=10, lr="auto")).name
        'neumann'
    """

    def __init__(self, solver: LinearSolver) -> None:
        if not hasattr(solver, "solve"):
            raise TypeError(f"solver must have a solve(curvature, b) method, got {solver!r}")
        self.solver = solver
        self.name: str = solver.name

    def __repr__(self) -> str:
        return f"Implicit({self.solver!r})"

    def __call__(
        self,
        train_loss: LossFn,
        val_loss: LossFn,
        weights: Sequence[Tensor],
        alphas: Sequence[Tensor],
        *,
        hvp: str = "exact",
        fd_scale: float = FD_SCALE,
        curvature: TrainCurvature | None = None,
        reduce: Reduce | None = None,
    ) -> HypergradResult:
        """Compute ``∇α L_val − ∇²_{αw} L_tr · x``."""
        loss_value, direct, b = _val_grads(val_loss, weights, alphas, reduce)
        if isinstance(self.solver, Zero):
            return _finish(
                self.name,
                hvp,
                direct,
                None,
                None,
                SolveInfo(),
                n_hvp=0,
                n_grad=1,
                val_loss=loss_value,
            )
        shared = curvature is not None
        if curvature is None:
            curvature = make_curvature(hvp, train_loss, weights, alphas, fd_scale=fd_scale)
        curvature = reduced(curvature, reduce)
        x, info = self.solver.solve(curvature, b)
        implicit = curvature.mixed(x)
        # the val pass (+ the retained train pass, unless it was the caller's)
        n_grad = 2 if hvp == "exact" and not shared else 1
        return _finish(
            self.name,
            hvp,
            direct,
            implicit,
            x,
            info,
            n_hvp=curvature.n_products,
            n_grad=n_grad,
            val_loss=loss_value,
        )


class Unrolled:
    """DARTS second order (DARTS-V2): one virtual SGD step, then the chain rule.

    ``w' = w − ξ (∇w L_tr(w, α) + u)`` and the gradient is
    ``∇α L_val(w', α) − ξ ∇²_{αw} L_tr(w, α) · ∇w' L_val(w', α)``. The mixed product is taken
    exactly or by a central difference (``hvp="finite_difference"``, DARTS' ε = 0.01/‖v‖).

    With ``velocity=None`` (u = 0) and a criterion-only training loss this is the papers'
    equation: a plain SGD step. DARTS' code steps like its weight optimiser instead: momentum
    ``u = μ · momentum_buffer`` and the weight decay in the gradient (train loss from
    :func:`~idarts_plugin.hypergrad.autodiff.with_weight_decay`, or ``weight_decay=`` of
    :func:`~idarts_plugin.hypergrad.compute_hypergradient`). ``u`` does not depend on α, so
    the formula above stays exact for both.

    Args:
        lr: ξ > 0, the virtual step size (DARTS uses the weight learning rate).
        velocity: ``u``, one tensor per weight tensor (``None``: no momentum term).

    Example:
        >>> Unrolled(lr=0.025).name
        'unrolled'
    """

    name = "unrolled"

    def __init__(self, *, lr: float, velocity: Sequence[Tensor] | None = None) -> None:
        self.lr = check_method_option("unrolled", "lr", lr, label="unrolled lr (ξ)")
        self.velocity = None if velocity is None else [u.detach() for u in velocity]

    def __repr__(self) -> str:
        extra = "" if self.velocity is None else ", velocity=[...]"
        return f"Unrolled(lr={self.lr}{extra})"

    def __call__(
        self,
        train_loss: LossFn,
        val_loss: LossFn,
        weights: Sequence[Tensor],
        alphas: Sequence[Tensor],
        *,
        hvp: str = "exact",
        fd_scale: float = FD_SCALE,
        curvature: TrainCurvature | None = None,
        reduce: Reduce | None = None,
    ) -> HypergradResult:
        """Compute the DARTS-V2 gradient."""
        if curvature is None:
            curvature = make_curvature(hvp, train_loss, weights, alphas, fd_scale=fd_scale)
        if hasattr(curvature, "gradient"):
            # Both operators hold ∇w L_tr (the exact one from its graph, without a new pass;
            # the finite-difference one with the same random draws as its products).
            g_tr = list(curvature.gradient)
        else:
            w, a = leaves(weights), leaves(alphas)
            g_tr = grads(train_loss(w, a), w)
        n_grad = 2
        if reduce is not None:
            g_tr = reduce(g_tr)
        curvature = reduced(curvature, reduce)
        if self.velocity is not None:
            if len(self.velocity) != len(g_tr):
                raise ValueError(
                    f"velocity has {len(self.velocity)} tensors for {len(g_tr)} weight tensors"
                )
            g_tr = [g + u.to(g) for g, u in zip(g_tr, self.velocity, strict=True)]
        w_virtual = [w.detach() - self.lr * g for w, g in zip(weights, g_tr, strict=True)]
        loss_value, direct, v = _val_grads(val_loss, w_virtual, alphas, reduce)
        implicit = [self.lr * m for m in curvature.mixed(v)]
        return _finish(
            self.name,
            hvp,
            direct,
            implicit,
            [self.lr * x for x in v],
            SolveInfo(terms_used=1, step_size=self.lr),
            n_hvp=curvature.n_products,
            n_grad=n_grad,
            val_loss=loss_value,
        )


def _implicit(solver: Callable[..., LinearSolver]) -> Callable[..., Implicit]:
    """The factory of the implicit method that wraps ``solver`` (its keyword arguments)."""

    @functools.wraps(solver)
    def factory(**options: Any) -> Implicit:
        return Implicit(solver(**options))

    return factory


def _unrolled(*, lr: float, velocity: Sequence[Tensor] | None = None) -> Unrolled:
    return Unrolled(lr=lr, velocity=velocity)


METHODS: Mapping[str, Callable[..., Method]] = MappingProxyType(
    {name: _unrolled if name == "unrolled" else _implicit(SOLVERS[name]) for name in METHOD_OPTIONS}
)
"""Config name → factory taking that method's options as keyword arguments: DARTS-V2's unrolled
step, or an :class:`Implicit` method around a solver of
:data:`~idarts_plugin.hypergrad.solvers.SOLVERS` (in the order of
:data:`~idarts_plugin.hypergrad.spec.METHOD_OPTIONS`)."""


def method_options(name: str) -> tuple[str, ...]:
    """The option names a registered method accepts (its factory's keyword arguments).

    Read from :data:`idarts_plugin.hypergrad.spec.METHOD_OPTIONS`, which states them with
    their rules; ``tests/hypergrad/test_contract.py`` holds the factories to the same names.
    """
    return tuple(METHOD_OPTIONS[name])


def make_method(method: str | Method | LinearSolver, **options: Any) -> Method:
    """Resolve a method name (with its options), a method or a bare solver to a method.

    Raises:
        ValueError: unknown name (lists the valid ones), unknown or missing option, or options
            given together with an already-built method.

    Example:
        >>> make_method("neumann", steps=10, lr=0.01)
        Implicit(Neumann(steps=10, lr=0.01, max_growth=1000.0))
    """
    if isinstance(method, str):
        if method not in METHODS:
            raise ValueError(
                f"unknown hypergradient method {method!r}; valid methods: {', '.join(METHODS)}"
            )
        valid = method_options(method)
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ValueError(
                f"unknown option(s) {', '.join(map(repr, unknown))} for method {method!r}; "
                f"valid options: {', '.join(valid) or '(none)'}, plus hvp and fd_scale"
            )
        try:
            return METHODS[method](**options)
        except TypeError as exc:  # a required option is missing
            raise ValueError(f"method {method!r}: {exc}") from None
    if options:
        raise ValueError(
            f"options {sorted(options)} can only be given with a method name, not with {method!r}"
        )
    if hasattr(method, "solve"):
        return Implicit(cast(LinearSolver, method))
    if callable(method) and hasattr(method, "name"):
        return method
    raise TypeError(f"method must be a name, a Method or a LinearSolver, got {method!r}")


AUTO_REFRESH_EVERY = 8
"""``lr="auto"`` across a search's steps re-estimates λ̂max every this many steps (3 warm power
iterations each): λmax drifts over epochs, not steps, and re-estimating it at every step made an
architecture step 7.7× NNI DARTS' instead of 4.5× (``benchmarks.speed``, 30 steps)."""
SAFE_ITERATIONS = 10
"""Power iterations of the first λ̂ estimate of ``lr="safe"``; later steps take one, warm."""
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


class MethodBuilder:
    """Builds a :class:`~idarts_plugin.hypergrad.spec.MethodSpec`'s method for each step.

    Holds what the method carries across architecture steps (the λ̂ estimator of
    ``lr="auto"``/``"safe"``, the warm-start solution, the growth monitor) and puts it into
    checkpoints.

    Args:
        spec: the validated method specification.

    Example:
        >>> builder = MethodBuilder(MethodSpec(name="neumann", options={"steps": 2}, lr=None))
        >>> builder.build(weight_lr=0.025)
        Implicit(Neumann(steps=2, lr=0.025, max_growth=1000.0))
    """

    def __init__(self, spec: MethodSpec) -> None:
        if not isinstance(spec, MethodSpec):
            raise TypeError(f"spec must be a MethodSpec, got {spec!r}")
        self.spec = spec
        self._auto: AutoStepSize | None = None
        if spec.lr == "auto":
            self._auto = AutoStepSize(refresh_every=AUTO_REFRESH_EVERY)
        elif spec.lr == "safe":
            self._auto = _safe_estimator()
        self._warm = WarmStart() if spec.warm_start else None
        self._monitor = GrowthMonitor(every=spec.monitor_every) if spec.monitor_every else None

    def __repr__(self) -> str:
        return f"MethodBuilder({self.spec!r})"

    def _options(self, *, weight_lr: float) -> dict[str, Any]:
        spec = self.spec
        options = dict(spec.options)
        if spec.uses_lr:
            if self._auto is not None:
                options["lr"] = self._auto
                if spec.lr == "safe":
                    options["max_lr"] = weight_lr
            elif spec.lr in (None, "weight_lr"):
                options["lr"] = weight_lr
            else:
                options["lr"] = spec.lr
        return options

    def build(self, *, weight_lr: float, velocity: Sequence[Tensor] | None = None) -> Method:
        """The method for one architecture step, given the current weight learning rate.

        A step size that follows a weight learning rate of 0 (a warm-up schedule starting at
        0) gives a first-order step: every second-order term is proportional to it.

        Args:
            weight_lr: the weight optimiser's current learning rate.
            velocity: ``virtual_step="optimizer"``: the momentum term ``μ·buffer`` of each
                weight tensor (required then, ignored otherwise).
        """
        spec = self.spec
        if spec.uses_lr and weight_lr == 0 and (spec.lr in (None, "weight_lr", "safe")):
            return make_method("first_order")
        options = self._options(weight_lr=weight_lr)
        if self._warm is not None:
            options["warm_start"] = self._warm
        if self._monitor is not None:
            options["monitor"] = self._monitor
        if spec.virtual_step == "optimizer":
            if velocity is None:
                raise ValueError("virtual_step='optimizer' needs the optimiser's velocity")
            options["velocity"] = velocity
        return make_method(spec.name, **options)

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
        """The shared λmax estimator of ``lr="auto"``/``"safe"`` (its state goes into checkpoints)."""
        return self._auto
