"""idarts-plugin: implicit (iDARTS), second-order and amended architecture gradients for NNI.

The engine (:mod:`idarts_plugin.hypergrad`, torch only) and the NNI strategies are imported
on first use, so ``import idarts_plugin`` (and the ``idarts`` command's help and config
errors) does not load torch.

Example:
    >>> from idarts_plugin import hypergradient, ImplicitDARTS, Remedies  # doctest: +SKIP
    >>> strategy = ImplicitDARTS(neumann_steps=2)                # doctest: +SKIP
    >>> as_the_paper_ran_it = ImplicitDARTS(remedies=Remedies.off())  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .budget import AlphaSchedule
    from .collapse import Remedies
    from .hypergrad import METHODS, SearchOptions, compute_hypergradient, hypergradient
    from .strategy import AmendedDARTS, HypergradientDARTS, ImplicitDARTS, UnrolledDARTS

logging.getLogger(__name__).addHandler(logging.NullHandler())

_LAZY = {
    "METHODS": "idarts_plugin.hypergrad",
    "compute_hypergradient": "idarts_plugin.hypergrad",
    "hypergradient": "idarts_plugin.hypergrad",
    "AmendedDARTS": "idarts_plugin.strategy",
    "HypergradientDARTS": "idarts_plugin.strategy",
    "ImplicitDARTS": "idarts_plugin.strategy",
    "UnrolledDARTS": "idarts_plugin.strategy",
    # What the strategies' ``options=``, ``schedule=`` and ``remedies=`` take.
    "SearchOptions": "idarts_plugin.hypergrad",
    "AlphaSchedule": "idarts_plugin.budget",
    "Remedies": "idarts_plugin.collapse",
}

__all__ = [
    "METHODS",
    "AlphaSchedule",
    "AmendedDARTS",
    "HypergradientDARTS",
    "ImplicitDARTS",
    "Remedies",
    "SearchOptions",
    "UnrolledDARTS",
    "__version__",
    "compute_hypergradient",
    "hypergradient",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'idarts_plugin' has no attribute {name!r}")
