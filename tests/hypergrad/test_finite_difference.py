"""Finite-difference products on losses that are not quadratic in w, and with dropout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from idarts_plugin.hypergrad import hypergradient
from idarts_plugin.hypergrad.autodiff import FiniteDifferenceCurvature, replaying_rng

from .problems import make_supernet_problem, rel

METHODS = {
    "neumann": {"steps": 3, "lr": 0.05},
    "amended": {"lr": 0.05},
    "unrolled": {"lr": 0.05},
    "cg": {"steps": 5, "damping": 1.0},
}


def flat(gs) -> torch.Tensor:
    return torch.cat([g.flatten() for g in gs])


@pytest.mark.parametrize("method", list(METHODS))
def test_central_difference_error_shrinks_like_eps_squared(method):
    """On a smooth non-quadratic loss (float64) the error is O(ε²): ε/10 gives ~1/100.

    A forward difference (O(ε)) or a wrong step normalisation fails this; a loss quadratic
    in w would make any ε exact and test nothing.
    """
    tr, va, ws, as_, _ = make_supernet_problem(seed=2)
    opts = METHODS[method]
    exact = flat(hypergradient(tr, va, ws, as_, method=method, hvp="exact", **opts))
    errors = []
    for fd_scale in (1e-1, 1e-2):
        fd = hypergradient(
            tr, va, ws, as_, method=method, hvp="finite_difference", fd_scale=fd_scale, **opts
        )
        errors.append(rel(flat(fd), exact))
    assert errors[0] > 1e-9, errors  # the loss is not quadratic: the difference has an error
    assert errors[1] < errors[0] / 30, errors  # ideal ratio 100; a forward difference gives 10


class DropoutNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 16)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(16, 3)
        self.alpha = nn.Parameter(torch.tensor([0.3, -0.2]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mix = torch.softmax(self.alpha, 0)
        h = self.drop(torch.tanh(self.fc1(x)))
        return self.fc2(mix[0] * h + mix[1] * torch.sin(h))


def dropout_problem():
    from idarts_plugin.hypergrad import module_loss

    torch.manual_seed(0)
    net = DropoutNet().double().train()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (32,), generator=g)
    names = [n for n, _ in net.named_parameters()]
    wn = [n for n in names if n != "alpha"]
    params = dict(net.named_parameters())
    crit = nn.functional.cross_entropy
    tr = module_loss(net, crit, x[:16], y[:16], weight_names=wn, alpha_names=["alpha"])
    va = module_loss(net, crit, x[16:], y[16:], weight_names=wn, alpha_names=["alpha"])
    return tr, va, [params[n] for n in wn], [params["alpha"]]


@pytest.mark.parametrize("method", ["neumann", "amended", "cg"])
def test_dropout_masks_are_replayed_in_every_pass(method):
    """With the same random state, FD and exact products see the same masks and agree."""
    tr, va, ws, as_ = dropout_problem()
    opts = METHODS[method]
    torch.manual_seed(123)
    exact = flat(hypergradient(tr, va, ws, as_, method=method, hvp="exact", **opts))
    torch.manual_seed(123)
    fd = flat(hypergradient(tr, va, ws, as_, method=method, hvp="finite_difference", **opts))
    assert rel(fd, exact) < 1e-4  # different masks in the ± passes gave errors of order 10


@pytest.mark.parametrize("method", list(METHODS))
def test_dropout_finite_differences_converge_as_eps_shrinks(method):
    """Every method (DARTS-V2 too, whose passes come in another order than the exact ones'):
    with one set of masks the quotient converges as ε shrinks; with fresh masks per pass it
    would divide mask noise by 2ε and blow up instead."""
    tr, va, ws, as_ = dropout_problem()
    runs = []
    for fd_scale in (1e-2, 1e-3):
        torch.manual_seed(123)
        runs.append(
            flat(
                hypergradient(
                    tr,
                    va,
                    ws,
                    as_,
                    method=method,
                    hvp="finite_difference",
                    fd_scale=fd_scale,
                    **METHODS[method],
                )
            )
        )
    assert rel(runs[1], runs[0]) < 1e-3


def test_replaying_rng_repeats_draws_and_leaves_the_callers_generator_alone():
    def noisy(w, a):
        return (w[0] * torch.rand(3, dtype=torch.float64)).sum()

    w = [torch.ones(3, dtype=torch.float64)]
    torch.manual_seed(5)
    f = replaying_rng(noisy, w)
    first, second = f(w, []), f(w, [])
    assert torch.equal(first, second)
    after = torch.rand(1)
    torch.manual_seed(5)
    assert torch.equal(torch.rand(1), after)  # f's calls did not advance the global state
    torch.manual_seed(5)
    assert torch.equal(noisy(w, []), first)  # and they drew what a first call would


def test_finite_difference_gradient_uses_the_products_masks():
    tr, _va, ws, as_ = dropout_problem()
    torch.manual_seed(9)
    curv = FiniteDifferenceCurvature(tr, ws, as_)
    torch.manual_seed(9)
    w = [t.detach().requires_grad_(True) for t in ws]
    ref = torch.autograd.grad(tr(w, [t.detach() for t in as_]), w)
    for a, b in zip(curv.gradient, ref, strict=True):
        assert torch.allclose(a, b, rtol=0, atol=1e-14)
