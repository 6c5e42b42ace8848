"""Build engine loss functions from an ``nn.Module`` without side effects.

:func:`module_loss` evaluates a module through :func:`torch.func.functional_call` with the
weight and architecture tensors the engine passes in, and with *fresh copies* of the module's
buffers on every call, so that BatchNorm (in training mode: batch statistics, as in a weight
step) never updates the module's running statistics from a Hessian-vector pass.

BatchNorm's statistics in the loss (``bn``): in training mode a minibatch's loss normalises by
that minibatch's own mean and variance, which depend on the weights; its Hessian then couples
every example to every other through them, and on small batches is far sharper than the large
batch's. ``bn="frozen"`` evaluates the loss with the statistics of the same batch at the point
of evaluation held constant (same value, no derivative through them: the loss becomes a mean of
per-example losses, and a minibatch's Hessian an unbiased estimate of the large batch's with the
same statistics); ``bn="running"`` uses the layers' running statistics (evaluation mode).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from .autodiff import LossFn
from .spec import BN_MODES

__all__ = ["BN_MODES", "batch_statistics", "module_loss", "module_outputs", "split_parameters"]


def _norm_layers(module: nn.Module) -> list[tuple[str, nn.modules.batchnorm._BatchNorm]]:
    """BatchNorm layers that keep running statistics (the ones evaluation mode changes)."""
    return [
        (name, m)
        for name, m in module.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


@contextlib.contextmanager
def _norm_eval(module: nn.Module) -> Iterator[None]:
    """BatchNorm layers in evaluation mode for the duration (their flags restored after)."""
    layers = [m for _, m in _norm_layers(module)]
    modes = [m.training for m in layers]
    try:
        for m in layers:
            m.training = False
        yield
    finally:
        for m, mode in zip(layers, modes, strict=True):
            m.training = mode


def batch_statistics(module: nn.Module, inputs: Any) -> dict[str, Tensor]:
    """Each BatchNorm layer's batch mean and (biased) variance on ``inputs``, as buffers.

    One forward pass without a graph, at the module's current parameters, in its current mode,
    on copies of its buffers (nothing is written into the module). The result maps
    ``<layer>.running_mean`` / ``<layer>.running_var`` to the statistics the layer normalised
    with, ready to override the buffers of an evaluation-mode call (``bn="frozen"``).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2)).train()
        >>> x = torch.randn(8, 1, 3, 3)
        >>> stats = batch_statistics(net, x)
        >>> sorted(stats)
        ['1.running_mean', '1.running_var']
        >>> y = net[0](x)
        >>> bool(torch.allclose(stats['1.running_mean'], y.mean((0, 2, 3))))
        True
    """
    layers = _norm_layers(module)
    stats: dict[str, Tensor] = {}

    def hook(name: str) -> Callable[..., None]:
        def record(_m: nn.Module, args: tuple[Tensor, ...], _out: Any) -> None:
            x = args[0].detach()
            dims = [d for d in range(x.dim()) if d != 1]
            stats[f"{name}.running_mean"] = x.mean(dims)
            stats[f"{name}.running_var"] = x.var(dims, unbiased=False)

        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in layers]
    try:
        state = {n: b.detach().clone() for n, b in module.named_buffers()}
        args = inputs if isinstance(inputs, tuple) else (inputs,)
        with torch.no_grad():
            functional_call(module, state, args, strict=False)
    finally:
        for h in handles:
            h.remove()
    return stats


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
    bn: str = "batch",
) -> LossFn:
    """A loss function ``f(weights, alphas)`` of a module on one fixed batch.

    Parameters not named in ``weight_names`` or ``alpha_names`` keep the module's values.
    The module's buffers are cloned for every evaluation, so nothing is written into them.
    ``bn`` chooses BatchNorm's statistics (:data:`BN_MODES`; see the module docstring):
    ``"frozen"`` measures them on ``inputs`` now (:func:`batch_statistics`) and holds them.

    Args:
        module: the network (its train/eval mode is respected).
        criterion: ``criterion(outputs, targets) -> scalar``.
        inputs: positional input (a tensor or a tuple of them) of ``module``.
        targets: passed to ``criterion``.
        weight_names: names (as in ``named_parameters``) of the weight tensors, in order.
        alpha_names: names of the architecture tensors, in order.
        bn: BatchNorm statistics: ``"batch"``, ``"frozen"`` or ``"running"``.

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
    outputs = module_outputs(
        module, inputs, weight_names=weight_names, alpha_names=alpha_names, bn=bn
    )

    def loss(weights: Sequence[Tensor], alphas: Sequence[Tensor]) -> Tensor:
        return criterion(outputs(weights, alphas), targets)

    return loss


def module_outputs(
    module: nn.Module,
    inputs: Any,
    *,
    weight_names: Sequence[str],
    alpha_names: Sequence[str],
    bn: str = "batch",
) -> Callable[[Sequence[Tensor], Sequence[Tensor]], Tensor]:
    """The module's outputs on one fixed batch as a function ``f(weights, alphas)``.

    What :func:`module_loss` applies its criterion to (and what a Gauss–Newton product
    differentiates); the same rules for parameters, buffers and ``bn``.
    """
    if bn not in BN_MODES:
        raise ValueError(f"unknown bn mode {bn!r}; valid modes: {', '.join(BN_MODES)}")
    weight_names = list(weight_names)
    alpha_names = list(alpha_names)
    buffers = dict(module.named_buffers())
    if bn == "frozen":
        buffers.update(batch_statistics(module, inputs))
    evaluate = _norm_eval if bn != "batch" else (lambda _m: contextlib.nullcontext())
    args = inputs if isinstance(inputs, tuple) else (inputs,)

    def outputs(weights: Sequence[Tensor], alphas: Sequence[Tensor]) -> Tensor:
        if len(weights) != len(weight_names) or len(alphas) != len(alpha_names):
            raise ValueError(
                f"expected {len(weight_names)} weight and {len(alpha_names)} alpha tensors, "
                f"got {len(weights)} and {len(alphas)}"
            )
        state: dict[str, Tensor] = {n: b.detach().clone() for n, b in buffers.items()}
        state.update(zip(weight_names, weights, strict=True))
        state.update(zip(alpha_names, alphas, strict=True))
        with evaluate(module):
            out: Tensor = functional_call(module, state, args, strict=False, tie_weights=True)
            return out

    return outputs
