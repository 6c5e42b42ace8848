"""Fixtures shared by the closed-form tests: one quadratic bilevel problem and a point on it."""

from __future__ import annotations

import pytest
import torch

from .problems import DT, Quadratic


@pytest.fixture
def quad() -> Quadratic:
    return Quadratic.random(n=6, m=3, seed=1, cond=10.0)


@pytest.fixture
def point() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    return torch.randn(6, generator=g, dtype=DT), torch.randn(3, generator=g, dtype=DT)
