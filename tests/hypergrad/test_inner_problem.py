"""Which inner problem is differentiated: weight decay in H, and DARTS-V2's virtual step."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from idarts_plugin.hypergrad import ExactCurvature, compute_hypergradient, hypergradient
from idarts_plugin.hypergrad.autodiff import WeightDecayed, with_weight_decay

from .problems import DT, Quadratic, Ridge, make_supernet_problem, rel

OPTIONS = {
    "neumann": {"steps": 4, "lr": 0.05},
    "cg": {"steps": 60, "tol": 1e-14},
    "amended": {"lr": 0.05},
    "unrolled": {"lr": 0.05},
}


def closed_form(q: Quadratic, method: str, w: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    o = OPTIONS[method]
    return {
        "neumann": lambda: q.neumann(w, a, o["steps"], o["lr"]),
        "cg": lambda: q.implicit(w, a),
        "amended": lambda: q.amended(w, a, o["lr"]),
        "unrolled": lambda: q.unrolled(w, a, o["lr"]),
    }[method]()


# exact / finite differences from the loss, and the exact curvature of a ready loss (shared)
PATHS = [("exact", False), ("finite_difference", False), ("exact", True)]


@pytest.mark.parametrize(("hvp", "given_curvature"), PATHS)
@pytest.mark.parametrize("method", list(OPTIONS))
def test_weight_decay_is_the_quadratic_with_a_plus_lambda(
    quad, point, method, hvp, given_curvature
):
    """λ in the inner problem = the same closed form with A + λI, for every method and path."""
    w, a = point
    lam = 0.7  # large, so that forgetting it anywhere shows
    decayed = dataclasses.replace(quad, A=quad.A + lam * torch.eye(6, dtype=DT))
    curvature = None
    if given_curvature:
        w_, a_ = w.clone().requires_grad_(True), a.clone().requires_grad_(True)
        curvature = ExactCurvature.from_loss(quad.train_loss([w_], [a_]), [w_], [a_])
        w, a = w_, a_
    got = compute_hypergradient(
        quad.train_loss,
        quad.val_loss,
        [w],
        [a],
        method=method,
        hvp=hvp,
        curvature=curvature,
        weight_decay=lam,
        **OPTIONS[method],
    ).grads[0]
    want = closed_form(decayed, method, w.detach(), a.detach())
    assert rel(got, want) < 1e-8
    without = closed_form(quad, method, w.detach(), a.detach())
    assert rel(without, want) > 1e-3  # the decay changes the answer: the test can fail


def test_per_tensor_decay_and_zero_decay_change_nothing():
    tr, va, ws, as_, _ = make_supernet_problem(seed=3)
    base = hypergradient(tr, va, ws, as_, method="neumann", steps=3, lr=0.05)
    zero = hypergradient(tr, va, ws, as_, method="neumann", steps=3, lr=0.05, weight_decay=0.0)
    for x, y in zip(base, zero, strict=True):
        assert torch.equal(x, y)
    # a per-tensor list with the decay on one tensor only = that tensor's L2 term in the loss
    decays = [0.0] * len(ws)
    decays[0] = 0.3
    per = hypergradient(tr, va, ws, as_, method="neumann", steps=3, lr=0.05, weight_decay=decays)

    def tr_l2(w, a):
        return tr(w, a) + 0.15 * (w[0] ** 2).sum()

    ref = hypergradient(tr_l2, va, ws, as_, method="neumann", steps=3, lr=0.05)
    for x, y in zip(per, ref, strict=True):
        assert torch.allclose(x, y, rtol=1e-10, atol=1e-12)
    assert not all(torch.allclose(x, y) for x, y in zip(per, base, strict=True))


def test_weight_decay_is_validated():
    tr, va, ws, as_, _ = make_supernet_problem(seed=0)
    with pytest.raises(ValueError, match="weight_decay has 2 entries"):
        hypergradient(tr, va, ws, as_, method="first_order", weight_decay=[0.1, 0.1])
    with pytest.raises(ValueError, match=">= 0"):
        hypergradient(tr, va, ws, as_, method="first_order", weight_decay=-1.0)


def test_weight_decayed_keeps_the_criterion_gradient_for_the_weight_step():
    w = [torch.tensor([1.0, -2.0], dtype=DT, requires_grad=True)]
    a = [torch.zeros(1, dtype=DT, requires_grad=True)]
    loss = (w[0] ** 3).sum() * (1 + a[0].sum())
    curv = WeightDecayed(ExactCurvature.from_loss(loss, w, a), w, 0.5)
    assert curv.weight_gradients()[0].tolist() == [3.0, 12.0]  # ∇ of the criterion only
    assert curv.gradient[0].tolist() == [3.5, 11.0]  # + λw
    assert curv.hvp([torch.tensor([1.0, 1.0], dtype=DT)])[0].tolist() == [6.5, -11.5]


def test_unrolled_optimizer_step_equals_autograd_through_it():
    """w' = w − ξ(∇L_tr + λw + u): differentiated through, on a problem not quadratic in α."""
    prob = Ridge.random(seed=3)
    g0 = torch.Generator().manual_seed(0)
    w = torch.randn(5, generator=g0, dtype=DT)
    a = 0.3 * torch.randn(5, generator=g0, dtype=DT)
    u = torch.randn(5, generator=g0, dtype=DT)
    xi, lam = 0.01, 0.2
    a_ = a.clone().requires_grad_(True)
    w_ = w.clone().requires_grad_(True)
    gtr = torch.autograd.grad(
        with_weight_decay(prob.train_loss, lam)([w_], [a_]), w_, create_graph=True
    )[0]
    ref = torch.autograd.grad(prob.val_loss([w_ - xi * (gtr + u)], [a_]), a_)[0]
    for hvp in ("exact", "finite_difference"):
        (g,) = hypergradient(
            prob.train_loss,
            prob.val_loss,
            [w],
            [a],
            method="unrolled",
            lr=xi,
            velocity=[u],
            weight_decay=lam,
            hvp=hvp,
        )
        assert rel(g, ref) < (1e-10 if hvp == "exact" else 1e-5), hvp
    (plain,) = hypergradient(prob.train_loss, prob.val_loss, [w], [a], method="unrolled", lr=xi)
    assert rel(plain, ref) > 1e-3


def test_velocity_must_match_the_weights():
    tr, va, ws, as_, _ = make_supernet_problem(seed=0)
    with pytest.raises(ValueError, match="velocity has 1 tensors"):
        hypergradient(tr, va, ws, as_, method="unrolled", lr=0.1, velocity=[ws[0]])
