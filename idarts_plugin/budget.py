"""The search's budget rules: the warm-up and the architecture learning rate of ``auto``.

A search of ``epochs`` epochs trains the weights alone for the first ``warmup_epochs``, then
takes architecture steps. ``warmup_epochs: auto`` is a sixth of the epochs, but no more whole
epochs than hold ``warmup_steps`` weight steps (:data:`WARMUP_STEPS`); ``arc_learning_rate:
auto`` sets the architecture step so that α travels ``arc_travel`` (``lr × steps``) over the
search's architecture steps, or over the first ``arc_horizon`` of them (:data:`ARC_HORIZON`)
in a longer search. Both caps make the α schedule of a long search the one of a 480-step
search: a schedule that stretches with the budget lets α decide later, on a better-trained
supernet, and the longer the search the more parameter-free the first cell it decides
(``docs/search_quality.md``). ``None`` for a cap gives the rule without it (the schedule
that stretched with the budget). These rules are pure arithmetic (no torch, NNI or run config):
:mod:`idarts_plugin.search` hands them the config's numbers, and :mod:`idarts_plugin.config`
takes its defaults from this module's constants.

Example:
    >>> warmup = resolve_warmup_epochs("auto", epochs=36, steps_per_epoch=64)
    >>> steps = planned_arch_steps(
    ...     epochs=36, warmup_epochs=warmup, steps_per_epoch=64, limit_batches=None, inner_steps=1
    ... )
    >>> warmup, steps, resolve_arc_learning_rate("auto", arch_steps=steps, travel=ARC_TRAVEL)
    (2, 2176, 0.0625)
    >>> warmup = resolve_warmup_epochs("auto", epochs=36, steps_per_epoch=64, warmup_steps=None)
    >>> steps = planned_arch_steps(
    ...     epochs=36, warmup_epochs=warmup, steps_per_epoch=64, limit_batches=None, inner_steps=1
    ... )
    >>> warmup, resolve_arc_learning_rate("auto", arch_steps=steps, travel=ARC_TRAVEL, horizon=None)
    (6, 0.015625)
"""

from __future__ import annotations

from dataclasses import dataclass

from .hypergrad.checks import check_int, check_number

__all__ = [
    "ARC_HORIZON",
    "ARC_TRAVEL",
    "MAX_AUTO_ARC_LR",
    "PAPER_ARC_LR",
    "SCHEDULE_KEYS",
    "WARMUP_SHARE",
    "WARMUP_STEPS",
    "AlphaSchedule",
    "arc_learning_rate_for_budget",
    "planned_arch_steps",
    "resolve_arc_learning_rate",
    "resolve_warmup_epochs",
    "warmup_for_budget",
]

ARC_TRAVEL = 30.0
"""Default ``lr × architecture steps`` of ``arc_learning_rate: auto``.

DARTS' CIFAR-10 search takes 50 epochs × 390 architecture steps at Adam lr 3e-4: a product of
5.85. Adam's mean step is about ``lr × SNR`` of the α gradient, and on CPU-sized searches the
minibatch noise keeps α near uniform at that product (measured: NNI's DARTS, 240 steps,
product 6: mean normalised entropy 0.93-0.97). 30 lets the search decide in a few hundred
steps (``benchmarks/RESULTS.md``, search-quality)."""

PAPER_ARC_LR = 3e-4
"""DARTS' and iDARTS' architecture learning rate (the floor of ``auto``)."""

MAX_AUTO_ARC_LR = 0.2
"""The ceiling of ``auto`` (reached below 150 steps)."""

WARMUP_SHARE = 6
"""``warmup_epochs: auto`` is at most ``epochs // 6``: the weights train alone first (early α
gradients favour parameter-free ops while the weights are still random)."""

WARMUP_STEPS = 96
"""``strategy.warmup_steps``: ``warmup_epochs: auto`` is no more whole epochs than hold this
many weight steps. 96 is the warm-up of the budget sweep's 480-step search (2 epochs × 48
batches), whose cells held; searches whose warm-up grew with the budget (6 epochs × 64 at
1920 steps, 8 × 78 at 3120) handed back parameter-free cells (``benchmarks/RESULTS.md``)."""

ARC_HORIZON = 480
"""``strategy.arc_horizon``: ``arc_learning_rate: auto`` spreads ``arc_travel`` over at most
this many architecture steps, so α moves as fast in a long search as in a 480-step one
(lr 30 / 480 = 0.0625 at the default travel) instead of ever slower."""


def warmup_for_budget(
    epochs: int, *, steps_per_epoch: int | None = None, warmup_steps: int | None = None
) -> int:
    """Warm-up epochs of ``warmup_epochs: auto``.

    A sixth of the search, rounded down; with ``warmup_steps`` and ``steps_per_epoch`` given,
    no more than the fewest whole epochs that hold ``warmup_steps`` weight steps.

    Args:
        epochs: ``trainer.epochs``.
        steps_per_epoch: weight steps per epoch (``None``: no cap).
        warmup_steps: the cap in weight steps (``None``: no cap; 0: no warm-up).

    Example:
        >>> warmup_for_budget(30), warmup_for_budget(5)
        (5, 0)
        >>> warmup_for_budget(48, steps_per_epoch=78, warmup_steps=96)  # 2 epochs hold 96
        2
        >>> warmup_for_budget(30, steps_per_epoch=11, warmup_steps=96)  # a sixth is fewer
        5
    """
    share = max(0, int(epochs) // WARMUP_SHARE)
    if warmup_steps is None or steps_per_epoch is None:
        return share
    check_int("warmup_steps", warmup_steps, minimum=0)
    check_int("steps_per_epoch", steps_per_epoch, minimum=1)
    return min(share, -(-int(warmup_steps) // int(steps_per_epoch)))


def arc_learning_rate_for_budget(
    arch_steps: int,
    *,
    travel: float = ARC_TRAVEL,
    floor: float = PAPER_ARC_LR,
    ceiling: float = MAX_AUTO_ARC_LR,
    horizon: int | None = None,
) -> float:
    """The architecture learning rate that lets α travel ``travel`` in ``arch_steps`` steps.

    Args:
        arch_steps: architecture steps the search will take.
        travel: ``lr × steps`` (see :data:`ARC_TRAVEL`).
        floor: never below this (the papers' 3e-4, reached at ~20,000 steps).
        ceiling: never above this.
        horizon: spread ``travel`` over at most this many steps (``None``: over all of them;
            see :data:`ARC_HORIZON`).

    Raises:
        ValueError: ``arch_steps`` is not an integer >= 1 or ``travel`` not a finite number > 0.

    Example:
        >>> arc_learning_rate_for_budget(300)
        0.1
        >>> arc_learning_rate_for_budget(10**6)
        0.0003
        >>> arc_learning_rate_for_budget(3588, horizon=480)
        0.0625
    """
    check_int("arch_steps", arch_steps, minimum=1)
    check_number("travel", travel, minimum=0, strict=True)
    steps = arch_steps
    if horizon is not None:
        steps = min(steps, check_int("horizon", horizon, minimum=1))
    return min(ceiling, max(floor, float(travel) / steps))


def resolve_warmup_epochs(
    setting: int | str,
    *,
    epochs: int,
    steps_per_epoch: int | None = None,
    warmup_steps: int | None = WARMUP_STEPS,
) -> int:
    """``strategy.warmup_epochs`` as a number (``auto``: :func:`warmup_for_budget`).

    Args:
        setting: the config's value (an integer or ``"auto"``).
        epochs: ``trainer.epochs``.
        steps_per_epoch: weight steps per epoch (``None``: the cap is not applied).
        warmup_steps: ``strategy.warmup_steps`` (``None``: no cap).
    """
    if setting == "auto":
        return warmup_for_budget(epochs, steps_per_epoch=steps_per_epoch, warmup_steps=warmup_steps)
    return int(setting)


def planned_arch_steps(
    *,
    epochs: int,
    warmup_epochs: int,
    steps_per_epoch: int,
    limit_batches: int | None,
    inner_steps: int,
) -> int:
    """Architecture steps a search will take (for ``arc_learning_rate: auto``).

    Args:
        epochs: ``trainer.epochs``.
        warmup_epochs: the resolved warm-up (:func:`resolve_warmup_epochs`).
        steps_per_epoch: batches per epoch of the shorter of the two loaders.
        limit_batches: ``trainer.limit_batches`` (``None``: whole epochs).
        inner_steps: weight steps per architecture step (1 for a first-order strategy).
    """
    per_epoch = steps_per_epoch
    if limit_batches is not None:
        per_epoch = min(per_epoch, limit_batches)
    searching = max(epochs - warmup_epochs, 1)
    return max(1, searching * -(-per_epoch // inner_steps))


def resolve_arc_learning_rate(
    setting: float | str, *, arch_steps: int, travel: float, horizon: int | None = ARC_HORIZON
) -> float:
    """``strategy.arc_learning_rate`` as a number (``auto``: fitted to the run's budget).

    Args:
        setting: the config's value (a number or ``"auto"``).
        arch_steps: :func:`planned_arch_steps`.
        travel: ``strategy.arc_travel``.
        horizon: ``strategy.arc_horizon`` (``None``: the whole search).
    """
    if setting != "auto":
        return float(setting)
    return arc_learning_rate_for_budget(arch_steps, travel=travel, horizon=horizon)


SCHEDULE_KEYS = ("arc_learning_rate", "warmup_epochs", "arc_travel", "arc_horizon", "warmup_steps")
"""The keys of :class:`AlphaSchedule`: run-config keys of ``strategy`` and keywords of the
Python strategies alike."""


@dataclass(frozen=True, kw_only=True)
class AlphaSchedule:
    """When α starts to move and how fast: the run config's five schedule keys as one value.

    ``idarts search`` (``strategy.arc_learning_rate``, ``arc_travel``, ``arc_horizon``,
    ``warmup_epochs``, ``warmup_steps``) and the Python strategies (the same keywords) share
    these defaults: ``auto`` for both, fitted to the run's epochs and batches once they are
    known (:meth:`resolve`), with the caps that keep a long search on the α schedule of a
    480-step one. :meth:`paper` is DARTS' and iDARTS' (Adam 3e-4 from the first epoch).

    Attributes:
        arc_learning_rate: Adam learning rate of α, or ``"auto"``
            (:func:`arc_learning_rate_for_budget`).
        warmup_epochs: epochs of weight training before α moves, or ``"auto"``
            (:func:`warmup_for_budget`).
        arc_travel: ``lr × architecture steps`` of ``auto`` (:data:`ARC_TRAVEL`).
        arc_horizon: ``auto`` spreads ``arc_travel`` over at most this many architecture
            steps (``None``: all of them; :data:`ARC_HORIZON`).
        warmup_steps: ``auto``'s warm-up holds no more whole epochs than these weight steps
            need (``None``: no cap; :data:`WARMUP_STEPS`).

    Raises:
        ValueError: a value out of range, naming the key.

    Example:
        >>> AlphaSchedule().resolve(epochs=36, steps_per_epoch=64)
        (0.0625, 2, 2176)
        >>> AlphaSchedule(arc_horizon=None, warmup_steps=None).resolve(epochs=36, steps_per_epoch=64)
        (0.015625, 6, 1920)
        >>> AlphaSchedule.paper().resolve(epochs=36, steps_per_epoch=64)
        (0.0003, 0, 2304)
    """

    arc_learning_rate: float | str = "auto"
    warmup_epochs: int | str = "auto"
    arc_travel: float = ARC_TRAVEL
    arc_horizon: int | None = ARC_HORIZON
    warmup_steps: int | None = WARMUP_STEPS

    def __post_init__(self) -> None:
        if self.arc_learning_rate != "auto":
            lr = check_number("arc_learning_rate", self.arc_learning_rate, minimum=0, strict=True)
            object.__setattr__(self, "arc_learning_rate", lr)
        if self.warmup_epochs != "auto":
            check_int("warmup_epochs", self.warmup_epochs, minimum=0)
        check_number("arc_travel", self.arc_travel, minimum=0, strict=True)
        if self.arc_horizon is not None:
            check_int("arc_horizon", self.arc_horizon, minimum=1)
        if self.warmup_steps is not None:
            check_int("warmup_steps", self.warmup_steps, minimum=0)

    @classmethod
    def paper(cls) -> AlphaSchedule:
        """DARTS' and iDARTS' schedule: Adam 3e-4 (:data:`PAPER_ARC_LR`), no warm-up."""
        return cls(arc_learning_rate=PAPER_ARC_LR, warmup_epochs=0)

    @property
    def is_fixed(self) -> bool:
        """Neither value is ``auto`` (nothing depends on the run's length)."""
        return self.arc_learning_rate != "auto" and self.warmup_epochs != "auto"

    def resolve(
        self,
        *,
        epochs: int,
        steps_per_epoch: int,
        inner_steps: int = 1,
        limit_batches: int | None = None,
    ) -> tuple[float, int, int]:
        """The architecture learning rate, the warm-up epochs and the planned architecture steps.

        Args:
            epochs: the search's epochs.
            steps_per_epoch: batches per epoch of the shorter of the two search loaders.
            inner_steps: weight steps per architecture step (1 for a first-order strategy).
            limit_batches: at most this many batches an epoch (``None``: all).

        Raises:
            ValueError: ``epochs``, ``steps_per_epoch`` or ``inner_steps`` not an integer >= 1.
        """
        check_int("epochs", epochs, minimum=1)
        check_int("steps_per_epoch", steps_per_epoch, minimum=1)
        check_int("inner_steps", inner_steps, minimum=1)
        per_epoch = (
            steps_per_epoch if limit_batches is None else min(steps_per_epoch, limit_batches)
        )
        warmup = resolve_warmup_epochs(
            self.warmup_epochs,
            epochs=epochs,
            steps_per_epoch=per_epoch,
            warmup_steps=self.warmup_steps,
        )
        arch_steps = planned_arch_steps(
            epochs=epochs,
            warmup_epochs=warmup,
            steps_per_epoch=per_epoch,
            limit_batches=None,  # already in per_epoch
            inner_steps=inner_steps,
        )
        lr = resolve_arc_learning_rate(
            self.arc_learning_rate,
            arch_steps=arch_steps,
            travel=self.arc_travel,
            horizon=self.arc_horizon,
        )
        return lr, warmup, arch_steps
