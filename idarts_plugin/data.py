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

import gzip
import logging
import os
import pickle
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is imported where data is loaded: validating a config needs none
    from torch import Tensor
    from torch.utils.data import Dataset

__all__ = [
    "DATASETS",
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

_logger = logging.getLogger(__name__)

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


class DataError(ValueError):
    """A data set cannot be loaded; the message names it, the path tried, and the fix."""


def available_datasets() -> tuple[str, ...]:
    """The data set names (besides ``folder:PATH``), in :data:`DATASETS` order."""
    return tuple(DATASETS)


@dataclass(frozen=True)
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
        if not isinstance(self.name, str) or not (
            self.name in DATASETS or self.name.startswith("folder:")
        ):
            raise DataError(
                f"data.name: unknown data set {self.name!r}; valid names: "
                f"{', '.join(DATASETS)}, folder:PATH"
            )
        if self.name.startswith("folder:") and not self.name[len("folder:") :]:
            raise DataError("data.name: folder: needs a path, e.g. folder:/data/my-images")
        tp = self.train_portion
        if isinstance(tp, bool) or not isinstance(tp, (int, float)) or not 0 < tp < 1:
            raise DataError(f"data.train_portion: must be in (0, 1), got {tp!r}")
        if self.limit is not None and (
            isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 2
        ):
            raise DataError(f"data.limit: must be an integer >= 2 or null, got {self.limit!r}")
        if self.channels not in (None, 1, 3):
            raise DataError(f"data.channels: must be 1, 3 or null, got {self.channels!r}")
        if self.image_size is not None and (
            isinstance(self.image_size, bool)
            or not isinstance(self.image_size, int)
            or self.image_size < 4
        ):
            raise DataError(
                f"data.image_size: must be an integer >= 4 or null, got {self.image_size!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise DataError(f"data.seed: must be an integer >= 0, got {self.seed!r}")
        if not isinstance(self.download, bool) or not isinstance(self.augment, bool):
            raise DataError("data.download and data.augment must be true or false")

    def resolved_root(self) -> Path:
        """The directory data is read from (see ``root``)."""
        if self.root is not None:
            return Path(self.root).expanduser()
        base = os.environ.get("IDARTS_DATA")
        base_path = Path(base) if base else Path.home() / ".cache" / "idarts" / "data"
        return base_path / self.name


@dataclass(frozen=True)
class SearchData:
    """The three splits of a search's data and their shape."""

    name: str
    weight_train: Dataset[Any]
    arch_val: Dataset[Any]
    test: Dataset[Any]
    num_classes: int
    in_channels: int
    image_size: int


# --------------------------------------------------------------------------------------------
# Readers.
# --------------------------------------------------------------------------------------------


def _open(path: Path) -> Any:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an idx file (MNIST's format: magic ``0 0 0x08 ndim``, big-endian sizes), gzipped or not.

    Raises:
        DataError: a bad magic number or a truncated file (names the file).
    """
    path = Path(path)
    try:
        with _open(path) as fh:
            raw = fh.read()
    except OSError as exc:
        raise DataError(f"cannot read {str(path)!r}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or not 1 <= raw[3] <= 4:
        raise DataError(
            f"{str(path)!r} is not an idx file of unsigned bytes (magic {raw[:4].hex() or 'missing'}, "
            "expected 000008 followed by the number of dimensions)"
        )
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    count = int(np.prod(dims))
    body = raw[4 + 4 * ndim :]
    if len(body) != count:
        raise DataError(
            f"{str(path)!r} is truncated or padded: {len(body)} bytes for dimensions {dims}"
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def _find_idx(root: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem, f"raw/{stem}.gz", f"raw/{stem}"):
        for base in (root, root / "FashionMNIST", root / "MNIST"):
            if (base / name).is_file():
                return base / name
    return None


_IDX = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _idx_splits(root: Path) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
    import torch

    paths = {k: [_find_idx(root, s) for s in v] for k, v in _IDX.items()}
    if any(p is None for ps in paths.values() for p in ps):
        return None
    out = []
    for split in ("train", "test"):
        img_path, lab_path = paths[split]
        assert img_path is not None and lab_path is not None
        images = read_idx(img_path)
        labels = read_idx(lab_path)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"{str(img_path)!r} and {str(lab_path)!r} do not match (shapes {images.shape}, {labels.shape})"
            )
        out += [
            torch.from_numpy(images.copy()).unsqueeze(1),
            torch.from_numpy(labels.astype(np.int64)),
        ]
    return out[0], out[1], out[2], out[3]


def _torchvision_failure(name: str, root: Path, exc: BaseException, download: bool) -> DataError:
    what = (
        "the download failed" if download else "the files are not there and data.download is false"
    )
    return DataError(
        f"data set {name!r} could not be loaded from {str(root)!r}: {what} ({type(exc).__name__}: {exc}). "
        f"Fix: run once with internet access and data.download=true, or put torchvision's files for "
        f"{name} under that directory (or point data.root at them)"
    )


def _torchvision_arrays(name: str, cfg: DataConfig) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    import torch
    import torchvision

    root = cfg.resolved_root()
    klass: Any = getattr(torchvision.datasets, str(DATASETS[name].torchvision))
    try:
        if cfg.download:
            root.mkdir(parents=True, exist_ok=True)
        train = klass(str(root), train=True, download=cfg.download)
        test = klass(str(root), train=False, download=cfg.download)
    except Exception as exc:  # URLError, RuntimeError("Dataset not found"), OSError, ...
        raise _torchvision_failure(name, root, exc, cfg.download) from None

    def arrays(ds: Any) -> tuple[Tensor, Tensor]:
        x = torch.as_tensor(np.asarray(ds.data))
        x = x.permute(0, 3, 1, 2) if x.ndim == 4 else x.unsqueeze(1)  # CIFAR is NHWC
        y = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
        return x.contiguous(), y

    return (*arrays(train), *arrays(test))


def _cifar_pickles(name: str, root: Path) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
    """Read torchvision's CIFAR layout directly (no MD5 check: files made elsewhere work too)."""
    import torch

    folder, train_files, test_files, key = (
        ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels")
        if name == "cifar10"
        else ("cifar-100-python", ["train"], ["test"], "fine_labels")
    )
    base = root / folder
    if not all((base / f).is_file() for f in (*train_files, *test_files)):
        return None

    def load(files: list[str]) -> tuple[Tensor, Tensor]:
        xs, ys = [], []
        for f in files:
            try:
                with (base / f).open("rb") as fh:
                    entry = pickle.load(fh, encoding="latin1")
                xs.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                ys.extend(entry[key])
            except (OSError, pickle.UnpicklingError, KeyError, ValueError, EOFError) as exc:
                raise DataError(
                    f"{str(base / f)!r} is not a CIFAR pickle with 'data' and '{key}': {exc}"
                ) from None
        return torch.from_numpy(np.concatenate(xs)), torch.tensor(ys, dtype=torch.int64)

    return (*load(train_files), *load(test_files))


def _imagenet16(cfg: DataConfig, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    import torch

    root = cfg.resolved_root()
    train_files = [root / f"train_data_batch_{i}" for i in range(1, 11)]
    val_file = root / "val_data"
    missing = [str(p.name) for p in [*train_files, val_file] if not p.is_file()]
    if missing:
        raise DataError(
            f"data set 'imagenet16-120': {len(missing)} file(s) missing under {str(root)!r} "
            f"(e.g. {missing[0]}). These are the downsampled ImageNet 16x16 pickles released with "
            "NAS-Bench-201 (train_data_batch_1..10, val_data); download them from the NAS-Bench-201 "
            "authors' release and set data.root to their folder"
        )

    def load(paths: list[Path]) -> tuple[Tensor, Tensor]:
        xs, ys = [], []
        for p in paths:
            try:
                with p.open("rb") as fh:
                    entry = pickle.load(fh, encoding="latin1")
                data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 16, 16)
                labels = np.asarray(entry["labels"], dtype=np.int64)
            except (OSError, pickle.UnpicklingError, KeyError, ValueError, EOFError) as exc:
                raise DataError(
                    f"{str(p)!r} is not an ImageNet16 pickle with 'data' and 'labels': {exc}"
                ) from None
            keep = labels <= 120  # ImageNet16-120: the first 120 classes (labels are 1-based)
            xs.append(data[keep])
            ys.append(labels[keep] - 1)
        return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))

    return (*load(train_files), *load([val_file]))


def _digits(cfg: DataConfig, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    import torch
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    y = torch.tensor(d.target, dtype=torch.int64)
    # A fixed stratified test split (20 % of each class); independent of the search seed so
    # that every run of a study is judged on the same examples.
    gen = torch.Generator().manual_seed(20_201)
    test_idx = []
    for c in range(10):
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        test_idx.append(idx[: round(0.2 * len(idx))])
    test = torch.cat(test_idx)
    mask = torch.ones(len(y), dtype=torch.bool)
    mask[test] = False
    return x[mask], y[mask], x[test], y[test]


def _folder(cfg: DataConfig, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
    import torch
    import torchvision

    path = Path(cfg.name[len("folder:") :]).expanduser()
    if not path.is_dir():
        raise DataError(f"data.name: folder {str(path)!r} does not exist")

    def load(p: Path) -> tuple[Tensor, Tensor, list[str]]:
        try:
            ds = torchvision.datasets.ImageFolder(str(p))
        except (FileNotFoundError, OSError) as exc:
            raise DataError(
                f"folder {str(p)!r}: {exc} (expected one sub-folder of images per class)"
            ) from None
        images, labels = [], []
        to_tensor = torchvision.transforms.functional.pil_to_tensor
        for img, label in ds:
            if cfg.image_size is not None:
                img = img.resize((cfg.image_size, cfg.image_size))
            images.append(to_tensor(img.convert("RGB")))
            labels.append(label)
        shapes = {tuple(t.shape) for t in images}
        if len(shapes) > 1:
            raise DataError(
                f"folder {str(p)!r}: images have different sizes {sorted(shapes)[:3]}...; set data.image_size"
            )
        return torch.stack(images), torch.tensor(labels, dtype=torch.int64), ds.classes

    test_dir = next((path / s for s in ("test", "val") if (path / s).is_dir()), None)
    if (path / "train").is_dir() and test_dir is not None:
        x_tr, y_tr, classes = load(path / "train")
        x_te, y_te, classes_te = load(test_dir)
        if classes != classes_te:
            raise DataError(
                f"folder {str(path)!r}: train and {test_dir.name} have different classes"
            )
    else:
        x, y, classes = load(path)
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
        n_test = max(1, round(0.2 * len(y)))
        x_te, y_te, x_tr, y_tr = (
            x[perm[:n_test]],
            y[perm[:n_test]],
            x[perm[n_test:]],
            y[perm[n_test:]],
        )
    return x_tr, y_tr, x_te, y_te, len(classes)


def _mnist_like(cfg: DataConfig, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Read idx files under the root (Fashion-MNIST: else Debian's copy), else torchvision."""
    root = cfg.resolved_root()
    found = _idx_splits(root) if root.is_dir() else None
    if (
        found is None
        and cfg.name == "fashion-mnist"
        and cfg.root is None
        and DEBIAN_FASHION_MNIST.is_dir()
    ):
        found = _idx_splits(DEBIAN_FASHION_MNIST)
    return found or _torchvision_arrays(cfg.name, cfg)


def _cifar(cfg: DataConfig, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Read torchvision's CIFAR pickles under the root directly; else use torchvision."""
    root = cfg.resolved_root()
    found = _cifar_pickles(cfg.name, root) if root.is_dir() else None
    return found if found is not None else _torchvision_arrays(cfg.name, cfg)


# --------------------------------------------------------------------------------------------
# The registry: one entry per named data set.
# --------------------------------------------------------------------------------------------

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


DATASETS: Mapping[str, DatasetInfo] = MappingProxyType(
    {
        info.name: info
        for info in (
            DatasetInfo("digits", _digits, 10, (1, 8, 8)),
            DatasetInfo("fashion-mnist", _mnist_like, 10, (1, 28, 28), torchvision="FashionMNIST"),
            DatasetInfo("mnist", _mnist_like, 10, (1, 28, 28), torchvision="MNIST"),
            DatasetInfo(
                "cifar10",
                _cifar,
                10,
                (3, 32, 32),
                normalise=((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
                crop_padding=4,
                nb201="cifar10",
                torchvision="CIFAR10",
            ),
            DatasetInfo(
                "cifar100",
                _cifar,
                100,
                (3, 32, 32),
                normalise=((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
                crop_padding=4,
                nb201="cifar100",
                torchvision="CIFAR100",
            ),
            DatasetInfo(
                "imagenet16-120",
                _imagenet16,
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


# --------------------------------------------------------------------------------------------
# Assembly.
# --------------------------------------------------------------------------------------------


def _to_float(x: Tensor, name: str, train: Tensor) -> Tensor:
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


def _shape(x: Tensor, cfg: DataConfig) -> Tensor:
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


def _load_arrays(cfg: DataConfig, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
    if cfg.name.startswith("folder:"):
        return _folder(cfg, seed)
    info = DATASETS[cfg.name]
    return (*info.load(cfg, seed), info.num_classes)


def load_search_data(config: DataConfig, *, seed: int | None = None) -> SearchData:
    """Load a data set and split it for a search.

    Args:
        config: which data, where, and the split.
        seed: seeds the weight/architecture split and ``limit`` subsetting (same seed, same
            split); ``None``: ``config.seed``.

    Raises:
        DataError: the data cannot be found, read or downloaded (the message says how to get it).
    """
    import torch
    from torch.utils.data import Subset, TensorDataset

    if seed is None:
        seed = config.seed
    x_tr, y_tr, x_te, y_te, num_classes = _load_arrays(config, seed)
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(y_tr), generator=gen)
    if config.limit is not None:
        perm = perm[: config.limit]
        test_keep = torch.randperm(len(y_te), generator=gen)[: max(config.limit // 4, 1)]
        x_te, y_te = x_te[test_keep], y_te[test_keep]
    x_used = x_tr[perm]
    y_used = y_tr[perm]
    x_f = _shape(_to_float(x_used, config.name, x_used), config)
    x_te_f = _shape(_to_float(x_te, config.name, x_used), config)
    n_w = int(config.train_portion * len(y_used))
    if n_w < 1 or n_w >= len(y_used):
        raise DataError(
            f"data.train_portion {config.train_portion} leaves an empty half of {len(y_used)} training examples"
        )
    full = TensorDataset(x_f, y_used)
    _logger.info(
        "data %s: %d weight / %d architecture / %d test examples, %d classes, %dx%dx%d",
        config.name,
        n_w,
        len(y_used) - n_w,
        len(y_te),
        num_classes,
        x_f.shape[1],
        x_f.shape[2],
        x_f.shape[3],
    )
    return SearchData(
        name=config.name,
        weight_train=Subset(full, range(n_w)),
        arch_val=Subset(full, range(n_w, len(y_used))),
        test=TensorDataset(x_te_f, y_te),
        num_classes=num_classes,
        in_channels=int(x_f.shape[1]),
        image_size=int(x_f.shape[-1]),
    )
