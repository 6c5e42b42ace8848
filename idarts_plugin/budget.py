"""The search's budget rules: the warm-up and the architecture learning rate of ``auto``.

A search of ``epochs`` epochs trains the weights alone for the first ``warmup_epochs``
(``auto``: a sixth of them), then takes architecture steps; ``arc_learning_rate: auto`` sets
the architecture step so that α travels ``arc_travel`` (``lr × architecture steps``) over the
steps the search will take. These rules are pure arithmetic (no torch, NNI or run config):
:mod:`idarts_plugin.search` hands them the config's numbers, and
:mod:`idarts_plugin.config` takes ``strategy.arc_travel``'s default from :data:`ARC_TRAVEL`.

Example:
    >>> warmup = resolve_warmup_epochs("auto", epochs=30)
    >>> steps = planned_arch_steps(
    ...     epochs=30, warmup_epochs=warmup, steps_per_epoch=20, limit_batches=None, inner_steps=1
    ... )
    >>> warmup, steps, resolve_arc_learning_rate("auto", arch_steps=steps, travel=ARC_TRAVEL)
    (5, 500, 0.06)
"""

from __future__ import annotations

from .hypergrad.checks import check_int, check_number

__all__ = [
    "ARC_TRAVEL",
    "MAX_AUTO_ARC_LR",
    "PAPER_ARC_LR",
    "WARMUP_SHARE",
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
"""``warmup_epochs: auto`` = ``epochs // 6``: the weights train alone first (early α
gradients favour parameter-free ops while the weights are still random)."""


def warmup_for_budget(epochs: int) -> int:
    """Warm-up epochs of ``warmup_epochs: auto``: a sixth of the search, rounded down.

    Example:
        >>> warmup_for_budget(30), warmup_for_budget(5)
        (5, 0)
    """
    return max(0, int(epochs) // WARMUP_SHARE)


def arc_learning_rate_for_budget(
    arch_steps: int,
    *,
    travel: float = ARC_TRAVEL,
    floor: float = PAPER_ARC_LR,
    ceiling: float = MAX_AUTO_ARC_LR,
) -> float:
    """The architecture learning rate that lets α travel ``travel`` in ``arch_steps`` steps.

    Args:
        arch_steps: architecture steps the search will take.
        travel: ``lr × steps`` (see :data:`ARC_TRAVEL`).
        floor: never below this (the papers' 3e-4, reached at ~20,000 steps).
        ceiling: never above this.

    Raises:
        ValueError: ``arch_steps`` is not an integer >= 1 or ``travel`` not a finite number > 0.

    Example:
        >>> arc_learning_rate_for_budget(300)
        0.1
        >>> arc_learning_rate_for_budget(10**6)
        0.0003
    """
    check_int("arch_steps", arch_steps, minimum=1)
    check_number("travel", travel, minimum=0, strict=True)
    return min(ceiling, max(floor, float(travel) / arch_steps))


def resolve_warmup_epochs(setting: int | str, *, epochs: int) -> int:
    """``strategy.warmup_epochs`` as a number (``auto``: :func:`warmup_for_budget`).

    Args:
        setting: the config's value (an integer or ``"auto"``).
        epochs: ``trainer.epochs``.
    """
    if setting == "auto":
        return warmup_for_budget(epochs)
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


def resolve_arc_learning_rate(setting: float | str, *, arch_steps: int, travel: float) -> float:
    """``strategy.arc_learning_rate`` as a number (``auto``: fitted to the run's budget).

    Args:
        setting: the config's value (a number or ``"auto"``).
        arch_steps: :func:`planned_arch_steps`.
        travel: ``strategy.arc_travel``.
    """
    if setting != "auto":
        return float(setting)
    return arc_learning_rate_for_budget(arch_steps, travel=travel)
