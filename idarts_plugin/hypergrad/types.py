"""The engine's shared type aliases, in one place (torch is needed only to type-check them).

Example:
    >>> from idarts_plugin.hypergrad.types import LrOption
    >>> LrOption
    'float | Literal["auto", "safe", "weight_lr"] | None'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Literal

    from torch import Tensor

__all__ = ["LossFn", "LrOption", "Reduce", "VirtualStep"]

LrOption: TypeAlias = 'float | Literal["auto", "safe", "weight_lr"] | None'
"""A method's step size: a number, ``"auto"`` / ``"safe"`` (Neumann), ``"weight_lr"`` or
``None`` (the weight optimiser's current learning rate)."""

VirtualStep: TypeAlias = 'Literal["sgd", "optimizer"]'
"""DARTS-V2's virtual step: the paper's plain SGD step, or the weight optimiser's."""

LossFn: TypeAlias = "Callable[[Sequence[Tensor], Sequence[Tensor]], Tensor]"
"""A scalar loss as a function of the weight tensors and the architecture tensors."""

Reduce: TypeAlias = "Callable[[Sequence[Tensor]], list[Tensor]]"
"""Averages a list of tensors over the data-parallel ranks (identity on one process)."""
