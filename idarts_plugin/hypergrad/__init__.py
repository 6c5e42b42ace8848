"""The hypergradient engine (torch only: no NNI, Lightning or Optuna import).

Names are imported from their submodules on first use.

Example:
    >>> import torch
    >>> from idarts_plugin.hypergrad import hypergradient
    >>> w = [torch.ones(3, dtype=torch.float64)]
    >>> a = [torch.zeros(3, dtype=torch.float64)]
    >>> tr = lambda w, a: 0.5 * ((w[0] - a[0]) ** 2).sum()
    >>> va = lambda w, a: 0.5 * (w[0] ** 2).sum()
    >>> hypergradient(tr, va, w, a, method="neumann", steps=3, lr=1.0)[0]
    tensor([1., 1., 1.], dtype=torch.float64)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import compute_hypergradient, hypergradient
    from .autodiff import (
        ExactCurvature,
        FiniteDifferenceCurvature,
        GaussNewtonCurvature,
        LossFn,
        TrainCurvature,
        make_curvature,
        power_iteration,
    )
    from .diagnostics import Diagnostics, SolveInfo
    from .functional import module_loss, split_parameters
    from .methods import (
        METHODS,
        HypergradResult,
        Implicit,
        Method,
        MethodBuilder,
        Unrolled,
        make_method,
        method_options,
    )
    from .solvers import (
        NEUMANN_DIVERGED,
        SOLVERS,
        Amended,
        AutoStepSize,
        ConjugateGradient,
        GrowthMonitor,
        LinearSolver,
        Neumann,
        WarmStart,
        Zero,
    )
    from .spec import MethodSpec, OptionError, SearchOptions

_LAZY = {
    "compute_hypergradient": "api",
    "hypergradient": "api",
    "ExactCurvature": "autodiff",
    "FiniteDifferenceCurvature": "autodiff",
    "GaussNewtonCurvature": "autodiff",
    "LossFn": "autodiff",
    "TrainCurvature": "autodiff",
    "make_curvature": "autodiff",
    "power_iteration": "autodiff",
    "module_loss": "functional",
    "split_parameters": "functional",
    "METHODS": "methods",
    "Diagnostics": "diagnostics",
    "HypergradResult": "methods",
    "Implicit": "methods",
    "Method": "methods",
    "MethodBuilder": "methods",
    "Unrolled": "methods",
    "make_method": "methods",
    "method_options": "methods",
    "Amended": "solvers",
    "AutoStepSize": "solvers",
    "ConjugateGradient": "solvers",
    "GrowthMonitor": "solvers",
    "LinearSolver": "solvers",
    "Neumann": "solvers",
    "NEUMANN_DIVERGED": "solvers",
    "SOLVERS": "solvers",
    "SolveInfo": "diagnostics",
    "WarmStart": "solvers",
    "Zero": "solvers",
    "MethodSpec": "spec",
    "OptionError": "spec",
    "SearchOptions": "spec",
}
"""Public name -> the submodule that defines it (imported on first use: the checks and
specs a run config validates with need no torch until a method is built)."""

__all__ = [
    "METHODS",
    "NEUMANN_DIVERGED",
    "SOLVERS",
    "Amended",
    "AutoStepSize",
    "ConjugateGradient",
    "Diagnostics",
    "ExactCurvature",
    "FiniteDifferenceCurvature",
    "GaussNewtonCurvature",
    "GrowthMonitor",
    "HypergradResult",
    "Implicit",
    "LinearSolver",
    "LossFn",
    "Method",
    "MethodBuilder",
    "MethodSpec",
    "Neumann",
    "OptionError",
    "SearchOptions",
    "SolveInfo",
    "TrainCurvature",
    "Unrolled",
    "WarmStart",
    "Zero",
    "compute_hypergradient",
    "hypergradient",
    "make_curvature",
    "make_method",
    "method_options",
    "module_loss",
    "power_iteration",
    "split_parameters",
]


_DEPRECATED = {
    "NeumannDivergenceWarning": (
        "NeumannDivergenceWarning is never issued: a truncated Neumann series is one warning "
        "of the logger 'idarts_plugin.hypergrad.solvers' (record.idarts_event == "
        "NEUMANN_DIVERGED) and Diagnostics.solve.diverged; filter the log record (or read the "
        "diagnostics) instead"
    ),
}
"""Names kept importable for old code, with what to use instead (a DeprecationWarning)."""


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        import warnings

        warnings.warn(_DEPRECATED[name], DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(f"{__name__}.solvers"), name)
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
