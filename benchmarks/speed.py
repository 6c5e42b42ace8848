"""Speed and memory: NNI's first-order DARTS vs. the hypergradient strategies, side by side.

    python -m benchmarks.speed              # the issue's setting (minutes on 2 CPU cores)
    python -m benchmarks.speed --toy        # seconds; what the test suite runs

Set-up (as the prototype measured): NAS-Bench-201 space from NNI's hub with stem 8 and one
cell per stage, 28×28×3 inputs (scikit-learn digits upsampled, so no download), batch 64.
Every method is a real strategy object: its ``mutate_model`` builds the supernet and its
``configure_oneshot_module`` the module whose architecture step is timed. Steps are driven
directly (the same weight step -- forward, backward, SGD -- for every method, no Lightning
loop around either), so the ratio isolates the architecture step's cost.

* Time: in one process, methods alternate in rounds over the *same* pre-drawn batches; the
  table gives seconds per 100 steps (one step = one weight step, plus an architecture step
  every T-th step) and the ratio to NNI's DARTS.
* Memory: peak RSS of each method in a separate process running the same steps (on CUDA:
  ``torch.cuda.max_memory_allocated``).
* Device: CUDA when present, else the CPU; each table's machine line says which.
* Scaling: time of one architecture step against K (Neumann terms) and against the stem width;
  time of one HVP against one training gradient.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .common import Table, machine_line, write_section

METHODS: dict[str, Callable[[], Any]] = {}
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _register() -> None:
    from nni.nas.strategy import DARTS

    from idarts_plugin import AmendedDARTS, ImplicitDARTS, UnrolledDARTS

    METHODS.update(
        {
            "NNI DARTS (first order)": lambda: DARTS(),
            "ImplicitDARTS K=1, T=1": lambda: ImplicitDARTS(neumann_steps=1),
            "ImplicitDARTS K=2, T=1": lambda: ImplicitDARTS(neumann_steps=2),
            "ImplicitDARTS K=2, T=1, shared fwd": lambda: ImplicitDARTS(
                neumann_steps=2, hessian_batch="shared"
            ),
            "ImplicitDARTS K=5, T=1": lambda: ImplicitDARTS(neumann_steps=5),
            "ImplicitDARTS K=2, T=4": lambda: ImplicitDARTS(neumann_steps=2, inner_steps=4),
            "UnrolledDARTS": lambda: UnrolledDARTS(),
            "AmendedDARTS": lambda: AmendedDARTS(),
        }
    )


@dataclass
class Arm:
    name: str
    model: torch.nn.Module
    oneshot: Any
    alphas: list[torch.nn.Parameter]
    weights: list[torch.nn.Parameter]
    w_opt: torch.optim.Optimizer
    a_opt: torch.optim.Optimizer
    inner_steps: int
    first_order: bool
    shared: bool
    step_no: int = 0


def make_arm(name: str, *, stem: int, seed: int = 0) -> Arm:
    from nni.nas.evaluator.pytorch.lightning import ClassificationModule
    from nni.nas.hub.pytorch import NasBench201

    torch.manual_seed(seed)
    strategy = METHODS[name]()
    space = NasBench201(stem_out_channels=stem, num_modules_per_stack=1, num_labels=10)
    supernet = strategy.mutate_model(space).to(DEVICE)
    module = ClassificationModule(num_classes=10, learning_rate=0.025)
    oneshot = strategy.configure_oneshot_module(module)
    oneshot.set_model(supernet)
    alphas = list(oneshot.arch_parameters())
    ids = {id(a) for a in alphas}
    weights = [p for p in supernet.parameters() if id(p) not in ids]
    return Arm(
        name=name,
        model=supernet,
        oneshot=oneshot,
        alphas=alphas,
        weights=weights,
        w_opt=torch.optim.SGD(weights, lr=0.025, momentum=0.9, weight_decay=3e-4),
        a_opt=torch.optim.Adam(alphas, lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3),
        inner_steps=getattr(strategy, "inner_steps", 1),
        first_order=not hasattr(strategy, "method"),
        shared=getattr(strategy, "hessian_batch", "separate") == "shared",
    )


def step(
    arm: Arm, trn: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor]
) -> None:
    """One weight step, preceded by an architecture step every ``inner_steps`` steps."""
    due = arm.step_no % arm.inner_steps == 0
    arm.step_no += 1
    if due and arm.first_order:  # NNI's DARTS: ∇α L_val by one backward pass
        arm.a_opt.zero_grad()
        F.cross_entropy(arm.model(val[0]), val[1]).backward()
        arm.a_opt.step()
    elif due and not arm.shared:
        alphas, grads, _ = arm.oneshot.hypergradient(trn, val, weight_lr=0.025)
        for p, g in zip(alphas, grads, strict=True):
            p.grad = g
        arm.a_opt.step()
    arm.w_opt.zero_grad()
    loss = F.cross_entropy(arm.model(trn[0]), trn[1])
    if due and arm.shared:
        alphas, grads, _ = arm.oneshot.hypergradient(
            trn, val, weight_lr=0.025, train_loss_value=loss
        )
        loss.backward()
        for p, g in zip(alphas, grads, strict=True):
            p.grad = g
        arm.a_opt.step()
    else:
        loss.backward()
    torch.nn.utils.clip_grad_norm_(arm.weights, 5.0)
    arm.w_opt.step()


def batches(
    n: int, *, size: int, batch: int, seed: int = 0
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    from idarts_plugin.data import DataConfig, load_search_data

    data = load_search_data(DataConfig(name="digits", channels=3, image_size=size), seed=seed)
    xs = torch.stack([data.weight_train[i][0] for i in range(len(data.weight_train))])
    ys = torch.tensor([int(data.weight_train[i][1]) for i in range(len(data.weight_train))])
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        idx = torch.randint(0, len(ys), (batch,), generator=g)
        out.append((xs[idx].to(DEVICE), ys[idx].to(DEVICE)))
    return out


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def timing(
    names: list[str], *, steps: int, rounds: int, stem: int, size: int, batch: int
) -> dict[str, float]:
    arms = [make_arm(n, stem=stem) for n in names]
    data = batches(2 * steps, size=size, batch=batch)
    for arm in arms:  # warm-up, not timed
        step(arm, data[0], data[1])
        arm.step_no = 0
    spent = dict.fromkeys(names, 0.0)
    for _ in range(rounds):
        for arm in arms:
            _sync()
            t0 = time.perf_counter()
            for k in range(steps):
                step(arm, data[2 * k], data[2 * k + 1])
            _sync()
            spent[arm.name] += time.perf_counter() - t0
    return {n: 100.0 * s / (steps * rounds) for n, s in spent.items()}


def rss_mb() -> float:
    """Current resident set size of this process (Linux ``/proc``), in MB."""
    import os

    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss(name: str, *, steps: int, stem: int, size: int, batch: int) -> float:
    """Peak memory (MB) of a separate process running ``steps`` steps of one method.

    On the CPU: the largest resident set size sampled after every step (the process-lifetime
    ``ru_maxrss`` is dominated by a transient at import time, identical for every method).
    On CUDA: ``torch.cuda.max_memory_allocated``.
    """
    code = (
        "import json, torch; torch.set_num_threads(2);"
        "from benchmarks import speed as s; s._register();"
        f"arm = s.make_arm({name!r}, stem={stem}); data = s.batches({2 * steps}, size={size}, batch={batch});"
        "peak = 0.0\n"
        f"for k in range({steps}):\n"
        "    s.step(arm, data[2*k], data[2*k+1]); peak = max(peak, s.rss_mb())\n"
        "cuda = torch.cuda.is_available()\n"
        "print(json.dumps(torch.cuda.max_memory_allocated() / 2**20 if cuda else peak))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def arch_step_seconds(arm: Arm, data: list[Any]) -> float:
    _sync()
    t0 = time.perf_counter()
    for i in range(0, len(data) - 1, 2):
        arm.oneshot.hypergradient(data[i], data[i + 1], weight_lr=0.025)
    _sync()
    return (time.perf_counter() - t0) / (len(data) // 2)


def scaling(*, toy: bool, size: int, batch: int) -> tuple[Table, Table]:
    from idarts_plugin import ImplicitDARTS
    from idarts_plugin.hypergrad import ExactCurvature, module_loss

    reps = 2 if toy else 5
    data = batches(2 * reps, size=size, batch=batch, seed=1)
    by_k = Table("Architecture step time against K (stem 8)", ["K", "s / arch step", "HVPs"])
    for k in [0, 1, 2, 5, 10] if not toy else [0, 1]:
        METHODS["_k"] = lambda k=k: ImplicitDARTS(neumann_steps=k)
        arm = make_arm("_k", stem=4 if toy else 8)
        arm.oneshot.hypergradient(*data[:2], weight_lr=0.025)  # warm-up
        by_k.add(k, f"{arch_step_seconds(arm, data):.3f}", k + 1)
    by_w = Table(
        "Per step cost against width (K=2)",
        ["stem", "s / arch step", "s / training gradient", "s / HVP", "HVP / gradient"],
    )
    for stem in [4] if toy else [4, 8, 16]:
        METHODS["_k"] = lambda: ImplicitDARTS(neumann_steps=2)
        arm = make_arm("_k", stem=stem)
        t_arch = arch_step_seconds(arm, data)
        model = arm.model
        names = {id(p): n for n, p in model.named_parameters()}
        wn = [names[id(p)] for p in arm.weights]
        an = [names[id(p)] for p in arm.alphas]
        x, y = data[0]
        loss = module_loss(model, F.cross_entropy, x, y, weight_names=wn, alpha_names=an)
        _sync()
        t0 = time.perf_counter()
        for _ in range(reps):
            w = [p.detach().requires_grad_() for p in arm.weights]
            torch.autograd.grad(loss(w, [a.detach() for a in arm.alphas]), w)
        _sync()
        t_grad = (time.perf_counter() - t0) / reps
        curv = ExactCurvature(loss, arm.weights, arm.alphas)
        v = [torch.randn_like(p) for p in arm.weights]
        curv.hvp(v)  # warm-up
        _sync()
        t0 = time.perf_counter()
        for _ in range(reps):
            curv.hvp(v)
        _sync()
        t_hvp = (time.perf_counter() - t0) / reps
        by_w.add(stem, f"{t_arch:.3f}", f"{t_grad:.3f}", f"{t_hvp:.3f}", f"{t_hvp / t_grad:.2f}")
    del METHODS["_k"]
    return by_k, by_w


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toy", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    _register()
    toy = args.toy
    size, batch, stem = (12, 16, 4) if toy else (28, 64, 8)
    steps, rounds = (1, 1) if toy else (10, 3)
    names = list(METHODS) if not toy else [next(iter(METHODS)), list(METHODS)[3]]
    t = timing(names, steps=steps, rounds=rounds, stem=stem, size=size, batch=batch)
    base = t[names[0]]
    speed = Table(
        f"Time per 100 steps (stem {stem}, {size}×{size}, batch {batch}; {rounds} alternating rounds of {steps} steps)",
        ["method", "s / 100 steps", "× NNI DARTS", "peak memory (MB)", "× NNI DARTS memory"],
    )
    # Each RSS figure is a separate process (an import of torch and NNI); the toy run checks one.
    rss = {
        n: peak_rss(n, steps=max(steps, 4), stem=stem, size=size, batch=batch)
        for n in names[: 1 if toy else None]
    }
    for n in names:
        r = rss.get(n)
        speed.add(
            n,
            f"{t[n]:.1f}",
            f"{t[n] / base:.2f}",
            "-" if r is None else f"{r:.0f}",
            "-" if r is None else f"{r / rss[names[0]]:.2f}",
        )
    by_k, by_w = scaling(toy=toy, size=size, batch=batch)
    tables = [speed, by_k, by_w]
    for tab in tables:
        print(tab.render())
    if not args.no_write:
        section = "speed-cuda" if DEVICE.type == "cuda" else "speed"
        write_section(
            section,
            "python -m benchmarks.speed" + (" --toy" if toy else ""),
            [machine_line(), *[x.render() for x in tables]],
        )


if __name__ == "__main__":
    main()
