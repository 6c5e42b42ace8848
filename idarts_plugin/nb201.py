"""NAS-Bench-201: arch strings, NNI export dicts and accuracy look-up.

A NAS-Bench-201 cell has 4 nodes and 6 edges ``i -> j`` (``i < j``), each one of the 5 ops in
:data:`NB201_OPS`. Its arch string lists, for node ``j = 1, 2, 3``, the incoming edges as
``op~i`` (``i = 0 .. j-1``): ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``. NNI's hub space
``nni.nas.hub.pytorch.NasBench201`` exports the same cell as ``{"cell/0_1": op, "cell/0_2": op,
"cell/1_2": op, ...}`` (key ``cell/{i}_{j}``) with NNI's op names, which say ``conv_1x1`` /
``conv_3x3`` where the benchmark says ``nor_conv_1x1`` / ``nor_conv_3x3``.

Look-up sources (:func:`open_source`) answer ``lookup(arch) -> LookupResult``:

* :class:`OfficialAPISource`: the official benchmark files (NATS-Bench ``NATS-tss-v1_0-3ffb9*``
  or ``NAS-Bench-201-v1_*.pth``) through their own API package (``nats_bench`` /
  ``nas_201_api``, imported only then).
* :class:`NB201Table`: compact tables given by path, a directory or a single file:

  - ``vtao_nats_bench.csv(.gz)`` (columns ``ArchitectureString``,
    ``CIFAR10TestAccuracy200Epochs``, ``CIFAR100TestAccuracy200Epochs``,
    ``ImageNetTestAccuracy200Epochs``): 200-epoch **test** accuracy, mean over seeds, rows in
    the official index order;
  - ``LAPT_nasbench201_{cifar10,cifar100,imagenet}.json(.gz)`` (``{arch: {"val_acc_200",
    "test_acc_200", "rank"}}``): 200-epoch validation and test accuracy; some figures are
    single-seed (about 15 % of the archs differ from the mean over seeds by more than 0.01);
  - ``bayeswatch_nb201_v1_1_accs.csv(.gz)`` (columns ``arch``, ``cellstr``, ``cifar10-test``,
    ``cifar10-val``, ...): **12-epoch** figures, used only with ``hp="12"``.

  With both the CSV and the LAPT files, validation accuracy comes from LAPT and test accuracy
  from the CSV (mean over seeds); without the CSV, test accuracy comes from LAPT. The rank is
  always recomputed from the test accuracies the table uses (1 = best; values within
  ``1e-4`` points tie and share the best rank, "1224" competition ranking); LAPT's own ``rank``
  field, which breaks ties arbitrarily, is not used.

CIFAR-10's validation accuracy is the official ``cifar10-valid`` figure (trained on the train
half); its test accuracy is the ``cifar10`` figure (trained on train + valid), as in the
NAS-Bench-201 paper.

Example:
    >>> arch = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
    >>> arch_to_nni(arch)["cell/0_1"]
    'conv_3x3'
    >>> arch_from_nni(arch_to_nni(arch)) == arch
    True
    >>> parse_arch(arch)[(2, 3)]
    'skip_connect'
"""

from __future__ import annotations

import csv
import gzip
import importlib
import inspect
import itertools
import json
import logging
import math
import os
import re
from collections.abc import Container, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, Protocol

__all__ = [
    "ARCH_FORM",
    "DATASETS",
    "EDGES",
    "NB201_OPS",
    "NB201_TO_NNI",
    "NNI_TO_NB201",
    "NUM_ARCHS",
    "ArchError",
    "ArchNotFoundError",
    "DatasetResult",
    "LookupResult",
    "LookupSource",
    "MissingAPIError",
    "NB201Error",
    "NB201Table",
    "OfficialAPISource",
    "SourceError",
    "TableFormatError",
    "all_archs",
    "arch_from_nni",
    "arch_to_nni",
    "format_arch",
    "format_lookup",
    "open_source",
    "parse_arch",
]

_logger = logging.getLogger(__name__)

NB201_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)
"""The benchmark's op names, in the benchmark's order."""

EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""The cell's edges ``(source, target)`` in arch-string order."""

NNI_TO_NB201: Mapping[str, str] = MappingProxyType(
    {
        "none": "none",
        "skip_connect": "skip_connect",
        "conv_1x1": "nor_conv_1x1",
        "conv_3x3": "nor_conv_3x3",
        "avg_pool_3x3": "avg_pool_3x3",
    }
)
"""NNI's op name (hub space ``NasBench201``) -> the benchmark's."""

NB201_TO_NNI: Mapping[str, str] = MappingProxyType({v: k for k, v in NNI_TO_NB201.items()})
"""The benchmark's op name -> NNI's."""

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")
"""Keys of :attr:`LookupResult.results`."""

NUM_ARCHS = len(NB201_OPS) ** len(EDGES)  # 15625
ARCH_FORM = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"
HPS = ("200", "12")

_TIE_TOL = 1e-4  # accuracy points; seed means differ by >= 1/300 point, float noise by < 1e-6
_OPS_TEXT = ", ".join(NB201_OPS)
_NNI_OPS_TEXT = ", ".join(NNI_TO_NB201)


# --------------------------------------------------------------------------------------------
# Errors.
# --------------------------------------------------------------------------------------------


class NB201Error(ValueError):
    """Base class of this module's errors."""


class ArchError(NB201Error):
    """An arch string, op mapping or NNI export is not a NAS-Bench-201 cell."""


class ArchNotFoundError(NB201Error, KeyError):
    """A valid cell that the look-up source does not hold."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class TableFormatError(NB201Error):
    """A table file cannot be read or has an unknown format (names the file)."""


class SourceError(NB201Error):
    """No look-up source is configured, or the configured path is unusable."""


class MissingAPIError(NB201Error, ImportError):
    """An official benchmark file needs its API package, which is not installed."""


# --------------------------------------------------------------------------------------------
# Arch strings and NNI export dicts.
# --------------------------------------------------------------------------------------------


def _bad_arch(arch: object, why: str) -> ArchError:
    return ArchError(
        f"not a NAS-Bench-201 arch string: {arch!r}: {why}; expected {ARCH_FORM} "
        f"with ops from: {_OPS_TEXT}"
    )


def _op_hint(op: str) -> str:
    nb201 = NNI_TO_NB201.get(op)
    return f" (NNI's {op!r} is {nb201!r} in the benchmark)" if nb201 and nb201 != op else ""


def parse_arch(arch: str) -> dict[tuple[int, int], str]:
    """Parse and fully validate an arch string.

    Surrounding whitespace is ignored; everything else must match the form exactly: three
    ``+``-joined groups, node ``j``'s group listing ``op~0 .. op~{j-1}`` in order.

    Args:
        arch: e.g. ``"|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|"``
            ``"skip_connect~2|"`` (one string).

    Returns:
        ``{(i, j): op}`` for the six edges, in :data:`EDGES` order.

    Raises:
        ArchError: one line naming the string, what is wrong, the expected form and the ops.

    Example:
        >>> parse_arch("|none~0|+|none~0|skip_connect~1|+|none~0|none~1|nor_conv_1x1~2|")[(1, 2)]
        'skip_connect'
    """
    if not isinstance(arch, str):
        raise _bad_arch(arch, f"expected a str, got {type(arch).__name__}")
    groups = arch.strip().split("+")
    if len(groups) != 3:
        raise _bad_arch(arch, f"{len(groups)} group(s) joined by '+', need 3 (nodes 1, 2, 3)")
    ops: dict[tuple[int, int], str] = {}
    for j, group in enumerate(groups, start=1):
        if len(group) < 2 or not group.startswith("|") or not group.endswith("|"):
            raise _bad_arch(arch, f"node {j}'s group {group!r} must start and end with '|'")
        tokens = group[1:-1].split("|")
        if len(tokens) != j:
            raise _bad_arch(arch, f"node {j}'s group {group!r} has {len(tokens)} edge(s), need {j}")
        for i, token in enumerate(tokens):
            op, sep, src = token.partition("~")
            if not sep:
                raise _bad_arch(arch, f"edge {token!r} of node {j} lacks '~SOURCE'")
            if src != str(i):
                if src.isdigit() and int(src) >= j:
                    why = f"edge {token!r}: node {j} only takes inputs from nodes 0..{j - 1}"
                else:
                    why = f"edge {token!r} of node {j} should be written op~{i} (edges in order)"
                raise _bad_arch(arch, why)
            if op not in NB201_OPS:
                raise _bad_arch(arch, f"unknown op {op!r}{_op_hint(op)}")
            ops[(i, j)] = op
    return {edge: ops[edge] for edge in EDGES}


def format_arch(ops: Mapping[tuple[int, int], str]) -> str:
    """The arch string of an ``{(i, j): op}`` mapping of exactly the six edges.

    Raises:
        ArchError: a missing or extra edge, or an op that is not in :data:`NB201_OPS`.

    Example:
        >>> format_arch(dict.fromkeys(EDGES, "none"))
        '|none~0|+|none~0|none~1|+|none~0|none~1|none~2|'
    """
    missing = [e for e in EDGES if e not in ops]
    extra = [e for e in ops if e not in EDGES]
    if missing or extra:
        raise ArchError(
            f"not a NAS-Bench-201 cell: missing edges {missing}, unexpected edges {extra}; "
            f"expected exactly the edges {list(EDGES)}"
        )
    for edge in EDGES:
        op = ops[edge]
        if op not in NB201_OPS:
            raise ArchError(
                f"not a NAS-Bench-201 cell: unknown op {op!r}{_op_hint(str(op))} on edge {edge}; "
                f"valid ops: {_OPS_TEXT}"
            )
    return "+".join("|" + "|".join(f"{ops[(i, j)]}~{i}" for i in range(j)) + "|" for j in (1, 2, 3))


def arch_from_nni(export: Mapping[str, object], *, prefix: str = "cell") -> str:
    """The arch string of an NNI export dict of the hub space ``NasBench201``.

    Keys ``{prefix}/{i}_{j}`` are the cell's edges; keys outside ``{prefix}/`` are ignored, any
    other key under it is an error. Values are NNI op names (``conv_3x3``, ...); the benchmark's
    names (``nor_conv_3x3``) are accepted too.

    Args:
        export: e.g. ``{"cell/0_1": "conv_3x3", "cell/0_2": "none", ...}``.
        prefix: the cell's label; ``""`` for bare ``{i}_{j}`` keys.

    Raises:
        ArchError: a missing edge, a key under ``{prefix}/`` that is not an edge, or an unknown op.

    Example:
        >>> ops = ["conv_3x3", "none", "conv_3x3", "skip_connect", "none", "skip_connect"]
        >>> arch_from_nni({f"cell/{i}_{j}": op for (i, j), op in zip(EDGES, ops)})
        '|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|'
    """
    head = f"{prefix}/" if prefix else ""
    expected = ", ".join(f"{head}{i}_{j}" for i, j in EDGES)
    ops: dict[tuple[int, int], str] = {}
    for key, value in export.items():
        if not isinstance(key, str) or not key.startswith(head):
            continue
        match = re.fullmatch(r"(\d+)_(\d+)", key[len(head) :])
        if match is None:
            if not head:
                continue  # bare keys: anything that is not i_j is unrelated
            raise ArchError(
                f"NNI export key {key!r} is under {head!r} but is not a cell edge; "
                f"expected the keys {expected}"
            )
        edge = (int(match[1]), int(match[2]))
        if edge not in EDGES:
            raise ArchError(
                f"NNI export key {key!r} is not an edge of a NAS-Bench-201 cell; "
                f"expected the keys {expected}"
            )
        if not isinstance(value, str) or (value not in NNI_TO_NB201 and value not in NB201_OPS):
            raise ArchError(
                f"NNI export key {key!r} has unknown op {value!r}; valid ops: {_NNI_OPS_TEXT} "
                f"(or the benchmark's {_OPS_TEXT})"
            )
        ops[edge] = NNI_TO_NB201.get(value, value)
    missing = [f"{head}{i}_{j}" for i, j in EDGES if (i, j) not in ops]
    if missing:
        raise ArchError(
            f"NNI export lacks the cell edge(s) {', '.join(missing)} (prefix {prefix!r}); "
            f"expected the keys {expected}"
        )
    return format_arch(ops)


def arch_to_nni(arch: str, *, prefix: str = "cell") -> dict[str, str]:
    """The NNI export dict (hub space ``NasBench201``) of an arch string.

    Args:
        arch: a valid arch string (see :func:`parse_arch`).
        prefix: the cell's label; ``""`` for bare ``{i}_{j}`` keys.

    Returns:
        ``{"cell/0_1": op, "cell/0_2": op, "cell/1_2": op, "cell/0_3": op, "cell/1_3": op,
        "cell/2_3": op}`` with NNI's op names.

    Example:
        >>> arch_to_nni("|none~0|+|none~0|none~1|+|none~0|none~1|nor_conv_1x1~2|")["cell/2_3"]
        'conv_1x1'
    """
    head = f"{prefix}/" if prefix else ""
    return {f"{head}{i}_{j}": NB201_TO_NNI[op] for (i, j), op in parse_arch(arch).items()}


@lru_cache(maxsize=1)
def _all_archs() -> tuple[str, ...]:
    return tuple(
        format_arch(dict(zip(EDGES, ops, strict=True)))
        for ops in itertools.product(NB201_OPS, repeat=len(EDGES))
    )


@lru_cache(maxsize=1)
def _arch_set() -> frozenset[str]:
    return frozenset(_all_archs())


def all_archs() -> list[str]:
    """All 15625 arch strings.

    Order: ``itertools.product(NB201_OPS, repeat=6)`` over the edges in :data:`EDGES` order (the
    first edge varies slowest); this is *not* the benchmark's index order, which only a table
    or the official API knows (:attr:`LookupResult.index`).

    Example:
        >>> archs = all_archs()
        >>> len(archs), archs[0]
        (15625, '|none~0|+|none~0|none~1|+|none~0|none~1|none~2|')
    """
    return list(_all_archs())


# --------------------------------------------------------------------------------------------
# Look-up results.
# --------------------------------------------------------------------------------------------


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
        results: a :class:`DatasetResult` for each of :data:`DATASETS` (``"cifar10"``,
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


# --------------------------------------------------------------------------------------------
# Compact tables.
# --------------------------------------------------------------------------------------------

_VTAO_COLUMNS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "imagenet16-120": "ImageNetTestAccuracy200Epochs",
}
_VTAO_ARCH = "ArchitectureString"
_BW_PREFIX = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "imagenet"}
_BW_ARCH, _BW_INDEX = "cellstr", "arch"
_BW_COLUMNS = {f"{p}-{m}" for p in _BW_PREFIX.values() for m in ("test", "val")}
_LAPT_VAL, _LAPT_TEST = "val_acc_200", "test_acc_200"
_EXPECTED_FORMATS = (
    f"a CSV with columns {_VTAO_ARCH}, {', '.join(_VTAO_COLUMNS.values())} (200-epoch test); "
    f"a JSON object {{arch: {{{_LAPT_VAL}, {_LAPT_TEST}}}}} whose file name says cifar10, "
    f"cifar100 or imagenet; or (hp='12') a CSV with columns {_BW_INDEX}, {_BW_ARCH}, "
    "cifar10-test, cifar10-val, cifar100-test, cifar100-val, imagenet-test, imagenet-val"
)


@dataclass
class _Part:
    """The figures one file holds."""

    kind: str  # "vtao" | "lapt" | "bayeswatch"
    path: Path
    val: dict[str, dict[str, float]] = field(default_factory=dict)
    test: dict[str, dict[str, float]] = field(default_factory=dict)
    index: dict[str, int] = field(default_factory=dict)


def _stem(path: Path) -> str:
    name = path.name
    return name[:-3] if name.endswith(".gz") else name


def _open_text(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _number(text: object, path: Path, where: str) -> float | None:
    if text is None or text == "":
        return None
    try:
        if isinstance(text, bool) or not isinstance(text, (int, float, str)):
            raise ValueError(text)
        value = float(text)
    except ValueError:
        raise TableFormatError(f"{path}: {where}: not a number: {text!r}") from None
    return None if math.isnan(value) else value


def _table_arch(arch: object, path: Path, where: str) -> str:
    if isinstance(arch, str) and arch in _arch_set():
        return arch
    if not isinstance(arch, str):
        raise TableFormatError(f"{path}: {where}: expected an arch string, got {arch!r}")
    try:
        return format_arch(parse_arch(arch))
    except ArchError as exc:
        raise TableFormatError(f"{path}: {where}: {exc}") from None


def _lapt_dataset(path: Path) -> str | None:
    stem = _stem(path).lower()
    for dataset, token in (
        ("cifar100", "cifar100"),
        ("cifar10", "cifar10"),
        ("imagenet16-120", "imagenet"),
    ):
        if token in stem:
            return dataset
    return None


def _read_vtao(reader: csv.DictReader[str], path: Path) -> _Part:
    part = _Part("vtao", path)
    rows = 0
    for row_no, row in enumerate(reader):
        where = f"row {row_no + 2}"
        arch = _table_arch(row[_VTAO_ARCH], path, where)
        part.index[arch] = row_no
        for dataset, column in _VTAO_COLUMNS.items():
            value = _number(row.get(column), path, f"{where}, column {column}")
            if value is not None:
                part.test.setdefault(dataset, {})[arch] = value
        rows += 1
    if rows != NUM_ARCHS:  # the row number is the official index only in the full file
        part.index.clear()
    return part


def _read_bayeswatch(reader: csv.DictReader[str], path: Path) -> _Part:
    part = _Part("bayeswatch", path)
    for row_no, row in enumerate(reader):
        where = f"row {row_no + 2}"
        arch = _table_arch(row[_BW_ARCH], path, where)
        index = _number(row.get(_BW_INDEX), path, f"{where}, column {_BW_INDEX}")
        if index is not None:
            part.index[arch] = int(index)
        for dataset, prefix in _BW_PREFIX.items():
            for metric, target in (("val", part.val), ("test", part.test)):
                column = f"{prefix}-{metric}"
                value = _number(row.get(column), path, f"{where}, column {column}")
                if value is not None:
                    target.setdefault(dataset, {})[arch] = value
    return part


def _read_csv(path: Path, kinds: Container[str]) -> _Part | None:
    with _open_text(path) as fh:
        reader = csv.DictReader(fh)
        columns = set(reader.fieldnames or ())
        if _VTAO_ARCH in columns and columns & set(_VTAO_COLUMNS.values()):
            kind = "vtao"
        elif _BW_ARCH in columns and columns & _BW_COLUMNS:
            kind = "bayeswatch"
        else:
            return None
        if kind not in kinds:
            _logger.debug("%s: a %s table, not used here", path, kind)
            return _Part(kind, path)
        return _read_vtao(reader, path) if kind == "vtao" else _read_bayeswatch(reader, path)


def _read_json(path: Path) -> _Part | None:
    with _open_text(path) as fh:
        data = json.load(fh)
    if not isinstance(data, dict) or not data:
        return None
    sample = next(iter(data.values()))
    if not isinstance(sample, dict) or not ({_LAPT_VAL, _LAPT_TEST} & set(sample)):
        return None
    dataset = _lapt_dataset(path)
    if dataset is None:
        raise TableFormatError(
            f"{path}: a table of {_LAPT_VAL}/{_LAPT_TEST} whose file name does not say its data "
            "set; name it *cifar10*, *cifar100* or *imagenet* (as LAPT_nasbench201_cifar10.json)"
        )
    part = _Part("lapt", path)
    for key, entry in data.items():
        arch = _table_arch(key, path, f"key {key!r}")
        if not isinstance(entry, dict):
            raise TableFormatError(f"{path}: key {key!r}: expected an object, got {entry!r}")
        for name, target in ((_LAPT_VAL, part.val), (_LAPT_TEST, part.test)):
            value = _number(entry.get(name), path, f"key {key!r}, field {name}")
            if value is not None:
                target.setdefault(dataset, {})[arch] = value
    return part


def _read_part(path: Path, kinds: Container[str]) -> _Part | None:
    """The file's figures (none if its kind is not in ``kinds``); None for an unknown format."""
    stem = _stem(path)
    try:
        if stem.endswith(".csv"):
            return _read_csv(path, kinds)
        if stem.endswith(".json") and "lapt" in kinds:
            return _read_json(path)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, json.JSONDecodeError) as exc:
        raise TableFormatError(f"{path}: cannot read it as a table: {exc}") from None
    return None


def _one(parts: list[_Part], what: str) -> _Part | None:
    if len(parts) > 1:
        names = ", ".join(str(p.path) for p in parts)
        raise TableFormatError(f"several {what} tables: {names}; keep one (or give a single file)")
    return parts[0] if parts else None


class NB201Table:
    """NAS-Bench-201 figures from compact tables (see the module docstring for the formats).

    Build it with :meth:`from_path`, or directly from ``{dataset: {arch: accuracy}}`` mappings.

    Args:
        test: test accuracies (%) per data set in :data:`DATASETS`.
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
            if dataset not in DATASETS:
                raise SourceError(
                    f"unknown data set {dataset!r} in {what}; expected one of {DATASETS}"
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
        table = cls._combine(parts, hp=hp, where=p)
        _logger.debug("NAS-Bench-201 tables from %s: %d archs (%s epochs)", p, len(table), hp)
        return table

    @classmethod
    def _combine(cls, parts: list[_Part], *, hp: str, where: Path) -> NB201Table:
        sources: dict[tuple[str, str], str] = {}
        val: dict[str, dict[str, float]] = {}
        test: dict[str, dict[str, float]] = {}
        if hp == "12":
            bw = _one([p for p in parts if p.kind == "bayeswatch"], "12-epoch")
            if bw is None:
                raise TableFormatError(
                    f"no 12-epoch NAS-Bench-201 table in {where}; expected "
                    "bayeswatch_nb201_v1_1_accs.csv(.gz) (columns arch, cellstr, cifar10-test, ...)"
                )
            for metric, data in (("val", bw.val), ("test", bw.test)):
                for dataset in data:
                    sources[(dataset, metric)] = bw.path.name
            return cls(bw.test, bw.val, index=bw.index, sources=sources, hp=hp, name=str(where))
        vtao = _one([p for p in parts if p.kind == "vtao"], "mean-over-seeds test accuracy CSV")
        lapt: dict[str, _Part] = {}
        for dataset in DATASETS:
            found = _one(
                [p for p in parts if p.kind == "lapt" and dataset in (*p.val, *p.test)], dataset
            )
            if found is not None:
                lapt[dataset] = found
        if vtao is None and not lapt:
            only_12 = any(p.kind == "bayeswatch" for p in parts)
            raise TableFormatError(
                f"no 200-epoch NAS-Bench-201 table in {where}"
                + ("; it holds 12-epoch figures only (open it with hp='12')" if only_12 else "")
                + f"; expected vtao_nats_bench.csv(.gz) and/or LAPT_nasbench201_{{cifar10,cifar100,"
                f"imagenet}}.json(.gz), i.e. {_EXPECTED_FORMATS}"
            )
        for dataset in DATASETS:
            if dataset in lapt and dataset in lapt[dataset].val:
                val[dataset] = lapt[dataset].val[dataset]
                sources[(dataset, "val")] = lapt[dataset].path.name
            if vtao is not None and dataset in vtao.test:
                test[dataset] = vtao.test[dataset]
                sources[(dataset, "test")] = vtao.path.name
            elif dataset in lapt and dataset in lapt[dataset].test:
                test[dataset] = lapt[dataset].test[dataset]
                sources[(dataset, "test")] = lapt[dataset].path.name
        index = vtao.index if vtao is not None else {}
        return cls(test, val, index=index, sources=sources, hp=hp, name=str(where))

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
        return tuple(d for d in DATASETS if d in self._val or d in self._test)

    def _source(self, dataset: str) -> str:
        val = self._sources.get((dataset, "val"), "")
        test = self._sources.get((dataset, "test"), "")
        if val and val == test:
            return val
        return ", ".join(f"{m}: {s}" for m, s in (("val", val), ("test", test)) if s) or "n/a"

    def lookup(self, arch: str) -> LookupResult:
        """Accuracies and rank of ``arch`` on each of :data:`DATASETS`.

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
            for dataset in DATASETS
        }
        return LookupResult(canonical, self._index.get(canonical), results, self.hp)


# --------------------------------------------------------------------------------------------
# The official benchmark through its API.
# --------------------------------------------------------------------------------------------

# data set -> (official name for the validation figure, for the test figure)
_OFFICIAL_DATASETS = {
    "cifar10": ("cifar10-valid", "cifar10"),
    "cifar100": ("cifar100", "cifar100"),
    "imagenet16-120": ("ImageNet16-120", "ImageNet16-120"),
}


class OfficialAPISource:
    """The official benchmark through its API object (``nats_bench`` or ``nas_201_api``).

    Figures are ``get_more_info(index, name, hp=hp, is_random=False)`` (mean over seeds):
    CIFAR-10's validation accuracy from ``cifar10-valid``, its test accuracy from ``cifar10``;
    CIFAR-100 and ImageNet16-120 both from their own entry. ``rank`` is None (it needs all
    15625 entries; use :class:`NB201Table` for ranks).

    Args:
        api: an object with ``query_index_by_arch(arch) -> int`` (negative if unknown) and
            ``get_more_info(index, dataset, hp=..., is_random=False) -> dict`` (keys
            ``valid-accuracy``, ``test-accuracy``); the pre-2.0 ``nas_201_api`` form with
            ``use_12epochs_result`` instead of ``hp`` works too.
        hp: ``"200"`` or ``"12"``.
        name: a description for messages and :attr:`DatasetResult.source`.

    Example:
        >>> source = OfficialAPISource.from_path("NATS-tss-v1_0-3ffb9-simple")  # doctest: +SKIP
        >>> source.lookup(arch).results["cifar10"].test_acc  # doctest: +SKIP
    """

    def __init__(self, api: Any, *, hp: str = "200", name: str = "official API") -> None:
        self.api = api
        self.hp = _check_hp(hp)
        self.name = name
        try:
            self._has_hp = "hp" in inspect.signature(api.get_more_info).parameters
        except (TypeError, ValueError):  # no signature to inspect: assume the current form
            self._has_hp = True

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, hp: str = "200") -> OfficialAPISource:
        """Open an official benchmark file with its API package (imported here, lazily).

        ``NAS-Bench-201-v1_*.pth`` needs ``nas_201_api`` (``pip install nas-bench-201``);
        NATS-Bench's ``NATS-tss-v1_0-3ffb9*`` (``.pickle.pbz2`` file or ``-simple`` directory)
        needs ``nats_bench`` (``pip install nats_bench``).

        Raises:
            MissingAPIError: (an ``ImportError``) the package is not installed.
        """
        p = Path(path).expanduser()
        if p.name.endswith(".pth"):
            try:
                module = importlib.import_module("nas_201_api")
            except ImportError:
                raise MissingAPIError(
                    f"{p} is an official NAS-Bench-201 file; reading it needs its API: "
                    "pip install nas-bench-201 (module nas_201_api); or point --tables / "
                    "IDARTS_NB201 at compact tables"
                ) from None
            api = module.NASBench201API(str(p), verbose=False)
        else:
            try:
                module = importlib.import_module("nats_bench")
            except ImportError:
                raise MissingAPIError(
                    f"{p} is an official NATS-Bench file; reading it needs its API: "
                    "pip install nats_bench; or point --tables / IDARTS_NB201 at compact tables"
                ) from None
            api = module.create(str(p), "tss", fast_mode=p.is_dir(), verbose=False)
        _logger.debug("NAS-Bench-201 official API on %s (%s epochs)", p, hp)
        return cls(api, hp=hp, name=f"{type(api).__name__} {p.name}")

    def __len__(self) -> int:
        """The number of architectures in the benchmark."""
        try:
            return len(self.api)
        except TypeError:
            return NUM_ARCHS

    def _info(self, index: int, dataset: str) -> Mapping[str, Any]:
        if self._has_hp:
            info = self.api.get_more_info(index, dataset, hp=self.hp, is_random=False)
        else:
            info = self.api.get_more_info(
                index, dataset, use_12epochs_result=self.hp == "12", is_random=False
            )
        return dict(info or {})

    def lookup(self, arch: str) -> LookupResult:
        """Accuracies of ``arch`` on each of :data:`DATASETS` (``rank`` is None).

        Raises:
            ArchError: ``arch`` is not a NAS-Bench-201 cell.
            ArchNotFoundError: the API does not know the cell.
        """
        canonical = format_arch(parse_arch(arch))
        found = self.api.query_index_by_arch(canonical)
        if found is None or int(found) < 0:
            raise ArchNotFoundError(f"{canonical!r} is not in {self.name}")
        index = int(found)
        infos: dict[str, Mapping[str, Any]] = {}
        results: dict[str, DatasetResult] = {}
        for dataset, (val_name, test_name) in _OFFICIAL_DATASETS.items():
            for name in (val_name, test_name):
                if name not in infos:
                    infos[name] = self._info(index, name)
            val = infos[val_name].get("valid-accuracy")
            test = infos[test_name].get("test-accuracy")
            source = (
                f"{self.name} ({val_name})"
                if val_name == test_name
                else f"{self.name} (val: {val_name}, test: {test_name})"
            )
            results[dataset] = DatasetResult(
                val_acc=None if val is None else float(val),
                test_acc=None if test is None else float(test),
                rank=None,
                source=source,
            )
        return LookupResult(canonical, index, results, self.hp)


def _is_official(path: Path) -> bool:
    name = path.name
    if path.is_file():
        return name.endswith((".pth", ".pickle.pbz2", ".pickle"))
    if path.is_dir():
        return next(_official_files(path), None) is not None
    return False


def _official_files(path: Path) -> Iterator[Path]:
    yield from path.glob("*.pickle.pbz2")
    yield from path.glob("*.pickle")


def open_source(
    path: str | os.PathLike[str] | None = None, *, hp: str = "200"
) -> NB201Table | OfficialAPISource:
    """The look-up source at ``path``, or at ``$IDARTS_NB201`` when ``path`` is None.

    An official benchmark file (``NAS-Bench-201-v1_*.pth``, a NATS-Bench ``*.pickle.pbz2``
    file or a directory of them) opens through its API (:class:`OfficialAPISource`); anything
    else is read as compact tables (:meth:`NB201Table.from_path`).

    Args:
        path: a benchmark file, or a directory / file of compact tables.
        hp: ``"200"`` (default) or ``"12"`` training epochs.

    Raises:
        SourceError: nothing configured, or ``path`` does not exist (says how to configure it).
        MissingAPIError: an official file whose API package is not installed.
        TableFormatError: compact tables of unknown format.

    Example:
        >>> source = open_source("../shared/data/nb201")  # doctest: +SKIP
        >>> print(format_lookup(source.lookup(arch)))  # doctest: +SKIP
    """
    if path is None or str(path) == "":
        path = os.environ.get("IDARTS_NB201") or None
        if path is None:
            raise SourceError(
                "no NAS-Bench-201 source configured: pass a path (idarts lookup --tables PATH) or "
                "set IDARTS_NB201 to an official benchmark file or a directory of compact tables"
            )
    p = Path(path).expanduser()
    if not p.exists():
        raise SourceError(
            f"NAS-Bench-201 source {str(p)!r} does not exist; give an official benchmark file "
            "or a directory of compact tables (--tables PATH or IDARTS_NB201)"
        )
    if _is_official(p):
        return OfficialAPISource.from_path(p, hp=hp)
    return NB201Table.from_path(p, hp=hp)


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
