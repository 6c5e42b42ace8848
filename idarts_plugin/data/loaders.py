"""The loaders of the named data sets and ``folder:PATH``, and the idx reader.

Each loader returns ``(x_train, y_train, x_test, y_test)``: images uint8 or float
``[N, C, H, W]`` in their native shape, labels ``0 .. classes - 1``
(:func:`folder_arrays` adds the class count). They read files already on disk first and fall
back on torchvision's download. The registry (:mod:`idarts_plugin.data.registry`) names the
loader of each data set.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:  # torch is imported where data is loaded: validating a config needs none
    from torch import Tensor

__all__ = [
    "DEBIAN_FASHION_MNIST",
    "DataError",
    "DataSource",
    "cifar_arrays",
    "digits_arrays",
    "folder_arrays",
    "imagenet16_arrays",
    "mnist_like_arrays",
    "read_idx",
]

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


class DataError(ValueError):
    """A data set cannot be loaded; the message names it, the path tried, and the fix."""


class DataSource(Protocol):
    """What a loader reads of a :class:`~idarts_plugin.data.DataConfig`."""

    @property
    def name(self) -> str:
        """``data.name``."""
        ...

    @property
    def root(self) -> str | None:
        """``data.root`` as given (``None``: the default directory)."""
        ...

    @property
    def download(self) -> bool:
        """``data.download``."""
        ...

    @property
    def image_size(self) -> int | None:
        """``data.image_size`` (a folder's images are resized while read)."""
        ...

    def resolved_root(self) -> Path:
        """The directory data is read from."""
        ...


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


def _torchvision_arrays(
    name: str, cfg: DataSource, torchvision_class: str
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    import torch
    import torchvision

    root = cfg.resolved_root()
    klass: Any = getattr(torchvision.datasets, torchvision_class)
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


def imagenet16_arrays(cfg: DataSource, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Read NAS-Bench-201's ImageNet16 pickles under the root (classes 1-120)."""
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


def digits_arrays(cfg: DataSource, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """scikit-learn's 8x8 digits, with a fixed stratified 20 % test split."""
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


def folder_arrays(cfg: DataSource, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
    """``folder:PATH`` (``ImageFolder``): its arrays and class count.

    ``train/`` and ``test/`` (or ``val/``) when both exist, else a ``seed``-ed 20 % test split.
    """
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


def mnist_like_arrays(
    cfg: DataSource, seed: int, *, torchvision: str
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Read idx files under the root (Fashion-MNIST: else Debian's copy), else torchvision.

    ``torchvision`` names the ``torchvision.datasets`` class that downloads the set.
    """
    root = cfg.resolved_root()
    found = _idx_splits(root) if root.is_dir() else None
    if (
        found is None
        and cfg.name == "fashion-mnist"
        and cfg.root is None
        and DEBIAN_FASHION_MNIST.is_dir()
    ):
        found = _idx_splits(DEBIAN_FASHION_MNIST)
    return found or _torchvision_arrays(cfg.name, cfg, torchvision)


def cifar_arrays(
    cfg: DataSource, seed: int, *, torchvision: str
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Read torchvision's CIFAR pickles under the root directly; else use torchvision.

    ``torchvision`` names the ``torchvision.datasets`` class that downloads the set.
    """
    root = cfg.resolved_root()
    found = _cifar_pickles(cfg.name, root) if root.is_dir() else None
    return found if found is not None else _torchvision_arrays(cfg.name, cfg, torchvision)
