"""Regularisers of the outer objective that depend on α alone.

The outer objective of a regularised search is ``L_val(w*(α), α) + R(α)``. Since ``R`` does
not involve the weights, its gradient is *direct only*: it adds to whatever hypergradient a
method returns (first order, unrolled, Neumann, amended, CG), with no implicit term. That is
what lets such a remedy compose with every method.

:class:`BetaDecay` is β-DARTS' regulariser (Ye et al., CVPR 2022): the mean over edges of
``logsumexp(α_e)``, whose gradient ``softmax(α_e) / E`` pulls hardest on the most probable
op of each edge and so keeps α from running away to one op.

Example:
    >>> import torch
    >>> reg = BetaDecay(weight=2.0)
    >>> alphas = [torch.zeros(4), torch.tensor([1.0, 0.0])]
    >>> [[round(x, 4) for x in g.tolist()] for g in reg.grads(alphas, coefficient=2.0)]
    [[0.25, 0.25, 0.25, 0.25], [0.7311, 0.2689]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .checks import check_choice, check_number

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["SCHEDULES", "BetaDecay"]

SCHEDULES = ("linear", "constant")  # (torch is imported on use: the run config reads this)
"""How the regulariser's coefficient follows the search: ``linear`` grows from ``weight /
n`` in the first architecture epoch to ``weight`` in the last (β-DARTS' schedule),
``constant`` is ``weight`` throughout."""


@dataclass(frozen=True, kw_only=True)
class BetaDecay:
    """``R(α) = λ · (1/E) Σ_e logsumexp(α_e)`` over the E architecture tensors.

    Args:
        weight: λ at the end of the schedule (``0``: off).
        schedule: one of :data:`SCHEDULES`.

    Raises:
        ValueError: a negative or non-finite weight, an unknown schedule.

    Example:
        >>> BetaDecay(weight=4.0).coefficient(epoch=1, first=1, last=4)
        1.0
        >>> BetaDecay(weight=4.0, schedule="constant").coefficient(epoch=1, first=1, last=4)
        4.0
    """

    weight: float
    schedule: str = "linear"

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", check_number("beta_decay", self.weight, minimum=0))
        check_choice("beta_decay_schedule", self.schedule, SCHEDULES, plural="schedules")

    @property
    def active(self) -> bool:
        """Whether it changes anything (``weight > 0``)."""
        return self.weight > 0

    def coefficient(self, *, epoch: int, first: int, last: int) -> float:
        """λ in ``epoch``, for architecture epochs ``first .. last`` (0 before ``first``).

        Args:
            epoch: the current epoch (from 0).
            first: the first epoch in which α moves (the warm-up's length).
            last: the last epoch of the search.
        """
        if epoch < first:
            return 0.0
        if self.schedule == "constant":
            return self.weight
        span = max(last - first + 1, 1)
        return self.weight * min(epoch - first + 1, span) / span

    @staticmethod
    def value(alphas: Sequence[Tensor], *, coefficient: float) -> Tensor:
        """``R(α)`` at ``coefficient`` (differentiable in α)."""
        import torch

        if not alphas:
            raise ValueError("BetaDecay needs at least one architecture tensor")
        terms = [torch.logsumexp(a, dim=-1).mean() for a in alphas]
        return coefficient * torch.stack(terms).mean()

    @staticmethod
    def grads(alphas: Sequence[Tensor], *, coefficient: float) -> tuple[Tensor, ...]:
        """``∂R/∂α_e = coefficient · softmax(α_e) / E`` in closed form (no graph).

        A tensor with several rows (``[rows, choices]``) counts as the mean of its rows, as in
        :meth:`value`.
        """
        import torch

        if not alphas:
            raise ValueError("BetaDecay needs at least one architecture tensor")
        n = len(alphas)
        out = []
        for a in alphas:
            rows = a.numel() // a.shape[-1] if a.dim() else 1
            out.append(coefficient * torch.softmax(a.detach(), dim=-1) / (n * rows))
        return tuple(out)
