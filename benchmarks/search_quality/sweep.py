"""Budget sweep: does a longer search, or a deeper supernet, make DARTS collapse?

python -m benchmarks.search_quality.sweep [--budgets 120,480,1920,3120] [--depths 1,2]
    [--arms darts,darts-paper-lr,random] [--seeds 3] [--workers 1] [--tables PATH]
    [--commit] [--smoke] [--no-write] [--report] [--posthoc]

Every search runs on the ground truth's data (``data.seed`` 0, the recipe's draw, for every
search seed: seeds vary only the search) with NAS-Bench-201's skeleton at ``cells_per_stage``
``--depths``; the budget is counted in architecture steps (:data:`BUDGETS`: epochs × batches,
with the shipped ``auto`` warm-up and α learning rate). Each found cell is judged three ways:

* the ground truth's accuracy of the ``exclude_none`` cell (trained with the recipe, always
  one cell per stage) and its percentile among the random cells;
* NAS-Bench-201's own CIFAR-10 test accuracy (200 epochs) of the same cell, read through the
  ``idarts lookup`` sources (``--tables``, ``$IDARTS_NB201`` or ``../shared/data/nb201``);
* the cell's share of parameter-free ops (DARTS' collapse signal), and the per-epoch
  param-free share and α entropy of the search (``metrics.csv``, argmax cell).

The search and cache machinery is the search-quality benchmark's (:func:`bench.run`): each
search is cached by its whole config in ``benchmarks/search_quality/sweep_cache/`` (the
benchmark's own cache is read too), so a killed sweep resumes and more seeds, budgets or arms
extend it; the run directories stay in ``--run-root`` (``benchmarks/search_quality/runs/``,
git-ignored), so a search killed after an epoch resumes from its checkpoint; a random search
resumes from the cells it had scored, kept in the cache (``sweep_cache/progress/``,
:func:`bench.progress_path`), so it resumes on another machine too once committed. Random search
(``random``) gets NNI's DARTS' (``auto``) mean wall-clock at each point (of its first two
seeds: :data:`RANDOM_BUDGET_SEEDS`); ``random-default`` gets the shipped default's
(:data:`DEFAULT_BUDGET_SEEDS`).
``--commit`` commits the cache, the ground-truth table, ``RESULTS.md`` and the plot after each
point. ``--smoke`` (the test suite's) runs one tiny point into a throw-away cache; ``--report``
runs nothing and rewrites the section and the plot from the cache.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from idarts_plugin.budget import warmup_for_budget
from idarts_plugin.collapse import COLLAPSE_SHARE, is_collapsed
from idarts_plugin.ground_truth import RECIPE, GroundTruth, table_path

from ..common import RESULTS, Table, machine_line, write_section
from ..paper_nb201 import tables_path
from . import bench

HERE = Path(__file__).resolve().parent
SWEEP_CACHE = HERE / "sweep_cache"
RUN_ROOT = HERE / "runs"
RANDOM_BUDGET_SEEDS = 2
"""Random search's wall-clock at a point is the mean of NNI DARTS' first two seeds there (the
seeds every point has), however many DARTS seeds have run."""
DEFAULT_BUDGET_SEEDS = 3
"""``random-default``'s wall-clock at a point is the mean of the shipped default's search arm's
first three seeds there (the whole search: the early stop is judged from the α history of a
search that ran to its end, so this is what the default costs at most)."""
PLOT = HERE.parent / "search_quality_sweep.png"
SECTION = "search-quality-sweep"
REPO = HERE.parents[1]

BUDGETS: dict[int, tuple[int, int]] = {
    120: (4, 30),
    480: (12, 48),
    1920: (36, 64),
    3120: (48, 78),
}
"""Architecture steps → (epochs, batches per epoch): steps = (epochs − epochs // 6) × batches
(``warmup_epochs: auto``). 120 is the search-quality benchmark's budget; 78 batches of 64 are
the whole weight half (5,000 images) of the recipe's subset."""

SWEEP_ARMS: dict[str, tuple[str, list[str]]] = {
    "darts": ("NNI's DARTS, α lr auto", ["strategy.name=darts"]),
    "darts-paper-lr": (
        "NNI's DARTS, paper α lr 3e-4, no warm-up",
        ["strategy.name=darts", "strategy.arc_learning_rate=0.0003", "strategy.warmup_epochs=0"],
    ),
    "implicit": ("ImplicitDARTS, paper γ = weight lr", ["strategy.name=implicit"]),
    "implicit-auto": (
        "ImplicitDARTS, γ auto, no remedy",
        ["strategy.name=implicit", "strategy.neumann_lr=auto"],
    ),
    "amended": ("AmendedDARTS, its defaults", ["strategy.name=amended"]),
    "unrolled": ("UnrolledDARTS (DARTS-V2), its defaults", ["strategy.name=unrolled"]),
    "random": ("random search, NNI DARTS' wall-clock, 1-epoch proxy", []),
    "random-default": ("random search, the run config default's wall-clock, 1-epoch proxy", []),
}
"""Arm name → (title, config overrides). Each title says what the arm pins beyond the sweep's
common settings (``bench.BASE_PINNED`` pins γ = weight lr, so "ImplicitDARTS" alone is the
paper's γ, and the ``auto`` α schedule without its caps, so it stretches with the budget); the
arm that is the run config's default is marked by :func:`arm_title`."""

_CAPPED = ["strategy.warmup_steps=96", "strategy.arc_horizon=480"]
"""The run config's caps of the ``auto`` α schedule (``bench.BASE_PINNED`` lifts them)."""

_DEFAULT_SEARCH = [
    "strategy.name=implicit",
    "strategy.neumann_lr=auto",
    "strategy.beta_decay=2.0",
    *_CAPPED,
]
"""The shipped default's search (``shipped_default_arm`` adds the early stop as a view): the
screens that change one thing in it extend this list."""

REMEDY_ARMS: dict[str, tuple[str, list[str]]] = {
    "implicit-auto-beta": (
        "ImplicitDARTS, γ auto, β-decay 2 (linear), α schedule stretched with the budget",
        ["strategy.name=implicit", "strategy.neumann_lr=auto", "strategy.beta_decay=2.0"],
    ),
    "implicit-auto-beta-480sched": (
        "ImplicitDARTS, γ auto, β-decay 2 (linear), the α schedule of 480 steps at every budget "
        "(warm-up ≤ 96 weight steps, α lr over ≤ 480 steps)",
        _DEFAULT_SEARCH,
    ),
    "implicit-auto-beta-480sched-nonaffine": (
        "ImplicitDARTS, γ auto, β-decay 2 (linear), the α schedule of 480 steps at every budget, "
        "search cell BatchNorm without affine (`cell_bn: non-affine`)",
        [*_DEFAULT_SEARCH, "space.options.cell_bn=non-affine"],
    ),
    "implicit-auto-auxskip": (
        "ImplicitDARTS, γ auto, auxiliary skip 1 → 0",
        ["strategy.name=implicit", "strategy.neumann_lr=auto", "strategy.aux_skip=1.0"],
    ),
    "darts-beta": (
        "NNI's DARTS, α lr auto, β-decay 2 (linear)",
        ["strategy.name=darts", "strategy.beta_decay=2.0"],
    ),
    "amended-beta": (
        "AmendedDARTS, its defaults, β-decay 2 (linear)",
        ["strategy.name=amended", "strategy.beta_decay=2.0"],
    ),
    "darts-beta-480sched": (
        "NNI's DARTS, α lr auto, β-decay 2 (linear), the α schedule of 480 steps at every budget",
        ["strategy.name=darts", "strategy.beta_decay=2.0", *_CAPPED],
    ),
    "amended-beta-480sched": (
        "AmendedDARTS, its defaults, β-decay 2 (linear), the α schedule of 480 steps at every "
        "budget",
        ["strategy.name=amended", "strategy.beta_decay=2.0", *_CAPPED],
    ),
    "darts-auxskip": (
        "NNI's DARTS, α lr auto, auxiliary skip 1 → 0",
        ["strategy.name=darts", "strategy.aux_skip=1.0"],
    ),
    "amended-auxskip": (
        "AmendedDARTS, its defaults, auxiliary skip 1 → 0",
        ["strategy.name=amended", "strategy.aux_skip=1.0"],
    ),
}
"""The search-changing remedies (issue 29's screen on the shipped hypergradient), the chosen
one on the other hypergradients (does it compose with every strategy?), and the remedies with
the α schedule of 480 steps at every budget: the default's, and NNI's DARTS and AmendedDARTS
with it (``strategy.warmup_steps: 96``, ``strategy.arc_horizon: 480``: at the sweep's budgets
2 warm-up epochs and α lr 0.0625, the numbers the default's first searches pinned, so they
share its cache key). Without the caps (every other arm: ``bench.BASE_PINNED``)
``warmup_epochs: auto`` (a sixth of the epochs) and ``arc_learning_rate: auto``
(``arc_travel`` over the search's steps) let α decide later, on a
better-trained supernet, the longer the search; at 3120 steps that default's first
architecture epoch was already parameter-free."""

FIDELITY_ARMS: dict[str, tuple[str, list[str]]] = {}
"""The hook for "the best estimator from the fidelity work" (issue 20): add one entry of
config overrides, e.g. ``"implicit-best": ("ImplicitDARTS, <estimator>",
["strategy.name=implicit", "strategy.neumann_lr=auto", "strategy.neumann_steps=2"])``; it is
then an arm of ``--arms`` like the others, cached by its own config."""

SEARCH_ARMS: dict[str, tuple[str, list[str]]] = {**SWEEP_ARMS, **REMEDY_ARMS, **FIDELITY_ARMS}
"""Every arm that runs searches of its own."""

VIEW_TITLES = {"perturbation": "DARTS-PT derivation", "early_stop": "early stop on collapse"}
VIEW_OVERRIDES = {
    "perturbation": "strategy.derive=perturbation",
    "early_stop": "strategy.early_stop=collapse",
}

VIEWS: dict[str, tuple[str, str]] = {
    f"{arm}+{view}": (arm, view)
    for arm in ("darts", "implicit", "implicit-auto", "amended", "unrolled", *REMEDY_ARMS)
    for view in VIEW_TITLES
}
"""Arms that need no search of their own: ``name → (search arm, view)``. They judge the search
arm's cells under a remedy that does not change the search up to where it acts (DARTS-PT's
derivation on the final supernet, the early stop's epoch from the α history;
:mod:`benchmarks.search_quality.posthoc`), read from the same cached record."""

ARMS: dict[str, tuple[str, list[str]]] = {
    **SEARCH_ARMS,
    **{
        name: (
            f"{SEARCH_ARMS[arm][0]}, {VIEW_TITLES[view]}",
            [*SEARCH_ARMS[arm][1], VIEW_OVERRIDES[view]],
        )
        for name, (arm, view) in VIEWS.items()
    },
}
"""Every arm ``--arms`` takes: name → (title, the config it stands for)."""

CHEAP_ARMS = ("darts", "darts-paper-lr", "random")
"""First-order arms (an ImplicitDARTS step costs about 4× NNI DARTS', benchmarks/RESULTS.md)."""
BUDGET_ARM = "darts"
"""Random search gets this arm's mean wall-clock at each point."""


def random_budget_arms() -> dict[str, tuple[str, int]]:
    """Random arm → (the search arm whose mean wall-clock it gets, how many of its seeds)."""
    out = {"random": (BUDGET_ARM, RANDOM_BUDGET_SEEDS)}
    default = shipped_default_arm()
    if default is not None:
        out["random-default"] = (
            VIEWS[default][0] if default in VIEWS else default,
            DEFAULT_BUDGET_SEEDS,
        )
    return out


def view_of(arm: str) -> str:
    """The ``record["archs"]`` key an arm is judged by (``exclude_none`` for a search arm)."""
    return VIEWS[arm][1] if arm in VIEWS else "exclude_none"


def shipped_default_arm() -> str | None:
    """The arm that is exactly what ``idarts search`` runs with no strategy override.

    Its strategy section (with the view it is judged by) must equal the run config's defaults
    once the sweep's common pins (``bench.BASE_PINNED``) are applied, both as a NAS-Bench-201
    search runs them (``aux_skip: auto`` resolved, :func:`bench.on_nb201`); ``None`` if no arm
    is.
    """
    from idarts_plugin.config import load_config

    default = bench.on_nb201(load_config(None, []).strategy)
    for arm, (_, overrides) in ARMS.items():
        if bench.is_random(arm):
            continue
        strategy = bench.on_nb201(load_config(None, [*bench.BASE_PINNED, *overrides]).strategy)
        derive = "perturbation" if view_of(arm) == "perturbation" else "exclude_none"
        if dataclasses.replace(strategy, derive=derive) == default:
            return arm
    return None


def arm_title(arm: str, default: str | None = None) -> str:
    """The arm's title; the run config's default arm is titled "shipped default"."""
    return f"shipped default ({ARMS[arm][0]})" if arm == default else ARMS[arm][0]


def arch_steps(epochs: int, batches: int) -> int:
    """Architecture steps of a search with ``warmup_epochs: auto`` without its cap (the name of
    a budget; the capped schedule warms up 2 epochs and takes more: 2176 at 1920, 3588 at
    3120)."""
    return (epochs - warmup_for_budget(epochs)) * batches


def param_free(arch: str) -> float:
    """Share of the cell's six edges that are parameter-free (none, skip, pooling)."""
    from idarts_plugin.collapse import parameter_free_share
    from idarts_plugin.nb201 import arch_to_nni

    share = parameter_free_share(arch_to_nni(arch))
    return float("nan") if share is None else share


def run_point(
    budget: int,
    depth: int,
    *,
    arms: Sequence[str],
    seeds: int,
    workers: int,
    cache: Path,
    run_root: Path,
    epochs_batches: tuple[int, int] | None = None,
    train_found: bool = True,
    cached_only: bool = False,
    views: bool = True,
) -> list[dict[str, Any]]:
    """Run (or read from the cache) one budget × depth point; its records, tagged.

    ``cached_only``: run nothing, return what the caches hold.
    """
    epochs, batches = epochs_batches or BUDGETS[budget]
    wanted: list[str] = []
    for arm in arms:  # a view arm reads its search arm's records
        searched = VIEWS[arm][0] if arm in VIEWS else arm
        if searched not in wanted:
            wanted.append(searched)
    budget_arms = random_budget_arms()
    for rarm in [a for a in wanted if bench.is_random(a)]:
        if rarm not in budget_arms:  # random-default while no arm is the run config's default
            wanted.remove(rarm)
            continue
        if budget_arms[rarm][0] not in wanted:  # its wall-clock comes from it (cached)
            wanted.insert(0, budget_arms[rarm][0])
    if not cached_only:
        print(f"== {budget} architecture steps, {depth} cell(s) per stage", flush=True)
    records = bench.run(
        arms=wanted,
        seeds=seeds,
        epochs=epochs,
        batches=batches,
        workers=workers,
        cache=cache,
        run_root=run_root,
        train_found=train_found,
        views=views,
        extra=[f"space.options.cells_per_stage={depth}"],
        arms_table=SEARCH_ARMS,
        data_seed=RECIPE.data_seed,
        budget_arm=BUDGET_ARM,
        budget_seeds=RANDOM_BUDGET_SEEDS,
        budget_arms=budget_arms,
        read_also=[bench.CACHE],
        cached_only=cached_only,
    )
    if train_found and not cached_only:
        _train_early_stop_cells(records, workers)
    out = []
    for r in records:
        for arm in arms:
            view = VIEWS.get(arm)
            if arm == r["arm"] or (view and view[0] == r["arm"] and view[1] in r["archs"]):
                out.append({**r, "arm": arm, "budget": budget, "depth": depth})
    return out


def _train_early_stop_cells(records: list[dict[str, Any]], workers: int) -> None:
    """Train, for the ground truth, the early stop's cells under today's rule that it lacks.

    ``bench.run`` trains the cells a record names; the early stop's cell is chosen again from
    the record's per-epoch cells whenever the rule changes (:func:`posthoc.early_stop_view`).
    """
    from .posthoc import early_stop_view

    gt = GroundTruth.load(RECIPE)
    views = (early_stop_view(r) for r in records)
    need = sorted({v[0] for v in views if v is not None} - set(gt.accs))
    if need:
        print(f"{len(need)} early-stop cells to train with the recipe", flush=True)
        bench._pool_map(bench._train_found, need, workers)


# --------------------------------------------------------------------------------------------
# Summary.
# --------------------------------------------------------------------------------------------


def _ms(values: Sequence[float], fmt: str = "{:.4f}") -> str:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return "–"
    if len(vals) == 1:
        return fmt.format(vals[0])
    return f"{fmt.format(statistics.fmean(vals))} ± {fmt.format(statistics.stdev(vals))}"


def judge(records: list[dict[str, Any]], gt: GroundTruth, source: Any) -> list[dict[str, Any]]:
    """Each record with its cell's ground-truth accuracy, percentile, NB201 figure, share."""
    from .posthoc import early_stop_view

    out = []
    for r in records:
        arch = r["archs"][view_of(r["arm"])]
        if view_of(r["arm"]) == "early_stop":
            today = early_stop_view(r)  # the shipped rule, not the one the record was made with
            if today is not None:
                arch = today[0]
        acc = gt.mean(arch)
        nb201 = None
        if source is not None:
            nb201 = source.lookup(arch).results["cifar10"].test_acc
        history = r.get("history") or {}
        out.append(
            {
                **r,
                "cell": arch,
                "gt_acc": acc,
                "percentile": gt.percentile(acc) if acc is not None else None,
                "nb201_c10": nb201,
                "share": param_free(arch),
                "share_history": history.get("param_free_share", []),
                "entropy_history": history.get("alpha_entropy_mean", []),
            }
        )
    return out


def _groups(judged: list[dict[str, Any]]) -> dict[tuple[str, int, int], list[dict[str, Any]]]:
    groups: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    for r in judged:
        groups.setdefault((r["arm"], r["depth"], r["budget"]), []).append(r)
    return groups


def tables(judged: list[dict[str, Any]], gt: GroundTruth) -> list[Table]:
    """The sweep table (mean ± std over seeds) and the per-search table."""
    sweep = Table(
        "Sweep: found cells (exclude_none) against the ground truth and NAS-Bench-201 "
        "(mean ± std over search seeds)",
        [
            "arch steps",
            "cells/stage",
            "strategy",
            "seeds",
            "GT acc",
            "percentile",
            "NB201 C10 test",
            "param-free share",
            "α entropy (end)",
            "search s",
        ],
    )
    order = list(ARMS)
    default = shipped_default_arm()
    groups = _groups(judged)
    for arm, depth, budget in sorted(groups, key=lambda k: (k[2], k[1], order.index(k[0]))):
        rs = groups[(arm, depth, budget)]
        search = not bench.is_random(arm)
        sweep.add(
            budget,
            depth,
            arm_title(arm, default),
            len(rs),
            _ms([r["gt_acc"] for r in rs]),
            _ms([r["percentile"] for r in rs], "{:.0f}"),
            _ms([r["nb201_c10"] for r in rs], "{:.2f}"),
            _ms([r["share"] for r in rs], "{:.2f}"),
            _ms([r["entropy_mean"] for r in rs], "{:.2f}") if search else "–",
            _ms([r["seconds"] for r in rs], "{:.0f}"),
        )
    cells = Table(
        "Every search: the exclude_none cell; param-free share and α entropy per epoch "
        "(argmax cell, metrics.csv)",
        [
            "arch steps",
            "cells/stage",
            "arm",
            "seed",
            "cell",
            "GT",
            "pct",
            "NB201 C10",
            "param-free share per epoch",
            "α entropy per epoch",
        ],
    )

    def series(values: Sequence[float | None], fmt: str) -> str:
        return " ".join("–" if v is None else fmt.format(v) for v in values) or "–"

    for r in sorted(judged, key=lambda r: (r["budget"], r["depth"], order.index(r["arm"]))):
        cells.add(
            r["budget"],
            r["depth"],
            r["arm"],
            r["seed"],
            f"`{r['cell']}`",
            "–" if r["gt_acc"] is None else f"{r['gt_acc']:.4f}",
            "–" if r["percentile"] is None else f"{r['percentile']:.0f}",
            "–" if r["nb201_c10"] is None else f"{r['nb201_c10']:.2f}",
            series(r["share_history"], "{:.2f}"),
            series(r["entropy_history"], "{:.2f}"),
        )
    return [sweep, cells]


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.fmean(vals) if vals else None


def finding(judged: list[dict[str, Any]], gt: GroundTruth) -> str:
    """The collapse finding, stated from the numbers.

    DARTS collapses at the smallest budget where its cells' mean param-free share reaches 0.5,
    or where their mean ground-truth accuracy falls more than two seed-noise widths below its
    value at the smallest budget. Without one, the trend of the share per doubling of the
    budget is fitted (least squares in log2 budget) and extrapolated to 0.5.
    """
    noise = gt.seed_noise()["pooled_std"]
    groups = _groups(judged)
    default = shipped_default_arm()
    lines = [
        f"Collapse criterion: mean param-free share of the found cells ≥ {COLLAPSE_SHARE:g}, or mean ground-"
        f"truth accuracy more than 2 × {noise:.4f} (seed noise) below the arm's value at its "
        "smallest budget."
    ]
    depths = sorted({d for _, d, _ in groups})
    means = {  # (arm, depth, budget) → (share, GT accuracy, NB201 C10) of the found cells
        key: tuple(_mean([r[f] for r in rs]) for f in ("share", "gt_acc", "nb201_c10"))
        for key, rs in groups.items()
    }
    reference = [
        f"{b} steps: {m[0]:.2f}"
        for (a, d, b), m in sorted(means.items(), key=lambda kv: (kv[0][1], kv[0][2]))
        if a == "random" and m[0] is not None
    ]
    if reference:
        lines.append(
            "For reference, the param-free share of random search's best cells (DARTS' "
            "wall-clock; scored by "
            "training, not by α): " + ", ".join(reference) + ". On this data pooling cells "
            "score well, so the share alone is not a loss: the ground-truth drop is."
        )
    for depth in depths:
        for arm in ARMS:
            if bench.is_random(arm):
                continue
            found = {b: m for (a, d, b), m in means.items() if a == arm and d == depth}
            points = sorted((b, share, acc) for b, (share, acc, _) in found.items())
            if not points:
                continue
            first_budget, first_share, _ = points[0]
            # A mean share ≥ 0.5 is a collapse at any point, an arm's only point included; a
            # drop in accuracy is measured against the arm's smallest budget.
            why = {b: _why(s, a, points[0], noise) for b, s, a in points}
            collapsed = [b for b in why if why[b]]
            span = ", ".join(
                f"{b}: share {s:.2f}"
                + ("" if a is None else f", GT {a:.4f}")
                + ("" if found[b][2] is None else f", NB201 C10 {found[b][2]:.2f} %")
                for b, s, a in points
                if s is not None
            )
            title = arm_title(arm, default)
            start = (
                f" (its cells are already param-free-heavy at {first_budget} steps: share "
                f"{first_share:.2f})"
                if is_collapsed(first_share)
                else ""
            )
            if collapsed:
                b = collapsed[0]
                lines.append(
                    f"- **{title}, {depth} cell(s)/stage: collapses at {b} architecture steps** "
                    f"({why[b]}){start}. [{span}]"
                )
                continue
            trend = _trend([(b, s) for b, s, _ in points if s is not None])
            text = (
                f"- {title}, {depth} cell(s)/stage: no collapse up to {points[-1][0]} steps"
                f"{start} [{span}]"
            )
            if trend is not None:
                slope, reach = trend
                text += f"; param-free share {slope:+.3f} per doubling of the budget"
                text += (
                    f", reaching {COLLAPSE_SHARE:g} at about {reach:,.0f} steps if the trend held "
                    "(extrapolation)"
                    if reach is not None
                    else ", not rising: no collapse in sight on this trend"
                )
            lines.append(text + ".")
    return "\n".join(lines)


def _why(
    share: float | None,
    acc: float | None,
    first: tuple[int, float | None, float | None],
    noise: float,
) -> str:
    """Why a point counts as collapsed against the arm's smallest budget ``first`` ("" if not)."""
    first_budget, _, first_acc = first
    out = []
    if is_collapsed(share):
        out.append(f"param-free share {share:.2f} ≥ {COLLAPSE_SHARE:g}")
    if acc is not None and first_acc is not None and acc < first_acc - 2 * noise:
        out.append(f"GT {acc:.4f}, {first_acc - acc:.4f} below its {first_budget}-step value")
    return "; ".join(out)


def _trend(points: Sequence[tuple[int, float]]) -> tuple[float, float | None] | None:
    """Least-squares slope of share per doubling; the budget where it reaches 0.5 (if rising)."""
    if len(points) < 2:
        return None
    xs = [math.log2(b) for b, _ in points]
    ys = [s for _, s in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    if slope <= 1e-9:
        return slope, None
    return slope, 2 ** (mx + (COLLAPSE_SHARE - my) / slope)


def plot(judged: list[dict[str, Any]], path: Path) -> None:
    """Ground-truth accuracy and param-free share against budget; one line per strategy (mean
    over seeds) with a band from the lowest to the highest seed; one column per depth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _groups(judged)
    default = shipped_default_arm()
    depths = sorted({d for _, d, _ in groups}) or [1]
    fig, axes = plt.subplots(2, len(depths), figsize=(5.5 * len(depths), 7), squeeze=False)
    for col, depth in enumerate(depths):
        for i, arm in enumerate(ARMS):
            budgets = sorted(b for a, d, b in groups if a == arm and d == depth)
            if not budgets:
                continue
            for row, field in enumerate(("gt_acc", "share")):
                ax = axes[row][col]
                stats = []
                for b in budgets:
                    vals = [r[field] for r in groups[(arm, depth, b)] if r[field] is not None]
                    if vals:
                        stats.append((b, statistics.fmean(vals), min(vals), max(vals)))
                if not stats:
                    continue
                xs = [s[0] for s in stats]
                ax.plot(
                    xs,
                    [s[1] for s in stats],
                    marker="o",
                    color=f"C{i % 10}",
                    label=arm_title(arm, default),
                )
                ax.fill_between(
                    xs, [s[2] for s in stats], [s[3] for s in stats], color=f"C{i % 10}", alpha=0.15
                )
        top, bottom = axes[0][col], axes[1][col]
        top.set_title(f"{depth} cell(s) per stage")
        top.set_ylabel("ground-truth accuracy (exclude_none cell)")
        bottom.set_ylabel("param-free share of the cell")
        bottom.axhline(COLLAPSE_SHARE, color="0.5", linestyle=":", linewidth=1)
        for ax in (top, bottom):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("architecture steps")
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Budget sweep on the ground truth's data (band: lowest to highest seed)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _open_tables(given: str | None) -> Any:
    from idarts_plugin.nb201 import open_source

    path = tables_path(given)
    if not path.exists():
        print(f"NAS-Bench-201 tables not found at {path}: NB201 column left empty", flush=True)
        return None
    return open_source(str(path))


def _commit(message: str) -> None:
    """Commit the sweep's outputs (only those paths) in the repository this file is in."""
    paths = [p for p in (SWEEP_CACHE, RESULTS, PLOT, table_path(RECIPE)) if p.exists()]
    rel = [str(p.relative_to(REPO)) for p in paths]
    for attempt in range(5):
        add = subprocess.run(["git", "add", "--", *rel], cwd=REPO, capture_output=True, text=True)
        done = subprocess.run(
            ["git", "commit", "-q", "-m", message, "--", *rel],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        if add.returncode == 0 and done.returncode == 0:
            print(f"committed: {message}", flush=True)
            return
        if "nothing to commit" in done.stdout + done.stderr or "no changes added" in done.stdout:
            return
        time.sleep(2 + 3 * attempt)  # another git process may hold the index lock
    print(f"could not commit ({done.stderr.strip() or done.stdout.strip()})", flush=True)


DEPTHS = (1, 2, 3)
MAX_SEEDS = 10
"""What :func:`everything_cached` looks for: every arm × budget × depth × seed below these."""


def everything_cached(cache: Path, run_root: Path) -> list[dict[str, Any]]:
    """Every record the caches hold for any arm, budget, depth and seed of the sweep.

    The RESULTS.md section is written from these, so a run of some arms keeps the others'.
    """
    out = []
    for budget in BUDGETS:
        for depth in DEPTHS:
            out += run_point(
                budget,
                depth,
                arms=list(ARMS),
                seeds=MAX_SEEDS,
                workers=1,
                cache=cache,
                run_root=run_root,
                cached_only=True,
            )
    return out


RUNS: tuple[tuple[str, str, str], ...] = (
    (
        "the remedy screen (issue 29)",
        "--budgets 1920 --depths 1 --arms implicit-auto,implicit-auto-beta,implicit-auto-auxskip",
        "2026-12-03 – 12-04",
    ),
    (
        "do the remedies compose with the other hypergradients",
        "--budgets 1920 --depths 1 --arms darts,darts-auxskip,darts-beta,amended,amended-auxskip,"
        "amended-beta",
        "2026-12-04 – 12-05",
    ),
    (
        "the shipped default, the final table",
        "--budgets 480,1920,3120 --depths 1 --arms implicit-auto-beta-480sched+early_stop; "
        "the same with --budgets 1920 --depths 2",
        "2026-12-05 – 12-06",
    ),
    (
        "its α schedule with NNI's DARTS and AmendedDARTS",
        "--budgets 1920 --depths 1 --arms darts-beta-480sched,amended-beta-480sched",
        "2026-12-05 – 12-06",
    ),
    (
        "the BatchNorm screen",
        "--budgets 1920 --depths 1 --arms implicit-auto-beta-480sched-nonaffine",
        "2026-12-06",
    ),
    (
        "random search at the default's wall-clock",
        "--arms random-default with each point's --budgets and --depths",
        "2026-12-05 – 2026-12-07",
    ),
)
"""The runs behind the section's tables: (what, ``sweep`` arguments, when recorded), each with
``--seeds N`` for the seeds its rows show (one thread per search, at most two at once)."""


def write(judged: list[dict[str, Any]], gt: GroundTruth, command: str, workers: int) -> None:
    """Write the RESULTS.md section and the plot."""
    plot(judged, PLOT)
    budgets = ", ".join(f"{steps} = {e} epochs × {b} batches" for steps, (e, b) in BUDGETS.items())
    write_section(
        SECTION,
        command,
        [
            machine_line("cpu"),
            f"Budgets (architecture steps = (epochs − warm-up) × batches of 64, warm-up and α lr "
            f"`auto` stretched with the budget, a sixth of the epochs and 30 / steps): {budgets}; "
            "the arms with the α schedule of 480 steps (`warmup_steps: 96`, `arc_horizon: 480`: "
            "the shipped default) warm up 2 epochs and take 2,176 and 3,588 steps at the last two, "
            "at α lr 30 / 480. A search of another arm that is the same search at a point (the "
            "stretched and the capped schedule at 480 steps) is read as this arm's. Data: the ground truth's 10,000-image Fashion-MNIST subset "
            f"(`data.seed` 0 for every search seed), one thread per search, {workers} search(es) "
            "per sweep process, on 2 cores shared with other jobs (up to two sweep processes and "
            "a test run at once: the `search s` column measures that contention too). The "
            "tables hold every search in `benchmarks/search_quality/sweep_cache/`, whichever "
            "command ran it (the command above is the last update's); a search killed after "
            "an epoch resumed from its checkpoint (`resumed` in its record). Found cells are "
            "judged with the recipe (one cell per stage) whatever depth they were searched at, "
            "and looked up in NAS-Bench-201's CIFAR-10 table (test accuracy, 200 epochs). "
            "Random search gets the mean wall-clock of NNI DARTS' first two seeds at the same "
            "point (ImplicitDARTS costs 2–4× that); `random-default` gets the shipped "
            "default's (its first three seeds' whole searches).",
            "Runs (`python -m benchmarks.search_quality.sweep … --seeds N`, N the rows' seeds; "
            "then `--report`):\n\n"
            + "\n".join(f"- {what}: `{args}` ({when})" for what, args, when in RUNS),
            *(t.render() for t in tables(judged, gt)),
            "**Collapse**\n\n" + finding(judged, gt),
            f"![budget sweep]({PLOT.name})",
        ],
    )


def main(argv: list[str] | None = None) -> int:
    """Run the sweep point by point (budgets ascending), writing and committing as it goes."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    parser.add_argument("--depths", default="1,2", help="cells_per_stage values")
    parser.add_argument("--arms", default=",".join(CHEAP_ARMS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--tables", help="NAS-Bench-201 source (default: as idarts lookup)")
    parser.add_argument("--commit", action="store_true", help="git commit after each point")
    parser.add_argument("--smoke", action="store_true", help="tiny run for the test suite")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--run-root",
        default=str(RUN_ROOT),
        help="where the searches' run directories stay (default: %(default)s, git-ignored); "
        "a search killed after an epoch resumes from its checkpoint there",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="run nothing: rewrite RESULTS.md's section and the plot from the cache",
    )
    parser.add_argument(
        "--posthoc",
        action="store_true",
        help="search nothing: add DARTS-PT's and the early stop's cells to every cached "
        "record whose run directory is in --run-root (then train them with the next run)",
    )
    args = parser.parse_args(argv)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(unknown)}; valid: {', '.join(ARMS)}")
    try:
        budgets = [int(b) for b in args.budgets.split(",") if b.strip()]
        depths = [int(d) for d in args.depths.split(",") if d.strip()]
    except ValueError:
        parser.error("--budgets and --depths are comma-separated integers")
    bad = [b for b in budgets if b not in BUDGETS]
    if bad and not args.smoke:
        parser.error(f"unknown budget(s) {bad}; valid: {', '.join(map(str, BUDGETS))}")
    if args.seeds < 1 or any(d < 1 for d in depths):
        parser.error("--seeds and every depth must be >= 1")
    run_root, cache, sizes = Path(args.run_root), SWEEP_CACHE, dict(BUDGETS)
    if args.smoke:
        run_root = Path(tempfile.mkdtemp(prefix="idarts-sweep-runs-"))
        cache = Path(tempfile.mkdtemp(prefix="idarts-sweep-cache-"))
        budgets, sizes = [2], {2: (1, 2)}
        args.no_write, args.commit = True, False
    command = (
        f"python -m benchmarks.search_quality.sweep --budgets {args.budgets} --depths "
        f"{args.depths} --arms {args.arms} --seeds {args.seeds} --workers {args.workers}"
    )
    if args.posthoc:
        from .posthoc import fill

        fill(cache, run_root)
        return 0
    gt = GroundTruth.load(RECIPE)
    source = _open_tables(args.tables)
    if args.report:
        everything = judge(everything_cached(cache, run_root), gt, source)
        if not args.no_write:
            write(
                everything, gt, "python -m benchmarks.search_quality.sweep --report", args.workers
            )
        print(finding(everything, gt))
        return 0
    judged: list[dict[str, Any]] = []
    start = time.perf_counter()
    for budget in budgets:
        for depth in depths:
            records = run_point(
                budget,
                depth,
                arms=arms,
                seeds=args.seeds,
                workers=args.workers,
                cache=cache,
                run_root=run_root,
                epochs_batches=sizes[budget],
                train_found=not args.smoke,
                views=not args.smoke,
            )
            gt = GroundTruth.load(RECIPE)  # with the cells trained for this point
            judged = [r for r in judged if (r["budget"], r["depth"]) != (budget, depth)] + judge(
                records, gt, source
            )
            if not args.no_write:  # from every cached record: other arms' runs are kept
                everything = judge(everything_cached(cache, run_root), gt, source)
                write(everything, gt, command, args.workers)
            if args.commit:
                _commit(f"Budget sweep: {budget} architecture steps, {depth} cell(s)/stage")
    for t in tables(judged, gt):
        print(t.render())
    print(finding(judged, gt))
    print(f"sweep time this run: {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
