"""Curvature operators: the first-order gradient they are built on, in closed form (float64)."""

from __future__ import annotations

import torch

from idarts_plugin.hypergrad import ExactCurvature

DT = torch.float64


def loss(w, a):
    # w[0] enters quadratically, w[1] linearly, w[2] not at all.
    return (w[0] ** 2).sum() * (1 + a[0].sum()) + 3.0 * w[1].sum()


def point():
    w = [
        torch.tensor([1.0, -2.0], dtype=DT),
        torch.tensor([0.5], dtype=DT),
        torch.ones(2, dtype=DT),
    ]
    return w, [torch.tensor([0.25], dtype=DT)]


def test_weight_gradients_are_what_backward_would_accumulate():
    w, a = point()
    curv = ExactCurvature(loss, w, a)
    g0, g1, g2 = curv.weight_gradients()
    torch.testing.assert_close(g0, 2 * w[0] * 1.25)  # ∂/∂w0 of |w0|²(1 + a)
    torch.testing.assert_close(g1, torch.tensor([3.0], dtype=DT))
    assert g2 is None  # unused: backward() would leave its .grad alone

    leaves = [t.clone().requires_grad_() for t in w]
    loss(leaves, a).backward()
    assert leaves[2].grad is None
    torch.testing.assert_close(leaves[0].grad, g0)
    torch.testing.assert_close(leaves[1].grad, g1)


def test_weight_gradients_are_fresh_tensors_and_products_still_work():
    w, a = point()
    curv = ExactCurvature.from_loss(loss([t.requires_grad_() for t in w], a), w, a)
    first = curv.weight_gradients()
    assert first[0] is not None
    first[0].mul_(0.0)  # e.g. gradient clipping in place: must not reach the curvature
    (hv, _, zero) = curv.hvp(
        [torch.ones(2, dtype=DT), torch.ones(1, dtype=DT), torch.ones(2, dtype=DT)]
    )
    torch.testing.assert_close(hv, torch.full((2,), 2.5, dtype=DT))  # H = 2(1 + a) I
    assert torch.equal(zero, torch.zeros(2, dtype=DT))
    second = curv.weight_gradients()[0]
    assert second is not None
    torch.testing.assert_close(second, 2 * w[0].detach() * 1.25)
