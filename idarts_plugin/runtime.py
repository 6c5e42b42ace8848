"""What a search and an evaluation share: the run-level error, the device and the data.

This module sits below :mod:`idarts_plugin.search` and :mod:`idarts_plugin.evaluate` (both
import it; it imports neither), so that neither has to import the other.

Example:
    >>> resolve_device("cpu")
    ('cpu', 1)
    >>> torch_device("cpu")
    'cpu'
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing this module (for SearchError) loads no torch
    from .config import RunConfig
    from .data import SearchData
    from .spaces import SpaceSpec

__all__ = ["SearchError", "prepare_data", "resolve_device", "torch_device"]


class SearchError(RuntimeError):
    """A search cannot start or continue (the message says why and what to do)."""


def resolve_device(device: str) -> tuple[str, list[int] | int]:
    """Map ``trainer.device`` to Lightning's ``(accelerator, devices)``.

    Args:
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    Raises:
        SearchError: CUDA was asked for and is not available.
    """
    import torch

    if device == "auto":
        return ("gpu", 1) if torch.cuda.is_available() else ("cpu", 1)
    if device == "cpu":
        return "cpu", 1
    if not torch.cuda.is_available():
        raise SearchError(
            f"trainer.device is {device!r} but no CUDA device is available "
            "(torch.cuda.is_available() is False); use trainer.device=auto or cpu"
        )
    index = int(device.split(":", 1)[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise SearchError(
            f"trainer.device is {device!r} but only {torch.cuda.device_count()} CUDA device(s) exist"
        )
    return "gpu", [index]


def torch_device(device: str) -> str:
    """``trainer.device`` as a torch device string for a single-process job (``cuda:N``/``cpu``).

    Raises:
        SearchError: CUDA was asked for and is not available.
    """
    accelerator, devices = resolve_device(device)
    if accelerator == "gpu":
        return f"cuda:{devices[0] if isinstance(devices, list) else 0}"
    return "cpu"


def prepare_data(cfg: RunConfig, spec: SpaceSpec) -> SearchData:
    """The run's data, with the input channels the space needs (gray → RGB for hub spaces).

    Args:
        cfg: the run config (its ``data`` section; ``data.seed`` draws the subset and split).
        spec: the resolved search space.
    """
    from .data import load_search_data

    data_cfg = cfg.data
    if data_cfg.channels is None and spec.in_channels is not None:
        data_cfg = dataclasses.replace(data_cfg, channels=spec.in_channels)
    return load_search_data(data_cfg)
