"""Growth flags that see what a short Neumann series does, and warm starts that never keep a
bad solve (issue 20): every case here was missed before (closed forms, float64)."""

from __future__ import annotations

import pytest
import torch

from idarts_plugin.hypergrad import (
    AutoStepSize,
    GrowthMonitor,
    Neumann,
    WarmStart,
    compute_hypergradient,
)
from idarts_plugin.hypergrad.methods import MethodBuilder
from idarts_plugin.hypergrad.spec import MethodSpec
from tests.hypergrad.problems import DT

GAMMA = 0.025


def diag_problem(gamma_lambdas, b):
    """H = diag(γλ_i / γ); ``∇w L_val = b`` at ``w = 0``."""
    h = torch.tensor(gamma_lambdas, dtype=DT) / GAMMA
    b = torch.tensor(b, dtype=DT)

    def tr(w, a):
        return 0.5 * (h * w[0] * w[0]).sum() - (w[0] * a[0]).sum()

    def va(w, a):
        return 0.5 * ((w[0] + b) ** 2).sum()

    n = len(h)
    return tr, va, [torch.zeros(n, dtype=DT)], [torch.ones(n, dtype=DT)]


def solves(problem, method, n):
    tr, va, w, a = problem
    return [compute_hypergradient(tr, va, w, a, method=method).diagnostics for _ in range(n)]


# γλ = 2.05 / 2.15 grow by 1.05 / 1.15 per term; γλ = 10 with a 1e-3 share of b hides behind the
# shrinking rest of b for K ≤ 2; γλ = −0.12 (negative curvature) grows by 1.12.
CASES = {
    "2.05": ([2.05, 0.5, 1.0], [1.0, 1.0, 1.0]),
    "2.15": ([2.15, 0.5, 1.0], [1.0, 1.0, 1.0]),
    "10, share 1e-3": ([10.0, 0.5, 1.0], [1e-3, 1.0, 1.0]),
    "-0.12": ([-0.12, 0.5, 1.0], [1.0, 1.0, 1.0]),
}


@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("case", list(CASES))
def test_growth_is_flagged_within_a_few_steps(case, steps):
    problem = diag_problem(*CASES[case])
    spec = MethodBuilder(
        MethodSpec(name="neumann", options={"steps": steps}, lr=GAMMA, monitor_every=1)
    )
    diags = solves(problem, spec.build(weight_lr=GAMMA), 10)
    assert any(d.growing for d in diags[:10])
    assert diags[-1].growing and not diags[-1].converged
    rho = max(abs(1 - g) for g in CASES[case][0])
    # the monitor's ρ̂ never exceeds the true max|1 − γλ| and gets close to it
    assert diags[-1].growth_rate == pytest.approx(rho, rel=0.02)
    assert all(d.growth_rate <= rho + 1e-9 for d in diags)


@pytest.mark.parametrize("steps", [1, 2])
def test_growth_is_flagged_with_warm_start_too(steps):
    problem = diag_problem(*CASES["2.05"])
    spec = MethodBuilder(
        MethodSpec(
            name="neumann", options={"steps": steps}, lr=GAMMA, warm_start=True, monitor_every=1
        )
    )
    diags = solves(problem, spec.build(weight_lr=GAMMA), 12)
    assert diags[-1].growing


def test_term_ratio_above_one_is_proof_of_growth_without_a_monitor():
    # b along the γλ = 2.05 direction alone: the terms grow by exactly 1.05 (was below 1.1)
    problem = diag_problem([2.05, 0.5], [1.0, 0.0])
    (d,) = solves(problem, Neumann(steps=1, lr=GAMMA), 1)
    assert d.term_growth == pytest.approx(1.05) and d.growing


@pytest.mark.parametrize("gamma_lambdas", [[0.1, 1.0, 1.9], [0.0, 0.5, 1.9], [1e-6, 2.0, 0.3]])
def test_no_flag_when_every_direction_shrinks_or_stays(gamma_lambdas):
    problem = diag_problem(gamma_lambdas, [1.0, 1.0, 1.0])
    monitor = GrowthMonitor()
    diags = solves(problem, Neumann(steps=2, lr=GAMMA, monitor=monitor), 60)
    assert not any(d.growing for d in diags)
    assert monitor.rate is not None and monitor.rate <= 1.0 + 1e-12


def test_monitor_every_n_steps_and_its_state_round_trip():
    problem = diag_problem(*CASES["2.15"])
    spec = MethodBuilder(
        MethodSpec(name="neumann", options={"steps": 2}, lr=GAMMA, monitor_every=3)
    )
    diags = solves(problem, spec.build(weight_lr=GAMMA), 6)
    measured = [d.growth_rate is not None for d in diags]
    assert measured == [True, False, False, True, False, False]
    assert [d.n_hvp for d in diags] == [4, 3, 3, 4, 3, 3]  # K + mixed (+1 when due)
    other = MethodBuilder(
        MethodSpec(name="neumann", options={"steps": 2}, lr=GAMMA, monitor_every=3)
    )
    other.load_state_dict(spec.state_dict())
    assert torch.equal(other.state_dict()["monitor"]["u"][0], spec.state_dict()["monitor"]["u"][0])
    with pytest.raises(ValueError, match="monitor_every is only available for neumann"):
        MethodSpec(name="amended", monitor_every=1)


def test_a_diverged_solve_is_never_a_warm_start():
    # h = [10, 0.5], b = [1, 1], K = 5, γ = 1: the cold series diverges (|1 − 10|^5 ≫ 1000).
    h = torch.tensor([10.0, 0.5], dtype=DT)

    def tr(w, a):
        return 0.5 * (h * w[0] * w[0]).sum() - (w[0] * a[0]).sum()

    def va(w, a):
        return 0.5 * ((w[0] + 1.0) ** 2).sum()

    w, a = [torch.zeros(2, dtype=DT)], [torch.ones(2, dtype=DT)]
    warm = WarmStart()
    solver = Neumann(steps=5, lr=1.0, warm_start=warm)
    first = compute_hypergradient(tr, va, w, a, method=solver)
    assert first.diagnostics.diverged and warm.x is None
    second = compute_hypergradient(tr, va, w, a, method=solver)
    # solved cold again (before: the stored x came back unchanged with terms_used = 0)
    assert second.diagnostics.terms_used >= 1 and second.diagnostics.diverged
    assert torch.equal(first.grads[0], second.grads[0])
    assert warm.x is None


def test_a_non_finite_warm_start_falls_back_to_a_cold_solve(quad, point):
    w, a = point
    warm = WarmStart()
    warm.x = [torch.full((6,), float("nan"), dtype=DT)]
    solver = Neumann(steps=2, lr=0.05, warm_start=warm)
    res = compute_hypergradient(quad.train_loss, quad.val_loss, [w], [a], method=solver)
    cold = compute_hypergradient(
        quad.train_loss, quad.val_loss, [w], [a], method=Neumann(steps=2, lr=0.05)
    )
    assert torch.equal(res.grads[0], cold.grads[0]) and res.diagnostics.finite
    assert warm.x is not None and bool(torch.isfinite(warm.x[0]).all())


def test_warm_iteration_that_leaves_its_bounds_is_solved_cold(quad, point):
    w, a = point
    warm = WarmStart()
    warm.x = [torch.full((6,), 1e12, dtype=DT)]  # a wildly wrong start
    solver = Neumann(steps=2, lr=0.05, warm_start=warm)
    res = compute_hypergradient(quad.train_loss, quad.val_loss, [w], [a], method=solver)
    cold = compute_hypergradient(
        quad.train_loss, quad.val_loss, [w], [a], method=Neumann(steps=2, lr=0.05)
    )
    assert torch.allclose(res.grads[0], cold.grads[0]) and "solved cold" in res.diagnostics.note


def test_safe_step_size_finds_a_new_sharp_direction():
    """One warm power iteration from the old eigenvector never finds a new orthogonal sharp
    direction (γλ stayed 4.5 with a recorded 0.9); the random share and the running maximum
    bring γ·λmax under 1 within a few steps."""
    spec = MethodBuilder(MethodSpec(name="neumann", options={"steps": 2}, lr="safe"))
    method = spec.build(weight_lr=1.0)

    def problem(eigs):
        h = torch.tensor(eigs, dtype=DT)

        def tr(w, a):
            return 0.5 * (h * w[0] * w[0]).sum() - (w[0] * a[0]).sum()

        def va(w, a):
            return 0.5 * ((w[0] + 1.0) ** 2).sum()

        return tr, va, [torch.zeros(len(eigs), dtype=DT)], [torch.ones(len(eigs), dtype=DT)]

    old = [1.0, 0.1, 0.1, 0.1]
    new = [1.0, 5.0, 0.1, 0.1]  # the sharp direction is orthogonal to the old eigenvector
    for _ in range(5):
        solves(problem(old), method, 1)
    steps = [d.step_size for d in solves(problem(new), method, 6)]
    assert steps[-1] * 5.0 <= 1.0  # γ·λmax ≤ 1 (0.9/λ̂ with λ̂ → 5)
    assert steps[0] * 5.0 > 1.0  # it was stale at first


def test_auto_step_size_options_are_validated():
    with pytest.raises(ValueError, match="decay"):
        AutoStepSize(decay=1.0)
    with pytest.raises(ValueError, match="mix"):
        AutoStepSize(mix=-0.1)


def test_the_never_issued_divergence_warning_is_deprecated():
    import idarts_plugin.hypergrad as hypergrad

    with pytest.warns(DeprecationWarning, match="never issued"):
        klass = hypergrad.NeumannDivergenceWarning
    assert issubclass(klass, RuntimeWarning)
    assert "NeumannDivergenceWarning" not in hypergrad.__all__
