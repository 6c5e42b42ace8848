"""Shared test fixtures: quiet third-party warnings, pin threads, tiny NNI spaces."""

from __future__ import annotations

import logging
import os
import warnings

import pytest
import torch

# Under pytest-xdist (`make test` runs two workers) each worker gets one thread, and so do the
# programs its tests start: two workers with two threads each on the 2-core CI machine
# oversubscribe it, and OpenMP's spinning threads then run a tiny search eight times slower.
THREADS = 1 if os.environ.get("PYTEST_XDIST_WORKER") else min(2, os.cpu_count() or 1)
torch.set_num_threads(THREADS)
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"


@pytest.fixture(autouse=True)
def _keep_threads():
    """Restore the worker's thread count after a test that set its own (``trainer.threads``)."""
    yield
    if torch.get_num_threads() != THREADS:
        torch.set_num_threads(THREADS)


SERIAL = (
    "tests/integrations/test_nnictl.py",  # NNI's manager gives the tuner a fixed 10 s to connect
    "tests/integrations/test_nnictl_remote.py",  # the same, through a loopback sshd
    "tests/integrations/test_optuna_services.py",  # PostgreSQL and two workers against a deadline
    "tests/integrations/test_tune_workers.py",  # two worker processes sharing one study
    "tests/integrations/test_nni_trial_signals.py",  # a signal sent a fraction into an epoch
    "tests/test_distributed_search.py",  # gloo rendezvous of two ranks
    "tests/hypergrad/test_distributed.py",  # the same
    "tests/test_search.py::test_resume_after_sigkill_matches_uninterrupted",  # kill mid-epoch
    "tests/test_search.py::test_signal_stops_at_a_step_boundary_and_resumes",  # signal mid-epoch
)
"""Tests that send a signal a fraction of an epoch in, or race a fixed timeout of a service they
start: ``make test`` runs them alone after the parallel part (``-m serial``), so a busy
neighbour cannot shift their timing."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the :data:`SERIAL` tests ``serial``."""
    for item in items:
        node = item.nodeid.split("[")[0]
        if any(node == s or node.startswith(s + "::") for s in SERIAL):
            item.add_marker(pytest.mark.serial)


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
