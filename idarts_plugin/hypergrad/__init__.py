"""The hypergradient engine (torch only: no NNI, Lightning or Optuna import).

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

from .api import compute_hypergradient, hypergradient
from .autodiff import (
    ExactCurvature,
    FiniteDifferenceCurvature,
    LossFn,
    TrainCurvature,
    make_curvature,
    power_iteration,
)
from .functional import module_loss, split_parameters
from .methods import (
    METHODS,
    Diagnostics,
    HypergradResult,
    Implicit,
    Method,
    Unrolled,
    make_method,
    method_options,
)
from .solvers import (
    Amended,
    AutoStepSize,
    ConjugateGradient,
    LinearSolver,
    Neumann,
    NeumannDivergenceWarning,
    SolveInfo,
    WarmStart,
    Zero,
)
from .spec import MethodSpec

__all__ = [
    "METHODS",
    "Amended",
    "AutoStepSize",
    "ConjugateGradient",
    "Diagnostics",
    "ExactCurvature",
    "FiniteDifferenceCurvature",
    "HypergradResult",
    "Implicit",
    "LinearSolver",
    "LossFn",
    "Method",
    "MethodSpec",
    "Neumann",
    "NeumannDivergenceWarning",
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
