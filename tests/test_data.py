"""Data sets: the embedded default, on-disk formats made here, splits and errors."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from idarts_plugin.data import (
    DATASETS,
    DataConfig,
    DataError,
    augmenter,
    available_datasets,
    load_search_data,
    read_idx,
)


def indices(subset) -> list[int]:
    return list(subset.indices)


def test_digits_default_shapes_and_split():
    data = load_search_data(DataConfig(name="digits"), seed=0)
    x, y = data.weight_train[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32 and isinstance(int(y), int)
    assert (data.num_classes, data.in_channels, data.image_size) == (10, 1, 8)
    n_train = len(data.weight_train) + len(data.arch_val)
    assert len(data.weight_train) == n_train // 2
    assert n_train + len(data.test) == 1797
    assert abs(len(data.test) - 0.2 * 1797) < 10
    assert not set(indices(data.weight_train)) & set(indices(data.arch_val))


def test_split_is_deterministic_per_seed_and_test_is_disjoint():
    a = load_search_data(DataConfig(name="digits"), seed=1)
    b = load_search_data(DataConfig(name="digits"), seed=1)
    c = load_search_data(DataConfig(name="digits"), seed=2)
    assert torch.equal(a.weight_train[5][0], b.weight_train[5][0])
    assert not all(torch.equal(a.weight_train[i][0], c.weight_train[i][0]) for i in range(10))
    train_imgs = {a.weight_train[i][0].numpy().tobytes() for i in range(len(a.weight_train))}
    train_imgs |= {a.arch_val[i][0].numpy().tobytes() for i in range(len(a.arch_val))}
    test_imgs = {a.test[i][0].numpy().tobytes() for i in range(len(a.test))}
    # digits has a few exact duplicate images; the split itself is by index, so overlap is tiny
    assert len(train_imgs & test_imgs) <= 3


def test_data_seed_not_the_search_seed_draws_the_subset_and_split():
    first = load_search_data(DataConfig(name="digits", limit=200))  # data.seed 0
    again = load_search_data(DataConfig(name="digits", limit=200, seed=0))
    other = load_search_data(DataConfig(name="digits", limit=200, seed=1))

    def pixels(data):
        return [data.weight_train[i][0].sum().item() for i in range(20)]

    assert pixels(first) == pixels(again)
    assert pixels(first) != pixels(other)
    with pytest.raises(DataError, match=r"data\.seed"):
        DataConfig(seed=-1)


def test_limit_portion_channels_and_size():
    data = load_search_data(
        DataConfig(name="digits", limit=100, train_portion=0.7, channels=3, image_size=16), seed=0
    )
    assert (len(data.weight_train), len(data.arch_val), len(data.test)) == (70, 30, 25)
    x, _ = data.arch_val[0]
    assert x.shape == (3, 16, 16)
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])


def write_idx(path: Path, array: np.ndarray, *, gz: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def make_idx_set(root: Path, *, gz: bool, n_train: int = 50, n_test: int = 20) -> None:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    write_idx(root / "train-images-idx3-ubyte", rng.integers(0, 256, (n_train, 28, 28)), gz=gz)
    write_idx(root / "train-labels-idx1-ubyte", rng.integers(0, 10, n_train), gz=gz)
    write_idx(root / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28)), gz=gz)
    write_idx(root / "t10k-labels-idx1-ubyte", rng.integers(0, 10, n_test), gz=gz)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["fashion-mnist", "mnist"])
def test_idx_files(tmp_path, name, gz):
    make_idx_set(tmp_path, gz=gz)
    data = load_search_data(DataConfig(name=name, root=str(tmp_path), download=False), seed=0)
    assert (len(data.weight_train), len(data.arch_val), len(data.test)) == (25, 25, 20)
    assert data.weight_train[0][0].shape == (1, 28, 28)


def test_corrupt_idx_names_the_file(tmp_path):
    make_idx_set(tmp_path, gz=False)
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(b"\x00\x00\x09\x03" + bad.read_bytes()[4:])
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_search_data(DataConfig(name="mnist", root=str(tmp_path), download=False))
    with pytest.raises(DataError, match="truncated"):
        (tmp_path / "x").write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 10) + b"\x01\x02")
        read_idx(tmp_path / "x")


def make_cifar(root: Path, name: str, n: int = 12) -> None:
    rng = np.random.default_rng(1)
    if name == "cifar10":
        base = root / "cifar-10-batches-py"
        base.mkdir(parents=True)
        for f in [*[f"data_batch_{i}" for i in range(1, 6)], "test_batch"]:
            entry = {
                "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                "labels": list(rng.integers(0, 10, n)),
            }
            (base / f).write_bytes(pickle.dumps(entry))
        (base / "batches.meta").write_bytes(
            pickle.dumps({"label_names": [str(i) for i in range(10)]})
        )
    else:
        base = root / "cifar-100-python"
        base.mkdir(parents=True)
        for f in ("train", "test"):
            entry = {
                "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                "fine_labels": list(rng.integers(0, 100, n)),
            }
            (base / f).write_bytes(pickle.dumps(entry))
        (base / "meta").write_bytes(
            pickle.dumps({"fine_label_names": [str(i) for i in range(100)]})
        )


@pytest.mark.parametrize(
    ("name", "classes", "n_train"), [("cifar10", 10, 60), ("cifar100", 100, 12)]
)
def test_cifar_on_disk_format(tmp_path, name, classes, n_train):
    make_cifar(tmp_path, name)
    data = load_search_data(DataConfig(name=name, root=str(tmp_path), download=False), seed=0)
    assert data.num_classes == classes
    assert len(data.weight_train) + len(data.arch_val) == n_train
    assert data.test[0][0].shape == (3, 32, 32)


def test_imagenet16_filters_to_120_classes(tmp_path):
    rng = np.random.default_rng(2)
    for i in range(1, 11):
        entry = {
            "data": rng.integers(0, 256, (8, 768), dtype=np.uint8),
            "labels": [1, 120, 121, 1000, 5, 60, 119, 200],
        }
        (tmp_path / f"train_data_batch_{i}").write_bytes(pickle.dumps(entry))
    (tmp_path / "val_data").write_bytes(
        pickle.dumps(
            {"data": rng.integers(0, 256, (4, 768), dtype=np.uint8), "labels": [1, 2, 500, 120]}
        )
    )
    data = load_search_data(DataConfig(name="imagenet16-120", root=str(tmp_path)), seed=0)
    assert data.num_classes == 120 and data.image_size == 16 and data.in_channels == 3
    assert len(data.weight_train) + len(data.arch_val) == 10 * 5
    labels = [int(data.test[i][1]) for i in range(len(data.test))]
    assert sorted(labels) == [0, 1, 119]


def test_imagenet16_missing_files_say_where_they_come_from(tmp_path):
    with pytest.raises(DataError, match=r"NAS-Bench-201.*data\.root"):
        load_search_data(DataConfig(name="imagenet16-120", root=str(tmp_path)))


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(3)
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            d = tmp_path / split / cls
            d.mkdir(parents=True)
            for k in range(4):
                Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(
                    d / f"{k}.png"
                )
    data = load_search_data(DataConfig(name=f"folder:{tmp_path}", image_size=8), seed=0)
    assert data.num_classes == 2 and len(data.test) == 8 and data.test[0][0].shape == (3, 8, 8)


def test_missing_dataset_without_download(tmp_path):
    with pytest.raises(DataError) as info:
        load_search_data(DataConfig(name="cifar10", root=str(tmp_path), download=False))
    msg = str(info.value)
    assert "cifar10" in msg and str(tmp_path) in msg and "Fix" in msg


def test_failed_download_is_a_data_error(tmp_path, monkeypatch):
    import urllib.error

    import torchvision

    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "CIFAR100", offline)
    with pytest.raises(DataError, match=r"download failed.*network is unreachable"):
        load_search_data(DataConfig(name="cifar100", root=str(tmp_path / "c"), download=True))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "imagenet-22k"}, "data.name"),
        ({"train_portion": 1.0}, "data.train_portion"),
        ({"limit": 0}, "data.limit"),
        ({"channels": 2}, "data.channels"),
        ({"image_size": 2}, "data.image_size"),
    ],
)
def test_invalid_config_names_the_field(kwargs, field):
    with pytest.raises(DataError, match=field):
        DataConfig(**kwargs)


# --------------------------------------------------------------------------------------------
# The registry.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(DATASETS))
def test_registry_entry_is_consistent(name):
    """Every entry: its key, a loader, classes, a shape its normalisation and NB201 name fit."""
    from idarts_plugin import nb201

    info = DATASETS[name]
    assert info.name == name and callable(info.load) and info.num_classes >= 2
    channels, height, width = info.shape
    assert channels in (1, 3) and height == width >= 4
    if info.normalise is not None:
        mean, std = info.normalise
        assert len(mean) == len(std) == channels and all(s > 0 for s in std)
    assert info.nb201 is None or info.nb201 in nb201.NB201_DATASETS
    assert info.crop_padding is None or 0 < info.crop_padding < height
    DataConfig(name=name)  # a registered name is a valid data.name
    assert augmenter(name, enabled=False) is None


def test_registry_names_and_digits_entry():
    assert available_datasets() == tuple(DATASETS)
    assert available_datasets()[0] == "digits"
    data = load_search_data(DataConfig(name="digits", limit=40), seed=0)
    info = DATASETS["digits"]
    assert data.num_classes == info.num_classes
    assert (data.in_channels, data.image_size, data.image_size) == info.shape
    with pytest.raises(DataError, match="valid names: digits, fashion-mnist"):
        DataConfig(name="svhn")


def test_augmenter_crops_and_flips_each_image():
    """Each output image is a crop of the padded input, mirrored or not."""
    assert augmenter("digits") is None and augmenter("folder:/x") is None
    augment = augmenter("cifar10")
    assert augment is not None
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).reshape(2, 3, 6, 6)
    torch.manual_seed(0)
    out = augment(x)
    pad = DATASETS["cifar10"].crop_padding
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    for k in range(len(x)):
        crops = [
            padded[k, :, i : i + 6, j : j + 6]
            for i in range(2 * pad + 1)
            for j in range(2 * pad + 1)
        ]
        assert any(torch.equal(out[k], c) or torch.equal(out[k], c.flip(-1)) for c in crops)
