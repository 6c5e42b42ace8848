"""The hypergradient problem of a network: its losses and the curvature the implicit term uses.

:func:`network_problem` turns ``(model, criterion, batches, α)`` into one architecture step's
:class:`NetworkProblem` (the weights, α, the losses and the curvature, in float32), ready to
solve with a method; :func:`module_problem`, which it calls, turns ``(model, criterion,
batches, parameter names)`` into what :func:`~idarts_plugin.hypergrad.compute_hypergradient`
takes: the training and validation loss functions and, where the curvature differs from the
plain minibatch Hessian, a ready curvature operator. :class:`CurvatureSpec` says which
curvature:

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
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .api import compute_hypergradient
from .autodiff import (
    ExactCurvature,
    GaussNewtonCurvature,
    LossFn,
    TrainCurvature,
    make_curvature,
)
from .distributed import Reduce
from .functional import module_loss, module_outputs, split_parameters
from .methods import HypergradResult, Method
from .spec import FD_SCALE, CurvatureSpec

__all__ = ["MeanCurvature", "NetworkProblem", "module_problem", "network_problem"]


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
    fd_scale: float = FD_SCALE,
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


@dataclass(frozen=True, kw_only=True)
class NetworkProblem:
    """One architecture step's hypergradient problem of a network (:func:`network_problem`).

    Attributes:
        weights: the network's weight tensors (its parameters that are not α), in order.
        alphas: the architecture tensors, in the caller's order.
        train_loss: ``L_tr(weights, alphas)`` on the step's training batch.
        val_loss: ``L_val(weights, alphas)`` on the validation batch.
        curvature: the ready curvature operator, or ``None`` for the plain Hessian (the method
            builds it from ``train_loss``).
        hvp: ``"exact"`` or ``"finite_difference"``.
        device_type: the weights' device type (autocast is off there while solving).
        shares_step_graph: whether ``curvature`` is the weight step's own loss graph.
    """

    weights: list[Tensor]
    alphas: list[Tensor]
    train_loss: LossFn
    val_loss: LossFn
    curvature: TrainCurvature | None
    hvp: str
    device_type: str
    shares_step_graph: bool

    def hypergradient(
        self,
        method: Method,
        *,
        reduce: Reduce | None = None,
        weight_decay: float | Sequence[float] = 0.0,
    ) -> HypergradResult:
        """:func:`~idarts_plugin.hypergrad.compute_hypergradient` of the problem, in float32.

        Raises:
            FloatingPointError: ``lr="auto"`` with a λ̂ of 0 or non-finite.
        """
        with torch.autocast(device_type=self.device_type, enabled=False):
            return compute_hypergradient(
                self.train_loss,
                self.val_loss,
                self.weights,
                self.alphas,
                method=method,
                hvp=self.hvp,
                curvature=self.curvature,
                reduce=reduce,
                weight_decay=weight_decay,
            )

    def weight_gradients(self) -> list[tuple[Tensor, Tensor | None]] | None:
        """``(weight, ∇w L_tr)`` pairs when the weight step's graph was used, else ``None``.

        What the step loss' ``backward()`` would accumulate into the weights (``None`` for a
        weight it does not depend on), so the weight step can skip its backward pass.
        """
        if not self.shares_step_graph or not isinstance(self.curvature, ExactCurvature):
            return None
        return list(zip(self.weights, self.curvature.weight_gradients(), strict=True))


def network_problem(
    model: nn.Module,
    criterion: Callable[[Any, Any], Tensor],
    train_batches: Sequence[tuple[Any, Any]],
    val_batch: tuple[Any, Any],
    *,
    alphas: Sequence[Tensor],
    curvature: CurvatureSpec | None = None,
    hvp: str = "exact",
    step_loss: Tensor | None = None,
) -> NetworkProblem:
    """The hypergradient problem of ``model`` at its current parameters, built in float32.

    The model's parameters are split into the weights (every parameter not in ``alphas``, in
    the model's order) and α (in ``alphas``' order); the losses and the curvature are those of
    :func:`module_problem`, built with autocast off (every product is float32).

    Args:
        model: the network (train mode during a search); nothing is written into it.
        criterion: ``criterion(outputs, targets) -> scalar``.
        train_batches: ``(inputs, targets)`` pairs, the step's own first (see
            :func:`module_problem`).
        val_batch: the validation ``(inputs, targets)``.
        alphas: the architecture parameters, all of them parameters of ``model``.
        curvature: which curvature (default: the plain minibatch Hessian).
        hvp: ``"exact"`` or ``"finite_difference"``.
        step_loss: the weight step's training loss on ``train_batches[0]``, computed from the
            model's own parameters; its graph then serves the curvature (exact products),
            unless it was computed under autocast (low precision: a float32 pass instead).

    Raises:
        RuntimeError: an element of ``alphas`` is not a parameter of ``model``.
    """
    alpha_ids = {id(p) for p in alphas}
    w_names, weights, a_names, found = split_parameters(model, lambda _n, p: id(p) in alpha_ids)
    if len(found) != len(alphas):
        raise RuntimeError("some architecture parameters are not parameters of the model")
    name_of = {id(p): n for n, p in zip(a_names, found, strict=True)}
    device_type = weights[0].device.type if weights else "cpu"
    if step_loss is not None and torch.is_autocast_enabled(device_type):
        step_loss = None  # a low-precision graph: take float32 products instead
    with torch.autocast(device_type=device_type, enabled=False):
        train_loss, val_loss, operator = module_problem(
            model,
            criterion,
            train_batches,
            val_batch,
            weight_names=w_names,
            alpha_names=[name_of[id(p)] for p in alphas],
            weights=weights,
            alphas=alphas,
            curvature=curvature,
            hvp=hvp,
        )
        if step_loss is not None:
            operator = ExactCurvature.from_loss(step_loss, weights, alphas)
    return NetworkProblem(
        weights=list(weights),
        alphas=list(alphas),
        train_loss=train_loss,
        val_loss=val_loss,
        curvature=operator,
        hvp=hvp,
        device_type=device_type,
        shares_step_graph=step_loss is not None,
    )
