"""Fidelity along real searches: each estimator against a large-batch reference at supernet
snapshots taken early, midway and at the end of real searches on the ground truth's data.

    python -m benchmarks.fidelity --trajectory          # resumable; one snapshot at a time
    python -m benchmarks.fidelity_trajectory --toy      # seconds (what the test suite runs)

Per snapshot (:mod:`benchmarks.trajectory`): the reference is the damped implicit hypergradient
``∇α L_val − ∇²_{αw} L_tr (H + δI)⁻¹ ∇w L_val`` on ``REF`` training and ``REF`` validation
examples (BatchNorm with that large batch's statistics, as a search's weight step normalises
with its batch's), ``δ = 1e-2·λmax`` of that Hessian, by conjugate gradients to a relative
residual of ``1e-3``. Every estimator then runs on the same ``DRAWS`` minibatches of 64 + 64,
carrying its state (λ̂, growth monitor) from one minibatch to the next as a search does. Reported
per estimator: the mean cosine of single estimates, the cosine of the mean of all estimates (bias),
the relative variance, products and seconds per estimate, and truncated / growing solves; plus an
exponential average of the implicit term over the draws (β = 0.9; at a fixed point this is
optimistic for a search, whose weights move between steps). First order is the row to beat.

Each snapshot's numbers are cached in ``benchmarks/fidelity_cache/<snapshot>.json`` (committed),
so a killed run resumes where it stopped and the RESULTS.md section is rebuilt from the cache.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from idarts_plugin.hypergrad import (
    AutoStepSize,
    ConjugateGradient,
    ExactCurvature,
    GrowthMonitor,
    Neumann,
    NeumannDivergenceWarning,
    SolveInfo,
    compute_hypergradient,
    power_iteration,
)
from idarts_plugin.hypergrad.problem import module_problem
from idarts_plugin.hypergrad.spec import CurvatureSpec

from .common import Table, machine_line, write_section

REF = 256
DRAWS = 100
BATCH = 64
REF_DAMPING = 1e-2
EMA = 0.9
CACHE_VERSION = 1


@dataclass
class Point:
    """A network at one point of a search, with its data.

    Attributes:
        name: the snapshot's label.
        model: the supernet (train mode).
        weight_names: weight parameter names.
        alpha_names: α parameter names.
        x_tr: training-half inputs.
        y_tr: training-half labels.
        x_va: validation-half inputs.
        y_va: validation-half labels.
        weight_lr: the weight learning rate at that point (γ of the paper's rule).
        weight_decay: the weight optimiser's decay (in H of every implicit estimator).
    """

    name: str
    model: nn.Module
    weight_names: list[str]
    alpha_names: list[str]
    x_tr: Tensor
    y_tr: Tensor
    x_va: Tensor
    y_va: Tensor
    weight_lr: float
    weight_decay: float

    def params(self) -> tuple[list[Tensor], list[Tensor]]:
        """The weight and α tensors, in name order."""
        p = dict(self.model.named_parameters())
        return [p[n] for n in self.weight_names], [p[n] for n in self.alpha_names]

    def problem(
        self, tr: Sequence[Tensor], va: Tensor, spec: CurvatureSpec | None = None
    ) -> tuple[Any, Any, Any]:
        """``module_problem`` on training index sets ``tr`` (first = the step's) and ``va``."""
        w, a = self.params()
        return module_problem(
            self.model,
            F.cross_entropy,
            [(self.x_tr[i], self.y_tr[i]) for i in tr],
            (self.x_va[va], self.y_va[va]),
            weight_names=self.weight_names,
            alpha_names=self.alpha_names,
            weights=w,
            alphas=a,
            curvature=spec,
        )


def flat(gs: Sequence[Tensor]) -> Tensor:
    """One flat float64 vector."""
    return torch.cat([g.detach().flatten().double() for g in gs])


def cosine(a: Tensor, b: Tensor) -> float:
    """Cosine similarity (0 when either is zero)."""
    na, nb = float(a.norm()), float(b.norm())
    return float(a @ b) / (na * nb) if na > 0 and nb > 0 else 0.0


# ------------------------------------------------------------------------------------------
# Estimators: each is built once per snapshot and called on every draw (state carried).
# ------------------------------------------------------------------------------------------

Estimate = tuple[Tensor, int, bool, bool]
"""(hypergradient, products, truncated, growing)."""


@dataclass(frozen=True)
class Estimator:
    """A named estimator factory.

    Attributes:
        label: the table row.
        make: ``point -> (train index sets, val indices) -> Estimate``.
    """

    label: str
    make: Callable[[Point], Callable[[Sequence[Tensor], Tensor], Estimate]]


def _neumann(
    spec: CurvatureSpec, *, lr: str = "weight_lr", steps: int = 2, monitor: bool = False
) -> Callable[[Point], Callable[[Sequence[Tensor], Tensor], Estimate]]:
    def make(p: Point) -> Callable[[Sequence[Tensor], Tensor], Estimate]:
        auto = AutoStepSize(iterations=10, warm_iterations=1, safety=0.9, mix=0.3, decay=0.9)
        mon = GrowthMonitor() if monitor else None

        def run(tr: Sequence[Tensor], va: Tensor) -> Estimate:
            t_loss, v_loss, curv = p.problem(tr, va, spec)
            gamma: Any = p.weight_lr if lr == "weight_lr" else auto
            solver = Neumann(
                steps=steps,
                lr=gamma,
                max_lr=p.weight_lr if lr == "safe" else None,
                monitor=mon,
            )
            w, a = p.params()
            r = compute_hypergradient(
                t_loss, v_loss, w, a, method=solver, curvature=curv, weight_decay=p.weight_decay
            )
            d = r.diagnostics
            return flat(r.grads), d.n_hvp, d.diverged, d.growing

        return run

    return make


def _damped_cg(
    spec: CurvatureSpec, *, steps: int, rel_damping: float
) -> Callable[[Point], Callable[[Sequence[Tensor], Tensor], Estimate]]:
    def make(p: Point) -> Callable[[Sequence[Tensor], Tensor], Estimate]:
        auto = AutoStepSize(iterations=10, warm_iterations=1, safety=1.0, mix=0.3, decay=0.9)

        def run(tr: Sequence[Tensor], va: Tensor) -> Estimate:
            t_loss, v_loss, curv = p.problem(tr, va, spec)
            w, a = p.params()
            if curv is None:
                curv = ExactCurvature(t_loss, w, a)
            info = SolveInfo()
            auto.step_size(curv, w, info)  # λ̂ (one warm product after the first draw)
            lam = abs(auto.lambda_max or 0.0)
            solver = ConjugateGradient(steps=steps, tol=1e-6, damping=rel_damping * lam)
            r = compute_hypergradient(
                t_loss, v_loss, w, a, method=solver, curvature=curv, weight_decay=p.weight_decay
            )
            # the power iteration ran on the same operator: n_hvp counts its products too
            return flat(r.grads), r.diagnostics.n_hvp, False, False

        return run

    return make


def _first_order(p: Point) -> Callable[[Sequence[Tensor], Tensor], Estimate]:
    def run(tr: Sequence[Tensor], va: Tensor) -> Estimate:
        t_loss, v_loss, _ = p.problem(tr, va)
        w, a = p.params()
        r = compute_hypergradient(t_loss, v_loss, w, a, method="first_order")
        return flat(r.grads), 0, False, False

    return run


FROZEN = CurvatureSpec(bn="frozen")
ESTIMATORS: tuple[Estimator, ...] = (
    Estimator("first_order", _first_order),
    Estimator("neumann γ=weight lr, K=2 (shipped)", _neumann(CurvatureSpec(), monitor=True)),
    Estimator("neumann γ=weight lr, K=2, bn frozen", _neumann(FROZEN)),
    Estimator("neumann γ=safe, K=2, bn frozen", _neumann(FROZEN, lr="safe")),
    Estimator(
        "neumann γ=safe, K=2, ggn, bn frozen",
        _neumann(CurvatureSpec(kind="ggn", bn="frozen"), lr="safe"),
    ),
    Estimator("cg-3, δ=0.1·λ̂, bn frozen", _damped_cg(FROZEN, steps=3, rel_damping=0.1)),
    Estimator(
        "cg-3, δ=0.1·λ̂, ggn, bn frozen",
        _damped_cg(CurvatureSpec(kind="ggn", bn="frozen"), steps=3, rel_damping=0.1),
    ),
)
"""The estimators of the table (cost in products per draw: see the table's column)."""


# ------------------------------------------------------------------------------------------
# One snapshot.
# ------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One estimator's statistics at one snapshot."""

    label: str
    single: float
    mean_cos: float
    variance: float
    products: float
    seconds: float
    truncated: int
    growing: int


def _stats(label: str, gs: list[Tensor], ref: Tensor, extra: dict[str, float]) -> Row:
    stack = torch.stack(gs)
    centre = stack.mean(0)
    return Row(
        label=label,
        single=statistics.fmean(cosine(g, ref) for g in gs),
        mean_cos=cosine(centre, ref),
        variance=float(((stack - centre) ** 2).sum(1).mean() / centre.norm() ** 2),
        products=extra.get("products", 0.0),
        seconds=extra.get("seconds", 0.0),
        truncated=int(extra.get("truncated", 0)),
        growing=int(extra.get("growing", 0)),
    )


def _ema(direct: list[Tensor], estimates: list[Tensor], beta: float) -> list[Tensor]:
    """``d_t − m̄_t``: the implicit term ``m_t = d_t − g_t`` averaged (bias-corrected)."""
    out, m = [], torch.zeros_like(direct[0])
    for t, (d, g) in enumerate(zip(direct, estimates, strict=True), start=1):
        m = beta * m + (1 - beta) * (d - g)
        out.append(d - m / (1 - beta**t))
    return out


def reference(p: Point, *, size: int, gen: torch.Generator) -> dict[str, Any]:
    """The damped large-batch reference and what describes it."""
    tr = torch.randperm(len(p.x_tr), generator=gen)[:size]
    va = torch.randperm(len(p.x_va), generator=gen)[:size]
    t_loss, v_loss, _ = p.problem([tr], va)
    w, a = p.params()
    curv = ExactCurvature(t_loss, w, a)
    lam, _ = power_iteration(
        curv.hvp, [torch.randn(x.shape, generator=gen) for x in w], iterations=10
    )
    cg = ConjugateGradient(steps=40, tol=1e-3, damping=REF_DAMPING * lam)
    res = compute_hypergradient(
        t_loss, v_loss, w, a, method=cg, curvature=curv, weight_decay=p.weight_decay
    )
    first = compute_hypergradient(t_loss, v_loss, w, a, method="first_order")
    ref = flat(res.grads)
    d = res.diagnostics
    return {
        "ref": ref,
        "lambda_max": lam,
        "train_loss": curv.loss_value,
        "cg_converged": d.converged,
        "cg_iterations": d.terms_used,
        "cg_residual": d.residual,
        "cg_note": d.note,
        "direct_norm": d.direct_norm,
        "implicit_norm": d.implicit_norm,
        "first_order_cos": cosine(flat(first.grads), ref),
    }


def evaluate(
    p: Point,
    *,
    ref_size: int = REF,
    draws: int = DRAWS,
    batch: int = BATCH,
    estimators: Sequence[Estimator] = ESTIMATORS,
    progress: Callable[[str], None] = lambda _m: None,
    ref_cache: Path | None = None,
) -> dict[str, Any]:
    """Every estimator against the reference at one point (see the module docstring).

    ``ref_cache``: a file keeping the reference (and the draw generator's state after it), so
    a restarted run skips its most expensive part.
    """
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    if ref_cache is not None and ref_cache.is_file():
        info = torch.load(ref_cache)
        gen.set_state(info.pop("generator"))
    else:
        info = reference(p, size=ref_size, gen=gen)
        if ref_cache is not None:
            torch.save({**info, "generator": gen.get_state()}, ref_cache)
    ref = info.pop("ref")
    progress(f"{p.name}: reference ({time.perf_counter() - t0:.0f} s)")
    runs = [(e.label, e.make(p)) for e in estimators]
    out: dict[str, list[Tensor]] = {label: [] for label, _ in runs}
    cost: dict[str, dict[str, float]] = {label: {} for label, _ in runs}
    for i in range(draws):
        tr = torch.randperm(len(p.x_tr), generator=gen)[:batch]
        va = torch.randperm(len(p.x_va), generator=gen)[:batch]
        for label, run in runs:
            s = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NeumannDivergenceWarning)
                g, n, trunc, grow = run([tr], va)
            c = cost[label]
            c["seconds"] = c.get("seconds", 0.0) + (time.perf_counter() - s) / draws
            c["products"] = c.get("products", 0.0) + n / draws
            c["truncated"] = c.get("truncated", 0.0) + trunc
            c["growing"] = c.get("growing", 0.0) + grow
            out[label].append(g)
        if (i + 1) % 10 == 0:
            progress(f"{p.name}: {i + 1}/{draws} draws ({time.perf_counter() - t0:.0f} s)")
    rows = [_stats(label, gs, ref, cost[label]) for label, gs in out.items()]
    direct = out[estimators[0].label]
    for label, gs in list(out.items())[1:]:
        rows.append(
            _stats(
                f"{label}, EMA {EMA:g} of the implicit term",
                _ema(direct, gs, EMA),
                ref,
                cost[label],
            )
        )
    return {
        "version": CACHE_VERSION,
        "point": p.name,
        "draws": draws,
        "ref_size": ref_size,
        "seconds": time.perf_counter() - t0,
        "reference": info,
        "rows": [asdict(r) for r in rows],
    }


# ------------------------------------------------------------------------------------------
# Snapshots of real searches, the toy point, the report.
# ------------------------------------------------------------------------------------------


def snapshot_point(snap: Any, built: dict[str, Any]) -> Point:
    """The :class:`Point` of a saved snapshot (the supernet and data built once, cached)."""
    from idarts_plugin.config import load_config
    from idarts_plugin.search import _build_supernet  # the search's own construction
    from idarts_plugin.spaces import load_space

    from . import trajectory

    if "net" not in built:
        cfg = load_config(trajectory.CONFIG, trajectory.overrides(snap.seed))
        net = _build_supernet(cfg, load_space(cfg.space))
        model = net.oneshot.training_module.model
        xt, yt = _tensors(net.data.weight_train)
        xv, yv = _tensors(net.data.arch_val)
        built.update(net=net, model=model, data=(xt, yt, xv, yv), cfg=cfg)
    model, cfg = built["model"], built["cfg"]
    model.load_state_dict(torch.load(snap.path))
    model.train()
    alphas = [n for n, _ in model.named_parameters() if n.endswith("_arch_alpha")]
    weights = [n for n, _ in model.named_parameters() if n not in alphas]
    opt = cfg.optimizer
    t = snap.epoch / cfg.trainer.epochs  # cosine schedule at the end of that epoch
    lr = opt.lr_min + 0.5 * (opt.lr - opt.lr_min) * (1 + math.cos(math.pi * t))
    return Point(snap.label, model, weights, alphas, *built["data"], lr, opt.weight_decay)


def _tensors(ds: Any) -> tuple[Tensor, Tensor]:
    xs, ys = zip(*(ds[i] for i in range(len(ds))), strict=True)
    return torch.stack(list(xs)), torch.tensor([int(y) for y in ys])


def toy_point() -> Point:
    """A tiny trained supernet on digits (the classic fidelity benchmark's), for tests."""
    from . import fidelity

    p = fidelity.make_problem(toy=True)
    net = p.net.float()
    x = torch.cat([p.x_tr, p.x_va]).float()
    y = torch.cat([p.y_tr, p.y_va])
    n = len(p.x_tr)
    return Point("toy", net, p.wn, p.an, x[:n], y[:n], x[n:], y[n:], 0.025, 3e-4)


def report(results: Sequence[dict[str, Any]]) -> list[Table]:
    """The tables: per snapshot, and the summary across snapshots."""
    tables = []
    setup = Table(
        "Reference per snapshot (large batch, damped CG)",
        [
            "snapshot",
            "train loss",
            "λmax (ref batch)",
            "CG its / residual",
            "‖direct‖",
            "‖implicit‖",
            "first order: cosine",
        ],
    )
    for r in results:
        ref = r["reference"]
        setup.add(
            r["point"],
            f"{ref['train_loss']:.3f}",
            f"{ref['lambda_max']:.4g}",
            f"{ref['cg_iterations']} / {ref['cg_residual']:.1e}"
            + ("" if ref["cg_converged"] else " (not converged)"),
            f"{ref['direct_norm']:.3g}",
            f"{ref['implicit_norm']:.3g}",
            f"{ref['first_order_cos']:.3f}",
        )
    tables.append(setup)
    labels = [row["label"] for row in results[0]["rows"]] if results else []
    summary = Table(
        "Across snapshots: worst (min) and mean over snapshots",
        [
            "estimator",
            "cos of mean: min / mean",
            "single cos: min / mean",
            "single ÷ first order: min",
            "products",
            "s / estimate",
            "truncated",
            "growing",
        ],
    )
    for label in labels:
        rows = [next(x for x in r["rows"] if x["label"] == label) for r in results]
        fos = [next(x for x in r["rows"] if x["label"] == "first_order")["single"] for r in results]
        ratio = min(
            x["single"] / f if f > 0 else float("nan") for x, f in zip(rows, fos, strict=True)
        )
        summary.add(
            label,
            f"{min(x['mean_cos'] for x in rows):.3f} / {statistics.fmean(x['mean_cos'] for x in rows):.3f}",
            f"{min(x['single'] for x in rows):.3f} / {statistics.fmean(x['single'] for x in rows):.3f}",
            f"{ratio:.2f}",
            f"{statistics.fmean(x['products'] for x in rows):.1f}",
            f"{statistics.fmean(x['seconds'] for x in rows):.2f}",
            sum(x["truncated"] for x in rows),
            sum(x["growing"] for x in rows),
        )
    tables.append(summary)
    for r in results:
        t = Table(
            f"{r['point']}: {r['draws']} minibatches of {BATCH} + {BATCH}",
            [
                "estimator",
                "mean cos (single)",
                f"cos of mean of {r['draws']}",
                "rel. variance",
                "products",
                "s / estimate",
                "truncated",
                "growing",
            ],
        )
        for x in r["rows"]:
            t.add(
                x["label"],
                f"{x['single']:.3f}",
                f"{x['mean_cos']:.3f}",
                f"{x['variance']:.2f}",
                f"{x['products']:.1f}",
                f"{x['seconds']:.2f}",
                x["truncated"],
                x["growing"],
            )
        tables.append(t)
    return tables


def plot(results: Sequence[dict[str, Any]], path: Path) -> None:
    """Cosine of the mean and single-estimate cosine per snapshot, one line per estimator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    names = [r["point"] for r in results]
    labels = [x["label"] for x in results[0]["rows"] if "EMA" not in x["label"]]
    for label in labels:
        rows = [next(x for x in r["rows"] if x["label"] == label) for r in results]
        style = {"color": "k", "ls": "--"} if label == "first_order" else {}
        left.plot(names, [x["mean_cos"] for x in rows], marker="o", label=label, **style)
        right.plot(names, [x["single"] for x in rows], marker="o", label=label, **style)
    left.set_title(f"cosine of the mean of {results[0]['draws']} estimates (bias)")
    right.set_title("mean cosine of single estimates")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.tick_params(axis="x", rotation=30)
    left.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    """Command line: evaluate the missing snapshots, then print and write the section."""
    from . import trajectory

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="tiny sizes, no snapshots (seconds)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--draws", type=int, default=DRAWS)
    parser.add_argument(
        "--available",
        action="store_true",
        help="evaluate only the snapshots already saved (no trajectory search)",
    )
    parser.add_argument("--only", default="", help="comma-separated snapshot file stems first")
    parser.add_argument(
        "--cached",
        action="store_true",
        help="report the snapshots already evaluated (their cache files) and compute nothing",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    def say(m: str) -> None:
        print(f"[fidelity-trajectory] {m}", file=sys.stderr, flush=True)

    if args.toy:
        results = [evaluate(toy_point(), ref_size=64, draws=5, batch=16, progress=say)]
    else:
        results = []
        built: dict[str, Any] = {}
        saved_only = args.available or args.cached
        snaps = trajectory.saved_snapshots() if saved_only else trajectory.make_snapshots()
        first = [s for s in args.only.split(",") if s]
        snaps.sort(key=lambda s: (s.path.stem not in first, s.seed, s.epoch))
        for snap in snaps:
            cache = trajectory.CACHE / f"{snap.path.stem}-{args.draws}.json"
            if cache.is_file() and json.loads(cache.read_text()).get("version") == CACHE_VERSION:
                results.append(json.loads(cache.read_text()))
                continue
            if args.cached:
                continue
            result = evaluate(
                snapshot_point(snap, built),
                draws=args.draws,
                progress=say,
                ref_cache=trajectory.CACHE / f"{snap.path.stem}-reference.pt",
            )
            tmp = cache.with_suffix(".tmp")
            tmp.write_text(json.dumps(result, indent=1))
            tmp.replace(cache)
            results.append(result)
    if not results:
        print("no snapshot evaluated yet: run without --cached", file=sys.stderr)
        return
    tables = report(results)
    for t in tables:
        print(t.render())
    if not args.no_write and not args.toy:
        png = Path(__file__).resolve().parent / "fidelity_trajectory.png"
        plot(results, png)
        write_section(
            "fidelity-trajectory",
            f"python -m benchmarks.fidelity --trajectory{'' if args.draws == DRAWS else f' --draws {args.draws}'}",
            [
                machine_line("cpu"),
                *[t.render() for t in tables],
                f"![fidelity along searches]({png.name})",
            ],
        )


if __name__ == "__main__":
    main()
