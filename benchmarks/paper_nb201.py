"""The papers' NAS-Bench-201 setting: NNI's DARTS and ImplicitDARTS on CIFAR-10, 4 seeds each.

python -m benchmarks.paper_nb201 [--config examples/configs/cifar10-nb201-paper.yaml]
    [--seeds 4] [--arms darts,implicit] [--out runs/paper-nb201] [--tables PATH]
    [--set section.key=value ...]

Every search runs the config (iDARTS' NAS-Bench-201 protocol: the full-size space, SGD 0.01 →
0.001 with Nesterov momentum, 30 epochs, α lr 3e-4, no warm-up, argmax derivation) with
``trainer.seed`` 0 .. seeds - 1; the data split is ``data.seed``, the
same for every search. Each found cell is then looked up in NAS-Bench-201's own table (CIFAR-10
test accuracy after 200 epochs; ``idarts lookup``'s sources: ``--tables``, else
``$IDARTS_NB201``, else ``../shared/data/nb201`` beside the repository), and the result is
printed next to the papers' figures: DARTS-V1 54.30 (the all-skip cell), iDARTS 93.58 ± 0.32,
the space's optimum 94.37.

Resumable: a search whose run directory ``OUT/<arm>-s<seed>`` holds ``summary.json`` is done
and skipped, one with a checkpoint and no summary is resumed, the others start. The results go
to ``OUT/results.json``. A GPU job (several GPU hours per search); on 2 CPU cores the full-size
space costs seconds per step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "examples" / "configs" / "cifar10-nb201-paper.yaml"
DEFAULT_TABLES = REPO.parent / "shared" / "data" / "nb201"

ARMS: dict[str, tuple[str, list[str]]] = {
    "darts": ("NNI's DARTS (first order, DARTS-V1)", ["strategy.name=darts"]),
    "implicit": ("ImplicitDARTS (the config's strategy)", ["strategy.name=implicit"]),
}
"""Arm name → (title, overrides on top of the config)."""

PAPERS: dict[str, tuple[str, float, float | None]] = {
    "darts": ("DARTS-V1, NAS-Bench-201 paper", 54.30, None),
    "implicit": ("iDARTS, Zhang et al. 2021", 93.58, 0.32),
}
"""Arm → (who, CIFAR-10 test accuracy at 200 epochs, std over seeds) as published."""

OPTIMUM = 94.37
"""The best CIFAR-10 test accuracy (200 epochs) of the 15,625 cells."""


def tables_path(given: str | None) -> Path:
    """The NAS-Bench-201 source: ``--tables``, ``$IDARTS_NB201``, ``../shared/data/nb201``."""
    import os

    return Path(given or os.environ.get("IDARTS_NB201") or DEFAULT_TABLES)


def run_dir(out: Path, arm: str, seed: int) -> Path:
    """Where one search writes."""
    return out / f"{arm}-s{seed}"


def search_one(config: Path, arm: str, seed: int, out: Path, sets: Sequence[str]) -> str:
    """Run, resume or skip one search; its NAS-Bench-201 arch string.

    Raises:
        SystemExit: the search ended without a NAS-Bench-201 cell (another space was set).
    """
    from idarts_plugin.config import load_config
    from idarts_plugin.search import resume_config, run_search

    path = run_dir(out, arm, seed)
    summary = path / "summary.json"
    if summary.is_file():
        record = json.loads(summary.read_text())
        if record.get("arch_string"):
            print(f"{arm} seed {seed}: done before, {record['arch_string']}", flush=True)
            return str(record["arch_string"])
    overrides = [*ARMS[arm][1], f"trainer.seed={seed}", "output.ground_truth=false", *sets]
    resume = (path / "checkpoints" / "last.ckpt").is_file()
    if resume:
        cfg = resume_config(path)
        print(f"{arm} seed {seed}: resuming {path}", flush=True)
    else:
        cfg = load_config(config, overrides)
        print(f"{arm} seed {seed}: searching into {path}", flush=True)
    start = time.perf_counter()
    result = run_search(cfg, run_dir=path, resume=resume)
    if not result.arch_string:
        raise SystemExit(f"{path}: the search space is not NAS-Bench-201's; no cell to look up")
    print(
        f"{arm} seed {seed}: {result.arch_string} ({time.perf_counter() - start:.0f} s)",
        flush=True,
    )
    return result.arch_string


def look_up(found: dict[str, dict[int, str]], tables: Path) -> dict[str, list[dict[str, Any]]]:
    """Each found cell's CIFAR-10 figures (200 epochs) from NAS-Bench-201's table."""
    from idarts_plugin.nb201 import open_source

    source = open_source(str(tables))
    out: dict[str, list[dict[str, Any]]] = {}
    for arm, cells in found.items():
        for seed, arch in sorted(cells.items()):
            r = source.lookup(arch).results["cifar10"]
            out.setdefault(arm, []).append(
                {"seed": seed, "arch": arch, "test": r.test_acc, "val": r.val_acc, "rank": r.rank}
            )
    return out


def _mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}"


def report(results: dict[str, list[dict[str, Any]]]) -> str:
    """The per-seed cells and the comparison with the papers, as text."""
    lines = ["Found cells (NAS-Bench-201 CIFAR-10, 200 epochs):"]
    for arm, rows in results.items():
        for row in rows:
            test = "-" if row["test"] is None else f"{row['test']:.2f}"
            lines.append(
                f"  {arm:>9} seed {row['seed']}: test {test:>6}  rank {row['rank']}  {row['arch']}"
            )
    lines += ["", f"{'':42s} {'here':>16s} {'paper':>16s}"]
    for arm, rows in results.items():
        who, mean, std = PAPERS.get(arm, ("-", float("nan"), None))
        paper = f"{mean:.2f}" + ("" if std is None else f" ± {std:.2f}")
        here = _mean_std([r["test"] for r in rows if r["test"] is not None])
        title = f"{ARMS[arm][0]} ({len(rows)} seeds)"
        lines.append(f"{title:42s} {here:>16s} {paper:>16s}  ({who})")
    lines.append(f"{'optimum of the space':42s} {'':>16s} {OPTIMUM:>16.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the protocol (resuming), look the cells up, print and save the comparison."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--out", type=Path, default=Path("runs/paper-nb201"))
    parser.add_argument("--tables", help="NAS-Bench-201 source (default: see above)")
    parser.add_argument(
        "--set", dest="sets", action="append", default=[], help="section.key=value (repeatable)"
    )
    args = parser.parse_args(argv)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(unknown)}; valid: {', '.join(ARMS)}")
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    tables = tables_path(args.tables)
    if not tables.exists():
        parser.error(
            f"NAS-Bench-201 tables not found at {tables}: pass --tables PATH or set IDARTS_NB201"
        )
    from idarts_plugin.config import ConfigError
    from idarts_plugin.data import DataError
    from idarts_plugin.runtime import SearchError

    found: dict[str, dict[int, str]] = {}
    try:
        for arm in arms:
            for seed in range(args.seeds):
                found.setdefault(arm, {})[seed] = search_one(
                    args.config, arm, seed, args.out, args.sets
                )
    except (ConfigError, DataError, SearchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results = look_up(found, tables)
    text = report(results)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(
        json.dumps(
            {"config": str(args.config), "sets": args.sets, "tables": str(tables), **results},
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
