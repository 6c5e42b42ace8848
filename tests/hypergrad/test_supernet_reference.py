"""The engine on a real conv supernet against a dense, independently computed reference."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from idarts_plugin.hypergrad import hypergradient

from .problems import make_supernet_problem


def flat_reference(tr, va, ws, as_, damping):
    """Build the full Hessian blocks with torch.autograd.functional and solve densely."""
    shapes = [w.shape for w in ws]
    sizes = [w.numel() for w in ws]
    ashapes = [a.shape for a in as_]
    asizes = [a.numel() for a in as_]

    def unflat(v, shp, sz):
        return [c.reshape(s) for c, s in zip(torch.split(v, sz), shp, strict=True)]

    w0 = torch.cat([w.detach().flatten() for w in ws])
    a0 = torch.cat([a.detach().flatten() for a in as_])
    ftr = lambda w, a: tr(unflat(w, shapes, sizes), unflat(a, ashapes, asizes))  # noqa: E731
    fva = lambda w, a: va(unflat(w, shapes, sizes), unflat(a, ashapes, asizes))  # noqa: E731
    H = torch.autograd.functional.hessian(lambda w: ftr(w, a0), w0)
    Haw = torch.autograd.functional.jacobian(
        lambda a: torch.autograd.functional.jacobian(lambda w: ftr(w, a), w0, create_graph=True),
        a0,
    )  # (n_w, n_a): d/dα of ∇w L_tr
    gw, ga = torch.autograd.grad(fva(w0.requires_grad_(), a0.requires_grad_()), (w0, a0))
    return H, Haw, gw, ga, (ashapes, asizes)


def test_dense_reference_for_cg_and_neumann():
    tr, va, ws, as_, _ = make_supernet_problem(seed=4, batch=6)
    H, Haw, gw, ga, (_ashapes, _asizes) = flat_reference(tr, va, ws, as_, damping=0.0)
    eig = torch.linalg.eigvalsh(H)
    lam_max = float(eig.abs().max())
    damping = 0.05 * lam_max + max(0.0, -float(eig.min()))  # make H + δI positive definite
    A = H + damping * torch.eye(H.shape[0], dtype=H.dtype)
    ref = ga - Haw.T @ torch.linalg.solve(A, gw)

    got = hypergradient(tr, va, ws, as_, method="cg", steps=500, tol=1e-13, damping=damping)
    flat = torch.cat([g.flatten() for g in got])
    assert float((flat - ref).norm() / ref.norm()) < 1e-7

    K, lr = 7, 0.5 / lam_max
    M = torch.eye(H.shape[0], dtype=H.dtype) - lr * H
    x = lr * sum(torch.linalg.matrix_power(M, j) @ gw for j in range(K + 1))
    ref_n = ga - Haw.T @ x
    got_n = torch.cat(
        [g.flatten() for g in hypergradient(tr, va, ws, as_, method="neumann", steps=K, lr=lr)]
    )
    assert float((got_n - ref_n).norm() / ref_n.norm()) < 1e-9


def test_batchnorm_uses_batch_statistics_and_stays_untouched():
    tr, va, ws, as_, net = make_supernet_problem(seed=5)
    bn = net.stem[1]
    rm, rv, nb = bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone()
    hypergradient(tr, va, ws, as_, method="neumann", steps=2, lr=0.01, hvp="finite_difference")
    hypergradient(tr, va, ws, as_, method="unrolled", lr=0.01)
    assert torch.equal(bn.running_mean, rm)
    assert torch.equal(bn.running_var, rv)
    assert torch.equal(bn.num_batches_tracked, nb)


class _Mix(nn.Module):
    def __init__(self, alpha: nn.Parameter, fn) -> None:
        super().__init__()
        self.alpha = alpha
        self.fn = fn

    def forward(self, x):
        p = torch.softmax(self.alpha, 0)
        return p[0] * x + p[1] * self.fn(x)


class _TwoEdges(nn.Module):
    """Two edges whose α are either one shared Parameter (as NNI ties a label) or two."""

    def __init__(self, tied: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(4, 4)
        first = nn.Parameter(torch.tensor([0.2, -0.1], dtype=torch.float64))
        second = first if tied else nn.Parameter(first.detach().clone())
        self.e1 = _Mix(first, torch.tanh)
        self.e2 = _Mix(second, torch.sin)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        return self.head(self.e2(self.e1(self.fc(x))))


@pytest.mark.parametrize("method", ["first_order", "neumann", "unrolled"])
def test_tied_alpha_gets_the_sum_of_its_uses(method):
    """An α registered on two modules is one tensor whose gradient sums both uses.

    ``named_parameters`` lists a shared Parameter once; the engine must still substitute it in
    *both* modules (``functional_call(..., tie_weights=True)``), or the second use would see
    the stale module value and contribute nothing.
    """
    from idarts_plugin.hypergrad import module_loss

    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (16,), generator=g)
    grads = {}
    for tied in (True, False):
        net = _TwoEdges(tied).double()
        names = [n for n, _ in net.named_parameters()]
        an = [n for n in names if n.endswith("alpha")]
        wn = [n for n in names if n not in an]
        params = dict(net.named_parameters())
        crit = torch.nn.functional.cross_entropy
        tr = module_loss(net, crit, x[:8], y[:8], weight_names=wn, alpha_names=an)
        va = module_loss(net, crit, x[8:], y[8:], weight_names=wn, alpha_names=an)
        opts = {} if method == "first_order" else {"lr": 0.1}
        if method == "neumann":
            opts["steps"] = 2
        grads[tied] = hypergradient(
            tr, va, [params[n] for n in wn], [params[n] for n in an], method=method, **opts
        )
    assert len(grads[True]) == 1 and len(grads[False]) == 2
    untied_sum = grads[False][0] + grads[False][1]
    assert torch.allclose(grads[True][0], untied_sum, rtol=1e-10, atol=1e-14)
    assert not torch.allclose(grads[False][0], untied_sum)  # both uses contribute


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_is_preserved(dtype):
    tr, va, ws, as_, _ = make_supernet_problem(seed=0, dtype=dtype)
    for g in hypergradient(tr, va, ws, as_, method="neumann", steps=1, lr=0.01):
        assert g.dtype == dtype
