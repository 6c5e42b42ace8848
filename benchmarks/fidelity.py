"""Fidelity: how close each hypergradient method gets to an accurate reference, per HVP budget.

    python -m benchmarks.fidelity                 # full size (CUDA when present, else the CPU)
    python -m benchmarks.fidelity --toy           # seconds; what the test suite runs
    python -m benchmarks.fidelity --device cpu    # force a device
    python -m benchmarks.fidelity_trajectory      # along real searches (its own module)

Set-up: a small real supernet (stem conv+BN, two cells of softmax-mixed ops with ReLU-conv-BN,
pooling, skip and zero candidates; 6 α tensors of 5 entries) on scikit-learn's digits (8x8),
weights trained with α fixed until the training gradient is small ("near stationarity"), all
in float64.

Reference: ``∇α L_val − ∇²_{αw} L_tr (H + λI)⁻¹ ∇w L_val`` with ``λ = 1e-2·λmax`` on the *full*
training half (H) and validation half, solved to relative residual 1e-8. H and the mixed block
are formed densely (one double backward per weight coordinate, both blocks from the same
product; about a thousand weights) and the system is solved directly, because H is indefinite
and CG can break down on ``H + λI``; the library's damped CG to tol 1e-8 is run as well and its
agreement reported. The ``λ = 1e-3·λmax`` reference is reported too, with its distance to the
first. Each method is run at HVP budgets 0, 1, 2, 5, 10, 20 (products in the solve; the power
iterations of ``lr="auto"`` are extra and listed separately) and scored by cosine similarity
and relative error to the reference.

Stochastic: 100 (toy: 10) random minibatches of 64 (toy: 16) training and as many validation
examples (without replacement within a minibatch) from the same halves. Every method is
evaluated on every minibatch, with one shared training graph per minibatch and one ``λ̂``
estimate per minibatch shared by the ``γ = auto`` rows (exactly what a fresh ``lr="auto"``
gives, without recomputing it per K). Reported per method: the mean cosine of 20 single estimates, the
bias as the cosine (and relative error) of the mean of N = 20 and 100 estimates, the variance
``mean ‖g_i − ḡ‖² / ‖ḡ‖²`` separately, and the number of non-finite and truncated estimates.
The issue's targets are checked in a last table.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from idarts_plugin.hypergrad import (
    AutoStepSize,
    ConjugateGradient,
    ExactCurvature,
    HypergradResult,
    Method,
    Neumann,
    WarmStart,
    compute_hypergradient,
    make_method,
    module_loss,
    split_parameters,
)

from .common import Table, machine_line, write_section

DT = torch.float64
BUDGETS = (0, 1, 2, 5, 10, 20)
AUTO_K = (0, 1, 2, 5, 10, 20)


class _Mixed(nn.Module):
    """One supernet edge: a softmax(α)-weighted sum of five candidate operations."""

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
        """Mix the candidates' outputs with ``softmax(alpha)``."""
        w = F.softmax(alpha, dim=-1)
        out: Tensor = sum(wi * op(x) for wi, op in zip(w, self.ops, strict=True))
        return out


class _Zero(nn.Module):
    """The "none" candidate (kept in the graph, output zero)."""

    def forward(self, x: Tensor) -> Tensor:
        """Return zeros shaped like ``x``."""
        return x * 0.0


class BenchSupernet(nn.Module):
    """Stem → cells (3 nodes, edges 0→1, 0→2, 1→2) → pool → linear.

    Args:
        c: channels.
        classes: output classes.
        cells: number of cells (3 α tensors each).
    """

    def __init__(self, c: int = 6, classes: int = 10, cells: int = 2) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        self.cells = nn.ModuleList(nn.ModuleList(_Mixed(c) for _ in range(3)) for _ in range(cells))
        self.alphas = nn.ParameterList(
            nn.Parameter(1e-3 * torch.randn(5)) for _ in range(3 * cells)
        )
        self.head = nn.Linear(c, classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of a batch of 1-channel images."""
        s = self.stem(x)
        k = 0
        for cell in self.cells:
            edges = cast(nn.ModuleList, cell)
            n1 = edges[0](s, self.alphas[k])
            n2 = edges[1](s, self.alphas[k + 1]) + edges[2](n1, self.alphas[k + 2])
            s = n2
            k += 3
        logits: Tensor = self.head(F.relu(s).mean(dim=(2, 3)))
        return logits


@dataclass
class Problem:
    """A trained supernet with its weights/α split and the two data halves.

    Attributes:
        net: the supernet (float64, train mode).
        wn: weight names.
        w: weight tensors.
        an: α names.
        a: α tensors.
        x_tr: training half inputs.
        y_tr: training half labels.
        x_va: validation half inputs.
        y_va: validation half labels.
        weight_lr: the weight learning rate of a DARTS search (DARTS' 0.025).
    """

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
        """The cross-entropy of the supernet on ``(x, y)`` as a function of ``(w, α)``."""
        return module_loss(
            self.net, F.cross_entropy, x, y, weight_names=self.wn, alpha_names=self.an
        )


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_problem(*, toy: bool, seed: int = 0, device: torch.device | None = None) -> Problem:
    """Build the supernet and data, and train the weights (α fixed) near stationarity.

    Args:
        toy: tiny sizes (one cell of 2 channels, 64 + 64 examples) instead of the full ones
            (two cells of 4 channels, 400 + 400 examples).
        seed: seeds the initialisation and the split.
        device: where to put everything (default: the CPU).

    Returns:
        The trained problem.
    """
    from sklearn.datasets import load_digits

    device = device or torch.device("cpu")
    torch.manual_seed(seed)
    d = load_digits()
    x = torch.tensor(d.data, dtype=DT).reshape(-1, 1, 8, 8) / 16.0
    x = ((x - x.mean()) / x.std()).to(device)
    y = torch.tensor(d.target).to(device)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n = 128 if toy else 800
    tr, va = perm[: n // 2].to(device), perm[n // 2 : n].to(device)
    net = BenchSupernet(c=2 if toy else 4, cells=1 if toy else 2).to(device, DT).train()
    wn, w, an, a = split_parameters(net, lambda name, _p: name.startswith("alphas"))
    # Train the weights (α fixed) near stationarity: Adam, then full-batch L-BFGS.
    opt = torch.optim.Adam(w, lr=0.01)

    def loss_tr() -> Tensor:
        return F.cross_entropy(net(x[tr]), y[tr])

    for _ in range(60 if toy else 400):
        opt.zero_grad()
        loss_tr().backward()  # type: ignore[no-untyped-call]
        opt.step()
    lbfgs = torch.optim.LBFGS(w, lr=0.5, max_iter=20 if toy else 200, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        lbfgs.zero_grad()
        value = loss_tr()
        value.backward()  # type: ignore[no-untyped-call]
        return value

    lbfgs.step(closure)  # type: ignore[no-untyped-call]
    for p in net.parameters():
        p.grad = None
    return Problem(net, wn, list(w), an, list(a), x[tr], y[tr], x[va], y[va], weight_lr=0.025)


def _progress(message: str) -> None:
    print(f"[fidelity] {message}", file=sys.stderr, flush=True)


def cosine(a: Tensor, b: Tensor) -> float:
    """Cosine similarity of two vectors (0 if either is zero)."""
    na, nb = float(a.norm()), float(b.norm())
    return float(a @ b) / (na * nb) if na > 0 and nb > 0 else 0.0


def rel_error(a: Tensor, ref: Tensor) -> float:
    """``‖a − ref‖ / ‖ref‖``."""
    return float((a - ref).norm() / ref.norm())


def flat(gs: tuple[Tensor, ...] | list[Tensor]) -> Tensor:
    """Concatenate tensors into one flat vector."""
    return torch.cat([g.flatten() for g in gs])


def dense_blocks(p: Problem, tr: Any, va: Any) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The training Hessian's blocks, densely, plus the validation gradients.

    Row ``k`` of ``H = ∇²_w L_tr`` and of ``M = ∇²_{wα} L_tr`` is the gradient of the ``k``-th
    entry of ``∇w L_tr`` with respect to ``(w, α)``: one double backward gives both. Written
    independently of the library's curvature code, so the reference does not share its bugs.

    Returns:
        ``(H, M, ∇w L_val, ∇α L_val)``, H symmetrised, ``M`` of shape ``n_w × n_α``.
    """
    w = [t.detach().requires_grad_() for t in p.w]
    a = [t.detach().requires_grad_() for t in p.a]
    g = flat(torch.autograd.grad(tr(w, a), w, create_graph=True))
    n, n_a = g.numel(), sum(t.numel() for t in a)
    dev = g.device
    H = torch.empty(n, n, dtype=DT, device=dev)
    M = torch.empty(n, n_a, dtype=DT, device=dev)
    for k in range(n):
        rows = torch.autograd.grad(g[k], [*w, *a], retain_graph=True, allow_unused=True)
        full = [
            torch.zeros_like(t) if r is None else r for r, t in zip(rows, [*w, *a], strict=True)
        ]
        H[k] = flat(full[: len(w)])
        M[k] = flat(full[len(w) :])
    H = 0.5 * (H + H.T)
    gv = torch.autograd.grad(va(w, a), [*a, *w])
    return H, M, flat(gv[len(a) :]), flat(gv[: len(a)])


def reference(H: Tensor, M: Tensor, gw: Tensor, ga: Tensor, damping: float) -> tuple[Tensor, float]:
    """The damped reference hypergradient by a dense solve.

    ``∇α L_val − Mᵀ (H + λI)⁻¹ ∇w L_val``, exact also where ``H + λI`` is indefinite (where CG
    would break down).

    Returns:
        The reference and the solve's relative residual.

    Raises:
        RuntimeError: the residual is above 1e-8.
    """
    A = H + damping * torch.eye(H.shape[0], dtype=DT, device=H.device)
    x = torch.linalg.solve(A, gw)
    resid = float((A @ x - gw).norm() / gw.norm())
    if resid > 1e-8:
        raise RuntimeError(f"reference solve residual {resid:.2e} > 1e-8")
    return ga - M.T @ x, resid


def method_grid(
    budget: int, p: Problem, lam_max: float, auto: AutoStepSize
) -> list[tuple[str, str, Method]]:
    """The methods run at one HVP budget.

    Args:
        budget: products in the solve.
        p: the problem (for the weight learning rate).
        lam_max: λmax(H) of the full-batch Hessian (for the η sweep and the CG damping).
        auto: the shared ``γ = auto`` estimator.

    Returns:
        ``(label, curve family, method)`` triples.
    """
    rows: list[tuple[str, str, Method]] = []
    if budget == 0:
        rows.append(("first_order", "first_order", make_method("first_order")))
    if budget == 1:
        rows.append(("unrolled ξ=weight lr", "unrolled", make_method("unrolled", lr=p.weight_lr)))
        for c in (0.1, 1.0, 10.0):
            label = f"amended η={c:g}/λmax²"
            rows.append((label, label, make_method("amended", lr=c / lam_max**2)))
    rows.append(
        (
            f"neumann γ=weight lr, K={budget}",
            "neumann γ=weight lr",
            make_method(Neumann(steps=budget, lr=p.weight_lr)),
        )
    )
    rows.append(
        (
            f"neumann γ=auto, K={budget}",
            "neumann γ=auto",
            make_method(Neumann(steps=budget, lr=auto)),
        )
    )
    if budget >= 1:
        rows.append(
            (
                f"cg-{budget} (λ=1e-2·λmax)",
                "cg (λ=1e-2·λmax)",
                make_method("cg", steps=budget, damping=1e-2 * lam_max),
            )
        )
    return rows


def _shared_auto() -> AutoStepSize:
    # One estimate (20 power iterations from a fixed seed), reused by every γ = auto solve of
    # the same Hessian: identical to a fresh lr="auto" per solve, at a fraction of the cost.
    return AutoStepSize(iterations=20, safety=0.9, refresh_every=10**9)


def full_batch(
    p: Problem, tr: Any, va: Any, ref: Tensor, ref3: Tensor, lam_max: float
) -> tuple[Table, dict[str, list[tuple[int, float]]], dict[str, float]]:
    """Every method at every budget on the full halves.

    Returns:
        The table, the cosine curves per family, and the cosine per row label.
    """
    det = Table(
        "Full batch: cosine / relative error to the reference (λ = 1e-2·λmax)",
        [
            "HVP budget",
            "method",
            "cosine",
            "rel. error",
            "cosine to λ=1e-3 ref.",
            "products (solve + mixed)",
            "power its (γ=auto)",
        ],
    )
    auto = _shared_auto()
    curves: dict[str, list[tuple[int, float]]] = {}
    scores: dict[str, float] = {}
    for budget in BUDGETS:
        for label, family, method in method_grid(budget, p, lam_max, auto):
            fresh = auto.lambda_max is None
            res = compute_hypergradient(tr, va, p.w, p.a, method=method)
            is_auto = "γ=auto" in label
            paid = auto.iterations if is_auto and fresh else 0
            g = flat(res.grads)
            cos = cosine(g, ref)
            scores[label] = cos
            det.add(
                budget,
                label,
                f"{cos:.3f}",
                f"{rel_error(g, ref):.3f}",
                f"{cosine(g, ref3):.3f}",
                res.diagnostics.n_hvp - paid,
                auto.iterations if is_auto else "-",
            )
            curves.setdefault(family, []).append((budget, cos))
    return det, curves, scores


def stochastic_methods(
    p: Problem, lam_max: float
) -> list[tuple[str, Callable[[AutoStepSize], Method]]]:
    """The methods evaluated on minibatches: ``(label, factory(shared γ=auto estimator))``."""
    rows: list[tuple[str, Callable[[AutoStepSize], Method]]] = [
        ("first_order", lambda _a: make_method("first_order")),
        ("unrolled ξ=weight lr", lambda _a: make_method("unrolled", lr=p.weight_lr)),
        ("amended η=1/λmax²", lambda _a: make_method("amended", lr=1 / lam_max**2)),
        ("neumann γ=weight lr, K=10", lambda _a: make_method(Neumann(steps=10, lr=p.weight_lr))),
    ]
    for k in AUTO_K:
        rows.append((f"neumann γ=auto, K={k}", _auto_neumann(k)))
    # The same K = 2 products per step, carried across the minibatches as a search would:
    # the paper's γ, the curvature-safe γ (one warm power iteration per minibatch, not counted
    # in K) and warm-started solves (x from the previous minibatch's solution).
    rows.append(
        ("neumann γ=weight lr, K=2", lambda _a: make_method(Neumann(steps=2, lr=p.weight_lr)))
    )
    safe = AutoStepSize(iterations=10, warm_iterations=1, safety=0.9)
    rows.append(
        (
            "neumann γ=safe, K=2",
            lambda _a: make_method(Neumann(steps=2, lr=safe, max_lr=p.weight_lr)),
        )
    )
    safe_w = AutoStepSize(iterations=10, warm_iterations=1, safety=0.9)
    warm_s = WarmStart()
    rows.append(
        (
            "neumann γ=safe, K=2, warm start",
            lambda _a: make_method(
                Neumann(steps=2, lr=safe_w, max_lr=p.weight_lr, warm_start=warm_s)
            ),
        )
    )
    warm_a = WarmStart()
    rows.append(
        (
            "neumann γ=auto, K=2, warm start",
            lambda auto: make_method(Neumann(steps=2, lr=auto, warm_start=warm_a)),
        )
    )
    return rows


def _auto_neumann(k: int) -> Callable[[AutoStepSize], Method]:
    return lambda auto: make_method(Neumann(steps=k, lr=auto))


@dataclass
class StochasticStats:
    """Statistics of one method's minibatch estimates against the reference.

    Attributes:
        single: mean cosine of the first ``n_single`` single estimates.
        mean_cos: cosine of the mean of the first N estimates, per N.
        mean_err: relative error of the mean of all estimates.
        variance: ``mean ‖g_i − ḡ‖² / ‖ḡ‖²`` over all estimates.
        nonfinite: estimates with a non-finite entry.
        truncated: estimates whose Neumann series diverged and was truncated.
    """

    single: float
    mean_cos: dict[int, float]
    mean_err: float
    variance: float
    nonfinite: int
    truncated: int


def stochastic(
    p: Problem,
    ref: Tensor,
    lam_max: float,
    *,
    draws: int,
    batch: int,
    n_single: int,
    n_bias: tuple[int, ...],
) -> tuple[dict[str, StochasticStats], list[float], list[float]]:
    """Evaluate every stochastic method on the same ``draws`` minibatches of ``batch`` + ``batch``.

    Truncated Neumann series are counted (column "truncated"), not warned about one by one.

    Returns:
        The statistics per method, each minibatch Hessian's ``λ̂max`` (γ = auto's estimate),
        and each minibatch's training loss (BatchNorm with that minibatch's statistics).
    """
    methods = stochastic_methods(p, lam_max)
    gen = torch.Generator().manual_seed(2)
    dev = p.x_tr.device
    ests: dict[str, list[Tensor]] = {label: [] for label, _ in methods}
    flags: dict[str, list[tuple[bool, bool]]] = {label: [] for label, _ in methods}
    lambdas: list[float] = []
    losses: list[float] = []
    t0 = time.perf_counter()
    for i in range(draws):
        bi = torch.randperm(len(p.x_tr), generator=gen)[:batch].to(dev)
        bv = torch.randperm(len(p.x_va), generator=gen)[:batch].to(dev)
        tr = p.loss(p.x_tr[bi], p.y_tr[bi])
        va = p.loss(p.x_va[bv], p.y_va[bv])
        curv = ExactCurvature(tr, p.w, p.a)
        losses.append(curv.loss_value)
        auto = _shared_auto()
        for label, factory in methods:
            res: HypergradResult = compute_hypergradient(
                tr, va, p.w, p.a, method=factory(auto), curvature=curv
            )
            g = flat(res.grads)
            ests[label].append(g)
            flags[label].append((not bool(torch.isfinite(g).all()), res.diagnostics.solve.diverged))
        assert auto.lambda_max is not None
        lambdas.append(auto.lambda_max)
        if (i + 1) % 10 == 0:
            _progress(f"stochastic: {i + 1}/{draws} minibatches ({time.perf_counter() - t0:.0f} s)")
    out = {}
    for label, gs in ests.items():
        stack = torch.stack(gs)
        centre = stack.mean(0)
        out[label] = StochasticStats(
            single=sum(cosine(g, ref) for g in gs[:n_single]) / n_single,
            mean_cos={n: cosine(stack[:n].mean(0), ref) for n in n_bias},
            mean_err=rel_error(centre, ref),
            variance=float(((stack - centre) ** 2).sum(1).mean() / centre.norm() ** 2),
            nonfinite=sum(nf for nf, _ in flags[label]),
            truncated=sum(tc for _, tc in flags[label]),
        )
    return out, lambdas, losses


def targets_table(scores: dict[str, float], sto: dict[str, StochasticStats], n_max: int) -> Table:
    """The issue's fidelity targets, each marked as holding or missed."""
    tab = Table("Targets (issue 7)", ["target", "measured", "holds"])

    def row(name: str, measured: str, ok: bool) -> None:
        tab.add(name, measured, "yes" if ok else "**missed**")

    for k, bound in ((10, 0.9), (20, 0.95)):
        c = scores[f"neumann γ=auto, K={k}"]
        row(f"full batch, γ=auto, K={k}: cosine ≥ {bound}", f"{c:.3f}", c >= bound)
    autos = [f"neumann γ=auto, K={k}" for k in AUTO_K]
    bad = sum(sto[a].nonfinite for a in autos)
    row(
        f"minibatch, γ=auto, K ∈ {{{', '.join(map(str, AUTO_K))}}}: no non-finite estimate",
        f"{bad} non-finite, {sum(sto[a].truncated for a in autos)} truncated",
        bad == 0,
    )
    fo = sto["first_order"].mean_cos[n_max]
    for a in autos:
        c = sto[a].mean_cos[n_max]
        row(
            f"minibatch, {a.removeprefix('neumann ')}: cosine of the mean of {n_max} > first-order's",
            f"{c:.3f} vs {fo:.3f}",
            c > fo,
        )
    return tab


def run(toy: bool, device: torch.device | None = None) -> tuple[list[Table], dict[str, Any]]:
    """Run the benchmark.

    Args:
        toy: tiny sizes (seconds).
        device: where to compute (default: the CPU).

    Returns:
        The tables (set-up, full batch, minibatch, targets) and the data of the plot.
    """
    t0 = time.perf_counter()
    p = make_problem(toy=toy, device=device)
    tr = p.loss(p.x_tr, p.y_tr)
    va = p.loss(p.x_va, p.y_va)
    _progress(f"trained the supernet ({time.perf_counter() - t0:.0f} s)")
    H, M, gw, ga = dense_blocks(p, tr, va)
    _progress(f"dense Hessian {H.shape[0]}² ({time.perf_counter() - t0:.0f} s)")
    eig = torch.linalg.eigvalsh(H)
    lam_max, lam_min = float(eig[-1]), float(eig[0])
    full_value = tr(p.w, p.a)
    full_loss = float(full_value.detach())
    grad_norm = math.sqrt(sum(float((g**2).sum()) for g in torch.autograd.grad(full_value, p.w)))
    ref, resid = reference(H, M, gw, ga, 1e-2 * lam_max)
    ref3, resid3 = reference(H, M, gw, ga, 1e-3 * lam_max)
    cg_ref = compute_hypergradient(
        tr, va, p.w, p.a, method=ConjugateGradient(steps=4000, tol=1e-8, damping=1e-2 * lam_max)
    )
    _progress(f"references ({time.perf_counter() - t0:.0f} s)")

    det, curves, scores = full_batch(p, tr, va, ref, ref3, lam_max)
    _progress(f"full-batch table ({time.perf_counter() - t0:.0f} s)")

    draws, batch = (10, 16) if toy else (100, 64)
    n_single = 5 if toy else 20
    n_bias = (5, 10) if toy else (20, 100)
    stats, lambdas, mb_losses = stochastic(
        p, ref, lam_max, draws=draws, batch=batch, n_single=n_single, n_bias=n_bias
    )
    sto = Table(
        f"Minibatches of {batch}: {draws} draws; mean cosine of single estimates (first {n_single}), "
        "bias (cosine / relative error of the mean of N estimates) and variance",
        [
            "method",
            f"mean cos (N={n_single})",
            *[f"cos of mean (N={n})" for n in n_bias],
            f"rel. error of mean (N={draws})",
            f"rel. variance (N={draws})",
            "non-finite",
            "truncated",
        ],
    )
    for label, s in stats.items():
        sto.add(
            label,
            f"{s.single:.3f}",
            *[f"{s.mean_cos[n]:.3f}" for n in n_bias],
            f"{s.mean_err:.3f}",
            f"{s.variance:.3f}",
            s.nonfinite,
            s.truncated,
        )
    targets = targets_table(scores, stats, max(n_bias))

    setup = Table("Set-up", ["quantity", "value"])
    setup.add(
        "weights / α entries", f"{sum(w.numel() for w in p.w)} / {sum(a.numel() for a in p.a)}"
    )
    setup.add("train / val examples", f"{len(p.x_tr)} / {len(p.x_va)}")
    setup.add("device, dtype", f"{p.x_tr.device.type}, float64")
    setup.add("‖∇w L_tr‖ after training", f"{grad_norm:.2e}")
    setup.add("λmax(H), λmin(H) (dense eigendecomposition)", f"{lam_max:.4g}, {lam_min:.3g}")
    setup.add("negative eigenvalues below −1e-2·λmax", int((eig < -1e-2 * lam_max).sum()))
    setup.add("negative eigenvalues below −1e-3·λmax", int((eig < -1e-3 * lam_max).sum()))
    setup.add(
        "reference solves: relative residual (λ=1e-2·λmax, λ=1e-3·λmax)",
        f"{resid:.1e}, {resid3:.1e}",
    )
    d = cg_ref.diagnostics.solve
    setup.add(
        "library CG on (H + 1e-2·λmax·I), tol 1e-8",
        f"converged={d.converged}, iterations={d.terms_used}, residual={d.residual:.1e}, "
        f"cosine to dense reference {cosine(flat(cg_ref.grads), ref):.6f}"
        + (f" ({d.note})" if d.note else ""),
    )
    setup.add("γ = weight lr: γ·λmax", f"{p.weight_lr * lam_max:.3g}")
    lam_sorted = sorted(lambdas)
    setup.add(
        f"minibatch Hessians ({batch} examples): max |λ| by 20 power iterations, median [min, max]",
        f"{statistics.median(lam_sorted):.4g} [{lam_sorted[0]:.4g}, {lam_sorted[-1]:.4g}] "
        f"(full batch: {lam_max:.4g})",
    )
    mb_sorted = sorted(mb_losses)
    setup.add(
        f"training loss, full batch vs minibatches of {batch} of the same examples "
        "(BatchNorm normalises with the batch's own statistics): median [min, max]",
        f"{full_loss:.2g} vs {statistics.median(mb_sorted):.3g} "
        f"[{mb_sorted[0]:.2g}, {mb_sorted[-1]:.3g}]",
    )
    setup.add(
        "reference λ=1e-2·λmax vs λ=1e-3·λmax: cosine, relative difference",
        f"{cosine(ref, ref3):.3f}, {rel_error(ref3, ref):.3f}",
    )
    setup.add("seconds", f"{time.perf_counter() - t0:.1f}")
    extra = {"curves": curves, "stochastic": stats, "n_max": max(n_bias)}
    return [setup, det, sto, targets], extra


def plot(extra: dict[str, Any], path: str) -> None:
    """Cosine against the HVP budget (full batch), and the minibatch bias against K.

    Args:
        extra: the second value returned by :func:`run`.
        path: where to write the PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    curves: dict[str, list[tuple[int, float]]] = extra["curves"]
    for label, pts in curves.items():
        xs, ys = zip(*sorted(pts), strict=True)
        if label == "first_order":
            left.axhline(ys[0], color="k", ls="--", lw=1, label=label)
        else:
            left.plot(xs, ys, marker="o", ls="-" if len(set(xs)) > 1 else "none", label=label)
    left.set_xlabel("HVP budget (products in the solve)")
    left.set_ylabel("cosine to reference (λ = 1e-2·λmax)")
    left.set_title("Full batch, float64")
    left.grid(alpha=0.3)
    left.legend(fontsize=7)
    stats: dict[str, StochasticStats] = extra["stochastic"]
    n_max: int = extra["n_max"]
    ks = list(AUTO_K)
    autos = [stats[f"neumann γ=auto, K={k}"] for k in ks]
    right.plot(
        ks, [s.mean_cos[n_max] for s in autos], marker="o", label=f"γ=auto: cos of mean of {n_max}"
    )
    right.plot(
        ks, [s.single for s in autos], marker="s", label="γ=auto: mean cos of single estimates"
    )
    fo = stats["first_order"]
    right.axhline(
        fo.mean_cos[n_max], color="k", ls="--", lw=1, label=f"first_order: cos of mean of {n_max}"
    )
    right.axhline(fo.single, color="k", ls=":", lw=1, label="first_order: mean cos of single")
    right.set_xlabel("Neumann steps K")
    right.set_ylabel("cosine to full-batch reference")
    right.set_title("Minibatches of 64: bias and single-estimate quality")
    right.grid(alpha=0.3)
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    """Command line: print the tables, write the plot and the RESULTS.md section."""
    args_in = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (2)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, ...")
    args = parser.parse_args(args_in)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    tables, extra = run(args.toy, device)
    for t in tables:
        print(t.render())
    if not args.no_write:
        png = "fidelity-toy.png" if args.toy else "fidelity.png"
        plot(extra, str(Path(__file__).resolve().parent / png))
        command = "python -m benchmarks.fidelity" + (" --toy" if args.toy else "")
        command += f" --threads {args.threads}" if args.threads != 2 else ""
        command += f" --device {args.device}" if args.device != "auto" else ""
        write_section(
            "fidelity",
            command,
            [
                f"{machine_line('cpu' if device.type == 'cpu' else 'auto')} Device that produced every table below: {device.type}.",
                *[t.render() for t in tables],
                f"![fidelity: cosine against HVP budget, and minibatch bias against K]({png})",
            ],
        )


if __name__ == "__main__":
    main()
