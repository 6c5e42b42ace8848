"""Perturbation-based derivation (DARTS-PT) on NNI's one-shot supernet.

DARTS-PT is Wang et al., "Rethinking Architecture Selection in Differentiable NAS" (ICLR 2021).

α's magnitude need not say how much an op matters to the supernet: in a long search the
parameter-free ops win α while the supernet still relies on its convolutions. DARTS-PT asks
the supernet instead. Edge by edge (in a seeded random order), it removes each op from the
edge's mixture in turn (its weight set to 0, the others' kept), measures the supernet's
accuracy on the architecture split, and keeps the op whose removal costs the most (``none``
is not a candidate: removing it changes nothing, its output being zero); that edge
is then fixed to its op (a one-hot mixture) for the edges after it, optionally after a few
weight steps that let the supernet adapt (``tune_steps``).

Nothing here moves α, and the scoring passes use batch statistics without touching
BatchNorm's running statistics; only ``tune_steps`` trains the weights.

Example:
    >>> sorted(SUPERNET_RULES)
    ['perturbation']
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ..strategy.remedies import mixed_edges

__all__ = ["SUPERNET_RULES", "EdgeScore", "PerturbationResult", "perturbation_derive"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EdgeScore:
    """One edge's decision.

    Attributes:
        label: the edge's NNI label.
        position: when it was decided (0 = first).
        base: the supernet's accuracy with the edge's full mixture.
        without: op → the accuracy with that op removed.
        chosen: the op whose removal costs the most (lowest ``without``; ties: the larger α).
    """

    label: str
    position: int
    base: float
    without: dict[str, float]
    chosen: str

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for ``summary.json``."""
        return {
            "position": self.position,
            "base_accuracy": self.base,
            "accuracy_without": self.without,
            "chosen": self.chosen,
        }


@dataclass(frozen=True)
class PerturbationResult:
    """The chosen op per edge and every edge's scores, in decision order."""

    chosen: dict[str, str]
    edges: list[EdgeScore]
    tune_steps: int
    seed: int

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for ``summary.json`` and ``perturbation.json``."""
        return {
            "rule": "perturbation",
            "criterion": "supernet accuracy on the architecture split without the op (lower = keep)",
            "order": [e.label for e in self.edges],
            "tune_steps": self.tune_steps,
            "seed": self.seed,
            "edges": {e.label: e.as_dict() for e in self.edges},
        }


class _Mixture(nn.Module):
    """An edge's mixture weights: the original softmax times a mask (or a fixed one-hot)."""

    def __init__(self, softmax: nn.Module) -> None:
        super().__init__()
        self.softmax = softmax
        self.mask: Tensor | None = None

    def forward(self, alpha: Tensor) -> Tensor:
        weights: Tensor = self.softmax(alpha)
        return weights if self.mask is None else weights * self.mask.to(weights)


@contextmanager
def _masked_edges(edges: Sequence[nn.Module]) -> Iterator[dict[str, list[_Mixture]]]:
    """Give each edge a maskable mixture for the duration (its own softmax restored after).

    Returns label → the mixtures of every module with that label (cells that share α).
    """
    originals = [e._softmax for e in edges]
    mixtures: dict[str, list[_Mixture]] = {}
    try:
        for e, softmax in zip(edges, originals, strict=True):
            mixture = _Mixture(cast(nn.Module, softmax))
            e._softmax = mixture
            mixtures.setdefault(str(e.label), []).append(mixture)
        yield mixtures
    finally:
        for e, softmax in zip(edges, originals, strict=True):
            e._softmax = softmax


@contextmanager
def batch_statistics(model: nn.Module) -> Iterator[None]:
    """Forward passes in training mode with batch statistics, running statistics untouched."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    tracked = [m.track_running_stats for m in norms]
    was_training = model.training
    model.train()
    for m in norms:
        m.track_running_stats = False  # batch statistics, and no update of the running ones
    try:
        yield
    finally:
        for m, flag in zip(norms, tracked, strict=True):
            m.track_running_stats = flag
        model.train(was_training)


def _set_mask(mixtures: Sequence[_Mixture], names: Sequence[str], keep: Collection[str]) -> None:
    """Every mixture of one label: weight 1 for the ops in ``keep``, else 0 (times softmax(α))."""
    mask = torch.tensor([1.0 if op in keep else 0.0 for op in names])
    for mixture in mixtures:
        mixture.mask = mask


@torch.no_grad()
def _accuracy(model: nn.Module, loader: DataLoader[Any]) -> float:
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    correct = total = 0
    with batch_statistics(model):
        for x, y in loader:
            out = model(x.to(device=device, dtype=dtype))
            correct += int((out.argmax(dim=1).cpu() == y).sum())
            total += len(y)
    return correct / max(total, 1)


def _tune(
    model: nn.Module, loader: DataLoader[Any], steps: int, lr: float, alphas: Sequence[Tensor]
) -> None:
    """``steps`` SGD steps of the weights (α frozen) on the weight split."""
    if steps <= 0:
        return
    frozen = {id(a) for a in alphas}
    params = [p for p in model.parameters() if p.requires_grad and id(p) not in frozen]
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9)
    device = next(model.parameters()).device
    model.train()
    done = 0
    while done < steps:
        for x, y in loader:
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(x.to(device)), y.to(device))
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            done += 1
            if done >= steps:
                break
    for a in alphas:
        a.grad = None


def perturbation_derive(
    pl_module: Any,
    score_loader: DataLoader[Any],
    *,
    seed: int = 0,
    tune_steps: int = 0,
    tune_loader: DataLoader[Any] | None = None,
    tune_lr: float = 0.001,
) -> PerturbationResult:
    """DARTS-PT on a trained one-shot module: one op per mixed edge, with its scores.

    Args:
        pl_module: NNI's one-shot module (its supernet's mixed edges hold ``_arch_alpha``).
        score_loader: the architecture split (scored in full for every removal).
        seed: orders the edges (DARTS-PT decides them in random order).
        tune_steps: weight steps on ``tune_loader`` after each edge decision (0: none).
        tune_loader: the weight split (required when ``tune_steps`` > 0).
        tune_lr: the tuning steps' SGD learning rate.

    Raises:
        ValueError: no mixed edge, or ``tune_steps`` without a ``tune_loader``.
    """
    edges = mixed_edges(pl_module)
    if not edges:
        raise ValueError("derive='perturbation' found no mixed edge (LayerChoice) to score")
    if tune_steps > 0 and tune_loader is None:
        raise ValueError("tune_steps > 0 needs the weight split as tune_loader")
    model = pl_module.training_module.model
    first: dict[
        str, nn.Module
    ] = {}  # one module per label: cells that share a label share α and the decision
    for e in edges:
        first.setdefault(str(e.label), e)
    order = list(first)
    random.Random(seed).shuffle(order)
    alphas = list({id(e._arch_alpha): cast(Tensor, e._arch_alpha) for e in edges}.values())
    scores: list[EdgeScore] = []
    with _masked_edges(edges) as mixtures:
        for position, label in enumerate(order):
            edge: Any = first[label]  # NNI's mixed layer: names, _softmax, _arch_alpha
            names = [str(n) for n in edge.names]
            with torch.no_grad():
                prob = dict(zip(names, edge._softmax(edge._arch_alpha).tolist(), strict=True))
            candidates = [op for op in names if op != "none"] or names
            base = _accuracy(model, score_loader)
            without = {}
            for op in candidates:
                _set_mask(mixtures[label], names, set(names) - {op})
                without[op] = _accuracy(model, score_loader)
            # The most costly removal; ties go to the larger α, then to the op listed first.
            chosen = min(candidates, key=lambda op: (without[op], -prob[op]))
            _set_mask(mixtures[label], names, {chosen})
            scores.append(EdgeScore(label, position, base, without, chosen))
            _logger.info(
                "perturbation: edge %s -> %s (accuracy %.4f; without each op: %s)",
                label,
                chosen,
                base,
                ", ".join(f"{op} {acc:.4f}" for op, acc in without.items()),
            )
            if tune_loader is not None:
                _tune(model, tune_loader, tune_steps, tune_lr, alphas)
    return PerturbationResult(
        chosen={s.label: s.chosen for s in scores}, edges=scores, tune_steps=tune_steps, seed=seed
    )


SUPERNET_RULES: Mapping[str, Callable[..., PerturbationResult]] = {
    "perturbation": perturbation_derive
}
"""Derivation rules that need the supernet (``Derivation.needs_supernet``) → their function."""
