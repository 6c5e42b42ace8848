"""How a strategy turns its keyword arguments into an engine method, step after step.

Kept free of NNI and Lightning so that it can be tested and reused on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from ..hypergrad import AutoStepSize, Method, WarmStart, make_method
from ..hypergrad.autodiff import HVP_MODES
from ..hypergrad.methods import METHODS

__all__ = ["MethodSpec"]

LrOption = float | Literal["auto", "safe", "weight_lr"] | None

SAFE_ITERATIONS = 10
"""Power iterations of the first λ̂ estimate of ``lr="safe"``; later steps take one, warm."""


@dataclass(frozen=True)
class MethodSpec:
    """A hypergradient method whose step size may follow the weight learning rate.

    Args:
        name: a method name from :data:`idarts_plugin.hypergrad.METHODS`.
        options: fixed options of that method (``steps``, ``tol``, ``damping``, ...).
        lr: the method's step size (γ, ξ or η): a number, ``"auto"`` (Neumann only:
            ``γ = safety/λ̂max`` by power iteration, estimate shared across steps), ``"safe"``
            (Neumann only: ``γ = min(weight lr, 0.9/λ̂)`` with λ̂ of the step's minibatch
            Hessian from one warm-started power iteration per step), or
            ``None``/``"weight_lr"`` to use the weight optimiser's *current* learning rate,
            as the iDARTS and DARTS papers do.
        hvp: ``"exact"`` or ``"finite_difference"``.
        warm_start: Neumann only: start each solve from the previous one's ``x``
            (:class:`~idarts_plugin.hypergrad.WarmStart`).

    Example:
        >>> spec = MethodSpec(name="neumann", options={"steps": 2}, lr=None)
        >>> spec.build(weight_lr=0.025)
        Implicit(Neumann(steps=2, lr=0.025, max_growth=1000.0))
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    lr: LrOption = None
    hvp: str = "exact"
    warm_start: bool = False
    _auto: AutoStepSize | None = field(default=None, init=False, repr=False, compare=False)
    _warm: WarmStart | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.name not in METHODS:
            raise ValueError(
                f"unknown hypergradient method {self.name!r}; valid methods: {', '.join(METHODS)}"
            )
        if self.hvp not in HVP_MODES:
            raise ValueError(f"unknown hvp mode {self.hvp!r}; valid modes: {', '.join(HVP_MODES)}")
        if self.lr in ("auto", "safe"):
            if self.name != "neumann":
                raise ValueError(f"lr={self.lr!r} is only available for neumann, not {self.name!r}")
            auto = AutoStepSize() if self.lr == "auto" else _safe_estimator()
            object.__setattr__(self, "_auto", auto)
        elif self.lr not in (None, "weight_lr"):
            if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)):
                raise ValueError(
                    f"lr must be a number, 'auto', 'safe' or 'weight_lr', got {self.lr!r}"
                )
            if not (math.isfinite(self.lr) and self.lr > 0):
                raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if self.warm_start:
            if self.name != "neumann":
                raise ValueError(f"warm_start is only available for neumann, not {self.name!r}")
            object.__setattr__(self, "_warm", WarmStart())
        # Fail now, not at the first architecture step, on bad options (on a throw-away
        # build: the shared warm-start state is only attached to real ones).
        make_method(self.name, **self._options(weight_lr=1.0))

    @property
    def uses_lr(self) -> bool:
        """Whether the method has a step size at all."""
        return self.name in ("neumann", "unrolled", "amended")

    def _options(self, *, weight_lr: float) -> dict[str, Any]:
        options = dict(self.options)
        if self.uses_lr:
            if self._auto is not None:
                options["lr"] = self._auto
                if self.lr == "safe":
                    options["max_lr"] = weight_lr
            elif self.lr in (None, "weight_lr"):
                options["lr"] = weight_lr
            else:
                options["lr"] = self.lr
        return options

    def build(self, *, weight_lr: float) -> Method:
        """The method for one architecture step, given the current weight learning rate.

        A step size that follows a weight learning rate of 0 (a warm-up schedule starting at
        0) gives a first-order step: every second-order term is proportional to it.
        """
        if self.uses_lr and weight_lr == 0 and (self.lr in (None, "weight_lr", "safe")):
            return make_method("first_order")
        options = self._options(weight_lr=weight_lr)
        if self._warm is not None:
            options["warm_start"] = self._warm
        return make_method(self.name, **options)

    def state_dict(self) -> dict[str, Any]:
        """The state carried across steps (λ̂ estimator, warm-start solution), for checkpoints."""
        return {
            "auto": self._auto.state_dict() if self._auto is not None else None,
            "warm": self._warm.state_dict() if self._warm is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if self._auto is not None and state.get("auto") is not None:
            self._auto.load_state_dict(state["auto"])
        if self._warm is not None and state.get("warm") is not None:
            self._warm.load_state_dict(state["warm"])

    @property
    def auto(self) -> AutoStepSize | None:
        """The shared λmax estimator of ``lr="auto"`` (its state goes into checkpoints)."""
        return self._auto


def _safe_estimator() -> AutoStepSize:
    """λ̂ for ``lr="safe"``: one warm-started power iteration per step (amortised)."""
    return AutoStepSize(iterations=SAFE_ITERATIONS, warm_iterations=1, safety=0.9)
