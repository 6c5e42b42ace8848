"""The official NAS-Bench-201 / NATS-Bench files through their own API packages."""

from __future__ import annotations

import importlib
import inspect
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .arch import NUM_ARCHS, format_arch, parse_arch
from .errors import ArchNotFoundError, MissingAPIError
from .results import DatasetResult, LookupResult, _check_hp

__all__ = ["OfficialAPISource", "is_official"]

_logger = logging.getLogger(__name__)

# data set -> (official name for the validation figure, for the test figure)
_OFFICIAL_DATASETS = {
    "cifar10": ("cifar10-valid", "cifar10"),
    "cifar100": ("cifar100", "cifar100"),
    "imagenet16-120": ("ImageNet16-120", "ImageNet16-120"),
}


class OfficialAPISource:
    """The official benchmark through its API object (``nats_bench`` or ``nas_201_api``).

    Figures are ``get_more_info(index, name, hp=hp, is_random=False)`` (mean over seeds):
    CIFAR-10's validation accuracy from ``cifar10-valid``, its test accuracy from ``cifar10``;
    CIFAR-100 and ImageNet16-120 both from their own entry. ``rank`` is None (it needs all
    15625 entries; use :class:`NB201Table` for ranks).

    Args:
        api: an object with ``query_index_by_arch(arch) -> int`` (negative if unknown) and
            ``get_more_info(index, dataset, hp=..., is_random=False) -> dict`` (keys
            ``valid-accuracy``, ``test-accuracy``); the pre-2.0 ``nas_201_api`` form with
            ``use_12epochs_result`` instead of ``hp`` works too.
        hp: ``"200"`` or ``"12"``.
        name: a description for messages and :attr:`DatasetResult.source`.

    Example:
        >>> source = OfficialAPISource.from_path("NATS-tss-v1_0-3ffb9-simple")  # doctest: +SKIP
        >>> source.lookup(arch).results["cifar10"].test_acc  # doctest: +SKIP
    """

    def __init__(self, api: Any, *, hp: str = "200", name: str = "official API") -> None:
        self.api = api
        self.hp = _check_hp(hp)
        self.name = name
        try:
            self._has_hp = "hp" in inspect.signature(api.get_more_info).parameters
        except (TypeError, ValueError):  # no signature to inspect: assume the current form
            self._has_hp = True

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, hp: str = "200") -> OfficialAPISource:
        """Open an official benchmark file with its API package (imported here, lazily).

        ``NAS-Bench-201-v1_*.pth`` needs ``nas_201_api`` (``pip install nas-bench-201``);
        NATS-Bench's ``NATS-tss-v1_0-3ffb9*`` (``.pickle.pbz2`` file or ``-simple`` directory)
        needs ``nats_bench`` (``pip install nats_bench``).

        Raises:
            MissingAPIError: (an ``ImportError``) the package is not installed.
        """
        p = Path(path).expanduser()
        if p.name.endswith(".pth"):
            try:
                module = importlib.import_module("nas_201_api")
            except ImportError:
                raise MissingAPIError(
                    f"{p} is an official NAS-Bench-201 file; reading it needs its API: "
                    "pip install nas-bench-201 (module nas_201_api); or point --tables / "
                    "IDARTS_NB201 at compact tables"
                ) from None
            api = module.NASBench201API(str(p), verbose=False)
        else:
            try:
                module = importlib.import_module("nats_bench")
            except ImportError:
                raise MissingAPIError(
                    f"{p} is an official NATS-Bench file; reading it needs its API: "
                    "pip install nats_bench; or point --tables / IDARTS_NB201 at compact tables"
                ) from None
            api = module.create(str(p), "tss", fast_mode=p.is_dir(), verbose=False)
        _logger.debug("NAS-Bench-201 official API on %s (%s epochs)", p, hp)
        return cls(api, hp=hp, name=f"{type(api).__name__} {p.name}")

    def __len__(self) -> int:
        """The number of architectures in the benchmark."""
        try:
            return len(self.api)
        except TypeError:
            return int(NUM_ARCHS)

    def _info(self, index: int, dataset: str) -> Mapping[str, Any]:
        if self._has_hp:
            info = self.api.get_more_info(index, dataset, hp=self.hp, is_random=False)
        else:
            info = self.api.get_more_info(
                index, dataset, use_12epochs_result=self.hp == "12", is_random=False
            )
        return dict(info or {})

    def lookup(self, arch: str) -> LookupResult:
        """Accuracies of ``arch`` on each of :data:`NB201_DATASETS` (``rank`` is None).

        Raises:
            ArchError: ``arch`` is not a NAS-Bench-201 cell.
            ArchNotFoundError: the API does not know the cell.
        """
        canonical = format_arch(parse_arch(arch))
        found = self.api.query_index_by_arch(canonical)
        if found is None or int(found) < 0:
            raise ArchNotFoundError(f"{canonical!r} is not in {self.name}")
        index = int(found)
        infos: dict[str, Mapping[str, Any]] = {}
        results: dict[str, DatasetResult] = {}
        for dataset, (val_name, test_name) in _OFFICIAL_DATASETS.items():
            for name in (val_name, test_name):
                if name not in infos:
                    infos[name] = self._info(index, name)
            val = infos[val_name].get("valid-accuracy")
            test = infos[test_name].get("test-accuracy")
            source = (
                f"{self.name} ({val_name})"
                if val_name == test_name
                else f"{self.name} (val: {val_name}, test: {test_name})"
            )
            results[dataset] = DatasetResult(
                val_acc=None if val is None else float(val),
                test_acc=None if test is None else float(test),
                rank=None,
                source=source,
            )
        return LookupResult(canonical, index, results, self.hp)


def is_official(path: Path) -> bool:
    """Whether ``path`` is an official benchmark file or a directory of NATS-Bench pickles."""
    name = path.name
    if path.is_file():
        return name.endswith((".pth", ".pickle.pbz2", ".pickle"))
    if path.is_dir():
        return next(_official_files(path), None) is not None
    return False


def _official_files(path: Path) -> Iterator[Path]:
    yield from path.glob("*.pickle.pbz2")
    yield from path.glob("*.pickle")
