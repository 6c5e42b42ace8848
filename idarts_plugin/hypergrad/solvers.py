"""Approximate solvers of ``H x = b`` for the implicit hypergradient.

The implicit function theorem gives the architecture gradient

    dL_val/dα = ∇α L_val − ∇²_{αw} L_tr · H⁻¹ ∇w L_val,     H = ∇²_w L_tr,

and the methods differ only in how ``x ≈ H⁻¹ b`` (with ``b = ∇w L_val``) is approximated.
A solver is a *value* (in the style of TorchOpt's ``linear_solve``): build it once with its
options and pass it to :func:`idarts_plugin.hypergrad.hypergradient`.

* :class:`Neumann`: ``x = γ Σ_{j=0..K} (I − γH)^j b`` (iDARTS), ``K`` products.
* :class:`ConjugateGradient`: CG on ``(H + δI) x = b``, the accurate reference.
* :class:`Amended`: ``x = η H b`` (Amended-DARTS' ``H⁻¹ ≈ ηH``), one product.
* :class:`Zero`: ``x = 0``, i.e. first-order DARTS.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, ClassVar, Literal, Protocol

import torch
from torch import Tensor

from .autodiff import TrainCurvature, axpy, dot, is_finite, norm, power_iteration, scale
from .checks import check_int, check_number
from .diagnostics import SolveInfo, grows
from .spec import check_method_option

__all__ = [
    "NEUMANN_DIVERGED",
    "SOLVERS",
    "Amended",
    "AutoStepSize",
    "ConjugateGradient",
    "GrowthMonitor",
    "LinearSolver",
    "Neumann",
    "SolveInfo",
    "WarmStart",
    "Zero",
]

_logger = logging.getLogger(__name__)

NEUMANN_DIVERGED = "neumann_diverged"
"""``record.idarts_event`` of this logger's warning for a diverged (truncated) Neumann series.

Filter on it, not on the message's words (which may change)::

    logging.getLogger("idarts_plugin.hypergrad.solvers").addFilter(
        lambda r: getattr(r, "idarts_event", None) != NEUMANN_DIVERGED
    )
"""


class NeumannDivergenceWarning(RuntimeWarning):
    """Deprecated: the Neumann series grew instead of shrinking and was truncated.

    Never issued (importing it from :mod:`idarts_plugin.hypergrad` warns): a truncated series is one warning of this module's logger
    (``idarts_plugin.hypergrad.solvers``) and ``Diagnostics.solve.diverged``. Kept so that
    code filtering it still imports.
    """


NEUMANN_TOL = 1e-3
"""A Neumann solve counts as converged when its residual proxy ``‖(I − γH)^K b‖ / ‖b‖`` (cold)
or its last relative residual (warm) is at most this."""


class LinearSolver(Protocol):
    """Anything that approximately solves ``H x = b`` given Hessian-vector products."""

    @property
    def name(self) -> str:
        """The solver's name (used in diagnostics)."""
        ...

    def solve(
        self, curvature: TrainCurvature, b: Sequence[Tensor]
    ) -> tuple[list[Tensor], SolveInfo]:
        """Return ``x ≈ H⁻¹ b`` (a list of zeros is allowed) and what the solve did.

        ``b`` and ``curvature``'s point are not written into; a solver may update only the
        state it carries across solves (a warm start, a λ̂ estimate).
        """
        ...


@dataclass(frozen=True, kw_only=True)
class Zero:
    """``x = 0``: no implicit term at all (first-order DARTS, DARTS-V1)."""

    name: str = field(default="first_order", init=False)

    def solve(
        self, curvature: TrainCurvature, b: Sequence[Tensor]
    ) -> tuple[list[Tensor], SolveInfo]:
        """Return zeros shaped like ``b``."""
        return [torch.zeros_like(x) for x in b], SolveInfo(terms_used=0)


@dataclass(frozen=True, kw_only=True)
class Amended:
    """Amended-DARTS: ``H⁻¹ ≈ ηH``, so ``x = η H b`` (one Hessian-vector product).

    Args:
        lr: η > 0.

    Example:
        >>> Amended(lr=0.1)
        Amended(lr=0.1, name='amended')
    """

    lr: float
    name: str = field(default="amended", init=False)

    def __post_init__(self) -> None:
        check_method_option("amended", "lr", self.lr, label="amended lr (η)")

    def solve(
        self, curvature: TrainCurvature, b: Sequence[Tensor]
    ) -> tuple[list[Tensor], SolveInfo]:
        """Return ``η H b``."""
        hb = curvature.hvp(b)
        return scale(self.lr, hb), SolveInfo(terms_used=1, step_size=self.lr)


class _CarriedVector:
    """The state of an estimator that carries one vector across solves.

    A power iteration spread over a search: the vector (warm-starting the next product), the
    last estimate, and the number of calls (which decide when a product is due). Subclasses
    name the two in their checkpoints (``_keys``), so saved states keep reading back.
    """

    _keys: ClassVar[tuple[str, str]] = ("vector", "estimate")

    def __init__(self, *, seed: int) -> None:
        self.seed = seed
        self._vector: list[Tensor] | None = None
        self._estimate: float | None = None
        self._calls = 0

    def state_dict(self) -> dict[str, Any]:
        """The carried vector, the last estimate and the call count, for checkpoints."""
        vector, estimate = self._keys
        return {vector: self._vector, estimate: self._estimate, "calls": self._calls}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        vector, estimate = self._keys
        self._vector = state.get(vector)
        self._estimate = state.get(estimate)
        self._calls = int(state.get("calls", 0))

    def _tick(self, every: int) -> bool:
        """Count a call; whether a product is due (every ``every``-th call, from the first)."""
        due = self._calls % every == 0
        self._calls += 1
        return due

    def _carried(self, like: Sequence[Tensor]) -> list[Tensor] | None:
        """The carried vector if it has ``like``'s shapes, else ``None``."""
        v = self._vector
        return v if v is not None and [t.shape for t in v] == [x.shape for x in like] else None

    def _fresh(self, like: Sequence[Tensor]) -> list[Tensor]:
        """A seeded random vector shaped like ``like`` (drawn on the CPU)."""
        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        return [torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device) for x in like]


class AutoStepSize(_CarriedVector):
    """Chooses the Neumann step ``γ = safety / max|λ(H)|`` by power iteration.

    The estimate is made on the Hessian of the *same* minibatch as the solve (a minibatch
    Hessian is sharper than the full-batch one, and a γ from the latter makes long series
    diverge). The eigenvector is kept and warm-starts the next estimate, so after the first
    call a few iterations suffice; the estimate is refreshed every ``refresh_every`` calls.

    A warm start alone goes stale: a new sharp direction orthogonal to the kept eigenvector is
    never found by iterating from it. ``mix`` adds that share of a fresh random unit vector to
    every warm start, and ``decay`` keeps a running maximum (``λ̂ ← max(estimate,
    decay·λ̂_prev)``), so one low estimate from an unlucky minibatch does not enlarge γ.

    Args:
        iterations: power iterations on the first call.
        warm_iterations: power iterations on later refreshes (warm-started).
        safety: factor in ``(0, 1]``; power iteration approaches ``λmax`` from below.
        refresh_every: re-estimate after this many solves (1 = every solve).
        seed: seed of the random starting vector (makes a fresh estimator deterministic).
        mix: share of a fresh random unit vector added to each warm start (0: none).
        decay: running maximum with this decay per estimate (0: the latest estimate alone).

    Example:
        >>> auto = AutoStepSize(iterations=20, safety=0.9, mix=0.2, decay=0.9)
    """

    def __init__(
        self,
        *,
        iterations: int = 20,
        warm_iterations: int = 3,
        safety: float = 0.9,
        refresh_every: int = 1,
        seed: int = 0,
        mix: float = 0.0,
        decay: float = 0.0,
    ) -> None:
        self.iterations = check_int("iterations", iterations, minimum=1)
        self.warm_iterations = check_int("warm_iterations", warm_iterations, minimum=1)
        self.safety = check_number("safety", safety, minimum=0, strict=True)
        if self.safety > 1:
            raise ValueError(f"safety must be in (0, 1], got {safety!r}")
        self.refresh_every = check_int("refresh_every", refresh_every, minimum=1)
        self.mix = check_number("mix", mix, minimum=0)
        self.decay = check_number("decay", decay, minimum=0)
        if self.decay >= 1:
            raise ValueError(f"decay must be in [0, 1), got {decay!r}")
        super().__init__(seed=seed)
        self._gen = torch.Generator(device="cpu").manual_seed(seed + 1)

    _keys = ("vector", "lambda")

    @property
    def lambda_max(self) -> float | None:
        """The last estimate of ``max |λ(H)|`` (``None`` before the first)."""
        return self._estimate

    def step_size(
        self,
        curvature: TrainCurvature,
        like: Sequence[Tensor],
        *,
        cap: float | None = None,
    ) -> SolveInfo:
        """Choose γ for this solve, estimating ``λmax`` when due.

        With ``cap``, γ = ``min(cap, safety/λ̂)`` (the curvature-safe rule), and an estimate of
        0 or a non-finite one gives γ = ``cap`` (with a note) instead of an error.

        Returns:
            The solve's report so far: ``step_size`` (γ), ``lambda_max`` (λ̂) and, when γ
            fell back to its cap, a ``note``.
        """
        due = self._tick(self.refresh_every) or self._estimate is None
        if due:
            start = self._carried(like)
            if start is None:
                start, iters = self._fresh(like), self.iterations
            else:
                if self.mix:
                    start = _mixed(start, self.mix, self._gen)
                iters = self.warm_iterations
            lam, vec = power_iteration(curvature.hvp, start, iterations=iters)
            self._vector = [v.detach() for v in vec]
            if self.decay and self._estimate is not None and math.isfinite(lam) and lam > 0:
                lam = max(lam, self.decay * abs(self._estimate))
            self._estimate = lam
        assert self._estimate is not None
        lam_abs = abs(self._estimate)
        if cap is not None:
            if lam_abs == 0.0 or not math.isfinite(lam_abs):
                self._vector = None  # restart the estimate from a fresh vector next time
                note = f"λ̂ = {self._estimate!r}: γ falls back to its cap {cap:.3g}"
                return SolveInfo(step_size=cap, lambda_max=self._estimate, note=note)
            gamma = min(cap, self.safety / lam_abs)
        elif lam_abs == 0.0 or not math.isfinite(lam_abs):
            raise FloatingPointError(
                f"cannot choose γ automatically: the Hessian's dominant eigenvalue estimate is "
                f"{self._estimate!r}; pass a numeric lr instead"
            )
        else:
            gamma = self.safety / lam_abs
        return SolveInfo(step_size=gamma, lambda_max=self._estimate)


def _mixed(vector: Sequence[Tensor], share: float, gen: torch.Generator) -> list[Tensor]:
    """``v/‖v‖ + share·r/‖r‖`` for a fresh random ``r`` (from ``gen``, on the CPU)."""
    r = [torch.randn(v.shape, generator=gen, dtype=v.dtype).to(v.device) for v in vector]
    nv, nr = norm(vector), norm(r)
    return [v / nv + (share / nr) * x for v, x in zip(vector, r, strict=True)]


class GrowthMonitor(_CarriedVector):
    """Watches ``ρ = max|1 − γλ(H)|``, the Neumann series' worst growth per term.

    A short series (K = 1, 2) rarely shows a growing direction in its own terms: ``b`` may hold
    only a small share of it. The monitor keeps one unit vector ``u`` across solves and takes
    one product per due solve, ``ρ̂ = ‖(I − γH)u‖`` and ``u ← (I − γH)u / ρ̂``: a power iteration
    of the series' own iteration matrix, spread over the search (the Hessians of consecutive
    steps are close). ``ρ̂ ≤ ρ`` always, so ``ρ̂ > 1`` is proof of an eigenvalue with
    ``γλ > 2`` or ``λ < 0``.

    Args:
        every: take the product on every this-many-th solve (1: every solve).
        seed: seed of the random first ``u``.

    Example:
        >>> monitor = GrowthMonitor(every=1)
        >>> solver = Neumann(steps=2, lr=0.01, monitor=monitor)
    """

    _keys = ("u", "rate")

    def __init__(self, *, every: int = 1, seed: int = 0) -> None:
        self.every = check_int("monitor every", every, minimum=1)
        super().__init__(seed=seed)

    @property
    def rate(self) -> float | None:
        """The last ``ρ̂`` (``None`` before the first product)."""
        return self._estimate

    def observe(
        self, curvature: TrainCurvature, gamma: float, like: Sequence[Tensor]
    ) -> float | None:
        """Take this solve's product when due; return its ``ρ̂`` (``None`` when none was made)."""
        if not self._tick(self.every):
            return None
        u = self._carried(like)
        if u is None:
            fresh = self._fresh(like)
            u = scale(1.0 / norm(fresh), fresh)
        y = axpy(-gamma, curvature.hvp(u), u)
        rate = norm(y)
        if not math.isfinite(rate) or rate == 0.0:
            self._vector = None  # start again from a random vector
            return None
        self._vector = [t.detach() for t in scale(1.0 / rate, y)]
        self._estimate = rate
        return rate


class WarmStart:
    """The previous solve's ``x``, carried to the next one (amortised implicit differentiation).

    Consecutive architecture steps solve nearly the same system ``H x = b`` (w and α move a
    little), so starting from the last solution lets a short iteration per step accumulate
    across steps (Arbel & Mairal, "Amortized implicit differentiation for stochastic bilevel
    optimization", ICLR 2022). Share one instance across the solves of a search.

    Example:
        >>> warm = WarmStart()
        >>> solver = Neumann(steps=2, lr=0.01, warm_start=warm)
        >>> warm.x is None
        True
    """

    def __init__(self) -> None:
        self.x: list[Tensor] | None = None
        self.solves = 0

    def start(self, like: Sequence[Tensor]) -> list[Tensor] | None:
        """The stored ``x`` if it matches ``like``'s shapes, devices and dtypes, else ``None``."""
        x = self.x
        if x is None or len(x) != len(like):
            return None
        same = all(
            a.shape == b.shape and a.dtype == b.dtype and a.device == b.device
            for a, b in zip(x, like, strict=True)
        )
        return x if same else None

    def reset(self) -> None:
        """Forget the stored solution (the next solve starts cold)."""
        self.x = None

    def state_dict(self) -> dict[str, Any]:
        """The stored solution and the number of solves, for checkpoints."""
        return {"x": self.x, "solves": self.solves}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.x = state.get("x")
        self.solves = int(state.get("solves", 0))


class Neumann:
    """iDARTS' truncated Neumann series ``x = γ Σ_{j=0..K} (I − γH)^j b``.

    Uses ``K`` Hessian-vector products (plus the power iterations of ``lr="auto"``). The
    series converges when ``0 < γλ < 2`` for every eigenvalue λ of H; when a term grows past
    ``max_growth · ‖b‖`` or stops being finite the series is truncated before it, a warning is
    logged and the returned :class:`SolveInfo` says ``diverged``, so the result is always
    finite.

    The series is the Richardson iteration ``x ← x + γ(b − H x)`` from ``x = 0``; with
    ``warm_start`` it starts instead from the previous solve's ``x`` and takes ``K`` such steps
    (``K`` products, as the cold series): a short iteration per step then accumulates across
    steps. Only a solve that is finite, not truncated and not growing is kept as the next
    start (a growing direction would compound across steps); a warm iteration that is not
    finite or grows past ``max_growth · ‖b‖`` is discarded and the step is solved cold.

    The error of the truncated series along an eigendirection is ``|1 − γλ|^(K+1)`` of its
    share of ``H⁻¹b`` (729× at γλ = 10 and K = 2); every term ratio above 1, and the
    :class:`GrowthMonitor`'s ``ρ̂`` above 1, is flagged (:attr:`SolveInfo.growing`).

    Args:
        steps: K ≥ 0 (K = 0 gives ``x = γ b``).
        lr: γ > 0, or ``"auto"`` for ``γ = safety / λ̂max`` (see :class:`AutoStepSize`), or an
            :class:`AutoStepSize` to share its estimate across solves.
        max_growth: truncation threshold on ``‖(I − γH)^j b‖ / ‖b‖``.
        max_lr: with an automatic γ, use ``min(max_lr, safety/λ̂)``: the curvature-safe
            rule ``neumann_lr: safe`` of the strategies (``max_lr`` = the weight lr).
        warm_start: a :class:`WarmStart` shared across solves (``None``: cold start).
        monitor: a :class:`GrowthMonitor` shared across solves (``None``: only the terms'
            own ratios are watched).

    Example:
        >>> solver = Neumann(steps=10, lr="auto")
        >>> solver.name
        'neumann'
    """

    name = "neumann"

    def __init__(
        self,
        *,
        steps: int = 5,
        lr: float | Literal["auto"] | AutoStepSize = "auto",
        max_growth: float = 1e3,
        max_lr: float | None = None,
        warm_start: WarmStart | None = None,
        monitor: GrowthMonitor | None = None,
    ) -> None:
        self.steps = check_method_option("neumann", "steps", steps, label="neumann steps (K)")
        if isinstance(lr, AutoStepSize):
            self.auto: AutoStepSize | None = lr
            self.lr: float | None = None
        elif lr == "auto":
            self.auto = AutoStepSize()
            self.lr = None
        else:
            self.auto = None
            self.lr = check_number("neumann lr (γ)", lr, minimum=0, strict=True)
        self.max_growth = check_method_option("neumann", "max_growth", max_growth)
        self.max_lr = (
            None
            if max_lr is None
            else check_number("neumann max_lr", max_lr, minimum=0, strict=True)
        )
        if warm_start is not None and not isinstance(warm_start, WarmStart):
            raise TypeError(f"warm_start must be a WarmStart or None, got {warm_start!r}")
        self.warm_start = warm_start
        if monitor is not None and not isinstance(monitor, GrowthMonitor):
            raise TypeError(f"monitor must be a GrowthMonitor or None, got {monitor!r}")
        self.monitor = monitor

    def __repr__(self) -> str:
        lr = "auto" if self.auto is not None else self.lr
        extra = "" if self.max_lr is None else f", max_lr={self.max_lr}"
        extra += ", warm_start=True" if self.warm_start is not None else ""
        extra += f", monitor_every={self.monitor.every}" if self.monitor is not None else ""
        return f"Neumann(steps={self.steps}, lr={lr!r}, max_growth={self.max_growth}{extra})"

    def solve(
        self, curvature: TrainCurvature, b: Sequence[Tensor]
    ) -> tuple[list[Tensor], SolveInfo]:
        """Sum the series; truncate (and log a warning) if it diverges."""
        if self.auto is not None:
            info = self.auto.step_size(curvature, b, cap=self.max_lr)
        else:
            assert self.lr is not None
            info = SolveInfo(step_size=self.lr)
        gamma = info.step_size
        assert gamma is not None
        if self.monitor is not None:
            info = replace(info, growth_rate=self.monitor.observe(curvature, gamma, b))
        start = self.warm_start.start(b) if self.warm_start is not None else None
        if start is not None and is_finite(start):
            x, info = self._solve_warm(curvature, b, start, gamma, info)
            if x is not None:
                return x, info
            info = replace(info, note=info.note + "; solved cold instead")
        x, info = self._solve_cold(curvature, b, gamma, info)
        self._keep(x, info)
        return x, info

    def _keep(self, x: list[Tensor], info: SolveInfo) -> None:
        """Store ``x`` as the next warm start only if it is finite and nothing grew."""
        if self.warm_start is None:
            return
        if info.diverged or info.growing or not is_finite(x):
            self.warm_start.reset()
            return
        self.warm_start.x = [t.detach() for t in x]
        self.warm_start.solves += 1

    def _solve_warm(
        self,
        curvature: TrainCurvature,
        b: Sequence[Tensor],
        x0: list[Tensor],
        gamma: float,
        info: SolveInfo,
    ) -> tuple[list[Tensor] | None, SolveInfo]:
        """K Richardson steps ``x ← x + γ(b − H x)`` from the previous solution.

        Returns ``x`` and ``info`` completed, or ``None`` (and forgets the stored start) when
        the iteration stops being finite or its residual grows past ``max_growth·‖b‖``: the
        caller then solves cold (``info`` then says why).
        """
        assert self.warm_start is not None
        b = [t.detach() for t in b]
        b_norm = norm(b)
        x = list(x0)
        terms_used = 0
        growth = info.term_growth
        r_norm = float("nan")
        prev = None
        for j in range(1, self.steps + 1):
            r = [bi - hi for bi, hi in zip(b, curvature.hvp(x), strict=True)]
            r_norm = norm(r)
            if prev is not None and prev > 0 and math.isfinite(r_norm):
                growth = max(growth or 0.0, r_norm / prev)
            prev = r_norm
            if not math.isfinite(r_norm) or r_norm > self.max_growth * max(b_norm, 1e-300):
                note = (
                    f"warm-started Neumann iteration left its bounds at step {j} "
                    f"(‖r‖/‖b‖ = {r_norm / max(b_norm, 1e-300):.3g}); stored start dropped"
                )
                self.warm_start.reset()
                return None, replace(info, terms_used=terms_used, term_growth=None, note=note)
            x = axpy(gamma, r, x)
            terms_used = j
        if self.steps == 0:
            x = scale(gamma, b)  # nothing to iterate with: the K = 0 series
        residual = r_norm / b_norm if b_norm > 0 and self.steps else None
        info = replace(
            info,
            terms_used=terms_used,
            term_growth=growth,
            residual=residual,
            converged=residual is not None and residual <= NEUMANN_TOL,
        )
        self._keep(x, info)
        return x, info

    def _solve_cold(
        self, curvature: TrainCurvature, b: Sequence[Tensor], gamma: float, info: SolveInfo
    ) -> tuple[list[Tensor], SolveInfo]:
        b_norm = norm(b)
        term = [x.detach() for x in b]
        total = list(term)
        terms_used = 1
        growth = info.term_growth
        diverged = False
        note = info.note
        for j in range(1, self.steps + 1):
            hv = curvature.hvp(term)
            nxt = axpy(-gamma, hv, term)
            nxt_norm = norm(nxt)
            prev_norm = norm(term)
            if prev_norm > 0 and math.isfinite(nxt_norm):
                growth = max(growth or 0.0, nxt_norm / prev_norm)
            if not math.isfinite(nxt_norm) or nxt_norm > self.max_growth * max(b_norm, 1e-300):
                diverged = True
                note = (
                    f"Neumann series diverged at term {j} (‖term‖/‖b‖ = {nxt_norm / b_norm:.3g} "
                    f"with γ = {gamma:.3g}); truncated to {j} terms. Use a smaller lr or "
                    "lr='auto'."
                )
                _logger.warning(note, extra={"idarts_event": NEUMANN_DIVERGED})
                break
            term = nxt
            total = [t + x for t, x in zip(total, term, strict=True)]
            terms_used = j + 1
        # The residual of a truncated series is ‖(I − γH)^{K+1} b‖ / ‖b‖; the last term
        # ‖(I − γH)^K b‖ / ‖b‖ is a free proxy for it.
        residual = norm(term) / b_norm if b_norm > 0 else 0.0
        growing = grows(growth, info.growth_rate)
        info = replace(
            info,
            terms_used=terms_used,
            term_growth=growth,
            residual=residual,
            diverged=diverged,
            converged=not diverged and not growing and residual <= NEUMANN_TOL,
            note=note,
        )
        return scale(gamma, total), info


@dataclass(frozen=True, kw_only=True)
class ConjugateGradient:
    """Conjugate gradient on ``(H + damping·I) x = b`` from ``x = 0``.

    H of a network's loss is usually indefinite; CG then meets negative curvature, which it
    reports (:attr:`SolveInfo.note`) and stops at, returning the last iterate. A ``damping`` of about
    ``1e-2·λmax`` makes the system positive definite in practice.

    Args:
        steps: maximum iterations (Hessian-vector products).
        tol: stop when ``‖r‖ / ‖b‖ ≤ tol``.
        damping: δ ≥ 0 added to the diagonal.

    Example:
        >>> ConjugateGradient(steps=50, tol=1e-10, damping=1e-3).name
        'cg'
    """

    steps: int = 20
    tol: float = 1e-10
    damping: float = 0.0
    name: str = field(default="cg", init=False)

    def __post_init__(self) -> None:
        check_method_option("cg", "steps", self.steps, label="cg steps")
        check_method_option("cg", "tol", self.tol, label="cg tol")
        check_method_option("cg", "damping", self.damping, label="cg damping")

    def solve(
        self, curvature: TrainCurvature, b: Sequence[Tensor]
    ) -> tuple[list[Tensor], SolveInfo]:
        """Run CG; see the class docstring for stopping rules."""
        b = [x.detach() for x in b]
        b_norm = norm(b)
        x = [torch.zeros_like(t) for t in b]
        if b_norm == 0.0:
            return x, SolveInfo(residual=0.0)
        r = list(b)
        p = list(b)
        rr = float(dot(r, r))
        converged = False
        terms_used = 0
        note = ""
        for k in range(self.steps):
            ap = curvature.hvp(p)
            if self.damping:
                ap = axpy(self.damping, p, ap)
            pap = float(dot(p, ap))
            if not pap > 0:
                note = f"CG met non-positive curvature pᵀAp = {pap:.3g} at iteration {k}"
                break
            a = rr / pap
            x = axpy(a, p, x)
            r = axpy(-a, ap, r)
            rr_new = float(dot(r, r))
            terms_used = k + 1
            if math.sqrt(rr_new) / b_norm <= self.tol:
                converged = True
                rr = rr_new
                break
            p = axpy(rr_new / rr, p, r)
            rr = rr_new
        residual = math.sqrt(rr) / b_norm
        return x, SolveInfo(
            converged=converged, terms_used=terms_used, residual=residual, note=note
        )


SOLVERS: Mapping[str, Callable[..., LinearSolver]] = MappingProxyType(
    {
        "first_order": Zero,
        "neumann": Neumann,
        "amended": Amended,
        "cg": ConjugateGradient,
    }
)
"""Method name → the solver its :class:`~idarts_plugin.hypergrad.Implicit` method uses; the
solver's keyword arguments are the method's options, stated with their rules in
:data:`idarts_plugin.hypergrad.spec.METHOD_OPTIONS`. A new solver is one class and one entry
here (plus its options there); :data:`idarts_plugin.hypergrad.METHODS` follows."""
