"""DARTS-PT on a constructed supernet where α prefers the wrong op and removal finds the right one."""

from __future__ import annotations

import torch
from torch import nn

from tests.conftest import requires_nni

pytestmark = requires_nni


class Edge(nn.Module):
    """A mixed edge as NNI's: ``label``, ``names``, ``_arch_alpha`` and ``_softmax``."""

    def __init__(self, label: str, ops: dict[str, nn.Module], alpha: nn.Parameter) -> None:
        super().__init__()
        self.label, self.names = label, list(ops)
        self.ops = nn.ModuleDict(ops)
        self._arch_alpha = alpha
        self._softmax = nn.Softmax(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self._softmax(self._arch_alpha)
        return sum(w * self.ops[n](x) for w, n in zip(weights, self.names, strict=True))


class Lambda(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


class Parallel(nn.Module):
    def __init__(self, edges: list[Edge]) -> None:
        super().__init__()
        self.edges = nn.ModuleList(edges)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(e(x) for e in self.edges)


class FakeOneShot:
    """What perturbation_derive reads of NNI's one-shot module."""

    def __init__(self, model: nn.Module, edges: list[Edge]) -> None:
        self.training_module = type("M", (), {"model": model})()
        self._edges = edges

    def supernet_modules(self):
        return iter(self._edges)


def make_problem():
    """Label = sign of feature 0. The conv op carries it; the pooling op swaps in feature 1
    (noise) and holds nearly all of α; ``none`` outputs zeros. Two modules share the label and
    α (cells that share an edge label, as in NNI's NAS-Bench-201 space)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, 2, generator=g)
    y = (x[:, 0] > 0).long()
    alpha = nn.Parameter(torch.tensor([0.0, 4.0, 0.0]))

    def ops():
        return {
            "none": Lambda(torch.zeros_like),
            "avg_pool_3x3": Lambda(lambda t: t.flip(-1)),
            "nor_conv_3x3": nn.Identity(),
        }

    edges = [Edge("cell/0_1", ops(), alpha), Edge("cell/0_1", ops(), alpha)]
    head = nn.Linear(2, 2)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
        head.bias.zero_()
    bn = nn.BatchNorm1d(2)
    model = nn.Sequential(Parallel(edges), bn, head)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=128)
    return FakeOneShot(model, edges), model, bn, loader, alpha


def test_pt_keeps_the_op_whose_removal_costs_most_not_the_largest_alpha():
    from idarts_plugin.nni_adapter.perturbation import perturbation_derive

    oneshot, _model, bn, loader, alpha = make_problem()
    assert oneshot._edges[0].names[int(alpha.argmax())] == "avg_pool_3x3"  # α's choice
    stats = (bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked))
    alpha_before = alpha.detach().clone()
    result = perturbation_derive(oneshot, loader, seed=0)
    assert result.chosen == {"cell/0_1": "nor_conv_3x3"}
    (edge,) = result.edges
    assert set(edge.without) == {"avg_pool_3x3", "nor_conv_3x3"}  # none is no candidate
    assert edge.without["avg_pool_3x3"] > 0.95  # without the noise, the signal is read
    assert edge.without["nor_conv_3x3"] < 0.65  # without the signal: chance
    # Nothing else moved: α, BatchNorm's running statistics, the edges' own softmax.
    assert torch.equal(alpha.detach(), alpha_before)
    assert torch.equal(bn.running_mean, stats[0]) and torch.equal(bn.running_var, stats[1])
    assert int(bn.num_batches_tracked) == stats[2]
    assert all(isinstance(e._softmax, nn.Softmax) for e in oneshot._edges)
    record = result.as_dict()
    assert (
        record["order"] == ["cell/0_1"] and record["edges"]["cell/0_1"]["chosen"] == "nor_conv_3x3"
    )


def test_pt_ties_go_to_the_larger_alpha():
    from idarts_plugin.nni_adapter.perturbation import perturbation_derive

    oneshot, _model, _, loader, alpha = make_problem()
    with torch.no_grad():  # both ops now read the signal: removing either costs nothing
        for e in oneshot._edges:
            e.ops["avg_pool_3x3"] = nn.Identity()
        alpha.copy_(torch.tensor([0.0, 1.0, 2.0]))
    assert perturbation_derive(oneshot, loader).chosen["cell/0_1"] == "nor_conv_3x3"
