"""Search quality: what each strategy finds, measured against a ground truth of our own.

python -m benchmarks.search_quality [--seeds 3] [--arms darts,implicit,...] [--workers 2]
    [--epochs 6] [--batches 40] [--smoke] [--no-write]

Every arm searches NAS-Bench-201's cell space on the ground-truth recipe's data (Fashion-MNIST
16x16, the same 10,000-image subset, split into weight and architecture halves) with the same
budget; the cell it exports (under both derivation rules) is then trained from scratch with the
recipe and placed among the random cells of ``idarts_plugin/ground_truth/fashion-mnist-16``.
Random search gets the mean wall-clock of ImplicitDARTS' searches (``BUDGET_ARM``): it samples
cells, scores each with a one-epoch proxy training on the weight half (accuracy on the
architecture half) and keeps the best.

Each search's result is cached by its config in ``benchmarks/search_quality/cache/`` (kept in
git), so a killed run resumes and more seeds or arms extend it. ``--smoke`` runs a tiny
version (two arms, one seed, a few batches, its own throw-away cache) for the test suite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from idarts_plugin.ground_truth import RECIPE, GroundTruth, Recipe, table_path
from idarts_plugin.outputs import atomic_write_text

from ..common import Table, machine_line, write_section

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache"
PLOT = HERE.parent / "search_quality.png"
SECTION = "search-quality"

OFF = "strategy.inner_weight_decay=false"
MON0 = "strategy.monitor_every=0"
"""The ImplicitDARTS arms measured before the growth monitor existed keep it off (it only
observes; a cold solve's α gradient is the same)."""
"""The arms measured before ``inner_weight_decay`` became the default keep the old setting."""

ARMS: dict[str, tuple[str, list[str]]] = {
    "darts": ("NNI's DARTS (first order)", ["strategy.name=darts"]),
    "darts-paper-lr": (
        "NNI's DARTS, paper α lr 3e-4, no warm-up",
        ["strategy.name=darts", "strategy.arc_learning_rate=0.0003", "strategy.warmup_epochs=0"],
    ),
    "gumbel": ("NNI's GumbelDARTS", ["strategy.name=gumbel"]),
    "implicit": (
        "ImplicitDARTS, γ = weight lr (paper), K=2",
        ["strategy.name=implicit", OFF, MON0],
    ),
    "implicit-safe": (
        "ImplicitDARTS, γ = safe, K=2",
        ["strategy.name=implicit", "strategy.neumann_lr=safe", OFF, MON0],
    ),
    "implicit-safe-warm": (
        "ImplicitDARTS, γ = safe, K=2, warm start",
        [
            "strategy.name=implicit",
            "strategy.neumann_lr=safe",
            "strategy.warm_start=true",
            OFF,
            MON0,
        ],
    ),
    "implicit-shared": (
        "ImplicitDARTS, γ = weight lr, hessian_batch shared",
        ["strategy.name=implicit", "strategy.hessian_batch=shared", OFF, MON0],
    ),
    "implicit-decay": (
        "ImplicitDARTS, γ = weight lr (paper), K=2, weight decay in H",
        ["strategy.name=implicit", "strategy.inner_weight_decay=true", MON0],
    ),
    "implicit-auto": (
        "ImplicitDARTS, γ = auto, K=2, weight decay in H, growth monitor",
        ["strategy.name=implicit", "strategy.neumann_lr=auto"],
    ),
    "amended": ("AmendedDARTS, η = weight lr", ["strategy.name=amended", OFF]),
    "unrolled": ("UnrolledDARTS (DARTS-V2)", ["strategy.name=unrolled", OFF]),
    "unrolled-optimizer": (
        "UnrolledDARTS, virtual step = the SGD optimiser's (momentum + decay, as DARTS' code)",
        ["strategy.name=unrolled", "strategy.virtual_step=optimizer", OFF],
    ),
    # (no search: OFF only keeps its cache key, computed from the whole config, as it was)
    "random": ("random search, equal wall-clock, 1-epoch proxy", [OFF]),
}


BUDGET_ARM = "implicit"
"""Random search gets this arm's mean wall-clock: ImplicitDARTS with the paper's γ, timed alone
on the machine (the shipped default differs from it by one ``axpy`` per product, weight decay
in H, and its arm was timed while other jobs shared the cores)."""


def is_random(arm: str) -> bool:
    """Whether ``arm`` is a random search (``random`` or ``random-<what its budget is>``)."""
    return arm == "random" or arm.startswith("random-")


def on_nb201(strategy: Any) -> Any:
    """A strategy section as a search on NAS-Bench-201 runs it (``aux_skip: auto`` resolved)."""
    import dataclasses

    resolved = strategy.remedies().resolve(edges_keep_shape=True)
    return dataclasses.replace(strategy, aux_skip=resolved.aux_skip)


def shipped_default_arm() -> str | None:
    """The arm that searches with the run config's default hypergradient (``None`` if none).

    This benchmark compares hypergradients with every collapse remedy off (``BASE_PINNED``),
    so the arm matched is the default's strategy section with the remedies off; the sweep's
    ``shipped default`` arm is the default with its remedies.
    """
    import dataclasses

    from idarts_plugin.config import load_config

    remedies_off = [f"strategy.{key}={value}" for key, value in REMEDIES_OFF.items()]
    default = load_config(None, ["strategy.name=implicit", *remedies_off]).strategy
    for arm, (_, overrides) in ARMS.items():
        if is_random(arm):
            continue
        # The derivation rule does not change a search (both rules are scored): ignore it.
        strategy = load_config(None, [*BASE_PINNED, *overrides]).strategy
        if dataclasses.replace(strategy, derive=default.derive) == default:
            return arm
    return None


def arm_title(arm: str) -> str:
    """The arm's description, marked when it is the shipped default."""
    mark = " — the shipped default's hypergradient (remedies off)"
    return ARMS[arm][0] + (mark if arm == shipped_default_arm() else "")


REMEDIES_OFF: dict[str, Any] = {"beta_decay": 0.0, "aux_skip": 0.0, "early_stop": "off"}
"""The remedies' neutral values (written out: the run config's defaults may change)."""

SCHEDULE_CAPS = ("arc_horizon", "warmup_steps")
"""The caps of the ``auto`` α schedule (:mod:`idarts_plugin.budget`). Searches cached before
they existed ran without them (``null``, pinned by :data:`BASE_PINNED`)."""

BASE_PINNED = [
    "strategy.derive=argmax",
    "strategy.neumann_lr=null",
    *(f"strategy.{key}={value}" for key, value in REMEDIES_OFF.items()),
    *(f"strategy.{key}=null" for key in SCHEDULE_CAPS),
]
"""Pinned in every search: both derivation rules are scored from the final α anyway, so the
shipped rule may change without invalidating the cache; ``neumann_lr`` keeps the value every
arm was measured with before the run-config default became ``auto``, the remedies are off
(an arm sets its own), and so are the caps of the ``auto`` α schedule (an arm sets them): an
arm means the same search whatever the run config's defaults."""


def base_overrides(recipe: Recipe, epochs: int, batches: int | None) -> list[str]:
    """The common search config: the recipe's data and skeleton, the budget, one thread."""
    return [
        *BASE_PINNED,
        *recipe.overrides(),
        f"trainer.epochs={epochs}",
        "trainer.batch_size=64",
        f"trainer.limit_batches={'null' if batches is None else batches}",
        "trainer.threads=1",
        "trainer.device=cpu",
        "trainer.progress_bar=false",
    ]


ADDED_KEYS: dict[tuple[str, str], Any] = {
    ("strategy", "inner_weight_decay"): False,
    ("strategy", "virtual_step"): "sgd",
    ("strategy", "monitor_every"): 0,
    ("strategy", "curvature"): "hessian",
    ("strategy", "curvature_bn"): "batch",
    ("strategy", "hessian_batches"): 1,
    ("strategy", "beta_decay"): 0.0,
    ("strategy", "beta_decay_schedule"): "linear",
    ("strategy", "aux_skip"): 0.0,
    ("strategy", "early_stop"): "off",
    ("strategy", "perturbation_tune_steps"): 0,
    ("strategy", "arc_horizon"): None,
    ("strategy", "warmup_steps"): None,
    ("optimizer", "nesterov"): False,
}
"""Keys added after searches were cached, with the value that reproduces the earlier searches;
at that value, or where the strategy ignores them, they are left out of the cache key, so
those searches stay valid."""

MOOT_UNLESS: dict[tuple[str, str], tuple[str, str, Any]] = {
    ("strategy", "early_stop_patience"): ("strategy", "early_stop", "collapse"),
}
"""Keys that play no part in a search unless another key has a value (the early stop's
patience without the early stop): left out of the cache key then, whatever their default."""

ADDED_KEYS_SAME_AS: dict[tuple[str, str], tuple[str, str]] = {
    ("data", "seed"): ("trainer", "seed"),
}
"""Keys added later whose neutral value is another key's: before ``data.seed`` existed the
data was drawn with ``trainer.seed``, so a search whose ``data.seed`` equals its
``trainer.seed`` is the search cached before, and the key leaves it out."""


def config_key(
    overrides: Sequence[str], seed: int, extra: str = "", *, resolve_schedule: bool = False
) -> str:
    """Cache key of one search: the whole resolved config (defaults included), seed, extra.

    A search with a cap of the ``auto`` α schedule (:data:`SCHEDULE_CAPS`) is keyed by the
    schedule it runs: ``warmup_epochs`` and ``arc_learning_rate`` as numbers
    (:func:`idarts_plugin.search.arch_budget`, with ``trainer.limit_batches`` batches an
    epoch), without the caps; so it is the cached search that pinned those numbers.
    ``resolve_schedule``: key every search so (the key that says whether two arms run the same
    search at this budget; a search without ``trainer.limit_batches`` keeps ``auto``).
    """
    from idarts_plugin.config import load_config

    cfg = load_config(None, [*overrides, f"trainer.seed={seed}"])
    resolved = cfg.to_dict()
    capped = any(getattr(cfg.strategy, key) is not None for key in SCHEDULE_CAPS)
    if (capped or resolve_schedule) and cfg.trainer.limit_batches is not None:
        from idarts_plugin.search import arch_budget

        arc_lr, warmup, _ = arch_budget(cfg, cfg.trainer.limit_batches)
        resolved["strategy"].update(arc_learning_rate=arc_lr, warmup_epochs=warmup)
        for key in SCHEDULE_CAPS:
            resolved["strategy"].pop(key, None)
    relevant = cfg.strategy.valid_keys(cfg.strategy.name)
    for (section, key), neutral in ADDED_KEYS.items():
        value = resolved.get(section, {}).get(key, neutral)
        if value == neutral or (section == "strategy" and key not in relevant):
            resolved.get(section, {}).pop(key, None)
    for (section, key), (other_section, other_key, needed) in MOOT_UNLESS.items():
        if resolved.get(other_section, {}).get(other_key) != needed:
            resolved.get(section, {}).pop(key, None)
    for (section, key), (other_section, other_key) in ADDED_KEYS_SAME_AS.items():
        if resolved.get(section, {}).get(key) == resolved[other_section][other_key]:
            resolved.get(section, {}).pop(key, None)
    text = json.dumps([resolved, seed, extra], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


JUDGED_ARCHS = ("argmax", "exclude_none", "perturbation", "early_stop")
"""The cells of a record that are trained with the recipe when the ground truth lacks them."""


# --------------------------------------------------------------------------------------------
# One search (in a worker process).
# --------------------------------------------------------------------------------------------


def _search(job: dict[str, Any]) -> dict[str, Any]:
    import logging
    import warnings

    import torch

    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    from idarts_plugin.config import load_config
    from idarts_plugin.derive import derive, edge_decisions, effective_nb201
    from idarts_plugin.nb201 import arch_from_nni, format_arch, parse_arch
    from idarts_plugin.outputs import CHECKPOINT
    from idarts_plugin.search import run_search

    from .posthoc import add_views

    # job["overrides"] holds data.seed: the search seed itself in this benchmark's protocol (seeds
    # differ in data draw, split, initialisation and order), the recipe's 0 in the budget sweep.
    overrides = [*job["overrides"], f"trainer.seed={job['seed']}", "output.ground_truth=false"]
    cfg = load_config(None, overrides)
    run_dir = Path(job["run_root"]) / job["key"]
    # A search killed after an epoch (a session's end, a reboot) continues from its last
    # checkpoint, bit-identically; its wall-clock adds the finished epochs' seconds (not the
    # killed process's start-up or its unfinished epoch, which this process redoes).
    resume = (run_dir / CHECKPOINT).is_file()
    earlier = _epoch_seconds(run_dir / "metrics.csv") if resume else 0.0
    start = time.perf_counter()
    result = run_search(cfg, run_dir=run_dir, resume=resume)
    seconds = earlier + time.perf_counter() - start
    probs = result.probs
    archs = {}
    for rule in ("argmax", "exclude_none"):
        chosen = derive(probs, rule)
        arch = arch_from_nni(chosen)
        archs[rule] = arch
        archs[f"{rule}_effective"] = format_arch(effective_nb201(parse_arch(arch))[0])
    decisions = edge_decisions(probs)
    record = {
        **{k: job[k] for k in ("arm", "seed", "key")},
        "archs": archs,
        "seconds": seconds,
        **({"resumed": True} if resume else {}),
        "entropy_mean": statistics.fmean(d.entropy for d in decisions.values()),
        "margin_min": min(d.margin for d in decisions.values()),
        "margin_mean": statistics.fmean(d.margin for d in decisions.values()),
        "decided_edges": result.decision["verdict"]["decided_edges"],
        "param_free_share": result.metrics.get("param_free_share"),
        "arc_learning_rate": result.decision["arc_learning_rate"],
        "step_curvature": result.metrics.get("hg_step_curvature"),
        "probs": probs,
        "history": _history(result.run_dir / "metrics.csv"),
    }
    if not job.get("views", True):
        return record
    return add_views(record, result.run_dir)  # DARTS-PT's and the early stop's cells


def _epoch_seconds(path: Path) -> float:
    """The summed per-epoch wall time of a run's ``metrics.csv`` (0 when it has none)."""
    import csv

    if not path.is_file():
        return 0.0
    with path.open(newline="") as fh:
        return sum(float(row.get("seconds") or 0.0) for row in csv.DictReader(fh))


def _history(path: Path) -> dict[str, list[float | None]]:
    """Per epoch of a search's ``metrics.csv``: the param-free share and the mean α entropy."""
    import csv

    out: dict[str, list[float | None]] = {"param_free_share": [], "alpha_entropy_mean": []}
    if not path.is_file():
        return out
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            for column, values in out.items():
                text = row.get(column) or ""
                values.append(float(text) if text else None)
    return out


RANDOM_PROGRESS = "progress"
"""Where a random search keeps its progress: ``<cache>/progress/<key>.json``, beside the records
it becomes (a folder of its own, so the cache's ``*.json`` are records only). It holds the cells
scored so far and the CPU and wall seconds they took, rewritten atomically after each cell, so a
killed random search resumes where it stopped, on this machine or, once the cache is committed,
on another; the finished record replaces it."""


def progress_path(job: Mapping[str, Any]) -> Path | None:
    """``job``'s random-search progress file (:data:`RANDOM_PROGRESS`); ``None`` without a cache."""
    return Path(job["cache"]) / RANDOM_PROGRESS / f"{job['key']}.json" if job.get("cache") else None


def _read_progress(path: Path | None, job: dict[str, Any]) -> dict[str, Any]:
    """The saved progress of ``job``'s random search, or a fresh one (none saved, or saved for
    another budget)."""
    fresh: dict[str, Any] = {"budget": job["budget"], "scored": [], "cpu": 0.0, "wall": 0.0}
    if path is None or not path.is_file():
        return fresh
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise RuntimeError(
            f"{path}: unreadable random-search progress ({err}); delete it to start this "
            "random search again"
        ) from err
    return saved if saved.get("budget") == job["budget"] else fresh


def _write_progress(path: Path | None, progress: dict[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(progress))


def _random_search(job: dict[str, Any]) -> dict[str, Any]:
    """Sample cells, score each by a one-epoch proxy, keep the best, within ``budget`` CPU s.

    With a ``cache`` in ``job``, the progress is saved after each cell (:func:`progress_path`)
    and a rerun resumes from it: the cells come in a fixed order per seed and each proxy
    training is seeded, so the resumed search scores the same cells as an uninterrupted one;
    the cell being trained when it was killed is trained again, and only finished cells' CPU
    seconds count against the budget.
    """
    import logging
    import warnings

    import torch

    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    from idarts_plugin.evaluate import freeze_architecture, train_from_scratch
    from idarts_plugin.ground_truth import random_archs, recipe_data
    from idarts_plugin.nb201 import arch_to_nni

    recipe = RECIPE
    cfg, data = recipe_data(recipe)
    where = progress_path(job)
    progress = _read_progress(where, job)
    archs = random_archs(10_000, seed=1000 + job["seed"])
    scored: list[tuple[float, str]] = [(float(a), str(c)) for a, c in progress["scored"]]
    if [c for _, c in scored] != archs[: len(scored)]:
        raise RuntimeError(
            f"{where}: the saved cells are not seed {job['seed']}'s sampling order; delete it "
            "to start this random search again"
        )
    if scored:
        print(f"{job['key']}: resuming after {len(scored)} cells", flush=True)
    # The budget is spent in this process's CPU seconds (one thread: its wall-clock when it has
    # a core), so a sweep paused with SIGSTOP (for CI) does not cut random search short.
    for arch in archs[len(scored) :]:
        if scored and progress["cpu"] > job["budget"]:
            break
        start, cpu_start = time.perf_counter(), time.process_time()
        torch.manual_seed(job["seed"])
        model = freeze_architecture(
            cfg, arch_to_nni(arch), num_classes=data.num_classes, in_channels=data.in_channels
        )
        acc = train_from_scratch(
            model,
            data.weight_train,
            data.arch_val,
            epochs=1,
            batch_size=recipe.batch_size,
            lr=recipe.lr,
            seed=job["seed"],
        )
        scored.append((acc, arch))
        progress["cpu"] += time.process_time() - cpu_start
        progress["wall"] += time.perf_counter() - start
        progress["scored"] = scored
        _write_progress(where, progress)
    best_acc, best = max(scored)
    return {
        **{k: job[k] for k in ("arm", "seed", "key")},
        "archs": {"argmax": best, "exclude_none": best},
        "seconds": progress["wall"],
        "cpu_seconds": progress["cpu"],
        "sampled": len(scored),
        "proxy_acc": best_acc,
    }


def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    out = _random_search(job) if is_random(job["arm"]) else _search(job)
    atomic_write_text(
        Path(job["cache"]) / f"{job['key']}.json", json.dumps(out, indent=1, sort_keys=True)
    )
    if (progress := progress_path(job)) is not None:
        progress.unlink(missing_ok=True)  # the record holds what it was for
    print(f"{out['arm']:>20} seed {out['seed']}: {out['archs']['argmax']} ({out['seconds']:.0f} s)")
    return out


def _train_found(arch: str) -> tuple[str, float]:
    import logging
    import warnings

    import torch

    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    from .ground_truth import train_and_record

    acc = train_and_record(RECIPE, arch, 0, "found", "")
    print(f"{'ground truth':>20}: {acc:.4f}  {arch}")
    return arch, acc


# --------------------------------------------------------------------------------------------
# The run.
# --------------------------------------------------------------------------------------------


def _pool_map(fn: Any, jobs: list[Any], workers: int) -> list[Any]:
    if not jobs:
        return []
    if workers <= 1:
        return [fn(j) for j in jobs]
    with mp.get_context("spawn").Pool(workers, maxtasksperchild=1) as pool:
        return pool.map(fn, jobs, chunksize=1)


def run(
    *,
    arms: list[str],
    seeds: int,
    epochs: int,
    batches: int | None,
    workers: int,
    cache: Path,
    run_root: Path,
    train_found: bool = True,
    extra: Sequence[str] = (),
    arms_table: Mapping[str, tuple[str, list[str]]] = ARMS,
    data_seed: int | None = None,
    budget_arm: str = BUDGET_ARM,
    budget_seeds: int | None = None,
    budget_arms: Mapping[str, tuple[str, int | None]] | None = None,
    read_also: Sequence[Path] = (),
    on_record: Callable[[dict[str, Any]], None] | None = None,
    cached_only: bool = False,
    views: bool = True,
) -> list[dict[str, Any]]:
    """Run (or read from the cache) every arm × seed; train the found cells; the records.

    Args:
        arms: names of ``arms_table`` to run (the random arms, :func:`is_random`, after the
            others: each gets the mean wall-clock of its budget arm's searches, or of all
            searches if it has none).
        seeds: search seeds ``0 .. seeds - 1``.
        epochs: search epochs.
        batches: batches per epoch (``None``: whole epochs).
        workers: searches at a time (processes of one thread).
        cache: where each search's record is kept (``<arm>-s<seed>-<config hash>.json``).
        run_root: where the run directories go; a search whose directory holds a checkpoint
            resumes from it.
        train_found: train the found cells the ground truth lacks with the recipe.
        views: add DARTS-PT's and the early stop's cells to each new record
            (:mod:`benchmarks.search_quality.posthoc`; DARTS-PT scores the whole architecture
            split 25 times, minutes on one thread: the smoke runs skip it).
        extra: overrides after the common ones (e.g. ``space.options.cells_per_stage=2``).
        arms_table: arm name → (title, overrides).
        data_seed: ``data.seed`` of every search; ``None``: the search seed (this benchmark's
            original protocol: seeds also differ in the data draw).
        budget_arm: the arm whose mean wall-clock random search gets.
        budget_seeds: average ``budget_arm``'s seeds ``0 .. budget_seeds - 1`` only (``None``:
            every seed run), so random search's budget, part of its cache key, does not change
            when ``budget_arm`` gets more seeds than random search.
        budget_arms: random arm → (the arm whose mean wall-clock it gets, its seeds as
            ``budget_seeds``); a random arm not named gets ``(budget_arm, budget_seeds)``.
        read_also: further cache folders to read a record from (never written).
        on_record: called with each record a search of this run produced (e.g. to commit).
        cached_only: run nothing and train nothing: only the records the caches hold.
    """
    cache.mkdir(parents=True, exist_ok=True)
    base = [*base_overrides(RECIPE, epochs, batches), *extra]

    def job(arm: str, seed: int, budget: float = 0.0) -> dict[str, Any]:
        data = seed if data_seed is None else data_seed
        overrides = [*base, *arms_table[arm][1], f"data.seed={data}"]
        extra_key = f"budget={budget:.0f}" if is_random(arm) else ""
        key = f"{arm}-s{seed}-" + config_key(overrides, seed, extra_key)
        return {
            "arm": arm,
            "seed": seed,
            "key": key,
            "overrides": overrides,
            "budget": budget,
            "cache": str(cache),
            "run_root": str(run_root),
            "views": views,
        }

    def stored(key: str) -> dict[str, Any] | None:
        for folder in (cache, *read_also):
            p = folder / f"{key}.json"
            if p.exists():
                return cast(dict[str, Any], json.loads(p.read_text()))
        return None

    same_as: dict[str, str | None] = {}

    def same_search(j: dict[str, Any]) -> str | None:
        """The cached search of another arm that runs this job's search at this budget."""
        if j["key"] not in same_as:
            same_as[j["key"]] = None
            if not is_random(j["arm"]):
                mine = config_key(j["overrides"], j["seed"], resolve_schedule=True)
                for other in arms_table:
                    if other == j["arm"] or is_random(other):
                        continue
                    o = job(other, j["seed"])
                    if stored(o["key"]) is not None and (
                        config_key(o["overrides"], o["seed"], resolve_schedule=True) == mine
                    ):
                        same_as[j["key"]] = o["key"]
                        break
        return same_as[j["key"]]

    def cached(j: dict[str, Any]) -> dict[str, Any] | None:
        record = stored(j["key"])
        if record is None and (other := same_search(j)) is not None:
            # The same search under another arm's name (e.g. ``auto``'s schedule at the budget
            # where it equals a pinned one): read as this arm's, saying so.
            record = {**cast(dict[str, Any], stored(other)), "arm": j["arm"], "same_as": other}
        return record

    def run_jobs(jobs: list[dict[str, Any]]) -> None:
        if cached_only:
            return
        if on_record is None:
            _pool_map(_run_job, jobs, workers)
            return
        for k in range(0, len(jobs), max(workers, 1)):  # a batch of searches at a time
            for out in _pool_map(_run_job, jobs[k : k + max(workers, 1)], workers):
                on_record(out)

    searching = [a for a in arms if not is_random(a)]
    jobs = [job(a, s) for a in searching for s in range(seeds)]
    todo = [j for j in jobs if cached(j) is None]
    if not cached_only:
        print(f"{len(jobs) - len(todo)} searches cached, {len(todo)} to run", flush=True)
    run_jobs(todo)
    records = [cached(j) for j in jobs]
    searched = [r for r in records if r]
    for rarm in (a for a in arms if is_random(a)):
        source, source_seeds = (budget_arms or {}).get(rarm, (budget_arm, budget_seeds))
        # The budget arm's seeds 0 .. source_seeds - 1 from the cache, however many seeds
        # this run asked for: the budget is part of random search's cache key.
        n = seeds if source_seeds is None else source_seeds
        budget_from = (
            [r for r in (cached(job(source, s)) for s in range(n)) if r]
            if source in arms_table
            else []
        ) or searched
        budget = statistics.fmean(r["seconds"] for r in budget_from) if budget_from else 60.0
        rjobs = [job(rarm, s, budget) for s in range(seeds)]
        run_jobs([j for j in rjobs if cached(j) is None])
        records += [cached(j) for j in rjobs]
    found = [r for r in records if r is not None]
    if train_found and not cached_only:
        gt = GroundTruth.load(RECIPE)
        need = sorted(
            {a for r in found for k, a in r["archs"].items() if k in JUDGED_ARCHS} - set(gt.accs)
        )
        print(f"{len(need)} found cells to train with the recipe", flush=True)
        _pool_map(_train_found, need, workers)
    return found


def summarise(records: list[dict[str, Any]], gt: GroundTruth) -> tuple[list[Table], dict[str, Any]]:
    """The result tables and, per arm and derivation, the found cells' accuracies."""
    noise = gt.seed_noise()
    rand = sorted(gt.random_cells().values())
    by_arm: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_arm.setdefault(r["arm"], []).append(r)
    main = Table(
        "Found cells against the ground truth (mean ± std over search seeds)",
        [
            "strategy",
            "seeds",
            "GT acc, argmax",
            "percentile",
            "GT acc, exclude_none",
            "percentile",
            "search s",
            "α entropy",
            "min margin",
            "decided edges",
            "param-free share",
        ],
    )
    points: dict[str, dict[str, list[float]]] = {}

    def ms(vals: list[float], fmt: str = "{:.4f}") -> str:
        if not vals:
            return "–"
        if len(vals) == 1:
            return fmt.format(vals[0])
        return f"{fmt.format(statistics.fmean(vals))} ± {fmt.format(statistics.stdev(vals))}"

    for arm in ARMS:
        rs = by_arm.get(arm)
        if not rs:
            continue
        cols = []
        points[arm] = {}
        for rule in ("argmax", "exclude_none"):
            accs = [gt.mean(r["archs"][rule]) for r in rs]
            accs_ok = [a for a in accs if a is not None]
            points[arm][rule] = accs_ok
            pct = [gt.percentile(a) for a in accs_ok]
            cols += [ms(accs_ok), ms(pct, "{:.0f}")]
        is_search = not is_random(arm)
        main.add(
            arm_title(arm),
            len(rs),
            *cols,
            ms([r["seconds"] for r in rs], "{:.0f}"),
            ms([r["entropy_mean"] for r in rs], "{:.3f}") if is_search else "–",
            ms([r["margin_min"] for r in rs], "{:.3f}") if is_search else "–",
            ms([float(r["decided_edges"]) for r in rs], "{:.1f}") if is_search else "–",
            ms(
                [r["param_free_share"] for r in rs if r.get("param_free_share") is not None],
                "{:.2f}",
            )
            if is_search
            else "–",
        )
    cells = Table(
        "Found cells (argmax / exclude_none derivation) per search",
        ["strategy", "seed", "argmax cell", "GT", "exclude_none cell", "GT"],
    )
    for arm in ARMS:
        for r in sorted(by_arm.get(arm, []), key=lambda r: r["seed"]):
            a, e = r["archs"]["argmax"], r["archs"]["exclude_none"]
            ga, ge = gt.mean(a), gt.mean(e)
            cells.add(
                arm,
                r["seed"],
                f"`{a}`",
                f"{ga:.4f}" if ga is not None else "–",
                f"`{e}`" if e != a else "same",
                f"{ge:.4f}" if ge is not None else "–",
            )
    ref = Table(
        "Ground truth (recipe "
        + RECIPE.key
        + f": {RECIPE.data} {RECIPE.image_size}x{RECIPE.image_size}, {RECIPE.limit} images, "
        + f"{RECIPE.epochs} epochs, SGD lr {RECIPE.lr}, stem {RECIPE.stem_channels}, "
        + f"{RECIPE.cells_per_stage} cell/stage)",
        ["what", "value"],
    )
    ref.add("random cells", len(rand))
    if rand:
        q = statistics.quantiles(rand, n=10)
        ref.add(
            "random cells: min / median / 90th pct / max",
            f"{rand[0]:.4f} / {statistics.median(rand):.4f} / {q[-1]:.4f} / {rand[-1]:.4f}",
        )
    ref.add("seed noise (pooled std of one training)", f"{noise['pooled_std']:.4f}")
    from idarts_plugin.ground_truth import LANDMARKS

    for label, arch in LANDMARKS.items():
        m = gt.mean(arch)
        if m is not None and rand:
            n = len(gt.accs[arch])
            ref.add(
                f"{label} ({n} seed{'s' if n > 1 else ''})",
                f"{m:.4f} (percentile {gt.percentile(m):.0f})",
            )
    return [main, ref, cells], points


def plot(points: dict[str, dict[str, list[float]]], gt: GroundTruth, path: Path) -> None:
    """Random-cell distribution with each strategy's found cells on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rand = sorted(gt.random_cells().values())
    arms = list(points)
    found = [a for arm in points.values() for xs in arm.values() for a in xs]
    sensible = [a for a in [*rand, *found] if a > 0.5]  # cells without a path sit at chance
    lo = min(sensible) - 0.005 if sensible else 0.0
    hi = max(sensible) + 0.005 if sensible else 1.0
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(arms) + 2.2))
    hist = ax.twinx()
    hist.hist(
        [a for a in rand if a >= lo],
        bins=[lo + (hi - lo) * i / 24 for i in range(25)],
        color="0.88",
        zorder=0,
    )
    hist.set_ylabel(f"random cells ({len(rand)}; {sum(a < lo for a in rand)} below the axis)")
    ax.set_zorder(hist.get_zorder() + 1)
    ax.patch.set_visible(False)
    for i, arm in enumerate(arms):
        for rule, marker, dy in (("argmax", "o", 0.15), ("exclude_none", "x", -0.15)):
            xs = [x for x in points[arm][rule] if x >= lo]
            ax.scatter(
                xs,
                [i + dy] * len(xs),
                marker=marker,
                color=f"C{i % 10}",
                label=None if i else f"found cell, {rule} (chance-level ones off the axis)",
            )
    ax.set_yticks(range(len(arms)), [arm_title(a) for a in arms], fontsize=8)
    ax.set_ylim(-0.7, len(arms) - 0.3)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("test accuracy, trained from scratch with the ground-truth recipe")
    noise = gt.seed_noise()["pooled_std"]
    ax.set_title(f"Found cells over the random-cell distribution (seed noise ±{noise:.4f})")
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print and (unless ``--no-write``) write RESULTS.md and the plot."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batches", type=int, default=40, help="batches per epoch (0: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="tiny run for the test suite")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--no-train", action="store_true", help="do not train found cells")
    args = parser.parse_args(argv)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(unknown)}; valid: {', '.join(ARMS)}")
    run_root = Path(tempfile.mkdtemp(prefix="idarts-sq-runs-"))
    cache = CACHE
    if args.smoke:
        cache = Path(tempfile.mkdtemp(prefix="idarts-sq-cache-"))
        args.epochs, args.batches, args.seeds = 1, 2, 1
        args.no_write = True
    start = time.perf_counter()
    records = run(
        arms=arms,
        seeds=args.seeds,
        epochs=args.epochs,
        batches=args.batches or None,
        workers=args.workers,
        cache=cache,
        run_root=run_root,
        train_found=not (args.no_train or args.smoke),
        views=not args.smoke,
    )
    gt = GroundTruth.load(RECIPE)
    tables, points = summarise(records, gt)
    for t in tables:
        print(t.render())
    print(f"benchmark time this run: {time.perf_counter() - start:.0f} s")
    if not args.no_write:
        plot(points, gt, PLOT)
        command = (
            f"python -m benchmarks.search_quality --seeds {args.seeds} --epochs {args.epochs} "
            f"--batches {args.batches} --workers {args.workers}"
        )
        half = "of all images" if RECIPE.limit is None else f"{RECIPE.limit // 2} images"
        budget = (
            f"Budget per search: {args.epochs} epochs × {args.batches or 'all'} batches of 64 "
            f"(weight half {half}), one thread per search, "
            f"{args.workers} searches at a time. Ground truth: `{table_path(RECIPE).name}`."
        )
        write_section(
            SECTION,
            command,
            [
                machine_line("cpu"),
                budget,
                *(t.render() for t in tables),
                f"![search quality]({PLOT.name})",
            ],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
