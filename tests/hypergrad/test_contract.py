"""Contract tests run over every hypergradient method on a real supernet with BatchNorm."""

from __future__ import annotations

import pytest
import torch

from idarts_plugin.hypergrad import (
    METHODS,
    ConjugateGradient,
    Neumann,
    compute_hypergradient,
    hypergradient,
    make_method,
)

from .problems import make_supernet_problem

# Options for every registered method; the test below fails when a method is added without one.
OPTIONS = {
    "first_order": {},
    "unrolled": {"lr": 0.05},
    "neumann": {"steps": 3, "lr": "auto"},
    "amended": {"lr": 0.01},
    "cg": {"steps": 5, "damping": 0.1},
}
CASES = [(m, h) for m in OPTIONS for h in ("exact", "finite_difference")]


def test_every_registered_method_is_covered():
    assert set(OPTIONS) == set(METHODS)


def snapshot(net):
    return {k: v.detach().clone() for k, v in net.state_dict(keep_vars=True).items()}


@pytest.mark.parametrize(("method", "hvp"), CASES)
def test_shapes_no_side_effects_and_determinism(method, hvp):
    tr, va, ws, as_, net = make_supernet_problem(seed=0)
    for p in net.parameters():  # pre-existing .grad must survive bitwise
        p.grad = torch.full_like(p, 0.125)
    before = snapshot(net)
    grads_before = [p.grad.clone() for p in net.parameters()]

    out1 = hypergradient(tr, va, ws, as_, method=method, hvp=hvp, **OPTIONS[method])
    out2 = hypergradient(tr, va, ws, as_, method=method, hvp=hvp, **OPTIONS[method])

    assert len(out1) == len(as_) == 2
    for g, a in zip(out1, as_, strict=True):
        assert g.shape == a.shape and g.dtype == a.dtype
        assert torch.isfinite(g).all()
        assert not g.requires_grad
    for g1, g2 in zip(out1, out2, strict=True):
        assert torch.equal(g1, g2)
    after = snapshot(net)
    assert before.keys() == after.keys()
    for k in before:  # weights, alphas and BN running stats / num_batches_tracked
        assert torch.equal(before[k], after[k]), k
    for p, g in zip(net.parameters(), grads_before, strict=True):
        assert torch.equal(p.grad, g)


@pytest.mark.parametrize(("method", "hvp"), CASES)
def test_nonzero_and_differs_from_first_order_only_when_second_order(method, hvp):
    tr, va, ws, as_, _ = make_supernet_problem(seed=1)
    res = compute_hypergradient(tr, va, ws, as_, method=method, hvp=hvp, **OPTIONS[method])
    fo = hypergradient(tr, va, ws, as_, method="first_order")
    flat = torch.cat([g.flatten() for g in res.grads])
    flat_fo = torch.cat([g.flatten() for g in fo])
    assert flat.norm() > 0
    if method == "first_order":
        assert torch.equal(flat, flat_fo)
        assert res.diagnostics.n_hvp == 0
    else:
        assert not torch.allclose(flat, flat_fo)
        assert res.diagnostics.n_hvp >= 1
        assert res.diagnostics.implicit_norm > 0


@pytest.mark.parametrize("method", list(OPTIONS))
def test_finite_difference_matches_exact_in_float32(method):
    tr, va, ws, as_, _ = make_supernet_problem(seed=2, dtype=torch.float32)
    opts = dict(OPTIONS[method])
    if method == "neumann":
        opts["lr"] = 0.05  # the same γ for both modes (auto estimates differ by roundoff)
    if method == "cg":
        # CG's step sizes depend on its products, so it amplifies their error by roughly the
        # condition number of H + δI; with δ = 0.1 (≈ λmax/4, H indefinite) that is 5e-3.
        # δ = 1 makes the system well-conditioned; the product-level test below covers CG's
        # raw ingredients at the default damping.
        opts["damping"] = 1.0
    exact = hypergradient(tr, va, ws, as_, method=method, hvp="exact", **opts)
    fd = hypergradient(tr, va, ws, as_, method=method, hvp="finite_difference", **opts)
    e = torch.cat([g.flatten() for g in exact])
    f = torch.cat([g.flatten() for g in fd])
    assert float((e - f).norm() / e.norm()) < 1e-4


@pytest.mark.parametrize(("method", "hvp"), CASES)
def test_diagnostics_are_complete(method, hvp):
    tr, va, ws, as_, _ = make_supernet_problem(seed=3)
    d = compute_hypergradient(
        tr, va, ws, as_, method=method, hvp=hvp, **OPTIONS[method]
    ).diagnostics
    assert d.method == method
    assert d.finite
    assert d.val_loss > 0
    scalars = d.scalars()
    for key in ("n_hvp", "n_grad", "direct_norm", "implicit_norm", "hypergrad_norm", "diverged"):
        assert key in scalars


def test_solver_values_are_accepted_directly():
    tr, va, ws, as_, _ = make_supernet_problem(seed=0)
    by_name = hypergradient(tr, va, ws, as_, method="cg", steps=4, damping=0.1)
    by_value = hypergradient(tr, va, ws, as_, method=ConjugateGradient(steps=4, damping=0.1))
    for a, b in zip(by_name, by_value, strict=True):
        assert torch.equal(a, b)
    n1 = hypergradient(tr, va, ws, as_, method=Neumann(steps=2, lr=0.01))
    n2 = hypergradient(tr, va, ws, as_, method="neumann", steps=2, lr=0.01)
    for a, b in zip(n1, n2, strict=True):
        assert torch.equal(a, b)


def test_unknown_names_and_options_list_the_valid_ones():
    tr, va, ws, as_, _ = make_supernet_problem(seed=0)
    with pytest.raises(ValueError, match="valid methods: first_order, unrolled, neumann"):
        hypergradient(tr, va, ws, as_, method="newton")
    with pytest.raises(ValueError, match="valid options: steps, lr, max_growth"):
        hypergradient(tr, va, ws, as_, method="neumann", K=3)
    with pytest.raises(ValueError, match="valid modes: exact, finite_difference"):
        hypergradient(tr, va, ws, as_, hvp="fd")
    with pytest.raises(ValueError, match="steps"):
        make_method("neumann", steps=-1)
    with pytest.raises(ValueError, match="lr"):
        make_method("unrolled")
    with pytest.raises(ValueError, match="lr"):
        make_method("neumann", lr=-0.1)
    with pytest.raises(ValueError, match="empty"):
        hypergradient(tr, va, ws, [])
    with pytest.raises(TypeError, match="sequence of tensors"):
        hypergradient(tr, va, ws, as_[0])


def test_hvp_and_mixed_products_fd_match_exact_in_float32():
    from idarts_plugin.hypergrad import ExactCurvature, FiniteDifferenceCurvature

    tr, _, ws, as_, _ = make_supernet_problem(seed=2, dtype=torch.float32)
    g = torch.Generator().manual_seed(0)
    v = [torch.randn(w.shape, generator=g) for w in ws]
    exact, fd = ExactCurvature(tr, ws, as_), FiniteDifferenceCurvature(tr, ws, as_)
    for e_parts, f_parts in ((exact.hvp(v), fd.hvp(v)), (exact.mixed(v), fd.mixed(v))):
        e = torch.cat([t.flatten() for t in e_parts])
        f = torch.cat([t.flatten() for t in f_parts])
        assert float((e - f).norm() / e.norm()) < 1e-4
    assert exact.n_products == fd.n_products == 2


def test_method_options_table_matches_the_factories():
    """spec.METHOD_OPTIONS states each method's options (torch-free); the factories take them."""
    import inspect

    from idarts_plugin.hypergrad import METHODS, SOLVERS
    from idarts_plugin.hypergrad.spec import METHOD_OPTIONS

    assert list(METHODS) == list(METHOD_OPTIONS)
    assert set(SOLVERS) == set(METHOD_OPTIONS) - {"unrolled"}  # every solver is a method
    for name, factory in METHODS.items():
        assert tuple(inspect.signature(factory).parameters) == tuple(METHOD_OPTIONS[name]), name
