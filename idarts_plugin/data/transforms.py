"""What is done to the images: standardisation, channels and size, and augmentation.

Example:
    >>> import torch
    >>> random_crop_flip(torch.ones(2, 1, 4, 4), 1).shape
    torch.Size([2, 1, 4, 4])
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from .registry import DATASETS, DataConfig

if TYPE_CHECKING:  # torch is imported where data is loaded: validating a config needs none
    from torch import Tensor

__all__ = ["augmenter", "random_crop_flip", "reshape", "standardise"]


def random_crop_flip(x: Tensor, pad: int) -> Tensor:
    """Randomly crop each image of ``[N, C, H, W]`` after ``pad``-pixel padding; flip half.

    Crop offsets and flips come from torch's global generator (seed it for repeatable runs).

    Example:
        >>> import torch
        >>> random_crop_flip(torch.ones(2, 1, 4, 4), 1).shape
        torch.Size([2, 1, 4, 4])
    """
    import torch

    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    out = torch.empty_like(x)
    ij = torch.randint(0, 2 * pad + 1, (n, 2))
    flip = torch.rand(n) < 0.5
    for k in range(n):
        i, j = int(ij[k, 0]), int(ij[k, 1])
        crop = padded[k, :, i : i + h, j : j + w]
        out[k] = crop.flip(-1) if flip[k] else crop
    return out


def augmenter(name: str, enabled: bool = True) -> Callable[[Tensor], Tensor] | None:
    """The data set's conventional training augmentation (``DatasetInfo.crop_padding``).

    Returns ``None`` when ``enabled`` is false or the data set has none (``folder:PATH``
    included).

    Example:
        >>> augmenter("digits") is None, augmenter("cifar10", enabled=False) is None
        (True, True)
    """
    info = DATASETS.get(name)
    if not enabled or info is None or info.crop_padding is None:
        return None
    return partial(random_crop_flip, pad=info.crop_padding)


def standardise(x: Tensor, name: str, train: Tensor) -> Tensor:
    """uint8 → [0, 1] → per-channel standardisation (published stats, else train stats)."""
    import torch

    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    info = DATASETS.get(name)
    published = info.normalise if info is not None else None
    if published is not None and x.shape[1] == len(published[0]):
        mean_t, std_t = (torch.tensor(v).view(1, -1, 1, 1) for v in published)
    else:
        ref = train.float() / 255.0 if train.dtype == torch.uint8 else train.float()
        mean_t = ref.mean(dim=(0, 2, 3), keepdim=True)
        std_t = ref.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return (x - mean_t) / std_t


def reshape(x: Tensor, cfg: DataConfig) -> Tensor:
    """``data.channels`` (1 ↔ 3) and ``data.image_size`` (bilinear) applied to ``[N, C, H, W]``."""
    import torch

    if cfg.channels == 3 and x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    elif cfg.channels == 1 and x.shape[1] == 3:
        x = x.mean(dim=1, keepdim=True)
    if cfg.image_size is not None and x.shape[-1] != cfg.image_size:
        x = torch.nn.functional.interpolate(
            x, size=(cfg.image_size, cfg.image_size), mode="bilinear", align_corners=False
        )
    return x.contiguous()
