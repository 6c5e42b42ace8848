"""What a search decided: α's per-edge confidence, the verdict, the derived and effective cell.

Pure functions over softmax(α) (``{label: {choice: probability}}``) and NNI's export dict; no
NNI, Lightning or torch needed. Three questions a user asks of a finished search:

* **Did it decide?** :func:`edge_decisions` gives each label's normalised entropy and top-1
  margin (``p₁ − p₂``); :func:`verdict` sums them up in one line ("decided: 5/6 edges with
  margin ≥ 0.1 ...") and says which setting to change when α barely moved.
* **Which cell?** :func:`derive` applies a derivation rule: ``argmax`` (NAS-Bench-201's: the
  most probable op of each edge, ``none`` included) or ``exclude_none`` (DARTS': ``none`` is
  never chosen, since its weight mostly measures how much the edge is scaled down).
* **What does the cell compute?** :func:`effective_nb201` prunes a NAS-Bench-201 cell to the
  edges on a path from the input to the output, so a cell whose nodes are disconnected shows
  what is left of it.

Example:
    >>> probs = {"e0": {"none": 0.5, "conv": 0.3, "skip": 0.2}}
    >>> derive(probs, "exclude_none")
    {'e0': 'conv'}
    >>> round(edge_decisions(probs)["e0"].margin, 2)
    0.2
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from .hypergrad.checks import check_choice

__all__ = [
    "DECIDED_MARGIN",
    "DERIVATIONS",
    "NB201_NOTATION",
    "NOTATIONS",
    "Derivation",
    "EdgeDecision",
    "SpaceKind",
    "Verdict",
    "alpha_rule",
    "candidates",
    "decision_record",
    "derive",
    "describe_architecture",
    "edge_decisions",
    "effective_nb201",
    "verdict",
]

NB201_NOTATION = "nas-bench-201"
"""The notation of NAS-Bench-201's arch strings (a key of :data:`NOTATIONS`): a space written
in it can be looked up in the benchmark and ranked in the ground truth."""

DECIDED_MARGIN = 0.1
"""Top-1 margin (``p₁ − p₂``) from which an edge counts as decided."""

DECIDED_SHARE = 2 / 3
"""Share of edges that must be decided (with mean normalised entropy ≤ 0.9) for the verdict."""

MAX_DECIDED_ENTROPY = 0.9


@dataclass(frozen=True, kw_only=True)
class Derivation:
    """One value of ``strategy.derive``: how a search turns into a cell.

    Attributes:
        summary: one line for help text and docs.
        needs_supernet: the rule scores ops on the trained supernet (it runs once, after the
            search, in :mod:`idarts_plugin.nni_adapter.perturbation`), not on α alone.
        alpha_rule: for a rule that needs the supernet, the α rule that names each epoch's
            cell while the search runs (``metrics.csv``, the progress bar, the early stop).
    """

    summary: str
    needs_supernet: bool = False
    alpha_rule: str | None = None


DERIVATIONS: Mapping[str, Derivation] = MappingProxyType(
    {
        "argmax": Derivation(summary="NAS-Bench-201's: the most probable op, none included"),
        "exclude_none": Derivation(summary="DARTS': the most probable op other than none"),
        "perturbation": Derivation(
            summary=(
                "DARTS-PT (Wang et al., ICLR 2021): per edge, the op whose removal costs the "
                "trained supernet the most accuracy on the architecture split"
            ),
            needs_supernet=True,
            alpha_rule="exclude_none",
        ),
    }
)
"""Derivation rule name → :class:`Derivation`. Adding an α rule is one entry plus its branch
in :func:`derive`; a supernet rule is one entry plus its function in
:data:`idarts_plugin.nni_adapter.perturbation.SUPERNET_RULES`."""


def alpha_rule(rule: str) -> str:
    """The α rule that names a search's per-epoch cell under derivation rule ``rule``.

    Example:
        >>> alpha_rule("perturbation"), alpha_rule("argmax")
        ('exclude_none', 'argmax')
    """
    check_choice("derivation", rule, DERIVATIONS, plural="rules")
    return DERIVATIONS[rule].alpha_rule or rule


@dataclass(frozen=True)
class EdgeDecision:
    """How clearly α chose on one label.

    Attributes:
        top: the most probable choice.
        second: the runner-up (``None`` for a single choice).
        top_prob: its probability.
        margin: ``p(top) − p(second)``.
        entropy: entropy normalised by ``log(#choices)``, in [0, 1] (1 = uniform).
    """

    top: str
    second: str | None
    top_prob: float
    margin: float
    entropy: float


def edge_decisions(probs: Mapping[str, Mapping[Any, float]]) -> dict[str, EdgeDecision]:
    """Per label with at least two choices: top choice, margin and normalised entropy."""
    out: dict[str, EdgeDecision] = {}
    for label, dist in probs.items():
        ranked = sorted(((float(p), str(c)) for c, p in dist.items()), reverse=True)
        if len(ranked) < 2:
            continue
        h = -sum(p * math.log(p) for p, _ in ranked if p > 0)
        out[label] = EdgeDecision(
            top=ranked[0][1],
            second=ranked[1][1],
            top_prob=ranked[0][0],
            margin=ranked[0][0] - ranked[1][0],
            entropy=h / math.log(len(ranked)),
        )
    return out


@dataclass(frozen=True)
class Verdict:
    """The one-line summary of how decided a search ended.

    Attributes:
        decided: at least 2/3 of the edges have margin ≥ ``margin`` and the mean normalised
            entropy is ≤ 0.9.
        decided_edges: edges with margin ≥ ``margin``.
        edges: edges (labels with two or more choices).
        mean_entropy: mean normalised entropy.
        min_margin: the smallest top-1 margin.
        margin: the threshold used.
        text: the line to print.
    """

    decided: bool
    decided_edges: int
    edges: int
    mean_entropy: float
    min_margin: float
    margin: float
    text: str

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for ``summary.json``."""
        return {
            "decided": self.decided,
            "decided_edges": self.decided_edges,
            "edges": self.edges,
            "mean_entropy": self.mean_entropy,
            "min_margin": self.min_margin,
            "margin_threshold": self.margin,
            "text": self.text,
        }


def verdict(
    probs: Mapping[str, Mapping[Any, float]],
    *,
    margin: float = DECIDED_MARGIN,
    advice: str = (
        "raise strategy.arc_travel (with arc_learning_rate: auto), "
        "strategy.arc_learning_rate or trainer.epochs"
    ),
) -> Verdict:
    """Summarise ``edge_decisions`` in one line.

    Args:
        probs: softmax(α) per label.
        margin: the top-1 margin from which an edge counts as decided.
        advice: what to change when undecided (named in the text).

    Example:
        >>> verdict({"a": {"x": 0.9, "y": 0.1}, "b": {"x": 0.5, "y": 0.5}}).text
        'undecided: 1/2 edges with margin ≥ 0.1 (mean normalised α entropy 0.73); α barely moved: raise strategy.arc_travel (with arc_learning_rate: auto), strategy.arc_learning_rate or trainer.epochs'
    """
    edges = edge_decisions(probs)
    if not edges:
        return Verdict(True, 0, 0, 0.0, 1.0, margin, "decided: nothing to choose")
    n_dec = sum(1 for e in edges.values() if e.margin >= margin)
    mean_h = sum(e.entropy for e in edges.values()) / len(edges)
    decided = n_dec >= DECIDED_SHARE * len(edges) and mean_h <= MAX_DECIDED_ENTROPY
    text = (
        f"{'decided' if decided else 'undecided'}: {n_dec}/{len(edges)} edges with margin "
        f"≥ {margin:g} (mean normalised α entropy {mean_h:.2f})"
    )
    if not decided:
        text += f"; α barely moved: {advice}"
    return Verdict(
        decided=decided,
        decided_edges=n_dec,
        edges=len(edges),
        mean_entropy=mean_h,
        min_margin=min(e.margin for e in edges.values()),
        margin=margin,
        text=text,
    )


def derive(probs: Mapping[str, Mapping[Any, float]], rule: str = "argmax") -> dict[str, str]:
    """The chosen op per label under a derivation rule (see :data:`DERIVATIONS`).

    ``exclude_none`` picks the most probable op other than ``none`` (a label whose only
    choice is ``none`` keeps it). Ties go to the choice listed first.

    Raises:
        ValueError: unknown rule (lists the valid ones).
    """
    check_choice("derivation", rule, DERIVATIONS, plural="rules")
    if DERIVATIONS[rule].needs_supernet:
        raise ValueError(
            f"derivation rule {rule!r} scores ops on the trained supernet, not on α: "
            "use idarts_plugin.nni_adapter.perturbation (a search with strategy.derive "
            f"{rule!r} runs it at its end)"
        )
    out: dict[str, str] = {}
    for label, dist in probs.items():
        items = [(str(c), float(p)) for c, p in dist.items()]
        if rule == "exclude_none":
            items = [(c, p) for c, p in items if c != "none"] or items
        best = max(items, key=lambda cp: cp[1])  # max keeps the first of equal values
        out[label] = best[0]
    return out


def candidates(
    probs: Mapping[str, Mapping[Any, float]], rule: str = "argmax"
) -> dict[str, list[str]]:
    """The ops each label's choice is made from under a derivation rule.

    A rule that needs the supernet names its cells by its α rule; ``exclude_none`` leaves
    ``none`` out, as :func:`derive` does.

    Example:
        >>> candidates({"e/0": {"none": 0.2, "skip_connect": 0.3, "conv_3x3": 0.5}}, "perturbation")
        {'e/0': ['skip_connect', 'conv_3x3']}
    """
    rule = alpha_rule(rule)
    out: dict[str, list[str]] = {}
    for label, dist in probs.items():
        ops = [str(c) for c in dist]
        if rule == "exclude_none":
            ops = [c for c in ops if c != "none"] or ops
        out[label] = ops
    return out


def effective_nb201(
    ops: Mapping[tuple[int, int], str],
) -> tuple[dict[tuple[int, int], str], list[int]]:
    """Prune a NAS-Bench-201 cell to what carries the input to the output.

    A node is *live* if a non-``none`` edge reaches it from a live node (node 0 is live) and
    *useful* if one leads from it to a useful node (node 3 is useful). An edge is effective when
    its op is not ``none``, its source is live and its target useful; the others become ``none``.

    Args:
        ops: ``{(source, target): op}`` for the six edges (as :func:`idarts_plugin.nb201.parse_arch`).

    Returns:
        ``(effective ops, dead intermediate nodes)``; if node 3 is not live, every edge is
        ``none`` and the cell outputs no function of its input.

    Example:
        >>> from idarts_plugin.nb201 import format_arch, parse_arch
        >>> ops = parse_arch("|none~0|+|none~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|none~2|")
        >>> eff, dead = effective_nb201(ops)
        >>> format_arch(eff), dead
        ('|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|', [1, 2])
    """
    nodes = sorted({n for edge in ops for n in edge})
    last = nodes[-1]
    live = {nodes[0]}
    for j in nodes[1:]:
        if any(op != "none" and i in live for (i, t), op in ops.items() if t == j):
            live.add(j)
    useful = {last}
    for i in reversed(nodes[:-1]):
        if any(op != "none" and t in useful for (s, t), op in ops.items() if s == i):
            useful.add(i)
    effective = {
        (i, j): (op if op != "none" and i in live and j in useful and last in live else "none")
        for (i, j), op in ops.items()
    }
    dead = [n for n in nodes[1:-1] if n not in live or n not in useful]
    return effective, dead


# --------------------------------------------------------------------------------------------
# The architecture in its space's notation, and the record of the decision.
# --------------------------------------------------------------------------------------------


class SpaceKind(Protocol):
    """What these functions need of a search space: its ``notation``.

    A :class:`~idarts_plugin.spaces.SpaceSpec` has it, read from its kind's file
    (:attr:`idarts_plugin.spaces.SpaceKind.notation`).
    """

    @property
    def notation(self) -> str | None:
        """A key of :data:`NOTATIONS`, or ``None`` (NNI's export dict only)."""
        ...


def _nb201_string(export: Mapping[str, Any]) -> str:
    from .nb201 import arch_from_nni

    return arch_from_nni(export)


def decision_record(
    space: SpaceKind, probs: dict[str, dict[str, float]], export: dict[str, Any]
) -> dict[str, Any]:
    """Per-edge confidence, the verdict and (NAS-Bench-201) the effective cell, for summaries.

    Args:
        space: the search space (its ``notation``).
        probs: softmax(α) per label.
        export: the derived architecture (NNI's export dict).
    """
    edges = edge_decisions(probs)
    record: dict[str, Any] = {
        "verdict": verdict(probs).as_dict(),
        "edges": {
            label: {"top": e.top, "top_prob": e.top_prob, "margin": e.margin, "entropy": e.entropy}
            for label, e in edges.items()
        },
    }
    if space.notation == NB201_NOTATION:
        from .nb201 import format_arch, parse_arch

        arch = describe_architecture(space, export)
        if arch is not None:
            eff, dead = effective_nb201(parse_arch(arch))
            record["effective_arch"] = format_arch(eff)
            record["dead_nodes"] = dead
    return record


def describe_architecture(space: SpaceKind, export: Mapping[str, Any]) -> str | None:
    """The architecture as users of that space write it (NB201 string, DARTS genotype).

    Args:
        space: the search space (a :class:`~idarts_plugin.spaces.SpaceSpec`; its
            ``notation``).
        export: NNI's export dict of that space.

    Returns:
        The architecture in the space's :data:`NOTATIONS` entry, or ``None`` (a space with no
        notation, e.g. the generic cell space: its export dict is the architecture).
    """
    write = NOTATIONS.get(space.notation) if space.notation else None
    return None if write is None else write(export)


def _darts_genotype(export: Mapping[str, Any]) -> str:
    """DARTS' genotype notation from NNI's export of its hub DARTS space.

    NNI names node ``n``'s k-th op ``{cell}/op_{n}_{k}`` and its input ``{cell}/input_{n}_{k}``
    (a one-element list).
    """
    parts = []
    for cell in ("normal", "reduce"):
        edges = []
        node = 2
        while f"{cell}/op_{node}_0" in export:
            k = 0
            while f"{cell}/op_{node}_{k}" in export:
                src = export.get(f"{cell}/input_{node}_{k}")
                src = src[0] if isinstance(src, list) and len(src) == 1 else src
                edges.append(f"({export[f'{cell}/op_{node}_{k}']!r}, {src})")
                k += 1
            node += 1
        parts.append(f"{cell}=[{', '.join(edges)}], {cell}_concat=range(2, {node})")
    return f"Genotype({', '.join(parts)})"


NOTATIONS: Mapping[str, Callable[[Mapping[str, Any]], str]] = MappingProxyType(
    {NB201_NOTATION: _nb201_string, "darts-genotype": _darts_genotype}
)
"""Notation → the function that writes NNI's export dict in it: NAS-Bench-201's arch string
(``|op~0|+|op~0|op~1|+...``) or DARTS' genotype. A space kind names its notation in its file
(``notation:``, :attr:`idarts_plugin.spaces.SpaceKind.notation`)."""


if not TYPE_CHECKING:  # invisible to mypy, which would otherwise take any name as Any

    def __getattr__(name: str) -> Any:
        # The budget rules live in :mod:`idarts_plugin.budget`; an older README imported this one
        # from here: still importable, with a DeprecationWarning.
        if name == "arc_learning_rate_for_budget":
            import warnings

            from . import budget

            warnings.warn(
                "idarts_plugin.derive.arc_learning_rate_for_budget moved: import it from "
                "idarts_plugin.budget",
                DeprecationWarning,
                stacklevel=2,
            )
            return budget.arc_learning_rate_for_budget
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
