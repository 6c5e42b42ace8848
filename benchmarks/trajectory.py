"""Supernet snapshots along real searches, for the trajectory fidelity benchmark.

    python -m benchmarks.trajectory            # make the missing snapshots (resumable)

A snapshot is the supernet's ``state_dict`` (weights, BatchNorm statistics and α) at the end of
an epoch of a real ``idarts search`` on the ground truth's data (Fashion-MNIST 16x16, the
NAS-Bench-201 cell space, stem 8, one cell per stage: the search-quality benchmark's set-up).
Snapshots live in ``benchmarks/fidelity_cache/`` (committed, so the fidelity numbers can be
recomputed from the same states; a missing one is rebuilt from its seed: about 2 minutes per
6-epoch search with one torch thread, so the seeds run in parallel, one per core).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

CACHE = Path(__file__).resolve().parent / "fidelity_cache"
CONFIG = Path(__file__).resolve().parent.parent / "examples" / "configs" / "fashion-nb201.yaml"
EPOCHS = 6
SNAPSHOT_EPOCHS = (1, 3, 6)
"""Early (after the first epoch), middle, end."""
SEEDS = (0, 1)
THREADS = 1
"""Torch threads per trajectory search (one search per core: run seeds in parallel)."""
STRATEGY = "darts"
"""Who drives the trajectory: NNI's DARTS (the cheapest; the states are what is measured)."""

_logger = logging.getLogger(__name__)


def overrides(seed: int, strategy: str = STRATEGY) -> list[str]:
    """``--set`` overrides of the trajectory searches."""
    return [
        f"strategy.name={strategy}",
        f"trainer.epochs={EPOCHS}",
        f"trainer.seed={seed}",
        "trainer.progress_bar=false",
        f"trainer.threads={THREADS}",
    ]


@dataclass(frozen=True)
class Snapshot:
    """One saved supernet state.

    Attributes:
        seed: the search seed.
        epoch: epochs completed when it was taken.
        path: the ``.pt`` file.
    """

    seed: int
    epoch: int
    path: Path

    @property
    def label(self) -> str:
        """``seed S, epoch E``."""
        return f"seed {self.seed}, epoch {self.epoch}"


def snapshot_path(seed: int, epoch: int) -> Path:
    """Where the snapshot of ``seed`` after ``epoch`` epochs lives."""
    return CACHE / f"{STRATEGY}-seed{seed}-epoch{epoch}.pt"


class _SaveAt:
    """A Lightning callback saving the supernet's state after the given epochs (atomically)."""

    def __init__(self, seed: int, epochs: Sequence[int]) -> None:
        import pytorch_lightning as pl

        class Callback(pl.Callback):
            def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
                done = trainer.current_epoch + 1
                if done in epochs:
                    state = {
                        k: v.detach().cpu().clone()
                        for k, v in pl_module.training_module.model.state_dict().items()
                    }
                    path = snapshot_path(seed, done)
                    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
                    os.close(fd)
                    os.chmod(tmp, 0o644)
                    torch.save(state, tmp)
                    os.replace(tmp, path)

        self.callback = Callback()


def make_snapshots(seeds: Sequence[int] = SEEDS) -> list[Snapshot]:
    """Run the searches whose snapshots are missing; return every snapshot."""
    from idarts_plugin.config import load_config
    from idarts_plugin.search import run_search

    CACHE.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        if all(snapshot_path(seed, e).is_file() for e in SNAPSHOT_EPOCHS):
            continue
        cfg = load_config(CONFIG, overrides(seed))
        with tempfile.TemporaryDirectory() as tmp:
            _logger.info("trajectory search, seed %d", seed)
            run_search(
                cfg, run_dir=Path(tmp) / "run", callbacks=[_SaveAt(seed, SNAPSHOT_EPOCHS).callback]
            )
    return [Snapshot(s, e, snapshot_path(s, e)) for s in seeds for e in SNAPSHOT_EPOCHS]


def saved_snapshots() -> list[Snapshot]:
    """The snapshots already on disk (no search is run)."""
    return [
        Snapshot(s, e, snapshot_path(s, e))
        for s in SEEDS
        for e in SNAPSHOT_EPOCHS
        if snapshot_path(s, e).is_file()
    ]


def main(argv: list[str] | None = None) -> None:
    """Make the missing snapshots."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--seed", type=int, action="append", help="only this search seed (repeatable)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    for snap in make_snapshots(args.seed or SEEDS):
        print(snap.label, snap.path)


if __name__ == "__main__":
    main()
