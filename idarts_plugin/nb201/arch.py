"""NAS-Bench-201 cells as arch strings, op mappings and NNI export dicts (pure, no imports).

Example:
    >>> parse_arch("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|")[(2, 3)]
    'skip_connect'
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType

from .errors import ArchError

__all__ = [
    "ARCH_FORM",
    "EDGES",
    "NB201_OPS",
    "NB201_TO_NNI",
    "NNI_TO_NB201",
    "NUM_ARCHS",
    "all_archs",
    "arch_from_nni",
    "arch_to_nni",
    "format_arch",
    "parse_arch",
]

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

NUM_ARCHS = len(NB201_OPS) ** len(EDGES)  # 15625
ARCH_FORM = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"

_OPS_TEXT = ", ".join(NB201_OPS)
_NNI_OPS_TEXT = ", ".join(NNI_TO_NB201)


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
