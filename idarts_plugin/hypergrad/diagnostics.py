"""What a hypergradient computation reports: one table per level (no torch).

* :class:`SolveInfo`: what a linear solver (or DARTS-V2's virtual step) did: step size,
  λ̂, terms, residual, growth. A solver *returns* one with its solution.
* :class:`Diagnostics`: what one hypergradient computation did: the method, the products and
  passes it took, the norms of its terms, and the solver's :class:`SolveInfo` (``solve``).

A diagnostic is one field of one of them. :meth:`Diagnostics.scalars` reads the fields
(``solve``'s flat, so a new field of either is logged as ``hypergrad/<name>`` with no other
edit), and a field with ``metadata=EPOCH_MEAN`` is averaged per epoch into ``metrics.csv``'s
``hg_<name>`` column (:func:`epoch_means`, read by :data:`idarts_plugin.metrics.DIAGNOSTIC_MEANS`).

Example:
    >>> info = SolveInfo(step_size=0.5, lambda_max=3.0, term_growth=1.2)
    >>> info.step_curvature, info.growing
    (1.5, True)
    >>> print(*epoch_means())
    direct_norm implicit_norm hypergrad_norm n_hvp step_size step_curvature growth_rate
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

__all__ = ["EPOCH_MEAN", "GROWTH_FLAG", "Diagnostics", "SolveInfo", "epoch_means"]

EPOCH_MEAN: Mapping[str, Any] = MappingProxyType({"epoch": "mean"})
"""Field metadata: ``metrics.csv`` averages this diagnostic over an epoch's architecture steps
(column ``hg_<name>``)."""

GROWTH_FLAG = 1.01
"""A term ratio (or monitored ``max|1 − γλ|``) above this flags the series as growing.

Both are lower bounds of ``ρ = max|1 − γλ(H)|``, so anything above 1 is proof that some
direction grows; the 1 % margin only absorbs rounding and finite-difference error. (γλ = 2.05
grows by 1.05 per term, a negative eigenvalue γλ = −0.12 by 1.12.)"""


def grows(*rates: float | None) -> bool:
    """Whether any of the known growth ratios exceeds :data:`GROWTH_FLAG`."""
    return any(r is not None and r > GROWTH_FLAG for r in rates)


@dataclass(frozen=True, kw_only=True)
class SolveInfo:
    """What a solver reports about one solve (returned with its solution, never mutated).

    Attributes:
        converged: whether the solver met its own stopping rule.
        diverged: whether the iteration blew up and was truncated.
        terms_used: Neumann terms summed (j = 0..terms_used-1) or CG iterations done.
        residual: relative residual ``‖b − A x‖ / ‖b‖`` where the solver knows it.
        step_size: the γ (Neumann), η (amended) or ξ (DARTS-V2) used.
        lambda_max: the estimate of H's dominant eigenvalue, where one was made.
        step_curvature: ``γ·|λ̂|`` (derived: step size times that estimate) where both are
            known; the Neumann series converges only below 2.
        term_growth: Neumann: the largest ratio ``‖term_j‖ / ‖term_{j−1}‖`` (or, warm
            started, of consecutive residuals). ``‖(I − γH)t‖ ≤ max|1 − γλ|·‖t‖``, so a ratio
            above 1 *proves* that some eigenvalue has ``γλ > 2`` or is negative, and the series
            amplifies that direction instead of converging.
        growth_rate: Neumann with a :class:`~idarts_plugin.hypergrad.GrowthMonitor`: its
            estimate of ``ρ = max|1 − γλ(H)|`` (the series' worst amplification per term), from
            a power iteration carried across solves; like the term ratios it never exceeds ρ,
            so a value above 1 is proof as well.
        growing: (derived) a term ratio or the monitored rate exceeds :data:`GROWTH_FLAG`.
        note: a short human-readable remark (why it stopped).
    """

    converged: bool = True
    diverged: bool = False
    terms_used: int = 0
    residual: float | None = None
    step_size: float | None = field(default=None, metadata=EPOCH_MEAN)
    lambda_max: float | None = None
    step_curvature: float | None = field(default=None, init=False, metadata=EPOCH_MEAN)
    term_growth: float | None = None
    growth_rate: float | None = field(default=None, metadata=EPOCH_MEAN)
    growing: bool = field(default=False, init=False)
    note: str = ""

    def __post_init__(self) -> None:
        step, lam = self.step_size, self.lambda_max
        curvature = step * abs(lam) if step is not None and lam is not None else None
        object.__setattr__(self, "step_curvature", curvature)
        object.__setattr__(self, "growing", grows(self.term_growth, self.growth_rate))


_SOLVE_FIELDS = frozenset(f.name for f in dataclasses.fields(SolveInfo))


@dataclass(frozen=True, kw_only=True)
class Diagnostics:
    """What one hypergradient computation did, ready to log.

    The solver's report is ``solve``; its fields also read flat (``d.diverged`` is
    ``d.solve.diverged``), as they are logged.

    Attributes:
        method: the method's name.
        hvp: ``"exact"``, ``"finite_difference"`` or ``"none"``.
        direct_norm: ``‖∇α L_val‖`` (at the unrolled weights for DARTS-V2).
        implicit_norm: norm of the second-order term that is subtracted.
        solution_norm: ``‖x‖`` (the approximate ``H⁻¹ ∇w L_val``; ``ξ ∇w' L_val`` for DARTS-V2).
        hypergrad_norm: norm of the returned gradient.
        n_hvp: Hessian-vector and mixed products taken (power iterations included).
        n_grad: first-order gradient evaluations (forward + backward passes) besides them.
        val_loss: the validation loss at the point of evaluation.
        solve: the solver's :class:`SolveInfo`, with ``diverged`` set and a note added when
            a non-finite second-order term was dropped.
        finite: whether the returned gradient is finite.
    """

    method: str
    hvp: str
    direct_norm: float = field(metadata=EPOCH_MEAN)
    implicit_norm: float = field(metadata=EPOCH_MEAN)
    solution_norm: float
    hypergrad_norm: float = field(metadata=EPOCH_MEAN)
    n_hvp: int = field(metadata=EPOCH_MEAN)
    n_grad: int
    val_loss: float
    solve: SolveInfo = field(default_factory=SolveInfo)
    finite: bool = True

    if not TYPE_CHECKING:  # the package reads ``d.solve.<name>``, typed

        def __getattr__(self, name: str) -> Any:
            if name in _SOLVE_FIELDS:
                return getattr(self.solve, name)
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def as_dict(self) -> dict[str, Any]:
        """Plain flat dict, ``solve``'s fields in its place (for CSV / Optuna attributes)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, SolveInfo):
                out.update(dataclasses.asdict(value))
            else:
                out[f.name] = value
        return out

    def scalars(self) -> dict[str, float]:
        """Numeric fields only, booleans as 0/1 and ``None`` dropped (for metric loggers)."""
        out: dict[str, float] = {}
        for key, value in self.as_dict().items():
            if isinstance(value, (bool, int, float)):
                out[key] = float(value)
        return out


def _flat_fields() -> Iterator[dataclasses.Field[Any]]:
    """The fields :meth:`Diagnostics.as_dict` writes, in its order."""
    for f in dataclasses.fields(Diagnostics):
        if f.name == "solve":
            yield from dataclasses.fields(SolveInfo)
        else:
            yield f


def epoch_means() -> tuple[str, ...]:
    """The diagnostics marked :data:`EPOCH_MEAN`, in :meth:`Diagnostics.as_dict`'s order."""
    return tuple(f.name for f in _flat_fields() if f.metadata.get("epoch") == "mean")
