"""NAS-Bench-201 figures from compact tables: :class:`NB201Table`."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from .arch import NUM_ARCHS, _arch_set, format_arch, parse_arch
from .errors import ArchError, ArchNotFoundError, SourceError, TableFormatError
from .readers import _EXPECTED_FORMATS, _read_part, merge_parts
from .results import NB201_DATASETS, DatasetResult, LookupResult, _check_hp, _competition_ranks

__all__ = ["NB201Table"]

_logger = logging.getLogger(__name__)


class NB201Table:
    """NAS-Bench-201 figures from compact tables (see the module docstring for the formats).

    Build it with :meth:`from_path`, or directly from ``{dataset: {arch: accuracy}}`` mappings.

    Args:
        test: test accuracies (%) per data set in :data:`NB201_DATASETS`.
        val: validation accuracies (%) per data set.
        index: official benchmark index per arch, where known.
        sources: ``{(dataset, "val" | "test"): description}`` of where the figures come from.
        hp: training epochs of the figures, ``"200"`` or ``"12"``.
        name: a description of the table for messages (e.g. its path).

    Example:
        >>> zero = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
        >>> table = NB201Table({"cifar10": {zero: 10.0}})
        >>> table.lookup(zero).results["cifar10"].test_acc, len(table)
        (10.0, 1)
        >>> table = NB201Table.from_path("../shared/data/nb201")  # doctest: +SKIP
    """

    def __init__(
        self,
        test: Mapping[str, Mapping[str, float]],
        val: Mapping[str, Mapping[str, float]] | None = None,
        *,
        index: Mapping[str, int] | None = None,
        sources: Mapping[tuple[str, str], str] | None = None,
        hp: str = "200",
        name: str = "NAS-Bench-201 table",
    ) -> None:
        self.hp = _check_hp(hp)
        self.name = name
        self._val = self._columns(val or {}, "val")
        self._test = self._columns(test, "test")
        self._index = dict(index or {})
        self._sources = dict(sources or {})
        archs: set[str] = set(self._index)
        for column in (*self._val.values(), *self._test.values()):
            archs.update(column)
        self._archs = frozenset(archs)
        self._ranks = {
            dataset: _competition_ranks(column)
            for dataset, column in self._test.items()
            if len(column) == NUM_ARCHS
        }
        _logger.debug(
            "%s: %d archs, hp=%s, ranks for %s", name, len(archs), self.hp, list(self._ranks)
        )

    @staticmethod
    def _columns(data: Mapping[str, Mapping[str, float]], what: str) -> dict[str, dict[str, float]]:
        columns: dict[str, dict[str, float]] = {}
        for dataset, column in data.items():
            if dataset not in NB201_DATASETS:
                raise SourceError(
                    f"unknown data set {dataset!r} in {what}; expected one of {NB201_DATASETS}"
                )
            bad = next((a for a in column if a not in _arch_set()), None)
            if bad is not None:
                parse_arch(bad)  # raises ArchError naming what is wrong
                raise ArchError(
                    f"{bad!r} is not written canonically; use format_arch(parse_arch(...))"
                )
            columns[dataset] = {a: float(v) for a, v in column.items()}
        return columns

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, hp: str = "200") -> NB201Table:
        """Load a directory of compact tables, or a single table file.

        A directory is scanned for ``*.csv``, ``*.json`` (optionally ``.gz``) files whose columns
        or fields match a known format (other files are skipped); a single file must match
        one. The format is told by the columns (CSV) or fields (JSON), the data set of a JSON
        table by its file name.

        Args:
            path: a directory such as ``../shared/data/nb201``, or one table file.
            hp: ``"200"`` (the vtao CSV and the LAPT JSONs) or ``"12"`` (the bayeswatch CSV).

        Raises:
            SourceError: ``path`` does not exist.
            TableFormatError: an unreadable file, a file of unknown format (names the file and
                the expected columns), or a directory without a usable table.

        Example:
            >>> NB201Table.from_path("../shared/data/nb201").lookup(arch)  # doctest: +SKIP
        """
        hp = _check_hp(hp)
        kinds = ("bayeswatch",) if hp == "12" else ("vtao", "lapt")
        p = Path(path).expanduser()
        if p.is_dir():
            parts = [
                part
                for f in sorted(p.iterdir())
                if f.is_file() and (part := _read_part(f, kinds)) is not None
            ]
        elif p.is_file():
            part = _read_part(p, ("vtao", "lapt", "bayeswatch"))
            if part is None:
                raise TableFormatError(
                    f"{p}: unknown NAS-Bench-201 table format; expected {_EXPECTED_FORMATS}"
                )
            parts = [part]
        else:
            raise SourceError(f"NAS-Bench-201 tables: {str(p)!r} does not exist")
        test, val, index, sources = merge_parts(parts, hp=hp, where=p)
        table = cls(test, val, index=index, sources=sources, hp=hp, name=str(p))
        _logger.debug("NAS-Bench-201 tables from %s: %d archs (%s epochs)", p, len(table), hp)
        return table

    def __len__(self) -> int:
        """The number of architectures with at least one figure (15625 for full tables)."""
        return len(self._archs)

    def __contains__(self, arch: object) -> bool:
        """Whether ``arch`` is a valid cell the table holds."""
        if not isinstance(arch, str):
            return False
        try:
            return format_arch(parse_arch(arch)) in self._archs
        except ArchError:
            return False

    def __repr__(self) -> str:
        return f"NB201Table({self.name!r}, archs={len(self)}, hp={self.hp!r})"

    def datasets(self) -> tuple[str, ...]:
        """The data sets with at least one figure."""
        return tuple(d for d in NB201_DATASETS if d in self._val or d in self._test)

    def _source(self, dataset: str) -> str:
        val = self._sources.get((dataset, "val"), "")
        test = self._sources.get((dataset, "test"), "")
        if val and val == test:
            return val
        return ", ".join(f"{m}: {s}" for m, s in (("val", val), ("test", test)) if s) or "n/a"

    def lookup(self, arch: str) -> LookupResult:
        """Accuracies and rank of ``arch`` on each of :data:`NB201_DATASETS`.

        Args:
            arch: an arch string (validated with :func:`parse_arch`).

        Returns:
            The figures; those the table lacks are None.

        Raises:
            ArchError: ``arch`` is not a NAS-Bench-201 cell.
            ArchNotFoundError: (a ``KeyError``) a valid cell the table does not hold.

        Example:
            >>> table.lookup(arch).results["cifar10"].test_acc  # doctest: +SKIP
            93.91
        """
        canonical = format_arch(parse_arch(arch))
        if canonical not in self._archs:
            raise ArchNotFoundError(
                f"{canonical!r} is a valid NAS-Bench-201 cell but {self.name} does not hold it "
                f"({len(self)} of {NUM_ARCHS} archs)"
            )
        results = {
            dataset: DatasetResult(
                val_acc=self._val.get(dataset, {}).get(canonical),
                test_acc=self._test.get(dataset, {}).get(canonical),
                rank=self._ranks.get(dataset, {}).get(canonical),
                source=self._source(dataset),
            )
            for dataset in NB201_DATASETS
        }
        return LookupResult(canonical, self._index.get(canonical), results, self.hp)
