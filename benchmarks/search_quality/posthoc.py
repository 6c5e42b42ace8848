"""The remedies that need no new search, applied to a finished search's run directory.

python -m benchmarks.search_quality.sweep --posthoc   (fills in every cached record)

Perturbation-based derivation (DARTS-PT) scores ops on the final supernet, and the early stop
on the collapse signal chooses an epoch from the α history; neither changes the search up to
the point it acts on. So each sweep search is judged under them from its run directory (the
checkpoint and ``alpha_history.csv``): :func:`views` returns the cells, and the sweep's
``VIEWS`` arms read them from the search's cached record. The early stop's cell here is the one
a search with ``strategy.early_stop: collapse`` would hand back (training up to the kept epoch
is the same); DARTS-PT runs on the supernet at the end of the whole search (a search that
stopped early would score the supernet one epoch after the kept one).

:func:`fill` adds them to every cached record that lacks them (``sweep --posthoc``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

VIEW_KEYS = ("perturbation", "early_stop")
"""The cells a record gains (``record["archs"][key]``)."""


def views(run_dir: Path) -> dict[str, Any]:
    """The DARTS-PT cell and the early stop's cell of a finished search, with their records.

    Returns:
        ``{"archs": {"perturbation": ..., "early_stop": ...}, "perturbation": scores,
        "early_stop": the chosen epoch and why, "epoch_cells": the exclude_none cell of every
        epoch, "seconds": the derivation's time}``.
    """
    import torch

    from idarts_plugin.collapse import early_stop_choice, parameter_free_share
    from idarts_plugin.derive import derive
    from idarts_plugin.metrics import probs_from_alpha_row
    from idarts_plugin.nb201 import arch_from_nni
    from idarts_plugin.nni_adapter.perturbation import perturbation_derive
    from idarts_plugin.outputs import CHECKPOINT, read_csv_rows
    from idarts_plugin.search import build_supernet, resume_config
    from idarts_plugin.spaces import load_space

    torch.set_num_threads(1)
    cfg = resume_config(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    warmup = int(summary["decision"]["warmup_epochs"])
    cells = []
    rows = read_csv_rows(run_dir / "alpha_history.csv")
    for row in rows:
        chosen = derive(probs_from_alpha_row(row), "exclude_none")
        cells.append((int(row["epoch"]), chosen))
    shares = [(e, parameter_free_share(c)) for e, c in cells]
    choice = early_stop_choice(shares, probs_from_alpha_row(rows[-1]), first=warmup)
    kept = dict(cells)[choice.epoch]

    start = time.perf_counter()
    net = build_supernet(cfg, load_space(cfg.space))
    state = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=False)
    net.oneshot.load_state_dict(state["state_dict"])
    pt = perturbation_derive(net.oneshot, net.eval_loader, seed=cfg.trainer.seed)
    return {
        "archs": {"perturbation": arch_from_nni(pt.chosen), "early_stop": arch_from_nni(kept)},
        "perturbation": pt.as_dict(),
        "early_stop": choice.as_dict(),
        "epoch_cells": [arch_from_nni(c) for _, c in cells],
        "warmup_epochs": warmup,
        "seconds": time.perf_counter() - start,
    }


def add_views(record: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """The record with :func:`views` merged in (its ``archs`` extended)."""
    found = views(run_dir)
    return {
        **record,
        "archs": {**record["archs"], **found["archs"]},
        "posthoc": {k: v for k, v in found.items() if k != "archs"},
    }


def early_stop_view(record: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The early stop's cell and choice under today's rule, from a record's per-epoch cells.

    A record keeps every epoch's cell, so the sweep judges the early stop by the rule the
    package ships now, not by the one it had when the search ran. ``None``: the record has no
    per-epoch cells (its run directory was gone before ``--posthoc``).
    """
    from idarts_plugin.budget import warmup_for_budget
    from idarts_plugin.collapse import early_stop_choice, parameter_free_share
    from idarts_plugin.nb201 import arch_to_nni

    found = record.get("posthoc") or {}
    cells: list[str] | None = found.get("epoch_cells")
    if not cells:
        return None
    warmup = int(found.get("warmup_epochs", warmup_for_budget(len(cells))))
    shares = [(e, parameter_free_share(arch_to_nni(c))) for e, c in enumerate(cells)]
    choice = early_stop_choice(shares, record["probs"], first=warmup)
    return cells[choice.epoch], choice.as_dict()


def fill(cache: Path, run_root: Path) -> list[str]:
    """Add the views to every record in ``cache`` that lacks them and has its run directory."""
    from idarts_plugin.outputs import atomic_write_text

    from .bench import is_random

    done = []
    for path in sorted(cache.glob("*.json")):
        record = json.loads(path.read_text())
        if is_random(record.get("arm", "")) or all(k in record["archs"] for k in VIEW_KEYS):
            continue
        run_dir = run_root / record["key"]
        if not (run_dir / "summary.json").is_file():
            continue
        updated = add_views(record, run_dir)
        atomic_write_text(path, json.dumps(updated, indent=1, sort_keys=True))
        archs = updated["archs"]
        print(f"{record['key']}: PT {archs['perturbation']}, early stop {archs['early_stop']}")
        done.append(record["key"])
    return done
