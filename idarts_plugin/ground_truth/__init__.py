"""Ground truths of NAS-Bench-201 cells trained from scratch, to judge what a search found.

A :class:`Recipe` is one fixed way to train a cell of NAS-Bench-201's space from scratch on
one data set; its table holds the test accuracy of uniformly sampled cells and landmarks (and
several seeds of a few, for the training noise). A search whose data and skeleton match a
recipe reports where its cell ranks among the random cells (``summary.json`` → ``decision`` →
``ground_truth``). ``benchmarks/search_quality`` builds and extends the tables.

A table is a gzip file of CSV lines (``arch,acc,seed,recipe,kind,label,seconds``), appended
one gzip member per result, so a killed run loses at most the cell it was training and two
processes can extend it at once (appends hold an exclusive lock).

Example:
    >>> gt = GroundTruth.load(RECIPES["fashion-mnist-16"])  # doctest: +SKIP
    >>> gt.percentile(gt.mean(LANDMARKS["all-conv3x3"]))    # doctest: +SKIP
    94.0
"""

from __future__ import annotations

import csv
import fcntl
import gzip
import hashlib
import io
import json
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

TABLES = Path(__file__).resolve().parent
COLUMNS = ("arch", "acc", "seed", "recipe", "kind", "label", "seconds")


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """How every ground-truth cell is trained (and on which data the searches run).

    Fashion-MNIST (Debian's ``dataset-fashion-mnist``) resized to 16x16, a seeded subset of
    ``limit`` training images (the searches split the same subset into their weight and
    architecture halves) and ``limit // 4`` test images; NAS-Bench-201's macro skeleton with
    ``stem_channels`` and one cell per stage; SGD with momentum and a cosine schedule.
    """

    data: str = "fashion-mnist"
    limit: int | None = 10_000
    image_size: int | None = 16
    data_seed: int = 0
    stem_channels: int = 8
    cells_per_stage: int = 1
    epochs: int = 5
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 3e-4

    @property
    def key(self) -> str:
        """A short stable id of the recipe (stored with every row)."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:8]

    def overrides(self) -> list[str]:
        """``--set`` overrides that put a run config on this recipe's data and skeleton."""
        return [
            f"data.name={self.data}",
            f"data.limit={'null' if self.limit is None else self.limit}",
            f"data.image_size={'null' if self.image_size is None else self.image_size}",
            "space.name=nas-bench-201",
            f"space.options.stem_channels={self.stem_channels}",
            f"space.options.cells_per_stage={self.cells_per_stage}",
            f"data.seed={self.data_seed}",
        ]


RECIPE_KIND = "nas-bench-201"
"""The space kind whose cells every recipe trains (NAS-Bench-201's macro skeleton)."""

RECIPES: dict[str, Recipe] = {"fashion-mnist-16": Recipe()}
"""Named recipes; each has its table ``<name>.csv.gz`` beside this module.

(No digits recipe: on the 8x8 digits every connected cell scores 98-99.7 % after a few
epochs, with about ±1 point between seeds, so a ranking there would be noise.)"""

RECIPE = RECIPES["fashion-mnist-16"]
"""The recipe of the search-quality benchmark."""


def table_path(recipe: Recipe) -> Path:
    """Where ``recipe``'s table lives."""
    for name, r in RECIPES.items():
        if r == recipe:
            return TABLES / f"{name}.csv.gz"
    return TABLES / f"recipe-{recipe.key}.csv.gz"


def match_recipe(cfg: Any) -> Recipe | None:
    """The recipe whose data and skeleton a run config uses (``None`` if none does).

    The data is the recipe's when ``data.seed`` draws the same subset; ``trainer.seed`` (the
    search's own seed) does not matter. The skeleton is the recipe's when the space is of kind
    ``nas-bench-201`` (the shipped file or a user's, e.g. a copy with other defaults) with the
    recipe's ``stem_channels`` and ``cells_per_stage``, from its file or ``space.options``.
    """
    from ..spaces import load_space

    spec = load_space(cfg.space)
    if spec.kind != RECIPE_KIND:
        return None
    opts = spec.options
    for recipe in RECIPES.values():
        if (
            cfg.data.name == recipe.data
            and cfg.data.limit == recipe.limit
            and cfg.data.image_size == recipe.image_size
            and cfg.data.root is None
            and cfg.data.seed == recipe.data_seed
            and opts.get("stem_channels") == recipe.stem_channels
            and opts.get("cells_per_stage") == recipe.cells_per_stage
        ):
            return recipe
    return None


LANDMARKS: dict[str, str] = {
    "all-none": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "all-skip": "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
    "all-pool": "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|",
    "all-conv1x1": "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_1x1~1|nor_conv_1x1~2|",
    "all-conv3x3": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "resnet-like": "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
    # NAS-Bench-201's best CIFAR-10 test accuracy (94.37 at 200 epochs, ../shared/data/nb201).
    "nb201-best-cifar10": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    # Nodes 1 and 2 dead: what DARTS/iDARTS exported in issue 13's runs (one convolution left).
    "disconnected": "|none~0|+|none~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|none~2|",
}
NOISE_LABELS = (
    "all-conv3x3",
    "resnet-like",
    "nb201-best-cifar10",
    "all-skip",
    "random-0",
    "random-1",
)


def random_archs(n: int, *, seed: int = 2026) -> list[str]:
    """``n`` distinct architectures drawn uniformly from the 15625 (a fixed, extendable order)."""
    from ..nb201 import EDGES, NB201_OPS, format_arch

    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        arch = format_arch({e: rng.choice(NB201_OPS) for e in EDGES})
        if arch not in seen:
            seen.add(arch)
            out.append(arch)
    return out


# --------------------------------------------------------------------------------------------
# Reading and writing the table.
# --------------------------------------------------------------------------------------------


def read_rows(path: Path) -> list[dict[str, Any]]:
    """All rows (``acc``, ``seconds`` as floats, ``seed`` as int)."""
    if not path.exists():
        return []
    with gzip.open(path, "rt", newline="") as fh:
        text = fh.read()
    rows = []
    for row in csv.DictReader(io.StringIO(text), fieldnames=COLUMNS):
        if row["arch"] == "arch" or not row["acc"]:
            continue
        row["acc"] = float(row["acc"])
        row["seconds"] = float(row["seconds"])
        row["seed"] = int(row["seed"])
        rows.append(row)
    return rows


def append_row(row: dict[str, Any], path: Path) -> None:
    """Append one result as its own gzip member, under an exclusive lock."""
    buf = io.StringIO()
    csv.writer(buf).writerow([row[c] for c in COLUMNS])
    data = gzip.compress(buf.getvalue().encode())
    with open(path, "ab") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.write(data)
            fh.flush()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class GroundTruth:
    """Seed-averaged accuracies of one recipe, with the random-cell distribution.

    Args:
        rows: table rows (:func:`read_rows`); rows of other recipes are ignored.
        recipe: the recipe.
    """

    def __init__(self, rows: Iterable[dict[str, Any]], recipe: Recipe = RECIPE) -> None:
        self.recipe = recipe
        self.accs: dict[str, list[float]] = defaultdict(list)
        self.kinds: dict[str, set[str]] = defaultdict(set)
        self.labels: dict[str, str] = {}
        for r in rows:
            if r["recipe"] != recipe.key:
                continue
            self.accs[r["arch"]].append(r["acc"])
            self.kinds[r["arch"]].add(r["kind"])
            if r["label"]:
                self.labels.setdefault(r["arch"], r["label"])

    @classmethod
    def load(cls, recipe: Recipe = RECIPE, path: Path | None = None) -> GroundTruth:
        """``recipe``'s table (at ``path``, default :func:`table_path`)."""
        return cls(read_rows(path or table_path(recipe)), recipe)

    def mean(self, arch: str) -> float | None:
        """Mean accuracy over the seeds trained (``None`` if never trained)."""
        accs = self.accs.get(arch)
        return statistics.fmean(accs) if accs else None

    def random_cells(self) -> dict[str, float]:
        """Seed-averaged accuracy of each uniformly sampled cell."""
        return {a: statistics.fmean(v) for a, v in self.accs.items() if "random" in self.kinds[a]}

    def percentile(self, acc: float) -> float:
        """Share (%) of random cells with a lower accuracy (ties count half)."""
        ref = list(self.random_cells().values())
        if not ref:
            raise ValueError("the ground truth has no random cells yet")
        below = sum(1 for a in ref if a < acc) + 0.5 * sum(1 for a in ref if a == acc)
        return 100.0 * below / len(ref)

    def seed_noise(self) -> dict[str, Any]:
        """Per cell trained with several seeds: mean, sample std; plus their pooled std."""
        cells = {a: v for a, v in self.accs.items() if len(v) >= 2}
        per = {a: (statistics.fmean(v), statistics.stdev(v), len(v)) for a, v in cells.items()}
        dof = sum(n - 1 for _, _, n in per.values())
        pooled = (
            (sum((n - 1) * s**2 for _, s, n in per.values()) / dof) ** 0.5 if dof else float("nan")
        )
        return {"cells": per, "pooled_std": pooled}


# --------------------------------------------------------------------------------------------
# Training one cell.
# --------------------------------------------------------------------------------------------

_DATA_CACHE: dict[str, Any] = {}


def recipe_data(recipe: Recipe = RECIPE) -> Any:
    """The recipe's run config and :class:`~idarts_plugin.data.SearchData` (cached)."""
    if recipe.key not in _DATA_CACHE:
        from ..config import load_config
        from ..runtime import prepare_data
        from ..spaces import load_space

        cfg = load_config(None, recipe.overrides())
        _DATA_CACHE[recipe.key] = (cfg, prepare_data(cfg, load_space(cfg.space)))
    return _DATA_CACHE[recipe.key]


def train_cell(arch: str, seed: int, recipe: Recipe = RECIPE) -> tuple[float, float]:
    """Train ``arch`` from scratch with ``recipe`` and seed ``seed``: (test accuracy, seconds)."""
    import warnings

    import torch
    from torch.utils.data import ConcatDataset

    from ..evaluate import freeze_architecture, train_from_scratch
    from ..nb201 import arch_to_nni

    cfg, data = recipe_data(recipe)
    torch.manual_seed(seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = freeze_architecture(
            cfg, arch_to_nni(arch), num_classes=data.num_classes, in_channels=data.in_channels
        )
    acc = train_from_scratch(
        model,
        ConcatDataset([data.weight_train, data.arch_val]),
        data.test,
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        momentum=recipe.momentum,
        weight_decay=recipe.weight_decay,
        seed=seed,
    )
    return acc, time.perf_counter() - start


def rank_found_cell(
    cfg: Any, arch: str | None, *, decided: bool | None = None
) -> dict[str, Any] | None:
    """Where ``arch`` ranks in the ground truth of ``cfg``'s recipe (``None``: no recipe).

    A cell the table lacks is trained now with the recipe (seed 0; seconds on digits).

    Args:
        cfg: the search's run config.
        arch: the found cell (NAS-Bench-201 string).
        decided: the search's verdict; ``False`` marks the rank as an undecided search's (its
            cell is then closer to a draw than to a choice), ``None``: not known.
    """
    recipe = match_recipe(cfg)
    if recipe is None or arch is None:
        return None
    gt = GroundTruth.load(recipe)
    random_cells = gt.random_cells()
    if not random_cells:
        return None
    acc = gt.mean(arch)
    trained_now = acc is None
    if acc is None:
        acc, _ = train_cell(arch, 0, recipe)
    pct = gt.percentile(acc)
    noise = gt.seed_noise()["pooled_std"]
    best = max(random_cells.values())
    name = next((n for n, r in RECIPES.items() if r == recipe), recipe.key)
    undecided = decided is False
    text = (
        f"ground truth ({name}, {len(random_cells)} random cells trained from scratch): "
        f"the found cell scores {acc:.4f}{' (trained now)' if trained_now else ''}, "
        f"percentile {pct:.0f}; best random cell {best:.4f}; seed noise ±{noise:.4f}"
    )
    if undecided:
        text += " [UNDECIDED search: the cell is closer to a draw than to a choice]"
    return {
        "recipe": name,
        "accuracy": acc,
        "percentile": pct,
        "random_cells": len(random_cells),
        "best_random": best,
        "seed_noise_std": noise,
        "trained_now": trained_now,
        "undecided": undecided,
        "text": text,
    }
