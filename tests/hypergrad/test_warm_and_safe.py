"""Warm-started Neumann solves and the curvature-safe step size, against closed forms."""

from __future__ import annotations

import logging

import pytest
import torch

from idarts_plugin.hypergrad import (
    AutoStepSize,
    Neumann,
    WarmStart,
    compute_hypergradient,
)
from idarts_plugin.hypergrad.methods import MethodBuilder
from idarts_plugin.hypergrad.spec import MethodSpec
from tests.hypergrad.problems import DT
from tests.hypergrad.test_closed_form import rel


def richardson(A, b, x0, lr, steps):
    x = x0.clone()
    for _ in range(steps):
        x = x + lr * (b - A @ x)
    return x


def test_first_warm_solve_is_the_cold_series_then_iterations_continue(quad, point):
    w, a = point
    lr, K = 0.05, 2
    warm = WarmStart()
    solver = Neumann(steps=K, lr=lr, warm_start=warm)
    first = compute_hypergradient(quad.train_loss, quad.val_loss, [w], [a], method=solver)
    assert rel(first.grads[0], quad.neumann(w, a, K, lr)) < 1e-10
    assert warm.solves == 1
    b = quad.gw_val(w, a)
    x_expected = lr * sum(
        torch.linalg.matrix_power(torch.eye(6, dtype=DT) - lr * quad.A, j) @ b for j in range(K + 1)
    )
    assert rel(warm.x[0], x_expected) < 1e-10
    second = compute_hypergradient(quad.train_loss, quad.val_loss, [w], [a], method=solver)
    x2 = richardson(quad.A, b, x_expected, lr, K)
    assert rel(warm.x[0], x2) < 1e-10
    assert rel(second.grads[0], quad.ga_val(w, a) + quad.B.T @ x2) < 1e-10
    assert second.diagnostics.n_hvp == K + 1  # K products + the mixed product, as cold
    assert second.diagnostics.residual is not None


def test_warm_start_accumulates_to_the_implicit_gradient(quad, point):
    w, a = point
    lam = float(torch.linalg.eigvalsh(quad.A)[-1])
    solver = Neumann(steps=2, lr=1.0 / lam, warm_start=WarmStart())
    cold = Neumann(steps=2, lr=1.0 / lam)
    target = quad.implicit(w, a)
    errs = [
        rel(
            compute_hypergradient(quad.train_loss, quad.val_loss, [w], [a], method=solver).grads[0],
            target,
        )
        for _ in range(60)
    ]
    cold_err = rel(
        compute_hypergradient(quad.train_loss, quad.val_loss, [w], [a], method=cold).grads[0],
        target,
    )
    assert errs[-1] < 1e-6 < cold_err
    assert errs[-1] < errs[10] < errs[0]


def test_warm_start_divergence_truncates_and_restarts_cold(quad, point, caplog):
    w, a = point
    lam = float(torch.linalg.eigvalsh(quad.A)[-1])
    warm = WarmStart()
    ok = Neumann(steps=2, lr=0.5 / lam, warm_start=warm)
    compute_hypergradient(quad.train_loss, quad.val_loss, [w], [a], method=ok)
    bad = Neumann(steps=30, lr=5.0 / lam, warm_start=warm, max_growth=10.0)
    with caplog.at_level(logging.WARNING, logger="idarts_plugin.hypergrad.solvers"):
        res = compute_hypergradient(quad.train_loss, quad.val_loss, [w], [a], method=bad)
    assert any("Neumann series diverged" in r.getMessage() for r in caplog.records)
    assert res.diagnostics.diverged and res.diagnostics.finite
    assert warm.x is None  # the next solve starts cold


def test_warm_start_shape_change_starts_cold():
    warm = WarmStart()
    warm.x = [torch.zeros(3, dtype=DT)]
    assert warm.start([torch.zeros(4, dtype=DT)]) is None
    assert warm.start([torch.zeros(3, dtype=torch.float32)]) is None
    assert warm.start([torch.zeros(3, dtype=DT)]) is warm.x


def test_safe_step_is_min_of_cap_and_inverse_curvature():
    # H = diag(400, 1): γ·λ = 10 at the paper's γ = 0.025; safe brings it to 0.9.
    A = torch.diag(torch.tensor([400.0, 1.0], dtype=DT))
    B = torch.eye(2, dtype=DT)

    def tr(w, a):
        return 0.5 * w[0] @ A @ w[0] - w[0] @ B @ a[0]

    def va(w, a):
        return 0.5 * (w[0] - 1.0) @ (w[0] - 1.0)

    w, a = torch.ones(2, dtype=DT) * 0.3, torch.ones(2, dtype=DT)
    auto = AutoStepSize(iterations=30, warm_iterations=1, safety=0.9)
    res = compute_hypergradient(tr, va, [w], [a], method=Neumann(steps=2, lr=auto, max_lr=0.025))
    d = res.diagnostics
    assert d.lambda_max == pytest.approx(400.0, rel=1e-3)
    assert d.step_size == pytest.approx(0.9 / d.lambda_max)
    assert d.step_curvature == pytest.approx(0.9)
    # Flat curvature: the cap (the weight lr) wins.
    res = compute_hypergradient(
        lambda w, a: 1e-4 * tr(w, a), va, [w], [a], method=Neumann(steps=2, lr=auto, max_lr=0.025)
    )
    assert res.diagnostics.step_size == 0.025


def test_safe_step_with_zero_curvature_falls_back_to_the_cap():
    def tr(w, a):
        return (w[0] * 0.0).sum() - (w[0] * a[0]).sum()

    def va(w, a):
        return (w[0] ** 2).sum()

    w, a = torch.ones(2, dtype=DT), torch.ones(2, dtype=DT)
    auto = AutoStepSize(iterations=3, warm_iterations=1)
    res = compute_hypergradient(tr, va, [w], [a], method=Neumann(steps=2, lr=auto, max_lr=0.01))
    assert res.diagnostics.step_size == 0.01
    assert "falls back" in res.diagnostics.note
    assert res.diagnostics.finite


def test_method_spec_safe_and_warm_state_round_trip(quad, point):
    w, a = point
    spec = MethodBuilder(
        MethodSpec(name="neumann", options={"steps": 2}, lr="safe", warm_start=True)
    )
    method = spec.build(weight_lr=0.025)
    assert "max_lr=0.025" in repr(method) and "warm_start=True" in repr(method)
    compute_hypergradient(quad.train_loss, quad.val_loss, [w], [a], method=method)
    state = spec.state_dict()
    assert state["warm"]["x"] is not None and state["auto"]["lambda"] is not None
    other = MethodBuilder(
        MethodSpec(name="neumann", options={"steps": 2}, lr="safe", warm_start=True)
    )
    other.load_state_dict(state)
    assert torch.equal(other.state_dict()["warm"]["x"][0], state["warm"]["x"][0])
    assert other.auto is not None and other.auto.lambda_max == spec.auto.lambda_max
    with pytest.raises(ValueError, match="only available for neumann"):
        MethodSpec(name="amended", lr="safe")
    with pytest.raises(ValueError, match="warm_start is only available for neumann"):
        MethodSpec(name="cg", warm_start=True)


def _diag_problem(eigs):
    A = torch.diag(torch.tensor(eigs, dtype=DT))

    def tr(w, a):
        return 0.5 * w[0] @ A @ w[0] - w[0] @ a[0]

    def va(w, a):
        return 0.5 * (w[0] - 1.0) @ (w[0] - 1.0)

    n = len(eigs)
    return tr, va, torch.full((n,), 0.3, dtype=DT), torch.ones(n, dtype=DT), A


def test_growing_series_is_flagged_even_below_the_truncation_threshold():
    # γλ = 10 at K = 2: off by ~700x, yet far below the 1000·‖b‖ truncation.
    tr, va, w, a, _ = _diag_problem([400.0, 1.0])
    res = compute_hypergradient(tr, va, [w], [a], method=Neumann(steps=2, lr=0.025))
    d = res.diagnostics
    assert not d.diverged and d.growing and not d.converged
    assert 8.0 < d.term_growth <= 9.0 + 1e-9  # → |1 − γλ| = 9 of the top eigenvalue
    # Below 2/λ: shrinking terms, no flag; converged once the residual proxy is small.
    ok = compute_hypergradient(tr, va, [w], [a], method=Neumann(steps=2000, lr=0.004))
    assert not ok.diagnostics.growing and ok.diagnostics.converged
    assert ok.diagnostics.term_growth <= 1.0


def test_negative_curvature_is_flagged_under_auto():
    tr, va, w, a, _ = _diag_problem([2.0, -1.5, 0.5])
    res = compute_hypergradient(tr, va, [w], [a], method="neumann", steps=10, lr="auto")
    d = res.diagnostics
    assert d.growing and d.term_growth > 1.1 and res.diagnostics.finite
    assert all(torch.isfinite(g).all() for g in res.grads)


@pytest.mark.parametrize("gamma_lambda", [2.5, 10.0, 29.0])
@pytest.mark.parametrize("steps", [1, 2, 5])
def test_step_curvature_between_two_and_thirty_is_flagged(gamma_lambda, steps):
    """2 < γλ < 30 amplifies the top eigendirection by |1 − γλ| per term: always flagged,
    never reported converged, and the result stays finite."""
    tr, va, w, a, _ = _diag_problem([400.0, 1.0])
    gamma = gamma_lambda / 400.0
    res = compute_hypergradient(tr, va, [w], [a], method=Neumann(steps=steps, lr=gamma))
    d = res.diagnostics
    assert d.growing and not d.converged and d.finite
    # the ratio of whole terms tends to |1 − γλ| of the top eigenvalue and never exceeds it
    assert 1.1 < d.term_growth <= gamma_lambda - 1.0 + 1e-9
    assert all(torch.isfinite(g).all() for g in res.grads)


def test_step_curvature_below_two_is_not_flagged():
    tr, va, w, a, _ = _diag_problem([400.0, 1.0])
    d = compute_hypergradient(tr, va, [w], [a], method=Neumann(steps=5, lr=1.9 / 400)).diagnostics
    assert not d.growing and d.term_growth <= 1.0
