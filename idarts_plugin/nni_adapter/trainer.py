"""Lightning's side of a search: its loaders, its trainer, data parallelism and precision.

* :func:`search_loader` / :class:`EpochSeededSampler`: batches whose order depends only on
  ``(seed, epoch)``, sharded across the ranks of a data-parallel run, so that a resumed
  search sees exactly the batches of an uninterrupted one.
* :func:`make_trainer`: ``pl.Trainer`` with the run's device, DDP when asked, precision and
  TensorBoard logs (when tensorboard is installed).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler

from ..config import TrainerConfig

__all__ = ["EpochSeededSampler", "make_trainer", "search_loader"]

_logger = logging.getLogger(__name__)


def _lightning_strategy(trainer_cfg: TrainerConfig) -> Any:
    """``"auto"``, or Lightning's DDP strategy for a data-parallel search."""
    if trainer_cfg.devices == 1 and trainer_cfg.strategy == "auto":
        return "auto"
    from pytorch_lightning.strategies import DDPStrategy

    # The hypergradient all-reduces its own products; DDP averages the weight gradients.
    return DDPStrategy(find_unused_parameters=False)


def _precision(value: str | int) -> str:
    """``trainer.precision`` as Lightning spells it (``32`` → ``32-true``).

    Example:
        >>> _precision(32), _precision("bf16-mixed")
        ('32-true', 'bf16-mixed')
    """
    text = str(value)
    return {"32": "32-true", "64": "64-true"}.get(text, text)


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class EpochSeededSampler(Sampler[int]):
    """A shuffling sampler whose order depends only on ``(seed, epoch)``.

    Lightning calls :meth:`set_epoch` before every epoch, so a resumed search sees exactly the
    batches an uninterrupted one would. In a data-parallel run (``torch.distributed``
    initialised) rank ``r`` of ``W`` takes every ``W``-th index of the same permutation from
    ``r`` on, so the ranks' ``s``-th batches of size ``B`` together are exactly the ``s``-th
    batch of size ``W·B`` of a single process.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch``."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.n, generator=gen)
        rank, world = _rank_world()
        if world > 1:
            order = order[: self.n - self.n % world][rank::world]
        return iter(order.tolist())

    def __len__(self) -> int:
        _, world = _rank_world()
        return self.n // world


def search_loader(
    ds: Dataset[Any], trainer_cfg: TrainerConfig, *, seed_offset: int, shuffle: bool
) -> DataLoader[Any]:
    """A search's loader over ``ds``.

    Args:
        ds: the split (weights' or architecture's).
        trainer_cfg: batch size, workers and ``seed`` (the sampler's seed is
            ``seed + seed_offset``).
        seed_offset: tells the loaders of one search apart.
        shuffle: an :class:`EpochSeededSampler` (and the last short batch dropped), or the
            split in order.
    """
    n = len(ds)  # type: ignore[arg-type]
    sampler = EpochSeededSampler(n, trainer_cfg.seed + seed_offset) if shuffle else None
    return DataLoader(
        ds,
        batch_size=trainer_cfg.batch_size,
        sampler=sampler,
        num_workers=trainer_cfg.num_workers,
        # A last batch of a handful of samples makes BatchNorm's batch statistics (and the
        # Hessian of that minibatch) meaningless; search loaders drop it.
        drop_last=shuffle and n >= trainer_cfg.batch_size,
        pin_memory=torch.cuda.is_available(),
    )


def make_trainer(
    trainer_cfg: TrainerConfig,
    *,
    run_path: Path,
    accelerator: str,
    devices: list[int] | int,
    callbacks: list[Any],
) -> pl.Trainer:
    """Lightning's trainer for the search (TensorBoard logs when tensorboard is installed).

    Args:
        trainer_cfg: the trainer section.
        run_path: the run directory (TensorBoard logs go to its ``tb/``).
        accelerator: ``"cpu"`` or ``"gpu"`` (:func:`idarts_plugin.runtime.resolve_device`).
        devices: the resolved device(s) of a single-device run.
        callbacks: the run's callbacks.
    """
    logger: Any = False
    try:
        from pytorch_lightning.loggers import TensorBoardLogger

        logger = TensorBoardLogger(
            save_dir=str(run_path), name="tb", version="", default_hp_metric=False
        )
    except ModuleNotFoundError:
        _logger.info("tensorboard is not installed: no TensorBoard logs")
    return pl.Trainer(
        max_epochs=trainer_cfg.epochs,
        accelerator=accelerator,
        devices=devices if trainer_cfg.devices == 1 else trainer_cfg.devices,
        strategy=_lightning_strategy(trainer_cfg),
        use_distributed_sampler=False,  # EpochSeededSampler shards itself (see its docstring)
        precision=_precision(trainer_cfg.precision),  # type: ignore[arg-type]
        logger=logger,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=trainer_cfg.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_train_batches=trainer_cfg.limit_batches,
        log_every_n_steps=1,
        deterministic=False,
    )
