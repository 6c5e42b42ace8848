"""Every method against its own closed form (float64), and convergence to the true gradient.

Exact products only: on these losses, quadratic in w, a central difference is exact for any ε,
so finite differences are tested on non-quadratic losses in ``test_finite_difference.py``.
"""

from __future__ import annotations

import logging

import pytest
import torch

from idarts_plugin.hypergrad import NEUMANN_DIVERGED, compute_hypergradient, hypergradient

from .problems import DT, Ridge, rel


def test_cg_matches_ift_closed_form(quad, point):
    w, a = point
    (g,) = hypergradient(quad.train_loss, quad.val_loss, [w], [a], method="cg", steps=50, tol=1e-14)
    assert rel(g, quad.implicit(w, a)) < 1e-8


def test_cg_at_inner_optimum_is_the_true_total_derivative(quad, point):
    _, a = point
    w = quad.w_star(a)
    (g,) = hypergradient(quad.train_loss, quad.val_loss, [w], [a], method="cg", steps=50, tol=1e-14)
    assert rel(g, quad.total_derivative(a)) < 1e-8


@pytest.mark.parametrize("K", [0, 1, 2, 5, 20])
def test_neumann_matches_truncated_series(quad, point, K):
    w, a = point
    lr = 0.05
    (g,) = hypergradient(quad.train_loss, quad.val_loss, [w], [a], method="neumann", steps=K, lr=lr)
    assert rel(g, quad.neumann(w, a, K, lr)) < 1e-8


def test_neumann_converges_as_k_grows_when_lr_below_two_over_lambda_max(quad, point):
    w, a = point
    lam = float(torch.linalg.eigvalsh(quad.A)[-1])
    target = quad.implicit(w, a)
    for lr in (0.5 / lam, 1.0 / lam, 1.9 / lam):
        errors = [
            rel(
                hypergradient(
                    quad.train_loss, quad.val_loss, [w], [a], method="neumann", steps=K, lr=lr
                )[0],
                target,
            )
            for K in (1, 5, 20, 80, 300)
        ]
        assert errors[-1] < 1e-6, (lr, errors)
        assert errors[-1] < errors[2] < errors[0], (lr, errors)


def test_neumann_auto_lr_converges_and_reports_lambda(quad, point):
    w, a = point
    lam = float(torch.linalg.eigvalsh(quad.A)[-1])
    res = compute_hypergradient(
        quad.train_loss, quad.val_loss, [w], [a], method="neumann", steps=200, lr="auto"
    )
    d = res.diagnostics
    assert d.lambda_max == pytest.approx(lam, rel=0.05)
    assert d.step_size is not None and d.step_size * lam < 1.0
    assert rel(res.grads[0], quad.implicit(w, a)) < 1e-6
    assert d.n_hvp == 200 + 20 + 1  # series + power iterations + the final mixed product


@pytest.mark.parametrize("eta", [1e-3, 0.1])
def test_amended_matches_closed_form(quad, point, eta):
    w, a = point
    (g,) = hypergradient(quad.train_loss, quad.val_loss, [w], [a], method="amended", lr=eta)
    assert rel(g, quad.amended(w, a, eta)) < 1e-8


@pytest.mark.parametrize("xi", [1e-3, 0.05])
def test_unrolled_matches_closed_form(quad, point, xi):
    w, a = point
    (g,) = hypergradient(quad.train_loss, quad.val_loss, [w], [a], method="unrolled", lr=xi)
    assert rel(g, quad.unrolled(w, a, xi)) < 1e-8


def test_unrolled_equals_autograd_through_the_virtual_step():
    """Independent reference on a non-quadratic problem: differentiate through w − ξ∇L_tr."""
    prob = Ridge.random(seed=3)
    g0 = torch.Generator().manual_seed(0)
    w = torch.randn(5, generator=g0, dtype=DT)
    a = 0.3 * torch.randn(5, generator=g0, dtype=DT)
    xi = 0.01
    a_ = a.clone().requires_grad_(True)
    w_ = w.clone().requires_grad_(True)
    gtr = torch.autograd.grad(prob.train_loss([w_], [a_]), w_, create_graph=True)[0]
    ref = torch.autograd.grad(prob.val_loss([w_ - xi * gtr], [a_]), a_)[0]
    (g,) = hypergradient(prob.train_loss, prob.val_loss, [w], [a], method="unrolled", lr=xi)
    assert rel(g, ref) < 1e-10


def test_first_order_matches_closed_form(quad, point):
    w, a = point
    res = compute_hypergradient(quad.train_loss, quad.val_loss, [w], [a], method="first_order")
    assert rel(res.grads[0], quad.first_order(w, a)) < 1e-12
    assert res.diagnostics.n_hvp == 0


def test_ridge_cg_matches_true_hypergradient():
    prob = Ridge.random(seed=0)
    a = torch.tensor([0.1, -0.5, 1.0, 0.0, 2.0], dtype=DT)
    w = prob.w_star(a)
    (g,) = hypergradient(
        prob.train_loss, prob.val_loss, [w], [a], method="cg", steps=100, tol=1e-15
    )
    tol = 1e-8
    assert rel(g, prob.total_derivative(a)) < tol


def test_ridge_neumann_approaches_truth():
    prob = Ridge.random(seed=0)
    a = torch.tensor([0.1, -0.5, 1.0, 0.0, 2.0], dtype=DT)
    w = prob.w_star(a)
    truth = prob.total_derivative(a)
    lr = 1.0 / prob.lambda_max(a)
    errs = [
        rel(hypergradient(prob.train_loss, prob.val_loss, [w], [a], steps=K, lr=lr)[0], truth)
        for K in (2, 20, 200, 2000)
    ]
    assert errs == sorted(errs, reverse=True)
    assert errs[-1] < 1e-6


def test_diverging_neumann_warns_and_stays_finite(quad, point, caplog):
    w, a = point
    lam = float(torch.linalg.eigvalsh(quad.A)[-1])
    with caplog.at_level(logging.WARNING, logger="idarts_plugin.hypergrad.solvers"):
        res = compute_hypergradient(
            quad.train_loss, quad.val_loss, [w], [a], method="neumann", steps=200, lr=5.0 / lam
        )
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "diverged" in warned[0].getMessage()  # one message per event
    # ... marked with its event, which filters use instead of the words.
    assert warned[0].idarts_event == NEUMANN_DIVERGED  # type: ignore[attr-defined]
    d = res.diagnostics
    assert d.diverged and not d.converged
    assert d.terms_used < 201
    assert torch.isfinite(res.grads[0]).all()
    assert "diverged" in d.note


def test_cg_damping_solves_the_damped_system(quad, point):
    w, a = point
    lam = 0.7
    (g,) = hypergradient(
        quad.train_loss, quad.val_loss, [w], [a], method="cg", steps=50, tol=1e-14, damping=lam
    )
    A = quad.A + lam * torch.eye(6, dtype=DT)
    ref = quad.ga_val(w, a) + quad.B.T @ torch.linalg.solve(A, quad.gw_val(w, a))
    assert rel(g, ref) < 1e-8


def test_cg_reports_negative_curvature():
    # An indefinite inner Hessian: CG must stop, say why, and return something finite.
    A = torch.diag(torch.tensor([2.0, -1.0, 3.0], dtype=DT))
    tr = lambda w, a: 0.5 * w[0] @ A @ w[0] - w[0] @ a[0]  # noqa: E731
    va = lambda w, a: 0.5 * (w[0] ** 2).sum()  # noqa: E731
    w = [torch.ones(3, dtype=DT)]
    a = [torch.zeros(3, dtype=DT)]
    res = compute_hypergradient(tr, va, w, a, method="cg", steps=10)
    assert not res.diagnostics.converged
    assert "curvature" in res.diagnostics.note
    assert torch.isfinite(res.grads[0]).all()


def test_power_iteration_finds_magnitude_with_plus_minus_pair():
    from idarts_plugin.hypergrad import power_iteration

    H = torch.diag(torch.tensor([5.0, -5.0, 1.0, 0.5], dtype=DT))
    lam, v = power_iteration(lambda v: [H @ v[0]], [torch.ones(4, dtype=DT)], iterations=30)
    assert lam == pytest.approx(5.0, rel=1e-6)  # the Rayleigh quotient would be ~0 here
    assert abs(float(v[0].norm()) - 1.0) < 1e-12
