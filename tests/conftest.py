"""Shared test fixtures: quiet third-party warnings, pin threads, tiny NNI spaces."""

from __future__ import annotations

import logging
import os
import warnings

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))

for name in ("pytorch_lightning", "lightning_fabric", "lightning", "nni"):
    logging.getLogger(name).setLevel(logging.ERROR)


@pytest.fixture(autouse=True)
def _quiet_warnings():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="nni")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*litmodels.*")
        yield


def nni_available() -> bool:
    try:
        import nni  # noqa: F401
        import pytorch_lightning  # noqa: F401
    except ImportError:
        return False
    return True


requires_nni = pytest.mark.skipif(
    not nni_available(), reason="nni / pytorch-lightning not installed"
)
