"""Build engine loss functions from an ``nn.Module`` without side effects.

:func:`module_loss` evaluates a module through :func:`torch.func.functional_call` with the
weight and architecture tensors the engine passes in, and with *fresh copies* of the module's
buffers on every call, so that BatchNorm (in training mode: batch statistics, as in a weight
step) never updates the module's running statistics from a Hessian-vector pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor, nn
from torch.func import functional_call

from .autodiff import LossFn

__all__ = ["module_loss", "split_parameters"]


def split_parameters(
    module: nn.Module, is_alpha: Callable[[str, nn.Parameter], bool]
) -> tuple[list[str], list[nn.Parameter], list[str], list[nn.Parameter]]:
    """Split a module's (deduplicated) parameters into weights and architecture parameters.

    Args:
        module: the network.
        is_alpha: predicate on ``(name, parameter)`` selecting architecture parameters.

    Returns:
        ``(weight_names, weights, alpha_names, alphas)``.
    """
    w_names: list[str] = []
    ws: list[nn.Parameter] = []
    a_names: list[str] = []
    as_: list[nn.Parameter] = []
    for name, p in module.named_parameters():
        if is_alpha(name, p):
            a_names.append(name)
            as_.append(p)
        else:
            w_names.append(name)
            ws.append(p)
    return w_names, ws, a_names, as_


def module_loss(
    module: nn.Module,
    criterion: Callable[[Any, Any], Tensor],
    inputs: Any,
    targets: Any,
    *,
    weight_names: Sequence[str],
    alpha_names: Sequence[str],
) -> LossFn:
    """A loss function ``f(weights, alphas)`` of a module on one fixed batch.

    Parameters not named in ``weight_names`` or ``alpha_names`` keep the module's values.
    The module's buffers are cloned for every evaluation, so nothing is written into them.

    Args:
        module: the network (its train/eval mode is respected).
        criterion: ``criterion(outputs, targets) -> scalar``.
        inputs: positional input (a tensor or a tuple of them) of ``module``.
        targets: passed to ``criterion``.
        weight_names: names (as in ``named_parameters``) of the weight tensors, in order.
        alpha_names: names of the architecture tensors, in order.

    Example:
        >>> import torch
        >>> net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
        >>> names = [n for n, _ in net.named_parameters()]
        >>> f = module_loss(net, nn.functional.mse_loss, torch.randn(4, 3), torch.zeros(4, 2),
        ...                 weight_names=names, alpha_names=[])
        >>> before = net[1].running_mean.clone()
        >>> _ = f([p for p in net.parameters()], [])
        >>> bool(torch.equal(before, net[1].running_mean))
        True
    """
    weight_names = list(weight_names)
    alpha_names = list(alpha_names)
    buffers = dict(module.named_buffers())
    args = inputs if isinstance(inputs, tuple) else (inputs,)

    def loss(weights: Sequence[Tensor], alphas: Sequence[Tensor]) -> Tensor:
        if len(weights) != len(weight_names) or len(alphas) != len(alpha_names):
            raise ValueError(
                f"expected {len(weight_names)} weight and {len(alpha_names)} alpha tensors, "
                f"got {len(weights)} and {len(alphas)}"
            )
        state: dict[str, Tensor] = {n: b.detach().clone() for n, b in buffers.items()}
        state.update(zip(weight_names, weights, strict=True))
        state.update(zip(alpha_names, alphas, strict=True))
        out = functional_call(module, state, args, strict=False, tie_weights=True)
        return criterion(out, targets)

    return loss
