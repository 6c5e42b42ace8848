"""What a look-up answers (:class:`LookupResult`), the source protocol, ranks and printing."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from .arch import NUM_ARCHS
from .errors import SourceError

__all__ = [
    "HPS",
    "NB201_DATASETS",
    "DatasetResult",
    "LookupResult",
    "LookupSource",
    "format_lookup",
]

NB201_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")
"""Keys of :attr:`LookupResult.results`."""

HPS = ("200", "12")


_TIE_TOL = 1e-4  # accuracy points; seed means differ by >= 1/300 point, float noise by < 1e-6


@dataclass(frozen=True)
class DatasetResult:
    """One architecture on one data set.

    Attributes:
        val_acc: validation accuracy (%) after ``hp`` epochs (200 unless the source was opened
            with ``hp="12"``); None if the source lacks it.
        test_acc: test accuracy (%) after ``hp`` epochs; None if the source lacks it.
        rank: 1 = best by test accuracy among the 15625 cells (ties share the best rank);
            None where the source cannot rank (not all 15625 test accuracies known).
        source: which file(s) or API the figures came from.
    """

    val_acc: float | None
    test_acc: float | None
    rank: int | None
    source: str


@dataclass(frozen=True)
class LookupResult:
    """What a look-up source knows about one architecture.

    Attributes:
        arch: the canonical arch string.
        index: the official benchmark index (0..15624) if the source knows it.
        results: a :class:`DatasetResult` for each of :data:`NB201_DATASETS` (``"cifar10"``,
            ``"cifar100"``, ``"imagenet16-120"``); figures a source lacks are None.
        hp: training epochs of the figures, ``"200"`` (or ``"12"``).
    """

    arch: str
    index: int | None
    results: Mapping[str, DatasetResult] = field(hash=False)
    hp: str = "200"


class LookupSource(Protocol):
    """What :func:`open_source` returns: ``lookup(arch)`` and ``len()``."""

    def lookup(self, arch: str) -> LookupResult:
        """Look up one architecture."""
        ...

    def __len__(self) -> int:
        """The number of architectures the source holds."""
        ...


def _check_hp(hp: str) -> str:
    text = str(hp)
    if text not in HPS:
        raise SourceError(f"hp must be one of {', '.join(HPS)} (training epochs), got {hp!r}")
    return text


def _competition_ranks(values: Mapping[str, float], tol: float = _TIE_TOL) -> dict[str, int]:
    """Ranks by descending value; values within ``tol`` of a tie group's best share its rank."""
    order = sorted(values, key=values.__getitem__, reverse=True)
    ranks: dict[str, int] = {}
    top = math.inf
    rank = 0
    for pos, key in enumerate(order, start=1):
        if top - values[key] > tol:
            top, rank = values[key], pos
        ranks[key] = rank
    return ranks


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_lookup(result: LookupResult) -> str:
    """A small table of a look-up result for the terminal.

    Example:
        >>> r = DatasetResult(val_acc=90.86, test_acc=93.91, rank=69, source="tables")
        >>> print(format_lookup(LookupResult("ARCH", 7, {"cifar10": r})))
        arch:  ARCH
        index: 7 (official)
        data set         val (200 ep.)  test (200 ep.)   rank of 15625
        cifar10                  90.86           93.91              69
        source: tables
    """
    lines = [f"arch:  {result.arch}"]
    if result.index is not None:
        lines.append(f"index: {result.index} (official)")
    val_head, test_head = f"val ({result.hp} ep.)", f"test ({result.hp} ep.)"
    lines.append(
        f"{'data set':16s} {val_head:>13s}  {test_head:>14s}  {'rank of ' + str(NUM_ARCHS):>14s}"
    )
    for dataset, r in result.results.items():
        rank = "-" if r.rank is None else str(r.rank)
        lines.append(f"{dataset:16s} {_fmt(r.val_acc):>13s}  {_fmt(r.test_acc):>14s}  {rank:>14s}")
    sources = {r.source for r in result.results.values()}
    if len(sources) == 1:
        lines.append(f"source: {sources.pop()}")
    else:
        lines.extend(f"source ({dataset}): {r.source}" for dataset, r in result.results.items())
    return "\n".join(lines)
