"""NNI adapter: one-shot strategies whose architecture gradient comes from the engine."""

from ..hypergrad.spec import MethodSpec
from .module import HypergradientDartsModule
from .strategies import AmendedDARTS, HypergradientDARTS, ImplicitDARTS, UnrolledDARTS

__all__ = [
    "AmendedDARTS",
    "HypergradientDARTS",
    "HypergradientDartsModule",
    "ImplicitDARTS",
    "MethodSpec",
    "UnrolledDARTS",
]
