"""The named data sets (one :class:`DatasetInfo` entry each) and :class:`DataConfig`.

Every named data set is one entry of :data:`DATASETS`: its loader
(:mod:`idarts_plugin.data.loaders`), class count, native shape, normalisation, augmentation
and NAS-Bench-201 name; adding a data set is adding an entry here (and its test).
``folder:PATH`` is the one data set without an entry.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..hypergrad.checks import check_bool, check_choice, check_int, check_number
from .loaders import (
    DataError,
    cifar_arrays,
    digits_arrays,
    imagenet16_arrays,
    mnist_like_arrays,
)

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "DATASETS",
    "Arrays",
    "DataConfig",
    "DatasetInfo",
    "available_datasets",
]


def _checked(key: str, check: Callable[..., Any], value: Any, **limits: Any) -> Any:
    """Run one of :mod:`idarts_plugin.hypergrad.checks` on a ``data`` value.

    Its ValueError becomes a :class:`DataError` naming ``key`` (``label`` names the value in
    :func:`~idarts_plugin.hypergrad.checks.check_choice`'s message).
    """
    label = limits.pop("label", "value")
    try:
        return check(label, value, **limits)
    except ValueError as exc:
        raise DataError(f"{key}: {str(exc).replace('value must', 'must')}") from None


def available_datasets() -> tuple[str, ...]:
    """The data set names (besides ``folder:PATH``), in :data:`DATASETS` order."""
    return tuple(DATASETS)


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Which data and how to split it.

    Attributes:
        name: a name from :func:`available_datasets` or ``folder:PATH``.
        root: where the files are (or go); default ``$IDARTS_DATA/<name>`` or
            ``~/.cache/idarts/data/<name>``.
        download: let torchvision download what is missing (torchvision-backed sets).
        train_portion: share of the training set for the weights; the rest is for α.
        limit: use at most this many training examples (after a seeded shuffle) and at most
            ``max(limit // 4, 1)`` test examples -- for quick runs.
        channels: force 1 or 3 input channels (1 → 3 repeats the gray channel; 3 → 1 averages).
        image_size: resize to this side length (bilinear); ``None`` keeps the native size.
        augment: the data set's conventional augmentation (used when retraining).
        seed: draws the ``limit`` subset, the weight/architecture split (and a folder's test
            split); separate from ``trainer.seed``, so search seeds vary only the search.
    """

    name: str = "digits"
    root: str | None = None
    download: bool = True
    train_portion: float = 0.5
    limit: int | None = None
    channels: int | None = None
    image_size: int | None = None
    augment: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        folder = isinstance(self.name, str) and self.name.startswith("folder:")
        if not folder:
            _checked(
                "data.name",
                check_choice,
                self.name,
                choices=(*DATASETS, "folder:PATH"),
                plural="names",
                label="data set",
            )
        if folder and not self.name[len("folder:") :]:
            raise DataError("data.name: folder: needs a path, e.g. folder:/data/my-images")
        try:
            in_unit = check_number("value", self.train_portion, minimum=0, strict=True) < 1
        except ValueError:
            in_unit = False
        if not in_unit:
            raise DataError(f"data.train_portion: must be in (0, 1), got {self.train_portion!r}")
        if self.limit is not None:
            _checked("data.limit", check_int, self.limit, minimum=2)
        if self.channels not in (None, 1, 3):  # an enumeration of integers: no shared check
            raise DataError(f"data.channels: must be 1, 3 or null, got {self.channels!r}")
        if self.image_size is not None:
            _checked("data.image_size", check_int, self.image_size, minimum=4)
        _checked("data.seed", check_int, self.seed, minimum=0)
        _checked("data.download", check_bool, self.download)
        _checked("data.augment", check_bool, self.augment)

    def resolved_root(self) -> Path:
        """The directory data is read from (see ``root``)."""
        if self.root is not None:
            return Path(self.root).expanduser()
        base = os.environ.get("IDARTS_DATA")
        base_path = Path(base) if base else Path.home() / ".cache" / "idarts" / "data"
        return base_path / self.name


Arrays = tuple["Tensor", "Tensor", "Tensor", "Tensor"]
"""``(train images, train labels, test images, test labels)``; images ``[N, C, H, W]``."""


@dataclass(frozen=True)
class DatasetInfo:
    """Everything the package knows about one named data set.

    Attributes:
        name: the ``data.name`` that selects it.
        load: ``(config, seed) -> (x_train, y_train, x_test, y_test)``, images uint8 or float
            ``[N, C, H, W]`` in their native shape, labels ``0 .. num_classes - 1``.
        num_classes: the number of classes.
        shape: the native ``(C, H, W)`` of one image.
        normalise: published per-channel ``(mean, std)`` of the [0, 1] images; ``None``:
            standardise with the (used part of the) training set's own statistics.
        crop_padding: the conventional augmentation when retraining (``data.augment``): a
            random crop after zero padding by this many pixels, and a horizontal flip;
            ``None``: no augmentation.
        nb201: the NAS-Bench-201 data set of the same images (look-ups), or ``None``.
        torchvision: the ``torchvision.datasets`` class that downloads it, or ``None``.
    """

    name: str
    load: Callable[[DataConfig, int], Arrays]
    num_classes: int
    shape: tuple[int, int, int]
    normalise: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    crop_padding: int | None = None
    nb201: str | None = None
    torchvision: str | None = None


def _downloadable(
    name: str,
    load: Callable[..., Arrays],
    num_classes: int,
    shape: tuple[int, int, int],
    torchvision: str,
    **more: Any,
) -> DatasetInfo:
    """An entry torchvision can download: its loader falls back on that class."""
    return DatasetInfo(
        name,
        partial(load, torchvision=torchvision),
        num_classes,
        shape,
        torchvision=torchvision,
        **more,
    )


def _cifar(classes: int, mean: tuple[float, ...], std: tuple[float, ...]) -> DatasetInfo:
    """CIFAR-10 or CIFAR-100: 32×32 RGB, padded random crops, NAS-Bench-201's name as ours."""
    name = f"cifar{classes}"
    return _downloadable(
        name,
        cifar_arrays,
        classes,
        (3, 32, 32),
        f"CIFAR{classes}",
        normalise=(mean, std),
        crop_padding=4,
        nb201=name,
    )


DATASETS: Mapping[str, DatasetInfo] = MappingProxyType(
    {
        info.name: info
        for info in (
            DatasetInfo("digits", digits_arrays, 10, (1, 8, 8)),
            _downloadable("fashion-mnist", mnist_like_arrays, 10, (1, 28, 28), "FashionMNIST"),
            _downloadable("mnist", mnist_like_arrays, 10, (1, 28, 28), "MNIST"),
            _cifar(10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
            _cifar(100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
            DatasetInfo(
                "imagenet16-120",
                imagenet16_arrays,
                120,
                (3, 16, 16),
                normalise=((0.4811, 0.4575, 0.4078), (0.2471, 0.2400, 0.2543)),
                crop_padding=2,
                nb201="imagenet16-120",
            ),
        )
    }
)
"""The named data sets (``folder:PATH`` is read by :class:`~torchvision.datasets.ImageFolder`)."""
