"""Everything that adapts NNI and Lightning for a search, in one place.

This subpackage imports NNI and Lightning at its top; the run-level modules
(:mod:`idarts_plugin.search`, :mod:`idarts_plugin.evaluate`, :mod:`idarts_plugin.spaces`)
import it only inside the functions that need it, so that importing them (and the CLI) stays
light. Nothing here is built inside a function to delay an import.

* :mod:`~idarts_plugin.nni_adapter.lightning`: the weight-training module with DARTS' recipe,
  the run recorder callback (and its per-epoch solver notes), the progress bar, checkpoints, the supernet's export.
* :mod:`~idarts_plugin.nni_adapter.spaces`: the generic cell space as an NNI ``ModelSpace``,
  building any space and freezing it at an architecture.
* :mod:`~idarts_plugin.nni_adapter.strategies`: the NNI strategy of a strategy config
  (NNI's DARTS and GumbelDARTS, or ours) and NNI's one-shot wrapping of the space.
* :mod:`~idarts_plugin.nni_adapter.trainer`: the search's loaders (an epoch-seeded sampler,
  sharded for data parallelism) and Lightning's trainer (DDP, precision, TensorBoard logs).
"""

from __future__ import annotations

from .lightning import (
    ArchProgressBar,
    GuardLike,
    RunRecorder,
    alpha_rank_spread,
    derived_export,
    per_epoch_solver_notes,
    save_checkpoint,
    search_module,
    supernet_accuracy,
)
from .spaces import CellSpace, build_space, freeze_architecture
from .strategies import build_strategy, one_shot
from .trainer import EpochSeededSampler, make_trainer, search_loader

__all__ = [
    "ArchProgressBar",
    "CellSpace",
    "EpochSeededSampler",
    "GuardLike",
    "RunRecorder",
    "alpha_rank_spread",
    "build_space",
    "build_strategy",
    "derived_export",
    "freeze_architecture",
    "make_trainer",
    "one_shot",
    "per_epoch_solver_notes",
    "save_checkpoint",
    "search_loader",
    "search_module",
    "supernet_accuracy",
]
