"""Data sets for an architecture search, with the DARTS split and a held-out test split.

Every data set yields ``(image float32 [C, H, W], label int)``. The *training* set is split
DARTS-style: a seeded permutation, the first ``train_portion`` for the weights, the rest for the
architecture. The test split is only for reporting.

Every named data set is one :class:`DatasetInfo` entry of :data:`DATASETS` (its loader, class
count, native shape, normalisation, augmentation and NAS-Bench-201 name); adding a data set is
adding an entry there (and its test).

| name | source | download |
|---|---|---|
| ``digits`` | scikit-learn's ``load_digits`` (in the wheel), 8x8, seeded stratified 20 % test | never |
| ``fashion-mnist`` | idx files in ``root``, else Debian's ``/usr/share/datasets/fashion-mnist``, else torchvision | torchvision |
| ``mnist`` | idx files in ``root``, else torchvision | torchvision |
| ``cifar10``, ``cifar100`` | torchvision's on-disk format under ``root`` | torchvision |
| ``imagenet16-120`` | NAS-Bench-201's ImageNet16 pickles under ``root`` | no public download here |
| ``folder:PATH`` | ``ImageFolder`` (``train/`` + ``test/`` or ``val/``, else a seeded 20 % test) | never |

Example:
    >>> data = load_search_data(DataConfig(name="digits", limit=100), seed=0)
    >>> len(data.weight_train), len(data.arch_val), data.num_classes, data.image_size
    (50, 50, 10, 8)
"""

from __future__ import annotations

from .loaders import DEBIAN_FASHION_MNIST, DataError, read_idx
from .registry import DATASETS, DataConfig, DatasetInfo, available_datasets
from .splits import SearchData, load_search_data
from .transforms import augmenter, random_crop_flip

__all__ = [
    "DATASETS",
    "DEBIAN_FASHION_MNIST",
    "DataConfig",
    "DataError",
    "DatasetInfo",
    "SearchData",
    "augmenter",
    "available_datasets",
    "load_search_data",
    "random_crop_flip",
    "read_idx",
]
