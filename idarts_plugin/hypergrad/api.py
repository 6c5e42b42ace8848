"""The engine's public entry point: :func:`hypergradient`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .autodiff import LossFn, TrainCurvature, WeightDecayed, _decays, with_weight_decay
from .distributed import Reduce
from .methods import HypergradResult, Method, make_method
from .solvers import LinearSolver
from .spec import DEFAULT_METHOD, FD_SCALE, check_hvp_mode

__all__ = ["compute_hypergradient", "hypergradient"]


def _check_tensors(name: str, tensors: Sequence[Tensor]) -> list[Tensor]:
    if isinstance(tensors, Tensor):
        raise TypeError(f"{name} must be a sequence of tensors, not a single tensor; wrap it: [t]")
    out = list(tensors)
    for i, t in enumerate(out):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}[{i}] must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{name}[{i}] must be a floating-point tensor, got {t.dtype}")
    return out


def compute_hypergradient(
    train_loss: LossFn,
    val_loss: LossFn,
    weights: Sequence[Tensor],
    alphas: Sequence[Tensor],
    *,
    method: str | Method | LinearSolver = DEFAULT_METHOD,
    hvp: str = "exact",
    fd_scale: float = FD_SCALE,
    curvature: TrainCurvature | None = None,
    reduce: Reduce | None = None,
    weight_decay: float | Sequence[float] = 0.0,
    **options: Any,
) -> HypergradResult:
    """Like :func:`hypergradient`, but also return the :class:`Diagnostics` of the call.

    ``curvature`` (optional) is a ready :class:`TrainCurvature` of ``train_loss`` at
    ``(weights, alphas)``, e.g. ``ExactCurvature.from_loss(loss, weights, alphas)`` of a loss
    the caller computed anyway (the weight step's), which saves the Hessian terms' forward pass.
    ``reduce`` (optional) averages every derivative over data-parallel ranks, making the result
    the union batch's hypergradient on every rank (see
    :func:`idarts_plugin.hypergrad.distributed.process_group_mean`).
    ``weight_decay`` (λ, one for all weight tensors or one per tensor) makes the inner problem
    ``L_tr + ½ Σ λ_i ‖w_i‖²``, the one a weight optimiser with L2 weight decay solves:
    ``H + λI`` in every product and ``∇w L_tr + λw`` in DARTS-V2's virtual step.
    """
    weights = _check_tensors("weights", weights)
    alphas = _check_tensors("alphas", alphas)
    if not alphas:
        raise ValueError("alphas is empty: there is no architecture parameter to differentiate")
    check_hvp_mode(hvp)
    resolved = make_method(method, **options)
    decays = _decays(weight_decay, len(weights))  # validated now, not at the first product
    if any(decays):
        train_loss = with_weight_decay(train_loss, decays)
        if curvature is not None:
            curvature = WeightDecayed(curvature, weights, decays)
    with torch.enable_grad():
        return resolved(
            train_loss,
            val_loss,
            weights,
            alphas,
            hvp=hvp,
            fd_scale=fd_scale,
            curvature=curvature,
            **({} if reduce is None else {"reduce": reduce}),
        )


def hypergradient(
    train_loss: LossFn,
    val_loss: LossFn,
    weights: Sequence[Tensor],
    alphas: Sequence[Tensor],
    *,
    method: str | Method | LinearSolver = DEFAULT_METHOD,
    hvp: str = "exact",
    fd_scale: float = FD_SCALE,
    weight_decay: float | Sequence[float] = 0.0,
    **options: Any,
) -> tuple[Tensor, ...]:
    """The architecture gradient of a bilevel problem, one tensor per architecture tensor.

    ``train_loss(weights, alphas)`` and ``val_loss(weights, alphas)`` must compute their loss
    from the tensors they are given (build them with :func:`torch.func.functional_call`, or
    with :func:`idarts_plugin.hypergrad.module_loss`). No method writes into ``weights``,
    ``alphas``, their ``.grad`` or anything else it was given.

    Args:
        train_loss: the inner (training) loss.
        val_loss: the outer (validation) loss.
        weights: the network weights ``w`` (at the point of evaluation).
        alphas: the architecture parameters ``α``; any number and shapes.
        method: a name from :data:`~idarts_plugin.hypergrad.METHODS` (``first_order``,
            ``unrolled``, ``neumann``, ``amended``, ``cg``), a built method, or a bare
            :class:`~idarts_plugin.hypergrad.LinearSolver` (wrapped in the implicit form).
        hvp: ``"exact"`` (double backward) or ``"finite_difference"`` (no second-order graph).
        fd_scale: ε numerator for finite differences, ``ε = fd_scale / ‖v‖``.
        weight_decay: λ of the inner problem ``L_tr + ½ λ ‖w‖²`` (a number, or one per
            weight tensor); ``0`` differentiates the training criterion alone.
        **options: the named method's options: ``neumann``: ``steps`` (K), ``lr`` (γ or
            ``"auto"``), ``max_growth``; ``unrolled``: ``lr`` (ξ); ``amended``: ``lr`` (η);
            ``cg``: ``steps``, ``tol``, ``damping``.

    Returns:
        A tuple of tensors, the same shapes as ``alphas``.

    Raises:
        ValueError: an unknown method, option or hvp mode (the message lists the valid ones).

    Example:
        >>> import torch
        >>> w = [torch.tensor([1.0, 2.0], dtype=torch.float64)]
        >>> a = [torch.tensor([0.5], dtype=torch.float64)]
        >>> tr = lambda w, a: ((w[0] - a[0]) ** 2).sum()      # w*(α) = α
        >>> va = lambda w, a: (w[0] ** 2).sum()
        >>> hypergradient(tr, va, w, a, method="cg", steps=5)[0]  # d/dα 2α² = 4α at w = w*
        tensor([6.], dtype=torch.float64)
    """
    return compute_hypergradient(
        train_loss,
        val_loss,
        weights,
        alphas,
        method=method,
        hvp=hvp,
        fd_scale=fd_scale,
        weight_decay=weight_decay,
        **options,
    ).grads
