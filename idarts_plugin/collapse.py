"""DARTS' collapse in one place: the signal, its threshold, the warning and the remedies.

A long DARTS-style search tends to hand back a cell of parameter-free ops (skip connections,
pooling, ``none``): the *collapse*. The budget sweep (``docs/search_quality.md``) found it in
every hypergradient this plugin offers once the supernet is well trained. This module holds
what the rest of the package knows about it, torch-free:

* the **signal**: :func:`parameter_free_share` of a derived cell, and :data:`COLLAPSE_SHARE`,
  the share from which a cell counts as collapsed (:func:`is_collapsed`);
* the **warning** a finished search logs (:func:`collapse_warning`);
* the **remedies** a search can apply (:class:`Remedies`): β-DARTS' α regulariser, DARTS-'
  auxiliary skip, and the early stop that keeps the least parameter-free cell from before
  the collapse (:func:`select_epoch`, triggered above :func:`chance_share`). Perturbation-based derivation (DARTS-PT) is a derivation rule
  (:data:`idarts_plugin.derive.DERIVATIONS`).

Example:
    >>> parameter_free_share({"e0": "skip_connect", "e1": "nor_conv_3x3"})
    0.5
    >>> is_collapsed(0.5), is_collapsed(0.33)
    (True, False)
    >>> select_epoch([(0, 0.17), (1, 0.33), (2, 0.5), (3, 0.83)], chance=0.5).epoch
    0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .derive import candidates
from .hypergrad.checks import check_choice, check_int, check_number
from .hypergrad.regularizers import SCHEDULES

__all__ = [
    "AUX_SKIP_AUTO",
    "BETA_DECAY_DEFAULT",
    "COLLAPSE_SHARE",
    "EARLY_STOPS",
    "EARLY_STOP_PATIENCE",
    "PARAMETER_FREE_OPS",
    "REMEDY_KEYS",
    "EpochChoice",
    "Remedies",
    "aux_skip_coefficient",
    "chance_share",
    "collapse_warning",
    "early_stop_choice",
    "is_collapsed",
    "parameter_free_share",
    "select_epoch",
]

PARAMETER_FREE_OPS = frozenset({"none", "skip_connect", "avg_pool_3x3", "max_pool_3x3", "zero"})
"""Ops without weights (any op whose name contains ``pool`` or ``skip`` counts too)."""

COLLAPSE_SHARE = 0.5
"""A found cell with at least this share of parameter-free ops counts as collapsed: the
sweep's finding calls the point a collapse and a search warns. The sweep found the collapsed
cells of DARTS, ImplicitDARTS and AmendedDARTS at 0.67–1.0 and random search's best cells at
0.33 (``docs/search_quality.md``). The early stop fires above the space's
:func:`chance_share` instead (0.5 on NAS-Bench-201 without ``none``: at 0.5 itself it fired on
the first architecture epoch of 5 searches in 6)."""

AUX_SKIP_AUTO = 1.0
"""The auxiliary skip's initial weight under ``aux_skip: auto`` on a space whose edges keep
their input's shape (DARTS-' β₀ = 1; Chu et al., ICLR 2021). With the early stop it gave the
sweep's best cells (93.7 % at 480, 93.4 % at 1920 architecture steps, ImplicitDARTS γ auto),
but on the digits demo it drove the search to pooling and skip cells (share 0.83 → 1.0), so
it is not a default (``docs/search_quality.md``)."""

BETA_DECAY_DEFAULT = 2.0
"""β-decay's default λ (linear schedule): with the early stop, the default remedy. Measured
(NAS-Bench-201 CIFAR-10 of the cell handed back, 3 seeds): 93.4 % at 480 and 93.1 % at 1920
architecture steps, where the search without a remedy handed back 56.1 % at 1920; the digits
demo decides (5/6 edges) with no parameter-free op (``docs/search_quality.md``)."""

EARLY_STOPS = ("off", "collapse")
"""``strategy.early_stop``: ``off``, or ``collapse``: stop once the derived cells of
:data:`EARLY_STOP_PATIENCE` epochs in a row are more parameter-free than a random cell of the
space, and keep the least parameter-free cell of the epochs before them, or of the whole
search if that never happens (:func:`select_epoch`)."""

EARLY_STOP_PATIENCE = 2
"""``strategy.early_stop_patience``: how many architecture epochs in a row must be above
chance before the early stop fires. 1 fired on a single epoch's flip of a nearly uniform α:
on the budget sweep's cached searches (1920 steps), NNI's DARTS with β-decay handed back
86.1 % on a seed whose first architecture epoch was above chance and whose second was not
(2 in a row: 92.3 %), and no search's cell was worse with 2 (``docs/search_quality.md``)."""


def is_parameter_free(op: str) -> bool:
    """Whether an op name is a parameter-free op (skip, pooling, none, zero)."""
    return op in PARAMETER_FREE_OPS or "pool" in op or "skip" in op


def parameter_free_share(export: Mapping[str, Any]) -> float | None:
    """Share of the chosen ops (string values of NNI's export dict) that are parameter-free.

    Returns ``None`` when no exported choice is an op name (e.g. only input choices).
    """
    ops = [v for v in export.values() if isinstance(v, str)]
    if not ops:
        return None
    return sum(1 for v in ops if is_parameter_free(v)) / len(ops)


def is_collapsed(share: float | None) -> bool:
    """Whether a cell's parameter-free share reaches :data:`COLLAPSE_SHARE`."""
    return share is not None and share >= COLLAPSE_SHARE


def collapse_warning(share: float | None) -> str | None:
    """The warning a finished search logs for its derived cell (``None``: not collapsed)."""
    if not is_collapsed(share):
        return None
    assert share is not None
    return (
        f"the derived cell is {100 * share:.0f} % parameter-free (skip, pooling, none): the "
        "sign of DARTS' collapse, which longer searches make worse (docs/search_quality.md); "
        "check the cell (idarts evaluate) before trusting it, or use a remedy: "
        "strategy.derive=perturbation, strategy.early_stop=collapse, strategy.beta_decay, "
        "strategy.aux_skip"
    )


def aux_skip_coefficient(initial: float, *, epoch: int, epochs: int) -> float:
    """DARTS-' auxiliary-skip weight in ``epoch``: ``initial · (1 − epoch/epochs)``.

    Linear from ``initial`` in the first epoch towards 0; after the search (and in the
    derivation) it is 0.

    Example:
        >>> [aux_skip_coefficient(1.0, epoch=e, epochs=4) for e in range(5)]
        [1.0, 0.75, 0.5, 0.25, 0.0]
    """
    if epochs <= 0:
        return 0.0
    return initial * max(0.0, 1.0 - epoch / epochs)


@dataclass(frozen=True)
class EpochChoice:
    """Which epoch's cell a search hands back, and why.

    Attributes:
        epoch: the chosen epoch (its α gives the cell).
        fired: the epoch whose cell was collapsed (``None``: the signal never fired).
        reason: one line for ``summary.json`` and the log.
    """

    epoch: int
    fired: int | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for ``summary.json``."""
        return {"epoch": self.epoch, "fired_at": self.fired, "reason": self.reason}


def chance_share(candidates: Mapping[str, Iterable[str]]) -> float | None:
    """The parameter-free share a uniformly random cell has on average.

    Per edge, the share of its candidate ops that are parameter-free, averaged over the edges:
    the early stop's trigger (:func:`select_epoch`). On NAS-Bench-201 with ``none`` excluded
    (skip, avg-pool, conv 1×1, conv 3×3) it is 0.5, so :data:`COLLAPSE_SHARE` alone would fire
    on two random cells in three.

    Args:
        candidates: edge label → the ops the derivation chooses from.

    Returns:
        The share, or ``None`` when no edge has op candidates.

    Example:
        >>> chance_share({"e0": ["skip_connect", "avg_pool_3x3", "conv_1x1", "conv_3x3"]})
        0.5
        >>> chance_share({"e0": ["none", "skip_connect", "conv_3x3"], "e1": ["conv_3x3"]})
        0.3333333333333333
    """
    fractions = []
    for ops in candidates.values():
        names = [o for o in ops if isinstance(o, str)]
        if names:
            fractions.append(sum(1 for o in names if is_parameter_free(o)) / len(names))
    return sum(fractions) / len(fractions) if fractions else None


def select_epoch(
    shares: Sequence[tuple[int, float | None]],
    *,
    first: int = 0,
    chance: float | None = None,
    patience: int = EARLY_STOP_PATIENCE,
) -> EpochChoice:
    """The epoch to keep: the least parameter-free cell before the collapse signal fires.

    The signal fires once ``patience`` architecture epochs in a row have cells more
    parameter-free than a random cell of the space is on average (``chance``,
    :func:`chance_share`); a cell as parameter-free as chance is noise, not a collapse, and so
    is a single epoch above it that the next epoch undoes (the argmax of a nearly uniform α
    flips). Of the architecture epochs before the first of that run (all of them, if it never
    fires), the one whose cell has the lowest share is kept (of equals, the latest: its α has
    trained longest). The warm-up's epochs (α still uniform, its argmax arbitrary) neither
    fire nor are kept: a search whose first architecture epochs fire keeps the first.

    The decision at an epoch reads only the epochs up to it, so a search that checks after
    every epoch stops at :attr:`EpochChoice.fired`, the epoch that completes the run.

    Args:
        shares: ``(epoch, parameter-free share of that epoch's derived cell)``, in order.
        first: the first architecture epoch (the warm-up's length).
        chance: the trigger; ``None``: :data:`COLLAPSE_SHARE` (for a space whose candidates
            are unknown).
        patience: how many architecture epochs in a row must be above the trigger
            (:data:`EARLY_STOP_PATIENCE` by default; 1: the first one fires).

    Raises:
        ValueError: no epoch, or ``patience`` < 1.

    Example:
        >>> shares = [(0, 0.67), (1, 0.33), (2, 0.67), (3, 0.33), (4, 0.83), (5, 0.83)]
        >>> select_epoch(shares, first=1, chance=0.5, patience=1).epoch
        1
        >>> choice = select_epoch(shares, first=1, chance=0.5)  # patience 2
        >>> choice.epoch, choice.fired
        (3, 5)
        >>> quiet = select_epoch([(0, 0.67), (1, 0.33), (2, 0.5)], first=1, chance=0.5)
        >>> quiet.epoch, quiet.fired
        (1, None)
    """
    if not shares:
        raise ValueError("select_epoch needs at least one epoch")
    patience = check_int("early_stop_patience", patience, minimum=1)
    trigger = COLLAPSE_SHARE if chance is None else chance
    arch = [(epoch, share) for epoch, share in shares if epoch >= first]
    # equal to the trigger in exact arithmetic: not above it
    above = [share is not None and share > trigger + 1e-9 for _, share in arch]
    best: tuple[int, float] | None = None  # (epoch, share) of the least parameter-free cell
    for i, (epoch, share) in enumerate(arch):
        run = above[i : i + patience]
        if len(run) == patience and all(run):
            return _fired(arch[i : i + patience], best, trigger)
        value = 1.0 if share is None else share
        if best is None or value <= best[1]:
            best = (epoch, value)
    last = shares[-1][0]
    if best is None:  # no architecture epoch yet
        return EpochChoice(
            epoch=last, fired=None, reason=f"no architecture epoch yet: epoch {last} is kept"
        )
    return EpochChoice(
        epoch=best[0],
        fired=None,
        reason=(
            f"no {_run_words(patience)} was more parameter-free than a random cell "
            f"({100 * trigger:.0f} %): epoch {best[0]}'s cell has the fewest parameter-free ops "
            f"({100 * best[1]:.0f} %) and is kept"
        ),
    )


def _run_words(patience: int) -> str:
    return "cell" if patience == 1 else f"run of {patience} cells"


def _fired(
    run: Sequence[tuple[int, float | None]], best: tuple[int, float] | None, trigger: float
) -> EpochChoice:
    """The choice once ``run`` (the epochs above the trigger, in a row) fires the signal."""
    kept = best[0] if best is not None else run[0][0]
    why = (
        f"of the architecture epochs before it, epoch {kept}'s cell has the fewest "
        f"parameter-free ops ({100 * best[1]:.0f} %) and is kept"
        if best is not None
        else f"epoch {kept} (the first architecture epoch) is kept"
    )
    shares = ", ".join(f"{100 * (s or 0):.0f} %" for _, s in run)
    epochs = (
        f"epoch {run[0][0]}'s cell is"
        if len(run) == 1
        else f"the cells of epochs {run[0][0]}-{run[-1][0]} are"
    )
    return EpochChoice(
        epoch=kept,
        fired=run[-1][0],
        reason=(
            f"{epochs} {shares} parameter-free, more than a random cell "
            f"({100 * trigger:.0f} %): {why}"
        ),
    )


def early_stop_choice(
    shares: Sequence[tuple[int, float | None]],
    probs: Mapping[str, Mapping[Any, float]] | None,
    *,
    rule: str = "exclude_none",
    first: int = 0,
    patience: int = EARLY_STOP_PATIENCE,
) -> EpochChoice:
    """The early stop's decision for a search: :func:`select_epoch` above the space's chance.

    The one place the trigger is worked out: the chance share of the ops ``rule`` chooses
    from (:func:`idarts_plugin.derive.candidates` of ``probs``, :func:`chance_share`). The run
    recorder, the Python strategies' callback and the benchmarks' post-hoc view all decide
    through it.

    Args:
        shares: ``(epoch, parameter-free share of that epoch's derived cell)``, in order.
        probs: any epoch's α distribution (label → op → probability; only its op names are
            read), or ``None`` when unknown (the trigger is then :data:`COLLAPSE_SHARE`).
        rule: the derivation rule that names the cells (``perturbation`` reads as its α rule).
        first: the first architecture epoch (the warm-up's length).
        patience: architecture epochs in a row above chance that fire the signal.

    Example:
        >>> probs = {"e0": {"none": 0.1, "skip_connect": 0.3, "avg_pool_3x3": 0.2,
        ...                 "nor_conv_1x1": 0.2, "nor_conv_3x3": 0.2}}
        >>> early_stop_choice([(0, 0.0), (1, 1.0), (2, 0.67)], probs).fired
        2
        >>> early_stop_choice([(0, 0.0), (1, 0.5), (2, 0.5)], probs).fired is None  # chance
        True
    """
    chance = chance_share(candidates(probs, rule)) if probs else None
    return select_epoch(shares, first=first, chance=chance, patience=patience)


@dataclass(frozen=True, kw_only=True)
class Remedies:
    """The collapse remedies a search applies.

    Each composes with every strategy: none touches the hypergradient itself. The defaults are
    the combination chosen by the budget sweep and the demo (``docs/search_quality.md``):
    β-decay (:data:`BETA_DECAY_DEFAULT`, linear) and the early stop; the auxiliary skip is off
    (``auto`` turns it on where the space allows it). ``Remedies.off()`` is the search as the
    papers ran it.

    Args:
        beta_decay: λ of β-DARTS' α regulariser (0: off); see
            :class:`idarts_plugin.hypergrad.regularizers.BetaDecay`.
        beta_decay_schedule: its schedule (``linear`` or ``constant``).
        aux_skip: DARTS-' auxiliary skip on every edge, its initial weight (0: off; the paper
            uses 1), decayed linearly to 0 over the search (:func:`aux_skip_coefficient`).
            Only for spaces whose edges keep their input's shape (NAS-Bench-201, ``cell``);
            ``"auto"``: :data:`AUX_SKIP_AUTO` on such a space, off on another (the DARTS
            space's reduction edges halve the resolution), see :meth:`resolve`.
        early_stop: one of :data:`EARLY_STOPS`.
        early_stop_patience: architecture epochs in a row above chance that fire the early
            stop (:data:`EARLY_STOP_PATIENCE`; 1: the first such epoch).

    Raises:
        ValueError: an invalid value, named by its key.

    Example:
        >>> default = Remedies()
        >>> default.beta_decay, default.aux_skip, default.early_stop, default.early_stop_patience
        (2.0, 0.0, 'collapse', 2)
        >>> Remedies(aux_skip="auto").resolve(edges_keep_shape=True).aux_skip
        1.0
        >>> Remedies(aux_skip="auto").resolve(edges_keep_shape=False).aux_skip
        0.0
        >>> Remedies.off().active
        False
    """

    beta_decay: float = BETA_DECAY_DEFAULT
    beta_decay_schedule: str = "linear"
    aux_skip: float | str = 0.0
    early_stop: str = "collapse"
    early_stop_patience: int = EARLY_STOP_PATIENCE

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "beta_decay", check_number("beta_decay", self.beta_decay, minimum=0)
        )
        check_choice("beta_decay_schedule", self.beta_decay_schedule, SCHEDULES, plural="schedules")
        if self.aux_skip != "auto":
            if isinstance(self.aux_skip, str):
                raise ValueError(
                    f"aux_skip must be 'auto' or a number >= 0 (0: off), got {self.aux_skip!r}"
                )
            object.__setattr__(self, "aux_skip", check_number("aux_skip", self.aux_skip, minimum=0))
        if self.early_stop is False:  # type: ignore[comparison-overlap]  # YAML 1.1: `off`
            object.__setattr__(self, "early_stop", "off")
        check_choice("early_stop", self.early_stop, EARLY_STOPS)
        object.__setattr__(
            self,
            "early_stop_patience",
            check_int("early_stop_patience", self.early_stop_patience, minimum=1),
        )

    @classmethod
    def off(cls) -> Remedies:
        """No remedy: the search as DARTS, iDARTS and Amended-DARTS ran it."""
        return cls(beta_decay=0.0, aux_skip=0.0, early_stop="off")

    def resolve(self, *, edges_keep_shape: bool) -> Remedies:
        """These remedies with ``aux_skip: auto`` made a number for a space.

        Args:
            edges_keep_shape: whether every edge of the space maps its input to an output of
                the same shape (NAS-Bench-201 and ``cell`` spaces; not the DARTS space).

        Returns:
            A copy whose ``aux_skip`` is :data:`AUX_SKIP_AUTO` or 0 (itself if not ``auto``).
        """
        if self.aux_skip != "auto":
            return self
        return dataclasses.replace(self, aux_skip=AUX_SKIP_AUTO if edges_keep_shape else 0.0)

    @property
    def uses_aux_skip(self) -> bool:
        """Whether the auxiliary skip is on, or ``auto`` (on where the space allows it)."""
        return self.aux_skip == "auto" or float(self.aux_skip) > 0

    @property
    def active(self) -> bool:
        """Whether any remedy that acts during the search is on."""
        return self.acts_in_training or self.early_stop != "off"

    @property
    def acts_in_training(self) -> bool:
        """Whether a remedy changes the training itself (β-decay, auxiliary skip)."""
        return self.beta_decay > 0 or self.uses_aux_skip

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for ``summary.json``: every field (:data:`REMEDY_KEYS`), by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


REMEDY_KEYS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(Remedies)}
"""The run config's strategy keys of :class:`Remedies` with their defaults (every strategy
takes them; :class:`idarts_plugin.config.StrategyConfig` has a field for each)."""
