"""β-decay: its gradient in closed form, its schedule, and its sum with an implicit term."""

from __future__ import annotations

import pytest
import torch

from idarts_plugin.hypergrad import hypergradient
from idarts_plugin.hypergrad.regularizers import BetaDecay

from .problems import DT, rel


def test_closed_form_gradient_matches_autograd_of_the_value():
    g = torch.Generator().manual_seed(3)
    alphas = [torch.randn(5, generator=g, dtype=DT, requires_grad=True) for _ in range(4)]
    alphas.append(
        torch.randn(2, 3, generator=g, dtype=DT, requires_grad=True)
    )  # rows count as edges
    value = BetaDecay.value(alphas, coefficient=1.7)
    auto = torch.autograd.grad(value, alphas)
    closed = BetaDecay.grads(alphas, coefficient=1.7)
    for a, b in zip(closed, auto, strict=True):
        assert rel(a, b) < 1e-12


def test_gradient_is_coefficient_times_softmax_over_edges():
    a = torch.tensor([2.0, 0.0, -1.0], dtype=DT)
    (grad,) = BetaDecay.grads([a], coefficient=3.0)
    expected = 3.0 * torch.exp(a) / torch.exp(a).sum()
    assert torch.allclose(grad, expected, atol=1e-14)
    # Two edges: each gets half (the mean over edges).
    g1, g2 = BetaDecay.grads([a, a], coefficient=3.0)
    assert torch.allclose(g1, expected / 2) and torch.allclose(g2, expected / 2)


def test_linear_schedule_grows_to_the_weight_over_the_architecture_epochs():
    reg = BetaDecay(weight=6.0)
    coefficients = [reg.coefficient(epoch=e, first=2, last=7) for e in range(9)]
    assert coefficients == [0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.0]
    constant = BetaDecay(weight=6.0, schedule="constant")
    assert [constant.coefficient(epoch=e, first=2, last=7) for e in (1, 2, 7)] == [0.0, 6.0, 6.0]


@pytest.mark.parametrize(
    "kwargs", [{"weight": -1.0}, {"weight": float("nan")}, {"weight": 1.0, "schedule": "cosine"}]
)
def test_bad_arguments_are_named(kwargs):
    with pytest.raises(ValueError, match="beta_decay"):
        BetaDecay(**kwargs)


def test_regularised_outer_objective_is_the_implicit_term_plus_the_direct_gradient(quad, point):
    """d/dα [L_val(w*(α), α) + R(α)] = the implicit hypergradient + ∂R/∂α (R has no w)."""
    _, a = point
    w = quad.w_star(a)
    (implicit,) = hypergradient(
        quad.train_loss, quad.val_loss, [w], [a], method="cg", steps=50, tol=1e-14
    )
    (direct,) = BetaDecay.grads([a], coefficient=0.8)
    a_ = a.clone().requires_grad_(True)
    total = quad.val_loss([quad.w_star(a_)], [a_]) + BetaDecay.value([a_], coefficient=0.8)
    (reference,) = torch.autograd.grad(total, a_)
    assert rel(implicit + direct, reference) < 1e-8


def test_the_remedy_hook_adds_the_closed_form_to_a_neumann_hypergradient(quad, point):
    """The callback's optimiser hook turns α.grad = Neumann's term into Neumann + λ softmax(α)."""
    from idarts_plugin.collapse import Remedies
    from idarts_plugin.strategy.remedies import RemedyCallback

    w, a = point
    (neumann,) = hypergradient(
        quad.train_loss, quad.val_loss, [w], [a], method="neumann", steps=2, lr=0.05
    )
    assert rel(neumann, quad.neumann(w, a, 2, 0.05)) < 1e-8
    alpha = torch.nn.Parameter(a.clone())
    opt = torch.optim.Adam([alpha], lr=0.0)
    callback = RemedyCallback(Remedies(beta_decay=2.0))
    callback.coefficient = 1.5
    handle = opt.register_step_pre_hook(callback._add_regulariser)
    alpha.grad = neumann.clone()
    opt.step()
    handle.remove()
    expected = quad.neumann(w, a, 2, 0.05) + 1.5 * torch.softmax(a, dim=0)
    assert rel(alpha.grad, expected) < 1e-8
