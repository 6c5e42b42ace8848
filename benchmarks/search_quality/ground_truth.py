"""Build or extend the ground truth: train NAS-Bench-201 cells from scratch with one recipe.

python -m benchmarks.search_quality.ground_truth [--recipe fashion-mnist-16] [--random 64]
    [--noise-seeds 3] [--workers 2]

Trains the landmarks (all-none, all-skip, all-pool, all-conv1x1, all-conv3x3, ResNet-like,
NAS-Bench-201's best CIFAR-10 cell, a cell with dead nodes), ``--random`` uniformly sampled
cells, and ``--noise-seeds`` seeds of a few cells to measure training noise. Every result is
appended to the recipe's table (``idarts_plugin/ground_truth/<recipe>.csv.gz``) as it completes; a rerun skips what the table holds, so a
killed run resumes and a larger ``--random`` extends the table.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time

from idarts_plugin.ground_truth import (
    LANDMARKS,
    NOISE_LABELS,
    RECIPES,
    GroundTruth,
    Recipe,
    append_row,
    random_archs,
    read_rows,
    table_path,
    train_cell,
)


def plan(n_random: int, noise_seeds: int) -> list[tuple[str, int, str, str]]:
    """The jobs ``(arch, seed, kind, label)`` in order: landmarks, random cells, extra seeds."""
    jobs = [(arch, 0, "landmark", label) for label, arch in LANDMARKS.items()]
    randoms = random_archs(n_random)
    jobs += [(arch, 0, "random", f"random-{i}") for i, arch in enumerate(randoms)]
    named = {**LANDMARKS, **{f"random-{i}": a for i, a in enumerate(randoms)}}
    for seed in range(1, noise_seeds):
        for label in NOISE_LABELS:
            if label in named:
                kind = "random" if label.startswith("random") else "landmark"
                jobs.append((named[label], seed, kind, label))
    return jobs


def train_and_record(recipe: Recipe, arch: str, seed: int, kind: str, label: str) -> float:
    """Train one cell with ``recipe`` and append the result to its table; the accuracy."""
    acc, secs = train_cell(arch, seed, recipe)
    append_row(
        {
            "arch": arch,
            "acc": f"{acc:.5f}",
            "seed": seed,
            "recipe": recipe.key,
            "kind": kind,
            "label": label,
            "seconds": f"{secs:.1f}",
        },
        table_path(recipe),
    )
    return acc


def _worker(recipe: Recipe, jobs: list[tuple[str, int, str, str]], threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    for arch, seed, kind, label in jobs:
        start = time.perf_counter()
        acc = train_and_record(recipe, arch, seed, kind, label)
        secs = time.perf_counter() - start
        print(f"{label:>20} seed {seed}: {acc:.4f} ({secs:.0f} s)  {arch}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Train what the table lacks, in ``--workers`` processes; print a summary."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="fashion-mnist-16")
    parser.add_argument("--random", type=int, default=64, help="random cells (default 64)")
    parser.add_argument("--noise-seeds", type=int, default=3, help="seeds of the noise cells")
    parser.add_argument("--workers", type=int, default=2, help="processes (one thread each)")
    args = parser.parse_args(argv)
    recipe = RECIPES[args.recipe]
    table = table_path(recipe)
    done = {(r["arch"], r["seed"]) for r in read_rows(table) if r["recipe"] == recipe.key}
    todo = [j for j in plan(args.random, args.noise_seeds) if (j[0], j[1]) not in done]
    print(f"recipe {recipe.key}: {recipe}\n{len(todo)} cells to train -> {table}", flush=True)
    start = time.perf_counter()
    if todo:
        workers = max(1, min(args.workers, len(todo)))
        chunks = [todo[i::workers] for i in range(workers)]
        if workers == 1:
            _worker(recipe, chunks[0], 1)
        else:
            ctx = mp.get_context("spawn")
            procs = [ctx.Process(target=_worker, args=(recipe, c, 1)) for c in chunks]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            if any(p.exitcode for p in procs):
                print("a worker failed; rerun to resume", file=sys.stderr)
                return 1
    gt = GroundTruth.load(recipe)
    rand = sorted(gt.random_cells().values())
    noise = gt.seed_noise()
    print(f"done in {time.perf_counter() - start:.0f} s; {len(rand)} random cells")
    if rand:
        print(
            f"random cells: min {rand[0]:.4f} median {rand[len(rand) // 2]:.4f} max {rand[-1]:.4f}"
        )
    for label, arch in LANDMARKS.items():
        m = gt.mean(arch)
        if m is not None and rand:
            print(f"{label:>20}: {m:.4f} (percentile {gt.percentile(m):.1f})")
    print(f"pooled seed std: {noise['pooled_std']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
