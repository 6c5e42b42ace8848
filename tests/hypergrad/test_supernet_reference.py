"""The engine on a real conv supernet against a dense, independently computed reference."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

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


def test_tied_alphas_are_one_parameter():
    """An α shared by two modules (as NNI does per label) gets one summed gradient."""
    tr, va, ws, as_, _net = make_supernet_problem(seed=6)
    g = hypergradient(tr, va, ws, as_, method="first_order")
    assert [t.shape for t in g] == [torch.Size([2, 4]), torch.Size([4])]
    assert functional_call  # imported for symmetry with module_loss


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_is_preserved(dtype):
    tr, va, ws, as_, _ = make_supernet_problem(seed=0, dtype=dtype)
    for g in hypergradient(tr, va, ws, as_, method="neumann", steps=1, lr=0.01):
        assert g.dtype == dtype
