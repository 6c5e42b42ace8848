"""Fidelity: how close each hypergradient method gets to an accurate reference, per HVP budget.

    python -m benchmarks.fidelity            # full size (a few minutes on 2 CPU cores)
    python -m benchmarks.fidelity --toy      # seconds; what the test suite runs

Set-up: a small real supernet (stem conv+BN, two cells of softmax-mixed ops with ReLU-conv-BN,
pooling, skip and zero candidates; 8 α tensors) on scikit-learn's digits (8x8), weights trained
with α fixed until the training gradient is small ("near stationarity"), all in float64.

Reference: ``(H + λI) x = ∇w L_val`` with ``λ = 1e-2·λmax`` solved to relative residual
1e-8 on the *full* training half (H) and validation half. H is formed densely (one exact HVP per
weight; a few thousand weights) and solved directly, because H is indefinite and CG can break
down on ``H + λI``; damped CG to tol 1e-8 is run as well and its agreement reported. The
``λ = 1e-3·λmax`` reference is reported too, with the cosine between the two. Each method is run at HVP budgets
0, 1, 2, 5, 10, 20 (products in the solve; power iterations of ``lr="auto"`` are extra and
counted separately) and scored by cosine similarity and relative error to the reference.
Stochastic: 20 (toy: 5) random minibatches of 64 — the mean cosine of single estimates, and
the cosine of the mean of N estimates (bias), for N = 20 and 100 (toy: 5 and 10).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from idarts_plugin.hypergrad import (
    ConjugateGradient,
    ExactCurvature,
    compute_hypergradient,
    module_loss,
    split_parameters,
)

from .common import Table, machine_line, write_section

DT = torch.float64


class _Mixed(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(
            [
                nn.Sequential(
                    nn.ReLU(),
                    nn.Conv2d(c, c, 3, padding=1, bias=False),
                    nn.BatchNorm2d(c, affine=False),
                ),
                nn.Sequential(
                    nn.ReLU(), nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=False)
                ),
                nn.AvgPool2d(3, 1, 1, count_include_pad=False),
                nn.Identity(),
                _Zero(),
            ]
        )

    def forward(self, x: Tensor, alpha: Tensor) -> Tensor:
        w = F.softmax(alpha, dim=-1)
        return sum(wi * op(x) for wi, op in zip(w, self.ops, strict=True))  # type: ignore[return-value]


class _Zero(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x * 0.0


class BenchSupernet(nn.Module):
    """Stem → 2 cells (3 nodes, edges 0→1, 0→2, 1→2, +1 output edge) → pool → linear."""

    def __init__(self, c: int = 6, classes: int = 10, cells: int = 2) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        self.cells = nn.ModuleList(nn.ModuleList(_Mixed(c) for _ in range(3)) for _ in range(cells))
        self.alphas = nn.ParameterList(
            nn.Parameter(1e-3 * torch.randn(5)) for _ in range(3 * cells)
        )
        self.head = nn.Linear(c, classes)

    def forward(self, x: Tensor) -> Tensor:
        s = self.stem(x)
        k = 0
        for cell in self.cells:
            n1 = cell[0](s, self.alphas[k])
            n2 = cell[1](s, self.alphas[k + 1]) + cell[2](n1, self.alphas[k + 2])
            s = n2
            k += 3
        return self.head(F.relu(s).mean(dim=(2, 3)))


@dataclass
class Problem:
    net: BenchSupernet
    wn: list[str]
    w: list[Tensor]
    an: list[str]
    a: list[Tensor]
    x_tr: Tensor
    y_tr: Tensor
    x_va: Tensor
    y_va: Tensor
    weight_lr: float

    def loss(self, x: Tensor, y: Tensor) -> Callable[..., Tensor]:
        return module_loss(
            self.net, F.cross_entropy, x, y, weight_names=self.wn, alpha_names=self.an
        )


def make_problem(*, toy: bool, seed: int = 0) -> Problem:
    from sklearn.datasets import load_digits

    torch.manual_seed(seed)
    d = load_digits()
    x = torch.tensor(d.data, dtype=DT).reshape(-1, 1, 8, 8) / 16.0
    x = (x - x.mean()) / x.std()
    y = torch.tensor(d.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n = 128 if toy else 800
    tr, va = perm[: n // 2], perm[n // 2 : n]
    net = BenchSupernet(c=2 if toy else 4, cells=1 if toy else 2).to(DT).train()
    wn, w, an, a = split_parameters(net, lambda name, _p: name.startswith("alphas"))
    # Train the weights (α fixed) near stationarity: Adam, then full-batch L-BFGS.
    opt = torch.optim.Adam(w, lr=0.01)
    loss_tr = lambda: F.cross_entropy(net(x[tr]), y[tr])  # noqa: E731
    for _ in range(60 if toy else 400):
        opt.zero_grad()
        loss_tr().backward()
        opt.step()
    lbfgs = torch.optim.LBFGS(w, lr=0.5, max_iter=20 if toy else 200, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        lbfgs.zero_grad()
        value = loss_tr()
        value.backward()
        return value

    lbfgs.step(closure)
    for p in net.parameters():
        p.grad = None
    return Problem(net, wn, list(w), an, list(a), x[tr], y[tr], x[va], y[va], weight_lr=0.025)


def cosine(a: Tensor, b: Tensor) -> float:
    na, nb = float(a.norm()), float(b.norm())
    return float(a @ b) / (na * nb) if na > 0 and nb > 0 else 0.0


def flat(gs: tuple[Tensor, ...]) -> Tensor:
    return torch.cat([g.flatten() for g in gs])


def dense_blocks(p: Problem, tr: Any, va: Any) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """H (n_w × n_w) and the mixed block (n_w × n_α) by one exact product per basis vector,
    plus the validation gradients; small enough here to do densely."""
    curv = ExactCurvature(tr, p.w, p.a)
    shapes = [w.shape for w in p.w]
    sizes = [w.numel() for w in p.w]
    n = sum(sizes)
    H = torch.empty(n, n, dtype=DT)
    M = torch.empty(n, sum(a.numel() for a in p.a), dtype=DT)
    eye = torch.zeros(n, dtype=DT)
    for k in range(n):
        eye.zero_()
        eye[k] = 1.0
        v = [c.reshape(s) for c, s in zip(torch.split(eye, sizes), shapes, strict=True)]
        H[:, k] = torch.cat([h.flatten() for h in curv.hvp(v)])
        M[k] = torch.cat([m.flatten() for m in curv.mixed(v)])
    H = 0.5 * (H + H.T)
    wl, al = [w.detach().requires_grad_() for w in p.w], [a.detach().requires_grad_() for a in p.a]
    g = torch.autograd.grad(va(wl, al), [*al, *wl])
    ga = torch.cat([t.flatten() for t in g[: len(al)]])
    gw = torch.cat([t.flatten() for t in g[len(al) :]])
    return H, M, gw, ga


def reference(H: Tensor, M: Tensor, gw: Tensor, ga: Tensor, damping: float) -> Tensor:
    """∇α L_val − Mᵀ (H + λI)⁻¹ ∇w L_val by a dense solve (exact also where H + λI is
    indefinite and CG would break down)."""
    A = H + damping * torch.eye(H.shape[0], dtype=DT)
    x = torch.linalg.solve(A, gw)
    resid = float((A @ x - gw).norm() / gw.norm())
    if resid > 1e-8:
        raise RuntimeError(f"reference solve residual {resid:.2e} > 1e-8")
    return ga - M.T @ x


def method_grid(budget: int, p: Problem, lam_max: float) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, method, options) run at a given HVP budget."""
    rows: list[tuple[str, str, dict[str, Any]]] = []
    if budget == 0:
        rows.append(("first_order", "first_order", {}))
        rows.append(("neumann γ=1/λmax, K=0", "neumann", {"steps": 0, "lr": 1 / lam_max}))
    if budget == 1:
        rows.append(("unrolled ξ=weight lr", "unrolled", {"lr": p.weight_lr}))
        for c in (0.1, 1.0, 10.0):
            rows.append((f"amended η={c:g}/λmax²", "amended", {"lr": c / lam_max**2}))
    if budget >= 1:
        rows.append(
            (f"neumann γ=weight lr, K={budget}", "neumann", {"steps": budget, "lr": p.weight_lr})
        )
        rows.append((f"neumann γ=auto, K={budget}", "neumann", {"steps": budget, "lr": "auto"}))
        rows.append(
            (f"cg-{budget} (λ=1e-2·λmax)", "cg", {"steps": budget, "damping": 1e-2 * lam_max})
        )
    return rows


def run(toy: bool) -> tuple[list[Table], dict[str, Any]]:
    t0 = time.perf_counter()
    p = make_problem(toy=toy)
    tr = p.loss(p.x_tr, p.y_tr)
    va = p.loss(p.x_va, p.y_va)
    H, M, gw, ga = dense_blocks(p, tr, va)
    eig = torch.linalg.eigvalsh(H)
    lam_max, lam_min = float(eig[-1]), float(eig[0])
    grad_norm = math.sqrt(sum(float((g**2).sum()) for g in torch.autograd.grad(tr(p.w, p.a), p.w)))
    ref = reference(H, M, gw, ga, 1e-2 * lam_max)
    ref3 = reference(H, M, gw, ga, 1e-3 * lam_max)
    cg_ref = compute_hypergradient(
        tr, va, p.w, p.a, method=ConjugateGradient(steps=4000, tol=1e-8, damping=1e-2 * lam_max)
    )

    budgets = [0, 1, 2, 5, 10, 20]
    det = Table(
        "Full batch: cosine / relative error to the reference (λ = 1e-2·λmax)",
        ["HVP budget", "method", "cosine", "rel. error", "HVPs used"],
    )
    curves: dict[str, list[tuple[int, float]]] = {}
    for budget in budgets:
        for label, method, opts in method_grid(budget, p, lam_max):
            res = compute_hypergradient(tr, va, p.w, p.a, method=method, **opts)
            g = flat(res.grads)
            cos = cosine(g, ref)
            err = float((g - ref).norm() / ref.norm())
            det.add(budget, label, f"{cos:.3f}", f"{err:.3f}", res.diagnostics.n_hvp)
            family = (
                label.split(",")[0]
                if "K=" in label
                else label.split("-")[0]
                if label.startswith("cg")
                else label
            )
            curves.setdefault(family, []).append((budget, cos))

    # Stochastic minibatches of 64 from the same halves.
    n_single = 3 if toy else 20
    n_bias = (3, 5) if toy else (20, 100)
    sto = Table(
        f"Minibatch 64: mean cosine of single estimates (N={n_single}) and cosine of the mean of N estimates",
        [
            "method",
            f"mean cos (N={n_single})",
            *[f"cos of mean (N={n})" for n in n_bias],
            "non-finite",
        ],
    )
    stochastic_methods = [
        ("first_order", "first_order", {}),
        ("unrolled ξ=weight lr", "unrolled", {"lr": p.weight_lr}),
        ("amended η=1/λmax²", "amended", {"lr": 1 / lam_max**2}),
        ("neumann γ=weight lr, K=10", "neumann", {"steps": 10, "lr": p.weight_lr}),
        ("neumann γ=auto, K=2", "neumann", {"steps": 2, "lr": "auto"}),
        ("neumann γ=auto, K=10", "neumann", {"steps": 10, "lr": "auto"}),
        ("neumann γ=auto, K=50", "neumann", {"steps": 50, "lr": "auto"}),
    ][: 5 if toy else None]
    g2 = torch.Generator().manual_seed(2)
    draws = max(n_bias)
    batches = [
        (
            torch.randint(0, len(p.x_tr), (64,), generator=g2),
            torch.randint(0, len(p.x_va), (64,), generator=g2),
        )
        for _ in range(draws)
    ]
    for label, method, opts in stochastic_methods:
        ests = []
        nonfinite = 0
        for bi, bv in batches:
            res = compute_hypergradient(
                p.loss(p.x_tr[bi], p.y_tr[bi]),
                p.loss(p.x_va[bv], p.y_va[bv]),
                p.w,
                p.a,
                method=method,
                **opts,
            )
            g = flat(res.grads)
            nonfinite += int(not torch.isfinite(g).all())
            ests.append(g)
        single = sum(cosine(g, ref) for g in ests[:n_single]) / n_single
        means = [cosine(torch.stack(ests[:n]).mean(0), ref) for n in n_bias]
        sto.add(label, f"{single:.3f}", *[f"{m:.3f}" for m in means], nonfinite)

    setup = Table("Set-up", ["quantity", "value"])
    setup.add(
        "weights / α entries", f"{sum(w.numel() for w in p.w)} / {sum(a.numel() for a in p.a)}"
    )
    setup.add("train / val examples", f"{len(p.x_tr)} / {len(p.x_va)}")
    setup.add("‖∇w L_tr‖ after training", f"{grad_norm:.2e}")
    setup.add("λmax(H), λmin(H) (dense eigendecomposition)", f"{lam_max:.4g}, {lam_min:.3g}")
    setup.add("negative eigenvalues below −1e-2·λmax", int((eig < -1e-2 * lam_max).sum()))
    d = cg_ref.diagnostics
    setup.add(
        "CG on (H + 1e-2·λmax·I), tol 1e-8",
        f"converged={d.converged}, iterations={d.terms_used}, residual={d.residual:.1e}, "
        f"cosine to dense reference {cosine(flat(cg_ref.grads), ref):.4f}"
        + (f" ({d.note})" if d.note else ""),
    )
    setup.add("γ = weight lr: γ·λmax", f"{p.weight_lr * lam_max:.3g}")
    setup.add("cosine(reference λ=1e-2·λmax, reference λ=1e-3·λmax)", f"{cosine(ref, ref3):.3f}")
    setup.add("seconds", f"{time.perf_counter() - t0:.1f}")
    return [setup, det, sto], {"curves": curves}


def plot(curves: dict[str, list[tuple[int, float]]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, pts in curves.items():
        xs, ys = zip(*sorted(pts), strict=True)
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_xlabel("Hessian-vector products")
    ax.set_ylabel("cosine to reference")
    ax.set_title("Hypergradient fidelity (full batch, float64)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    tables, extra = run(args.toy)
    for t in tables:
        print(t.render())
    if not args.no_write:
        plot(extra["curves"], "benchmarks/fidelity.png")
        write_section(
            "fidelity",
            "python -m benchmarks.fidelity" + (" --toy" if args.toy else ""),
            [machine_line(), *[t.render() for t in tables], "![fidelity](fidelity.png)"],
        )


if __name__ == "__main__":
    main()
