"""A search's data: the DARTS split of the training set, and the held-out test split.

The *training* set is split DARTS-style: a seeded permutation, the first ``train_portion`` for
the weights, the rest for the architecture. The test split is only for reporting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .loaders import DataError, folder_arrays
from .registry import DATASETS, DataConfig
from .transforms import reshape, standardise

if TYPE_CHECKING:  # torch is imported where data is loaded: validating a config needs none
    from torch import Tensor
    from torch.utils.data import Dataset

__all__ = ["SearchData", "load_search_data"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchData:
    """The three splits of a search's data and their shape."""

    name: str
    weight_train: Dataset[Any]
    arch_val: Dataset[Any]
    test: Dataset[Any]
    num_classes: int
    in_channels: int
    image_size: int


def _load_arrays(cfg: DataConfig, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
    if cfg.name.startswith("folder:"):
        return folder_arrays(cfg, seed)
    info = DATASETS[cfg.name]
    return (*info.load(cfg, seed), info.num_classes)


def load_search_data(config: DataConfig, *, seed: int | None = None) -> SearchData:
    """Load a data set and split it for a search.

    Args:
        config: which data, where, and the split.
        seed: seeds the weight/architecture split and ``limit`` subsetting (same seed, same
            split); ``None``: ``config.seed``.

    Raises:
        DataError: the data cannot be found, read or downloaded (the message says how to get it).
    """
    import torch
    from torch.utils.data import Subset, TensorDataset

    if seed is None:
        seed = config.seed
    x_tr, y_tr, x_te, y_te, num_classes = _load_arrays(config, seed)
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(y_tr), generator=gen)
    if config.limit is not None:
        perm = perm[: config.limit]
        test_keep = torch.randperm(len(y_te), generator=gen)[: max(config.limit // 4, 1)]
        x_te, y_te = x_te[test_keep], y_te[test_keep]
    x_used = x_tr[perm]
    y_used = y_tr[perm]
    x_f = reshape(standardise(x_used, config.name, x_used), config)
    x_te_f = reshape(standardise(x_te, config.name, x_used), config)
    n_w = int(config.train_portion * len(y_used))
    if n_w < 1 or n_w >= len(y_used):
        raise DataError(
            f"data.train_portion {config.train_portion} leaves an empty half of {len(y_used)} training examples"
        )
    full = TensorDataset(x_f, y_used)
    _logger.info(
        "data %s: %d weight / %d architecture / %d test examples, %d classes, %dx%dx%d",
        config.name,
        n_w,
        len(y_used) - n_w,
        len(y_te),
        num_classes,
        x_f.shape[1],
        x_f.shape[2],
        x_f.shape[3],
    )
    return SearchData(
        name=config.name,
        weight_train=Subset(full, range(n_w)),
        arch_val=Subset(full, range(n_w, len(y_used))),
        test=TensorDataset(x_te_f, y_te),
        num_classes=num_classes,
        in_channels=int(x_f.shape[1]),
        image_size=int(x_f.shape[-1]),
    )
