"""The hypergradient problem of a network: its losses and the curvature the implicit term uses.

:func:`module_problem` turns ``(model, criterion, batches, parameter names)`` into what
:func:`~idarts_plugin.hypergrad.compute_hypergradient` takes: the training and validation loss
functions and, where the curvature differs from the plain minibatch Hessian, a ready curvature
operator. :class:`CurvatureSpec` says which curvature:

* ``kind="hessian"`` (default) or ``"ggn"`` (the generalised Gauss–Newton matrix, positive
  semi-definite for cross-entropy; :class:`~idarts_plugin.hypergrad.GaussNewtonCurvature`);
* ``bn``: BatchNorm's statistics in the curvature products — the batch's own (``"batch"``, the
  loss a weight step differentiates), the batch's held constant (``"frozen"``) or the running
  ones (``"running"``); see :mod:`idarts_plugin.hypergrad.functional`;
* ``batches``: how many training minibatches the products average over (the current one and
  the ones before it), a Hessian batch of ``batches × batch size`` examples.

The validation loss, ``∇α L_val`` and ``∇w L_val``, is always the plain minibatch loss (the
direct term is first-order DARTS' own).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor, nn

from .autodiff import GaussNewtonCurvature, LossFn, TrainCurvature, make_curvature
from .functional import module_loss, module_outputs
from .spec import CurvatureSpec

__all__ = ["MeanCurvature", "module_problem"]


class MeanCurvature:
    """The mean of several curvature operators (one per minibatch): a larger Hessian batch.

    Args:
        parts: operators at the same ``(w, α)``, each on its own minibatch.
    """

    def __init__(self, parts: Sequence[TrainCurvature]) -> None:
        if not parts:
            raise ValueError("MeanCurvature needs at least one operator")
        self.parts = list(parts)

    @property
    def n_products(self) -> int:
        """Products taken, one per part per product."""
        return sum(p.n_products for p in self.parts)

    def _mean(self, results: list[list[Tensor]]) -> list[Tensor]:
        k = len(results)
        return [sum(ts) / k for ts in zip(*results, strict=True)]

    def hvp(self, v: Sequence[Tensor]) -> list[Tensor]:
        """The mean of the parts' ``H v``."""
        return self._mean([p.hvp(v) for p in self.parts])

    def mixed(self, v: Sequence[Tensor]) -> list[Tensor]:
        """The mean of the parts' mixed products."""
        return self._mean([p.mixed(v) for p in self.parts])

    @property
    def gradient(self) -> list[Tensor]:
        """The mean of the parts' ``∇w L_tr``."""
        return self._mean([list(p.gradient) for p in self.parts])  # type: ignore[attr-defined]


def module_problem(
    model: nn.Module,
    criterion: Callable[[Any, Any], Tensor],
    train_batches: Sequence[tuple[Any, Any]],
    val_batch: tuple[Any, Any],
    *,
    weight_names: Sequence[str],
    alpha_names: Sequence[str],
    weights: Sequence[Tensor],
    alphas: Sequence[Tensor],
    curvature: CurvatureSpec | None = None,
    hvp: str = "exact",
    fd_scale: float = 0.01,
) -> tuple[LossFn, LossFn, TrainCurvature | None]:
    """The training loss, the validation loss and the curvature operator of one step.

    Args:
        model: the network (train mode during a search).
        criterion: ``criterion(outputs, targets) -> scalar``.
        train_batches: ``(inputs, targets)`` pairs, the step's own first; the products
            average over the first ``curvature.batches`` of them (over all of them if fewer
            are given, as at the start of a search).
        val_batch: the validation ``(inputs, targets)``.
        weight_names: names of the weight tensors, in order.
        alpha_names: names of the architecture tensors, in order.
        weights: the weight tensors (the point of evaluation).
        alphas: the architecture tensors.
        curvature: which curvature (default: the plain minibatch Hessian).
        hvp: ``"exact"`` or ``"finite_difference"`` (the Hessian only; GGN is exact).
        fd_scale: finite-difference step numerator.

    Returns:
        ``(train_loss, val_loss, operator)``; ``operator`` is ``None`` for the plain Hessian
        (the method builds it from ``train_loss``, as it always has).

    Raises:
        ValueError: ``kind="ggn"`` with finite differences, or no training batch.
    """
    spec = curvature or CurvatureSpec()
    if not train_batches:
        raise ValueError("module_problem needs at least one training batch")
    names: dict[str, Any] = {"weight_names": weight_names, "alpha_names": alpha_names}
    x_tr, y_tr = train_batches[0]
    train_loss = module_loss(model, criterion, x_tr, y_tr, **names)
    val_loss = module_loss(model, criterion, val_batch[0], val_batch[1], **names)
    if spec.plain:
        return train_loss, val_loss, None
    if spec.kind == "ggn" and hvp != "exact":
        raise ValueError("curvature 'ggn' is computed exactly: it needs hvp='exact'")
    parts: list[TrainCurvature] = []
    for x, y in train_batches[: spec.batches]:
        if spec.kind == "ggn":
            outputs = module_outputs(model, x, bn=spec.bn, **names)
            parts.append(
                GaussNewtonCurvature(
                    outputs, _bound(criterion, y), weights, alphas, mixed=spec.mixed
                )
            )
        else:
            loss = module_loss(model, criterion, x, y, bn=spec.bn, **names)
            parts.append(make_curvature(hvp, loss, weights, alphas, fd_scale=fd_scale))
    return train_loss, val_loss, parts[0] if len(parts) == 1 else MeanCurvature(parts)


def _bound(criterion: Callable[[Any, Any], Tensor], targets: Any) -> Callable[[Tensor], Tensor]:
    return lambda outputs: criterion(outputs, targets)
