"""Speed and memory: NNI's first-order DARTS vs. the hypergradient strategies, side by side.

    python -m benchmarks.speed              # the issue's setting (minutes on 2 CPU cores)
    python -m benchmarks.speed --toy        # seconds; what the test suite runs
    python -m benchmarks.speed --plot-only  # redraw the plots from RESULTS.md's tables (no timing)

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
import functools
import subprocess
import sys
import time
from collections.abc import Callable, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F

from .common import Table, add_to_section, machine_line, read_tables, write_section

METHODS: dict[str, Callable[[], Any]] = {}
# The shared forward pass as it was before the weight step reused the Hessian terms'
# first-order gradient: its own backward pass (what DDP or a loss scaler still needs).
OWN_BACKWARD = "ImplicitDARTS K=2, T=1, shared fwd, own backward"
AUTO = "ImplicitDARTS K=2, T=1, γ=auto, monitor (run-config default)"
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


HARNESS_H = {"inner_weight_decay": False}
"""The harness steps the weights itself, outside a Lightning trainer, so a strategy cannot read
the weight optimiser's decay: every arm differentiates the criterion alone (weight decay in H,
the run config's default, costs one axpy per product)."""
PAPER_NEUMANN = {**HARNESS_H, "neumann_lr": None, "monitor_every": 0}
"""The rows keep the papers' γ = weight lr unless they say otherwise."""


def _register() -> None:
    from nni.nas.strategy import DARTS

    from idarts_plugin import AmendedDARTS, ImplicitDARTS, UnrolledDARTS

    h, paper = HARNESS_H, PAPER_NEUMANN
    METHODS.update(
        {
            "NNI DARTS (first order)": lambda: DARTS(),
            "ImplicitDARTS K=1, T=1": lambda: ImplicitDARTS(neumann_steps=1, **paper),
            "ImplicitDARTS K=2, T=1": lambda: ImplicitDARTS(neumann_steps=2, **paper),
            "ImplicitDARTS K=2, T=1, shared fwd": lambda: ImplicitDARTS(
                neumann_steps=2, hessian_batch="shared", **paper
            ),
            OWN_BACKWARD: lambda: ImplicitDARTS(neumann_steps=2, hessian_batch="shared", **paper),
            "ImplicitDARTS K=5, T=1": lambda: ImplicitDARTS(neumann_steps=5, **paper),
            "ImplicitDARTS K=2, T=4": lambda: ImplicitDARTS(
                neumann_steps=2, inner_steps=4, **paper
            ),
            AUTO: lambda: ImplicitDARTS(neumann_steps=2, neumann_lr="auto", monitor_every=4, **h),
            "UnrolledDARTS": lambda: UnrolledDARTS(**h),
            "AmendedDARTS": lambda: AmendedDARTS(**h),
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
    reuse_weight_grads: bool = True
    step_no: int = 0


def make_arm(name: str, *, stem: int, seed: int = 0) -> Arm:
    from nni.nas.evaluator.pytorch.lightning import ClassificationModule
    from nni.nas.hub.pytorch import NasBench201

    from idarts_plugin.strategy import HypergradientDARTS

    torch.manual_seed(seed)
    strategy = METHODS[name]()
    space = NasBench201(stem_out_channels=stem, num_modules_per_stack=1, num_labels=10)
    supernet = strategy.mutate_model(space).to(DEVICE)
    module = ClassificationModule(num_classes=10, learning_rate=0.025)
    oneshot = strategy.configure_oneshot_module(module)
    oneshot.set_model(supernet)
    alphas = list(oneshot.arch_parameters())
    ids = {id(a) for a in alphas}
    # NNI's DARTS has no options: one weight step per architecture step, its own forward pass.
    options = strategy.options if isinstance(strategy, HypergradientDARTS) else None
    weights = [p for p in supernet.parameters() if id(p) not in ids]
    return Arm(
        name=name,
        model=supernet,
        oneshot=oneshot,
        alphas=alphas,
        weights=weights,
        w_opt=torch.optim.SGD(weights, lr=0.025, momentum=0.9, weight_decay=3e-4),
        a_opt=torch.optim.Adam(alphas, lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3),
        inner_steps=1 if options is None else options.inner_steps,
        first_order=options is None,
        shared=options is not None and options.hessian_batch == "shared",
        reuse_weight_grads=name != OWN_BACKWARD,
    )


def step(
    arm: Arm, trn: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor]
) -> None:
    """One weight step, preceded by an architecture step every ``inner_steps`` steps."""
    due = arm.step_no % arm.inner_steps == 0
    arm.step_no += 1
    if due and arm.first_order:  # NNI's DARTS: ∇α L_val by one backward pass
        arm.a_opt.zero_grad()
        F.cross_entropy(arm.model(val[0]), val[1]).backward()  # type: ignore[no-untyped-call]
        arm.a_opt.step()
    elif due and not arm.shared:
        alphas, grads, _ = arm.oneshot.hypergradient(trn, val, weight_lr=0.025)
        for p, g in zip(alphas, grads, strict=True):
            p.grad = g
        arm.a_opt.step()
    arm.w_opt.zero_grad()
    loss = F.cross_entropy(arm.model(trn[0]), trn[1])
    if due and arm.shared:
        # As HypergradientDartsModule does on one process: the Hessian terms reuse this
        # forward pass, and the weight step reuses their first-order gradient (no backward).
        alphas, grads, _, weight_grads = arm.oneshot._hypergradient(
            trn, val, weight_lr=0.025, train_loss_value=loss
        )
        if arm.reuse_weight_grads:
            for w, g in weight_grads:
                w.grad = g
        else:
            loss.backward()  # type: ignore[no-untyped-call]
        for p, g in zip(alphas, grads, strict=True):
            p.grad = g
        arm.a_opt.step()
    else:
        loss.backward()  # type: ignore[no-untyped-call]
    torch.nn.utils.clip_grad_norm_(arm.weights, 5.0)
    arm.w_opt.step()


def batches(
    n: int, *, size: int, batch: int, seed: int = 0
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    from idarts_plugin.data import DataConfig, load_search_data

    data = load_search_data(DataConfig(name="digits", channels=3, image_size=size), seed=seed)
    n_train = len(cast(Sized, data.weight_train))
    xs = torch.stack([data.weight_train[i][0] for i in range(n_train)])
    ys = torch.tensor([int(data.weight_train[i][1]) for i in range(n_train)])
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


def arm_loss(arm: Arm, batch: tuple[torch.Tensor, torch.Tensor]) -> Callable[..., torch.Tensor]:
    """The engine's side-effect-free loss of ``arm``'s supernet on ``batch``, as ``f(w, α)``."""
    from idarts_plugin.hypergrad import module_loss

    names = {id(p): n for n, p in arm.model.named_parameters()}
    return module_loss(
        arm.model,
        F.cross_entropy,
        *batch,
        weight_names=[names[id(p)] for p in arm.weights],
        alpha_names=[names[id(p)] for p in arm.alphas],
    )


PASSES = (
    "forward (no graph)",
    "weights gradient",
    "full gradient (w and α)",
    "gradient with create_graph",
    "HVP (exact)",
    "mixed product (exact)",
    "HVP (finite difference)",
)


def pass_costs(
    arm: Arm, batch: tuple[torch.Tensor, torch.Tensor], *, reps: int
) -> dict[str, float]:
    """Seconds of each kind of pass an architecture step is made of, on one batch.

    Every pass goes through the engine's ``module_loss`` (the same functional forward as the
    hypergradient); "weights gradient" is a weight step's forward + backward, "full gradient"
    NNI's first-order architecture step (∇ of the loss for every parameter), "gradient with
    create_graph" the first-order graph the Hessian terms are taken from.
    """
    from idarts_plugin.hypergrad import ExactCurvature, FiniteDifferenceCurvature

    loss = arm_loss(arm, batch)
    w0 = [p.detach() for p in arm.weights]
    a0 = [p.detach() for p in arm.alphas]
    curv = ExactCurvature(loss, arm.weights, arm.alphas)
    fd = FiniteDifferenceCurvature(loss, arm.weights, arm.alphas)
    v = [torch.randn_like(p) for p in arm.weights]

    def forward() -> None:
        with torch.no_grad():
            loss(w0, a0)

    def weights_gradient() -> None:
        w = [t.detach().requires_grad_() for t in w0]
        torch.autograd.grad(loss(w, a0), w)

    def full_gradient() -> None:
        w = [t.detach().requires_grad_() for t in w0]
        a = [t.detach().requires_grad_() for t in a0]
        torch.autograd.grad(loss(w, a), [*w, *a])

    fns: dict[str, Callable[[], Any]] = {
        "forward (no graph)": forward,
        "weights gradient": weights_gradient,
        "full gradient (w and α)": full_gradient,
        "gradient with create_graph": lambda: ExactCurvature(loss, arm.weights, arm.alphas),
        "HVP (exact)": lambda: curv.hvp(v),
        "mixed product (exact)": lambda: curv.mixed(v),
        "HVP (finite difference)": lambda: fd.hvp(v),
    }
    out = {}
    for name in PASSES:
        fns[name]()  # warm-up
        _sync()
        t0 = time.perf_counter()
        for _ in range(reps):
            fns[name]()
        _sync()
        out[name] = (time.perf_counter() - t0) / reps
    return out


def hvp_profile(arm: Arm, batch: tuple[torch.Tensor, torch.Tensor], *, reps: int) -> Table:
    """Which autograd nodes take an exact HVP's time, by torch's profiler (the top 6)."""
    from torch.profiler import ProfilerActivity, profile

    from idarts_plugin.hypergrad import ExactCurvature

    loss = arm_loss(arm, batch)
    curv = ExactCurvature(loss, arm.weights, arm.alphas)
    v = [torch.randn_like(p) for p in arm.weights]
    curv.hvp(v)  # warm-up
    cuda = DEVICE.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(reps):
            curv.hvp(v)
        _sync()
    # One event per autograd node evaluated (nodes run one after another, so their inclusive
    # times add up): which operation's second derivative the HVP spends its time in.
    key = "device_time_total" if cuda else "cpu_time_total"
    prefix = "autograd::engine::evaluate_function: "
    events = [e for e in prof.key_averages() if e.key.startswith(prefix)]
    total = sum(getattr(e, key) for e in events) or 1.0
    tab = Table(
        f"Where an exact HVP's time goes ({DEVICE.type} profiler: time per kind of autograd "
        "node of the double backward)",
        ["autograd node", "share", "nodes per HVP"],
    )
    for e in sorted(events, key=lambda e: getattr(e, key), reverse=True)[:6]:
        tab.add(
            e.key.removeprefix(prefix),
            f"{100 * getattr(e, key) / total:.0f}%",
            f"{e.count / reps:.0f}",
        )
    return tab


def predicted_seconds(arm: Arm, c: dict[str, float]) -> float:
    """Seconds per step predicted from the pass costs ``c`` by counting passes.

    NNI's DARTS: a full gradient (architecture step) and a weight step. A hypergradient
    method: the weight step, a full gradient of the validation loss, the first-order graph of
    the training loss, its Hessian-vector products and one mixed product, every T-th step;
    with the shared forward pass the weight step *is* that first-order graph (plus a backward
    pass, a weights gradient less its forward, where it does not reuse that graph's gradient).
    """
    weight, full, graph = (
        c["weights gradient"],
        c["full gradient (w and α)"],
        c["gradient with create_graph"],
    )
    hvp, mixed = c["HVP (exact)"], c["mixed product (exact)"]
    if arm.first_order:
        return full + weight
    spec = arm.oneshot.method
    n_hvp = {"neumann": int(spec.options.get("steps", 0)), "amended": 1}.get(spec.name, 0)
    arch = full + n_hvp * hvp + mixed + (0.0 if arm.shared else graph)
    step_with_arch = arch + (graph if arm.shared else weight)
    if arm.shared and not arm.reuse_weight_grads:
        step_with_arch += weight - c["forward (no graph)"]
    return (step_with_arch + (arm.inner_steps - 1) * weight) / arm.inner_steps


def hvp_budget(ratio: float, c: dict[str, float], *, k: int, t: int, shared: bool) -> float:
    """The HVP cost (in weight gradients) at which Neumann-K, T would cost ``ratio`` × DARTS.

    Solves :func:`predicted_seconds` for the HVP time (the mixed product counted as one more
    HVP), the other passes as measured.
    """
    weight, full, graph = (
        c["weights gradient"],
        c["full gradient (w and α)"],
        c["gradient with create_graph"],
    )
    budget = ratio * t * (full + weight)
    fixed = full + graph + (t - 1) * weight + (0.0 if shared else weight)
    return (budget - fixed) / ((k + 1) * weight)


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least-squares ``y = a + b·x``: ``(a, b, largest |residual| / y)``."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    a = my - b * mx
    worst = max(abs(y - (a + b * x)) / y for x, y in zip(xs, ys, strict=True))
    return a, b, worst


def scaling(*, toy: bool, size: int, batch: int) -> tuple[Table, Table]:
    from idarts_plugin import ImplicitDARTS

    reps = 2 if toy else 5
    data = batches(2 * reps, size=size, batch=batch, seed=1)
    stem = 4 if toy else 8
    by_k = Table(f"Architecture step time against K (stem {stem})", ["K", "s / arch step", "HVPs"])
    for k in [0, 1, 2, 5, 10] if not toy else [0, 1]:
        METHODS["_k"] = functools.partial(ImplicitDARTS, neumann_steps=k, **PAPER_NEUMANN)
        arm = make_arm("_k", stem=stem)
        arm.oneshot.hypergradient(*data[:2], weight_lr=0.025)  # warm-up
        by_k.add(k, f"{arch_step_seconds(arm, data):.3f}", k + 1)
    by_w = Table(
        "Per step cost against width (K=2)",
        ["stem", "s / arch step", "s / training gradient", "s / HVP", "HVP / gradient"],
    )
    for stem in [4] if toy else [4, 8, 16]:
        METHODS["_k"] = functools.partial(ImplicitDARTS, neumann_steps=2, **PAPER_NEUMANN)
        arm = make_arm("_k", stem=stem)
        t_arch = arch_step_seconds(arm, data)
        costs = pass_costs(arm, data[0], reps=reps)
        t_grad, t_hvp = costs["weights gradient"], costs["HVP (exact)"]
        by_w.add(stem, f"{t_arch:.3f}", f"{t_grad:.3f}", f"{t_hvp:.3f}", f"{t_hvp / t_grad:.2f}")
    del METHODS["_k"]
    return by_k, by_w


def targets_table(
    ratio: dict[str, float],
    memory: dict[str, float],
    costs: dict[str, float],
    by_k: Table,
    by_w: Table,
) -> Table:
    """The issue's speed targets, each marked as holding or missed, with what it would take."""
    tab = Table(
        "Targets (issue 7; CPU ratios from this run)",
        ["target", "measured", "holds", "what it would take (pass costs above)"],
    )

    def verdict(ok: bool) -> str:
        return "yes" if ok else "**missed**"

    def hvp_needed(bound: float, t: int, shared: bool) -> str:
        need = hvp_budget(bound, costs, k=2, t=t, shared=shared)
        have = costs["HVP (exact)"] / costs["weights gradient"]
        if need <= 0:
            return "not reachable even with free HVPs"
        return f"HVP ≤ {need:.2f}× a weights gradient (measured {have:.2f}×)"

    sep, shared, t4 = (
        "ImplicitDARTS K=2, T=1",
        "ImplicitDARTS K=2, T=1, shared fwd",
        "ImplicitDARTS K=2, T=4",
    )
    if sep in ratio or shared in ratio:
        shown = [
            f"{ratio[n]:.2f}× ({lab})"
            for n, lab in ((sep, "separate"), (shared, "shared"))
            if n in ratio
        ]
        best = min(ratio[n] for n in (sep, shared) if n in ratio)
        tab.add(
            "ImplicitDARTS K=2, T=1: ≤ 3.5× NNI DARTS per step",
            ", ".join(shown),
            verdict(best <= 3.5),
            f"separate: {hvp_needed(3.5, 1, False)}; shared: {hvp_needed(3.5, 1, True)}",
        )
    if t4 in ratio:
        tab.add(
            "ImplicitDARTS K=2, T=4: ≤ 1.15×",
            f"{ratio[t4]:.2f}×",
            verdict(ratio[t4] <= 1.15),
            hvp_needed(1.15, 4, False),
        )
    if sep in memory:
        tab.add(
            "peak memory of ImplicitDARTS K=2, T=1: ≤ 1.25× NNI DARTS",
            f"{memory[sep]:.2f}×",
            verdict(memory[sep] <= 1.25),
            "-",
        )
    per_hvp = {r[0]: float(r[4]) for r in by_w.rows}
    tab.add(
        "per HVP: ≤ 1.6× one training gradient",
        ", ".join(f"{v:.2f}× (stem {k})" for k, v in per_hvp.items()),
        verdict(max(per_hvp.values()) <= 1.6),
        "a cheaper double backward (where its time goes: the profile table above)",
    )
    ks = [float(r[0]) for r in by_k.rows]
    secs = [float(r[1]) for r in by_k.rows]
    _a, slope, worst = linear_fit(ks, secs)
    tab.add(
        "architecture step time linear in K, slope one HVP",
        f"slope {slope:.3f} s per K (one HVP {costs['HVP (exact)']:.3f} s); "
        f"largest residual {100 * worst:.0f}% of the time",
        verdict(worst <= 0.15 and 0.5 <= slope / costs["HVP (exact)"] <= 1.5),
        "-",
    )
    return tab


def main(argv: list[str] | None = None) -> None:
    """Command line: time, print the tables, write the plot and the RESULTS.md section."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--plot-only",
        action="store_true",
        help="only redraw each speed section's plot from the numbers already in RESULTS.md",
    )
    args = parser.parse_args(argv)
    if args.plot_only:
        for section in replot_from_results():
            print(f"redrew benchmarks/{section}.png from RESULTS.md section {section!r}")
        return
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
    reference = "ImplicitDARTS K=2, T=1"
    ref_arm, ref_batch = (
        make_arm(reference, stem=stem),
        batches(1, size=size, batch=batch, seed=2)[0],
    )
    costs = pass_costs(ref_arm, ref_batch, reps=2 if toy else 5)
    profile_tab = hvp_profile(ref_arm, ref_batch, reps=1 if toy else 3)
    passes = Table(
        f"Cost of one pass (stem {stem}, batch {batch})",
        ["pass", "seconds", "× weights gradient"],
    )
    for name, sec in costs.items():
        passes.add(name, f"{sec:.3f}", f"{sec / costs['weights gradient']:.2f}")
    arms = {n: make_arm(n, stem=stem) for n in names}
    pred_base = predicted_seconds(arms[names[0]], costs)
    model = Table(
        "Measured ratio against the ratio predicted by counting passes (table above)",
        ["method", "measured × NNI DARTS", "predicted × NNI DARTS"],
    )
    for n in names:
        model.add(n, f"{t[n] / base:.2f}", f"{predicted_seconds(arms[n], costs) / pred_base:.2f}")
    targets = targets_table(
        {n: t[n] / base for n in names},
        {n: r / rss[names[0]] for n, r in rss.items()},
        costs,
        by_k,
        by_w,
    )
    tables = [speed, by_k, by_w, passes, profile_tab, model, targets]
    for tab in tables:
        print(tab.render())
    if not args.no_write:
        section = "speed-cuda" if DEVICE.type == "cuda" else "speed"
        png = f"{section}.png"
        plot(speed, by_k, str(Path(__file__).resolve().parent / png), DEVICE.type)
        write_section(
            section,
            "python -m benchmarks.speed" + (" --toy" if toy else ""),
            [machine_line(), *[x.render() for x in tables], f"![{section}]({png})"],
        )


def replot_from_results(directory: Path | None = None) -> list[str]:
    """Redraw ``speed.png`` / ``speed-cuda.png`` from the tables in RESULTS.md.

    The numbers are the ones this script wrote; nothing is timed. The image link is added to
    a section that lacks it.

    Args:
        directory: where to write the PNGs (default: ``benchmarks/``).

    Returns:
        The sections redrawn.
    """
    done = []
    for section, device in (("speed", "cpu"), ("speed-cuda", "cuda")):
        tables = read_tables(section)
        speed = next((t for t in tables.values() if t.title.startswith("Time per 100")), None)
        by_k = next((t for t in tables.values() if t.title.startswith("Architecture step")), None)
        if speed is None or by_k is None:
            continue
        png = f"{section}.png"
        plot(speed, by_k, str((directory or Path(__file__).resolve().parent) / png), device)
        link = f"![{section}]({png})"
        note = "Plot redrawn from the tables above by `python -m benchmarks.speed --plot-only`:"
        add_to_section(section, f"{note}\n\n{link}", replaces=link)
        done.append(section)
    return done


def plot(speed: Table, by_k: Table, path: str, device: str) -> None:
    """Bar charts of the time ratios and the architecture-step time against K.

    Args:
        speed: the "Time per 100 steps" table.
        by_k: the "Architecture step time against K" table.
        path: where to write the PNG.
        device: ``cpu`` or ``cuda`` (for the titles).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = [r[0] for r in speed.rows][::-1]
    secs100 = [float(r[1]) for r in speed.rows][::-1]
    ratios = [r[2] for r in speed.rows][::-1]
    bars = left.barh(names, secs100, color="tab:blue")
    left.bar_label(bars, labels=[f"×{r}" for r in ratios], padding=2, fontsize=7)
    left.set_xlabel("seconds per 100 steps (label: × NNI DARTS)")
    left.set_title(f"Time per 100 steps ({device})")
    left.margins(x=0.15)
    ks = [int(r[0]) for r in by_k.rows]
    secs = [float(r[1]) for r in by_k.rows]
    right.plot(ks, secs, marker="o")
    right.set_xlabel("Neumann steps K")
    right.set_ylabel("seconds per architecture step")
    right.set_title(by_k.title)
    right.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
