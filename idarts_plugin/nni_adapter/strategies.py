"""The NNI strategy of a search and the one-shot module it wraps the space in.

The strategy class is the :data:`~idarts_plugin.strategy_table.STRATEGY_TABLE` entry's
``nni_class``: NNI's ``DartsStrategy`` / ``GumbelDartsStrategy``, or one of ours
(:mod:`idarts_plugin.strategy`).
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any, cast

from torch.utils.data import DataLoader

from ..collapse import Remedies
from ..config import StrategyConfig
from ..strategy_table import STRATEGY_TABLE

if TYPE_CHECKING:  # NNI is untyped: these names document the types (mypy sees Any)
    from nni.nas.nn.pytorch import ModelSpace
    from nni.nas.oneshot.pytorch.base_lightning import BaseOneShotLightningModule
    from nni.nas.strategy import DARTS
    from pytorch_lightning import LightningModule

__all__ = ["build_strategy", "one_shot"]


def build_strategy(
    cfg: StrategyConfig,
    *,
    arc_learning_rate: float | None = None,
    warmup_epochs: int | None = None,
) -> DARTS:
    """The NNI strategy object for a strategy config.

    The class is the entry's ``nni_class`` in
    :data:`~idarts_plugin.strategy_table.STRATEGY_TABLE`. The hypergradient strategies get
    the section's :class:`~idarts_plugin.hypergrad.SearchOptions`
    (:meth:`StrategyConfig.search_options`) and no remedy (``idarts search`` adds the
    section's remedies to its trainer as callbacks, for every strategy alike); NNI's
    first-order ones the common keys and their own (``temperature``).

    Args:
        cfg: the strategy section.
        arc_learning_rate: the resolved architecture learning rate (required when the config
            says ``auto``; see :func:`idarts_plugin.budget.resolve_arc_learning_rate`).
        warmup_epochs: the resolved warm-up (required when the config says ``auto``; see
            :func:`idarts_plugin.budget.resolve_warmup_epochs`).
    """
    entry = STRATEGY_TABLE[cfg.name]
    module, _, name = entry.nni_class.rpartition(".")
    strategy_class = getattr(importlib.import_module(module), name)
    options = cfg.search_options(arc_learning_rate=arc_learning_rate, warmup_epochs=warmup_epochs)
    if not entry.first_order:
        # No remedy in the module: the search adds the config's remedies to its trainer itself
        # (the module's would override them, and its defaults are on).
        return cast("DARTS", strategy_class(options=options, remedies=Remedies.off()))
    common: dict[str, Any] = {
        "arc_learning_rate": options.arc_learning_rate,
        "warmup_epochs": options.warmup_epochs,
        "gradient_clip_val": options.gradient_clip_val,
        "log_prob_every_n_step": options.log_prob_every_n_step,
    }
    own = entry.nni_kwargs({k: getattr(cfg, k) for k in entry.keys})
    return cast("DARTS", strategy_class(**own, **common))


def one_shot(
    strategy: DARTS,
    space: ModelSpace,
    module: LightningModule,
    train_loader: DataLoader[Any],
    val_loader: DataLoader[Any],
) -> tuple[BaseOneShotLightningModule, dict[str, DataLoader[Any]]]:
    """NNI's one-shot path: the supernet in the strategy's Lightning module, and its batches.

    Args:
        strategy: from :func:`build_strategy`.
        space: the NNI model space (:func:`~idarts_plugin.nni_adapter.build_space`).
        module: the weight-training module (:func:`~idarts_plugin.nni_adapter.search_module`).
        train_loader: the weights' batches.
        val_loader: the architecture's batches.

    Returns:
        ``(one-shot module, the strategy's {"train", "val"} loaders)`` for ``trainer.fit``.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="nni")
        supernet = strategy.mutate_model(space)
    oneshot = strategy.configure_oneshot_module(module)
    oneshot.set_model(supernet)
    loaders: dict[str, DataLoader[Any]] = strategy.train_dataloader(
        lambda: train_loader, lambda: val_loader
    )
    return oneshot, loaders
