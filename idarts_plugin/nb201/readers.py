"""Readers of the compact table formats, and how their figures are combined into one table."""

from __future__ import annotations

import csv
import gzip
import json
import logging
import math
from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .arch import NUM_ARCHS, _arch_set, format_arch, parse_arch
from .errors import ArchError, TableFormatError
from .results import NB201_DATASETS

_logger = logging.getLogger(__name__)

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


Merged = tuple[
    dict[str, dict[str, float]],
    dict[str, dict[str, float]],
    dict[str, int],
    dict[tuple[str, str], str],
]
"""``(test, val, index, sources)``: the arguments of :class:`~idarts_plugin.nb201.NB201Table`."""


def merge_parts(parts: list[_Part], *, hp: str, where: Path) -> Merged:
    """One table's figures from the files' parts.

    12-epoch figures come from the bayeswatch CSV; 200-epoch test accuracy from the vtao CSV
    (else LAPT), validation accuracy from LAPT.

    Raises:
        TableFormatError: no usable table for ``hp``, or two tables of one kind.
    """
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
        return bw.test, bw.val, bw.index, sources
    vtao = _one([p for p in parts if p.kind == "vtao"], "mean-over-seeds test accuracy CSV")
    lapt: dict[str, _Part] = {}
    for dataset in NB201_DATASETS:
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
    for dataset in NB201_DATASETS:
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
    return test, val, index, sources
