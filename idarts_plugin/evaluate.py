"""Judge what a search found: train the derived architecture from scratch and report.

:func:`evaluate_run` reads a run directory, freezes NNI's model space at the exported
architecture, trains it with a standard recipe (SGD with momentum and a cosine schedule, the
data set's conventional augmentation when ``data.augment`` is on) on the whole training set
(both search halves), and reports test accuracy (mean ± std over seeds), parameter count and
FLOPs, written to ``RUN_DIR/evaluation.json``.

FLOPs are counted as multiply-accumulates of every matrix-multiply-like op for one input image
(torch's ``FlopCounterMode``, halved: the convention of the DARTS and NAS-Bench-201 papers,
which call multiply-accumulates FLOPs); see :func:`count_flops`.

Example:
    >>> report = evaluate_run("runs/my-search", epochs=20, seeds=2)  # doctest: +SKIP
    >>> report.test_acc_mean                                           # doctest: +SKIP
    0.93
"""

from __future__ import annotations

import dataclasses
import json
import logging
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import ConcatDataset, DataLoader

from . import outputs
from .config import RunConfig, load_run_config
from .data import SearchData, augmenter
from .derive import NB201_NOTATION
from .runtime import SearchError, prepare_data, torch_device
from .spaces import load_space

__all__ = [
    "EvaluationReport",
    "count_flops",
    "count_parameters",
    "evaluate_run",
    "freeze_architecture",
    "train_from_scratch",
]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationReport:
    """Result of retraining a derived architecture.

    Attributes:
        arch: the architecture (NB201 string / genotype, or the NNI dict as JSON).
        test_accs: test accuracy of each seed (fraction in [0, 1]).
        test_acc_mean: their mean.
        test_acc_std: their sample standard deviation (0 for one seed).
        params: trainable parameters of the derived network.
        flops: multiply-accumulates for one input (see :func:`count_flops`).
        epochs: training epochs per seed.
        seconds: wall time.
    """

    arch: str
    test_accs: tuple[float, ...]
    test_acc_mean: float
    test_acc_std: float
    params: int
    flops: int
    epochs: int
    seconds: float


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (shared tensors counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass on one input of ``input_shape``.

    Counted by torch's :class:`~torch.utils.flop_counter.FlopCounterMode`, which covers every
    matrix-multiply-like op (convolutions, linear layers, ``matmul``/``bmm``, attention), not
    only ``Conv2d`` and ``Linear`` modules. Convention: FlopCounterMode counts a multiply-add as
    2 FLOPs; this returns half of its total, i.e. multiply-accumulates (MACs), which is what the
    DARTS and NAS-Bench-201 papers report as "FLOPs". A convolution with ``C_in`` inputs,
    ``C_out`` outputs, a ``k × k`` kernel, ``g`` groups and an ``H × W`` output counts
    ``C_in/g · C_out · k² · H · W``; a linear layer ``in · out``. Element-wise ops (bias,
    normalisation, activations, pooling) count nothing.

    Args:
        model: the network (evaluated once in eval mode, without gradients).
        input_shape: ``(C, H, W)`` of one example.

    Example:
        >>> count_flops(nn.Conv2d(3, 8, 3, padding=1, bias=False), (3, 4, 4))  # 4*4*8 * 3*3*3
        3456
    """
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        dtype = param.dtype if param is not None else torch.float32
        device = param.device if param is not None else torch.device("cpu")
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(torch.zeros(1, *input_shape, dtype=dtype, device=device))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()) // 2


def freeze_architecture(
    config: RunConfig, architecture: Mapping[str, Any], *, num_classes: int, in_channels: int
) -> nn.Module:
    """Build the run's model space and freeze it at ``architecture`` (a plain ``nn.Module``).

    See :func:`idarts_plugin.nni_adapter.freeze_architecture` (this loads NNI on first call).
    """
    from .nni_adapter import freeze_architecture as freeze

    return freeze(config, architecture, num_classes=num_classes, in_channels=in_channels)


def train_from_scratch(
    model: nn.Module,
    train_set: Any,
    test_set: Any,
    *,
    epochs: int,
    batch_size: int,
    lr: float = 0.025,
    lr_min: float = 0.0,
    momentum: float = 0.9,
    weight_decay: float = 3e-4,
    seed: int = 0,
    device: str | torch.device = "cpu",
    augment: Callable[[Tensor], Tensor] | None = None,
    grad_clip: float = 5.0,
) -> float:
    """Train ``model`` with SGD + cosine schedule and return its test accuracy."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    gen = torch.Generator().manual_seed(seed)
    model = model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=lr_min)
    loader = DataLoader(
        train_set,
        batch_size=batch_size,
        shuffle=True,
        generator=gen,
        drop_last=len(train_set) > batch_size,
    )
    crit = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        total = 0.0
        for x, y in loader:
            if augment is not None:
                x = augment(x)
            x, y = x.to(device), y.to(device)
            opt.zero_grad(set_to_none=True)
            loss = crit(model(x), y)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite training loss at epoch {epoch}")
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            total += float(loss.detach())
        sched.step()
        _logger.info(
            "retrain epoch %d/%d: loss %.4f", epoch + 1, epochs, total / max(len(loader), 1)
        )
    model.eval()
    correct = seen = 0
    with torch.no_grad():
        for x, y in DataLoader(test_set, batch_size=256):
            pred = model(x.to(device)).argmax(dim=1).cpu()
            correct += int((pred == y).sum())
            seen += len(y)
    return correct / max(seen, 1)


def evaluate_run(
    run_dir: str | Path,
    *,
    epochs: int = 50,
    seeds: int = 1,
    overrides: tuple[str, ...] = (),
    lr: float | None = None,
) -> EvaluationReport:
    """Retrain the architecture a search exported and write ``evaluation.json``.

    Args:
        run_dir: a run directory (``config.yaml`` and ``architecture.json`` needed).
        epochs: training epochs per seed.
        seeds: independent trainings (seeds ``trainer.seed .. + seeds - 1``).
        overrides: ``section.key=value`` overrides of the run's config (e.g. ``data.root=...``).
        lr: initial learning rate (default: the search's ``optimizer.lr``).
    """
    run = Path(run_dir)
    cfg, record = _read_run(run, overrides, epochs=epochs, seeds=seeds)
    architecture = record["nni"]
    spec = load_space(cfg.space)
    data = prepare_data(cfg, spec)
    start = time.perf_counter()
    accs, params, flops = _retrain_seeds(cfg, architecture, data, epochs=epochs, seeds=seeds, lr=lr)
    arch = record.get("arch_string") or json.dumps(architecture, sort_keys=True)
    report = EvaluationReport(
        arch=arch,
        test_accs=tuple(accs),
        test_acc_mean=statistics.fmean(accs),
        test_acc_std=statistics.stdev(accs) if len(accs) > 1 else 0.0,
        params=params,
        flops=flops,
        epochs=epochs,
        seconds=time.perf_counter() - start,
    )
    outputs.write_json(run / "evaluation.json", dataclasses.asdict(report))
    if spec.cell_plot:
        try:
            outputs.plot_cell(
                architecture,
                run / "cell.png",
                title=arch if spec.notation == NB201_NOTATION else None,
            )
        except Exception as exc:  # a plot must never lose an evaluation
            _logger.warning("could not plot the cell: %s", exc)
    return report


def _read_run(
    run: Path, overrides: tuple[str, ...], *, epochs: int, seeds: int
) -> tuple[RunConfig, dict[str, Any]]:
    """The run's config (with overrides) and ``architecture.json``, after checking the request.

    Raises:
        SearchError: not a run directory, or fewer than one seed or epoch.
    """
    arch_file = run / "architecture.json"
    if not (run / "config.yaml").is_file() or not arch_file.is_file():
        raise SearchError(
            f"{str(run)!r} is not a finished or checkpointed run directory "
            "(config.yaml and architecture.json are needed)"
        )
    if seeds < 1:
        raise SearchError(f"--seeds must be >= 1, got {seeds}")
    if epochs < 1:
        raise SearchError(f"--epochs must be >= 1, got {epochs}")
    cfg = load_run_config(run / "config.yaml", overrides)
    return cfg, json.loads(arch_file.read_text())


def _retrain_seeds(
    cfg: RunConfig,
    architecture: Mapping[str, Any],
    data: SearchData,
    *,
    epochs: int,
    seeds: int,
    lr: float | None,
) -> tuple[list[float], int, int]:
    """Test accuracy of each seed's retraining, and the first model's parameters and FLOPs."""
    train_set: ConcatDataset[Any] = ConcatDataset([data.weight_train, data.arch_val])
    device = torch_device(cfg.trainer.device)
    augment = augmenter(data.name, cfg.data.augment)
    accs = []
    params = flops = 0
    for k in range(seeds):
        seed = cfg.trainer.seed + k
        torch.manual_seed(seed)
        model = freeze_architecture(
            cfg, architecture, num_classes=data.num_classes, in_channels=data.in_channels
        )
        if k == 0:
            params = count_parameters(model)
            flops = count_flops(model, (data.in_channels, data.image_size, data.image_size))
        acc = train_from_scratch(
            model,
            train_set,
            data.test,
            epochs=epochs,
            batch_size=cfg.trainer.batch_size,
            lr=cfg.optimizer.lr if lr is None else lr,
            lr_min=0.0,
            momentum=cfg.optimizer.momentum,
            weight_decay=cfg.optimizer.weight_decay,
            seed=seed,
            device=device,
            augment=augment,
        )
        accs.append(acc)
        _logger.info("seed %d: test accuracy %.4f", seed, acc)
    return accs, params, flops
