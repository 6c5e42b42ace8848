"""How a strategy turns its keyword arguments into an engine method, step after step.

Kept free of NNI and Lightning so that it can be tested and reused on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from ..hypergrad import AutoStepSize, Method, make_method
from ..hypergrad.autodiff import HVP_MODES
from ..hypergrad.methods import METHODS

__all__ = ["MethodSpec"]

LrOption = float | Literal["auto", "weight_lr"] | None


@dataclass(frozen=True)
class MethodSpec:
    """A hypergradient method whose step size may follow the weight learning rate.

    Args:
        name: a method name from :data:`idarts_plugin.hypergrad.METHODS`.
        options: fixed options of that method (``steps``, ``tol``, ``damping``, ...).
        lr: the method's step size (γ, ξ or η): a number, ``"auto"`` (Neumann only:
            ``γ = safety/λ̂max`` by power iteration, estimate shared across steps), or
            ``None``/``"weight_lr"`` to use the weight optimiser's *current* learning rate,
            as the iDARTS and DARTS papers do.
        hvp: ``"exact"`` or ``"finite_difference"``.

    Example:
        >>> spec = MethodSpec(name="neumann", options={"steps": 2}, lr=None)
        >>> spec.build(weight_lr=0.025)
        Implicit(Neumann(steps=2, lr=0.025, max_growth=1000.0))
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    lr: LrOption = None
    hvp: str = "exact"
    _auto: AutoStepSize | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.name not in METHODS:
            raise ValueError(
                f"unknown hypergradient method {self.name!r}; valid methods: {', '.join(METHODS)}"
            )
        if self.hvp not in HVP_MODES:
            raise ValueError(f"unknown hvp mode {self.hvp!r}; valid modes: {', '.join(HVP_MODES)}")
        if self.lr == "auto":
            if self.name != "neumann":
                raise ValueError(f"lr='auto' is only available for neumann, not {self.name!r}")
            object.__setattr__(self, "_auto", AutoStepSize())
        elif self.lr not in (None, "weight_lr"):
            if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)):
                raise ValueError(f"lr must be a number, 'auto' or 'weight_lr', got {self.lr!r}")
            if not (math.isfinite(self.lr) and self.lr > 0):
                raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        # Fail now, not at the first architecture step, on bad options.
        self.build(weight_lr=1.0)

    @property
    def uses_lr(self) -> bool:
        """Whether the method has a step size at all."""
        return self.name in ("neumann", "unrolled", "amended")

    def build(self, *, weight_lr: float) -> Method:
        """The method for one architecture step, given the current weight learning rate."""
        options = dict(self.options)
        if self.uses_lr:
            if self._auto is not None:
                options["lr"] = self._auto
            elif self.lr in (None, "weight_lr"):
                options["lr"] = weight_lr
            else:
                options["lr"] = self.lr
        return make_method(self.name, **options)

    @property
    def auto(self) -> AutoStepSize | None:
        """The shared λmax estimator of ``lr="auto"`` (its state goes into checkpoints)."""
        return self._auto
