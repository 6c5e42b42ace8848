"""Curvature options of the implicit term: Gauss–Newton products, BatchNorm statistics held
fixed or running, averaged Hessian batches (against independent float64 references)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import jacrev

from idarts_plugin.hypergrad import (
    ExactCurvature,
    GaussNewtonCurvature,
    SearchOptions,
    compute_hypergradient,
    module_loss,
)
from idarts_plugin.hypergrad.functional import batch_statistics, module_outputs
from idarts_plugin.hypergrad.problem import MeanCurvature, module_problem
from idarts_plugin.hypergrad.spec import CurvatureSpec
from tests.hypergrad.problems import DT, rel


def _net_problem():
    g = torch.Generator().manual_seed(0)
    w = [torch.randn(5, 3, generator=g, dtype=DT), torch.randn(4, 5, generator=g, dtype=DT)]
    a = [torch.randn(5, generator=g, dtype=DT)]
    x = torch.randn(7, 3, generator=g, dtype=DT)
    y = torch.randint(0, 4, (7,), generator=g)

    def out(w, a):
        return torch.tanh(x @ w[0].T * torch.softmax(a[0], 0)) @ w[1].T

    return w, a, out, (lambda z: F.cross_entropy(z, y)), (x, y)


def _flat_fn(fn, w):
    shapes = [t.shape for t in w]
    sizes = [t.numel() for t in w]

    def f(flat, *rest):
        parts = list(torch.split(flat, sizes))
        return fn([p.reshape(s) for p, s in zip(parts, shapes, strict=True)], *rest)

    return f, torch.cat([t.flatten() for t in w])


@pytest.mark.parametrize("mixed", ["exact", "gauss_newton"])
def test_gauss_newton_products_against_dense_jacobians(mixed):
    w, a, out, crit, _ = _net_problem()
    ggn = GaussNewtonCurvature(out, crit, w, a, mixed=mixed)
    zf, fw = _flat_fn(lambda ws: out(ws, a).flatten(), w)
    J = jacrev(zf)(fw)
    z = out(w, a).detach()
    Hz = torch.autograd.functional.hessian(lambda zz: crit(zz.reshape(z.shape)), z.flatten())
    v = torch.randn(fw.numel(), dtype=DT, generator=torch.Generator().manual_seed(1))
    vs = [
        t.reshape(s.shape) for t, s in zip(torch.split(v, [t.numel() for t in w]), w, strict=True)
    ]
    gv = torch.cat([t.flatten() for t in ggn.hvp(vs)])
    assert rel(gv, J.T @ Hz @ J @ v) < 1e-12
    lf, _ = _flat_fn(lambda ws, aa: crit(out(ws, [aa])), w)
    if mixed == "exact":
        M = jacrev(jacrev(lf, 0), 1)(fw, a[0])
        expected = M.T @ v
    else:
        Ja = jacrev(lambda aa: out(w, [aa]).flatten())(a[0])
        expected = Ja.T @ Hz @ J @ v
    assert rel(ggn.mixed(vs)[0], expected) < 1e-12
    # positive semi-definite, unlike the Hessian of this loss
    assert float(v @ gv) >= 0


def _bn_net():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1),
        nn.BatchNorm2d(3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(3 * 16, 4),
    )
    net = net.double().train()
    x = torch.randn(6, 1, 4, 4, dtype=DT)
    y = torch.randint(0, 4, (6,))
    names = [n for n, _ in net.named_parameters()]
    return net, x, y, names


def test_frozen_statistics_give_the_same_loss_but_no_derivative_through_them():
    net, x, y, names = _bn_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    params = list(net.parameters())
    batch = module_loss(net, F.cross_entropy, x, y, weight_names=names, alpha_names=[])
    frozen = module_loss(
        net, F.cross_entropy, x, y, weight_names=names, alpha_names=[], bn="frozen"
    )
    assert float(frozen(params, []).detach()) == pytest.approx(
        float(batch(params, []).detach()), rel=1e-12
    )
    # the independent reference: normalise with constant (detached) batch statistics
    w = [p.detach().requires_grad_() for p in params]
    h = F.conv2d(x, w[0], w[1], padding=1)
    mean, var = h.mean((0, 2, 3)).detach(), h.var((0, 2, 3), unbiased=False).detach()
    hn = (h - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + 1e-5)
    hn = hn * w[2][None, :, None, None] + w[3][None, :, None, None]
    ref = F.cross_entropy(F.linear(torch.relu(hn).flatten(1), w[4], w[5]), y)
    g_ref = torch.autograd.grad(ref, w)
    g_frozen = torch.autograd.grad(frozen(w, []), w)
    g_batch = torch.autograd.grad(batch(w, []), w)
    for gr, gf in zip(g_ref, g_frozen, strict=True):
        assert rel(gf, gr) < 1e-10
    assert rel(g_batch[0], g_ref[0]) > 1e-3  # the batch statistics' own derivative differs
    assert net.training and all(m.training for m in net.modules())
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k  # running statistics untouched


def test_running_statistics_mode_is_evaluation_mode():
    net, x, _y, names = _bn_net()
    net[1].running_mean.uniform_(-0.5, 0.5)
    net[1].running_var.uniform_(0.5, 2.0)
    out = module_outputs(net, x, weight_names=names, alpha_names=[], bn="running")
    value = out(list(net.parameters()), [])
    net.eval()
    expected = net(x)
    net.train()
    assert torch.allclose(value, expected) and net[1].training
    stats = batch_statistics(net, x)
    assert set(stats) == {"1.running_mean", "1.running_var"}
    with pytest.raises(ValueError, match="unknown bn mode"):
        module_outputs(net, x, weight_names=names, alpha_names=[], bn="sometimes")


def test_mean_curvature_of_two_batches_is_the_union_batch_without_batch_statistics():
    w, a, _out, _, (x, y) = _net_problem()

    def loss_on(idx):
        return lambda ws, aa: F.cross_entropy(
            torch.tanh(x[idx] @ ws[0].T * torch.softmax(aa[0], 0)) @ ws[1].T, y[idx]
        )

    first, second, union = [0, 1, 2], [3, 4, 5], [0, 1, 2, 3, 4, 5]
    mean = MeanCurvature(
        [ExactCurvature(loss_on(first), w, a), ExactCurvature(loss_on(second), w, a)]
    )
    whole = ExactCurvature(loss_on(union), w, a)
    v = [torch.randn_like(t) for t in w]
    for got, want in zip(mean.hvp(v), whole.hvp(v), strict=True):
        assert rel(got, want) < 1e-12
    assert rel(mean.mixed(v)[0], whole.mixed(v)[0]) < 1e-12
    assert mean.n_products == 4


@pytest.mark.parametrize(
    "spec",
    [
        CurvatureSpec(bn="frozen"),
        CurvatureSpec(bn="running"),
        CurvatureSpec(kind="ggn", bn="frozen"),
        CurvatureSpec(batches=2),
    ],
)
def test_module_problem_builds_each_curvature_and_leaves_the_module_alone(spec):
    net, x, y, names = _bn_net()
    w_names, a_names = names[:-2], names[-2:]  # the linear head plays α
    p = dict(net.named_parameters())
    weights, alphas = [p[n] for n in w_names], [p[n] for n in a_names]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    batches = [(x[:3], y[:3]), (x[3:], y[3:])]
    tr, va, curv = module_problem(
        net,
        F.cross_entropy,
        batches,
        (x, y),
        weight_names=w_names,
        alpha_names=a_names,
        weights=weights,
        alphas=alphas,
        curvature=spec,
    )
    assert curv is not None
    res = compute_hypergradient(
        tr, va, weights, alphas, method="neumann", steps=2, lr=0.01, curvature=curv
    )
    assert res.diagnostics.finite and res.diagnostics.implicit_norm > 0
    assert isinstance(curv, MeanCurvature) == (spec.batches == 2)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert (
        module_problem(
            net,
            F.cross_entropy,
            batches,
            (x, y),
            weight_names=w_names,
            alpha_names=a_names,
            weights=weights,
            alphas=alphas,
        )[2]
        is None
    )


def test_curvature_options_are_validated():
    with pytest.raises(ValueError, match="curvature"):
        SearchOptions.from_kwargs(curvature="fisher")
    with pytest.raises(ValueError, match="hessian_batch='separate'"):
        SearchOptions.from_kwargs(curvature_bn="frozen", hessian_batch="shared")
    with pytest.raises(ValueError, match="needs hvp='exact'"):
        SearchOptions.from_kwargs(curvature="ggn", hvp="finite_difference")
    with pytest.raises(ValueError, match="hessian_batches"):
        SearchOptions.from_kwargs(hessian_batches=0)
    opts = SearchOptions.from_kwargs(curvature="ggn", curvature_bn="frozen", hessian_batches=3)
    assert opts.curvature_spec == CurvatureSpec(kind="ggn", bn="frozen", batches=3)
