"""``network_problem``: (model, criterion, batches, α) → the step's problem, in the engine."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from idarts_plugin.hypergrad import Neumann, compute_hypergradient, module_loss, split_parameters
from idarts_plugin.hypergrad.problem import network_problem

from .problems import DT, TinySupernet, is_alpha


def _net_and_batches():
    torch.manual_seed(0)
    net = TinySupernet().to(DT).train()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 1, 6, 6, generator=g, dtype=DT)
    y = torch.randint(0, 3, (16,), generator=g)
    return net, (x[:8], y[:8]), (x[8:], y[8:])


def test_the_problem_is_the_split_model_and_its_losses():
    net, train, val = _net_and_batches()
    wn, ws, an, as_ = split_parameters(net, is_alpha)
    alphas = list(reversed(as_))  # α in the caller's order, not the model's
    problem = network_problem(net, F.cross_entropy, [train], val, alphas=alphas)
    assert [id(w) for w in problem.weights] == [id(w) for w in ws]
    assert [id(a) for a in problem.alphas] == [id(a) for a in alphas]
    assert problem.curvature is None and problem.device_type == "cpu"
    got = problem.hypergradient(Neumann(steps=2, lr=0.01))
    names = {"weight_names": wn, "alpha_names": list(reversed(an))}
    tr = module_loss(net, F.cross_entropy, *train, **names)
    va = module_loss(net, F.cross_entropy, *val, **names)
    ref = compute_hypergradient(tr, va, ws, alphas, method=Neumann(steps=2, lr=0.01))
    for g, r in zip(got.grads, ref.grads, strict=True):
        assert torch.equal(g, r)
    assert problem.weight_gradients() is None


def test_the_weight_steps_graph_serves_the_curvature_and_its_gradients():
    net, train, val = _net_and_batches()
    alphas = [p for n, p in net.named_parameters() if is_alpha(n, p)]
    step_loss = F.cross_entropy(net(train[0]), train[1])
    problem = network_problem(
        net, F.cross_entropy, [train], val, alphas=alphas, step_loss=step_loss
    )
    assert problem.shares_step_graph
    pairs = problem.weight_gradients()
    assert pairs is not None
    step_loss.backward()
    for w, g in pairs:
        assert g is not None and torch.allclose(g, w.grad)


def test_an_alpha_that_is_not_a_parameter_of_the_model_is_refused():
    net, train, val = _net_and_batches()
    with pytest.raises(RuntimeError, match="not parameters of the model"):
        network_problem(net, F.cross_entropy, [train], val, alphas=[nn.Parameter(torch.ones(2))])
