"""Data-parallel hypergradients: every derivative averaged over the ranks of a process group.

With the loss a mean over samples and each rank holding an equal shard of the batch, the
union batch's gradient and Hessian-vector products are the *means* of the ranks' own. So a
hypergradient whose every derivative (``∇ L_val``, each ``H v``, each mixed product, ``∇w L_tr``)
is averaged across ranks *is* the hypergradient of the union batch: the Neumann/CG iterates
are then identical on every rank, and so is the α update. Averaging the ranks' finished
hypergradients instead would not be: a Neumann series is a polynomial in H, not linear in the
batch. The double backward never runs through DistributedDataParallel's hooks, so this is
done explicitly, with ``torch.distributed.all_reduce`` (one flat buffer per product).

Example:
    >>> import torch
    >>> from idarts_plugin.hypergrad.distributed import process_group_mean
    >>> process_group_mean() is None     # no process group initialised: nothing to reduce
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor

from .autodiff import TrainCurvature
from .types import Reduce

__all__ = ["Reduce", "ReducedCurvature", "process_group_mean", "reduced"]


def process_group_mean(group: Any = None) -> Reduce | None:
    """A :data:`Reduce` averaging over ``group`` (default: the world ranks).

    Returns ``None`` when ``torch.distributed`` is not initialised or has a single rank.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return None
    world = dist.get_world_size(group)
    if world == 1:
        return None

    def mean(tensors: Sequence[Tensor]) -> list[Tensor]:
        ts = list(tensors)
        if not ts:
            return []
        flat = torch.cat([t.detach().reshape(-1) for t in ts])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=group)
        flat /= world
        out, start = [], 0
        for t in ts:
            out.append(flat[start : start + t.numel()].view_as(t))
            start += t.numel()
        return out

    return mean


class ReducedCurvature:
    """A curvature operator whose products are averaged over ranks.

    Wraps any :class:`~idarts_plugin.hypergrad.TrainCurvature` (see the module docstring);
    ``n_products`` counts the local products.
    """

    def __init__(self, inner: TrainCurvature, reduce: Reduce) -> None:
        self.inner = inner
        self.reduce = reduce

    @property
    def n_products(self) -> int:
        """Products taken by the wrapped operator."""
        return self.inner.n_products

    def hvp(self, v: Sequence[Tensor]) -> list[Tensor]:
        """The union batch's ``H v``."""
        return self.reduce(self.inner.hvp(v))

    def mixed(self, v: Sequence[Tensor]) -> list[Tensor]:
        """The union batch's ``∇²_{αw} L_tr · v``."""
        return self.reduce(self.inner.mixed(v))

    @property
    def gradient(self) -> list[Tensor]:
        """The union batch's ``∇w L_tr`` (only if the wrapped operator holds it)."""
        return self.reduce(self.inner.gradient)  # type: ignore[attr-defined]


def reduced(curvature: TrainCurvature, reduce: Reduce | None) -> TrainCurvature:
    """``curvature`` itself, or wrapped so its products are averaged by ``reduce``."""
    if reduce is None:
        return curvature
    return cast(TrainCurvature, ReducedCurvature(curvature, reduce))
