"""Peer check: the Neumann hypergradient through TorchOpt's ``solve_inv(ns=True)``.

    python -m benchmarks.peer                 # the fidelity benchmark's supernet, float64
    python -m benchmarks.peer --toy           # seconds; what the test suite runs
    python -m benchmarks.peer --device cuda   # default: the CPU

TorchOpt (``pip install torchopt``; not a dependency of this project) computes
``x = γ Σ_{j=0..K} (I − γA)^j b`` in ``torchopt.linalg.ns(A, b, maxiter=K, alpha=γ)``, the same
truncated series as ``idarts_plugin``'s ``Neumann(steps=K, lr=γ)``. Here TorchOpt solves with
``A`` = the training Hessian as a matrix-vector product written independently in this script
(plain double backward), and the hypergradient ``∇α L_val − ∇²_{αw} L_tr · x`` is assembled
by hand; ``idarts_plugin.hypergrad.compute_hypergradient(method="neumann")`` computes it on its
own. Both run on the full training and validation halves with the same fixed γ = 0.9/λ̂max
(λ̂max by 100 power iterations), K = 0, 2, 5, 10, 20. Reported: the relative difference
``‖ours − TorchOpt‖ / ‖TorchOpt‖`` (target ≤ 1e-6) and the time ratio (median of repeats; each
timed call includes its own training and validation passes). Without TorchOpt the table has one
row saying why it was skipped.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch
from torch import Tensor

from idarts_plugin.hypergrad import ExactCurvature, compute_hypergradient, power_iteration

from .common import Table, machine_line, write_section
from .fidelity import flat, make_problem, pick_device


def torchopt_hypergradient(
    tr: Any, va: Any, w0: list[Tensor], a0: list[Tensor], *, k: int, gamma: float
) -> tuple[Tensor, ...]:
    """The Neumann hypergradient with TorchOpt's solver and hand-written products."""
    from torchopt.linear_solve import solve_inv

    w = [t.detach().requires_grad_() for t in w0]
    a = [t.detach().requires_grad_() for t in a0]
    g_tr = torch.autograd.grad(tr(w, a), w, create_graph=True)

    def matvec(v: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        return torch.autograd.grad(g_tr, w, v, retain_graph=True)

    g_va = torch.autograd.grad(va(w, a), [*a, *w])
    ga, gw = g_va[: len(a)], tuple(g_va[len(a) :])
    x = solve_inv(ns=True, maxiter=k, alpha=gamma)(matvec, gw)
    mixed = torch.autograd.grad(g_tr, a, x, retain_graph=True)
    return tuple(d - m for d, m in zip(ga, mixed, strict=True))


def _median_seconds(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(toy: bool, device: torch.device | None = None) -> list[Table]:
    """The peer-check table (one row saying why, if TorchOpt is not installed).

    Args:
        toy: tiny sizes (seconds).
        device: where to compute (default: the CPU).

    Returns:
        One table.
    """
    table = Table(
        "Neumann hypergradient: idarts_plugin vs TorchOpt solve_inv(ns=True), float64, full batch",
        ["K", "γ", "relative difference", "≤ 1e-6", "idarts s", "TorchOpt s", "TorchOpt ÷ idarts"],
    )
    try:
        import torchopt  # noqa: F401
    except ImportError as exc:
        table.add("-", "-", f"skipped: TorchOpt not importable ({exc})", "-", "-", "-", "-")
        return [table]
    p = make_problem(toy=toy, device=device)
    tr, va = p.loss(p.x_tr, p.y_tr), p.loss(p.x_va, p.y_va)
    curv = ExactCurvature(tr, p.w, p.a)
    start = [
        torch.randn(t.shape, dtype=t.dtype, generator=torch.Generator().manual_seed(0)).to(t.device)
        for t in p.w
    ]
    lam, _ = power_iteration(curv.hvp, start, iterations=100)
    gamma = 0.9 / lam
    repeats = 2 if toy else 3
    for k in [0, 2] if toy else [0, 2, 5, 10, 20]:
        ours = flat(
            compute_hypergradient(tr, va, p.w, p.a, method="neumann", steps=k, lr=gamma).grads
        )
        peer = flat(torchopt_hypergradient(tr, va, p.w, p.a, k=k, gamma=gamma))
        diff = float((ours - peer).norm() / peer.norm())
        t_ours = _median_seconds(
            lambda k=k: compute_hypergradient(
                tr, va, p.w, p.a, method="neumann", steps=k, lr=gamma
            ),
            repeats,
        )
        t_peer = _median_seconds(
            lambda k=k: torchopt_hypergradient(tr, va, p.w, p.a, k=k, gamma=gamma), repeats
        )
        table.add(
            k,
            f"{gamma:.3g}",
            f"{diff:.1e}",
            "yes" if diff <= 1e-6 else "NO",
            f"{t_ours:.3f}",
            f"{t_peer:.3f}",
            f"{t_peer / t_ours:.2f}",
        )
    return [table]


def main(argv: list[str] | None = None) -> None:
    """Command line: print the table and write the RESULTS.md section."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, or auto")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    device = pick_device(args.device)
    tables = run(args.toy, device)
    for t in tables:
        print(t.render())
    if not args.no_write:
        try:
            import torchopt

            version = f"TorchOpt {getattr(torchopt, '__version__', '?')}"
        except ImportError:
            version = "TorchOpt not installed"
        write_section(
            "peer",
            "python -m benchmarks.peer"
            + (" --toy" if args.toy else "")
            + (f" --device {args.device}" if args.device != "cpu" else ""),
            [
                f"{machine_line('cpu' if device.type == 'cpu' else 'auto')} {version}. "
                f"Device that produced the table: {device.type}.",
                *[t.render() for t in tables],
            ],
        )


if __name__ == "__main__":
    main()
