"""Run one architecture search from a :class:`~idarts_plugin.config.RunConfig`.

The search follows NNI's one-shot path (``strategy.mutate_model`` → the strategy's Lightning
module → ``trainer.fit`` on ``{"train", "val"}`` batches) and adds what a user looks at
afterwards: the run directory (:mod:`idarts_plugin.outputs`), a progress bar with the current
argmax architecture, and atomic per-epoch checkpoints from which ``resume`` continues to the
same result as an uninterrupted run.

Example:
    >>> from idarts_plugin.config import load_config
    >>> cfg = load_config("examples/configs/digits-nb201.yaml", ["trainer.epochs=1"])  # doctest: +SKIP
    >>> result = run_search(cfg)                                                        # doctest: +SKIP
    >>> result.arch_string                                                              # doctest: +SKIP
    '|nor_conv_3x3~0|+|...'
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from . import outputs
from .config import RunConfig, StrategyConfig, load_config
from .runtime import SearchError, prepare_data, resolve_device
from .spaces import SpaceSpec, build_space, load_space

__all__ = [
    "SearchError",
    "SearchInterruptedError",
    "SearchResult",
    "build_strategy",
    "describe_architecture",
    "run_search",
]

_logger = logging.getLogger(__name__)

CHECKPOINT = "checkpoints/last.ckpt"


class SearchInterruptedError(SearchError):
    """SIGTERM or SIGINT stopped the search at a step boundary.

    Attributes:
        signum: the signal (``signal.SIGTERM`` or ``signal.SIGINT``).
        epochs_completed: epochs whose checkpoint is in the run directory.
        run_dir: the run directory to resume.
        exit_code: ``128 + signum`` (143 for SIGTERM, 130 for SIGINT), as a shell reports it.
    """

    def __init__(self, signum: int, epochs_completed: int, run_dir: Path) -> None:
        self.signum = signum
        self.epochs_completed = epochs_completed
        self.run_dir = run_dir
        self.exit_code = 128 + int(signum)
        name = signal.Signals(signum).name
        super().__init__(
            f"{name}: interrupted at epoch {epochs_completed} — resume with: "
            f"idarts search --resume {run_dir}"
        )


class _SignalGuard:
    """Turns SIGTERM/SIGINT into a request to stop at the next step boundary.

    Installed for the duration of ``trainer.fit`` (main thread only); the previous handlers
    come back afterwards. A second signal of the same kind while stopping is left to the
    previous handler (so a second Ctrl-C still kills a stuck run).
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _SignalGuard:
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            previous = self._previous.get(signum)
            if callable(previous):
                previous(signum, frame)
            elif signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        self.signum = signum
        _logger.warning("%s received: stopping after this step", signal.Signals(signum).name)

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


@dataclass(frozen=True)
class SearchResult:
    """What a finished search hands back (also written to ``summary.json``).

    Attributes:
        run_dir: the run directory.
        architecture: NNI's export dict (label → chosen op / inputs).
        arch_string: NAS-Bench-201 arch string, DARTS genotype, or ``None``.
        probs: softmax(α) per label at the end.
        metrics: the last epoch's metrics row.
        epochs: epochs completed.
        seconds: wall time of this process' part of the search.
        decision: per-edge margin and entropy, the verdict, the derivation rule, the
            architecture learning rate used and (NAS-Bench-201) the effective cell.
    """

    run_dir: Path
    architecture: dict[str, Any]
    arch_string: str | None
    probs: dict[str, dict[str, float]]
    metrics: dict[str, Any]
    epochs: int
    seconds: float
    decision: dict[str, Any] = dataclasses.field(default_factory=dict)


def _warn_about_decision(decision: dict[str, Any], cfg: RunConfig) -> None:
    """Log the verdict; warn when α ended undecided or the cell has dead nodes."""
    text = decision["verdict"]["text"]
    if decision["verdict"]["decided"]:
        _logger.info(text)
    else:
        lr = cfg.strategy.arc_learning_rate
        _logger.warning(
            "the search ended undecided: %s (strategy.arc_learning_rate is %s, %.3g used)",
            text,
            lr,
            decision["arc_learning_rate"],
        )
    if decision.get("dead_nodes"):
        _logger.warning(
            "the derived cell has disconnected nodes %s: it computes %s; "
            "strategy.derive=exclude_none never picks 'none'",
            decision["dead_nodes"],
            decision["effective_arch"],
        )


# --------------------------------------------------------------------------------------------
# Pieces.
# --------------------------------------------------------------------------------------------


def _lightning_strategy(trainer_cfg: Any) -> Any:
    """``"auto"``, or Lightning's DDP strategy for a data-parallel search."""
    if trainer_cfg.devices == 1 and trainer_cfg.strategy == "auto":
        return "auto"
    from pytorch_lightning.strategies import DDPStrategy

    # The hypergradient all-reduces its own products; DDP averages the weight gradients.
    return DDPStrategy(find_unused_parameters=False)


def _precision(value: str | int) -> str:
    text = str(value)
    return {"32": "32-true", "64": "64-true"}.get(text, text)


def _rank_world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class EpochSeededSampler(Sampler[int]):
    """A shuffling sampler whose order depends only on ``(seed, epoch)``.

    Lightning calls :meth:`set_epoch` before every epoch, so a resumed search sees exactly the
    batches an uninterrupted one would. In a data-parallel run (``torch.distributed``
    initialised) rank ``r`` of ``W`` takes every ``W``-th index of the same permutation from
    ``r`` on, so the ranks' ``s``-th batches of size ``B`` together are exactly the ``s``-th
    batch of size ``W·B`` of a single process.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch``."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.n, generator=gen)
        rank, world = _rank_world()
        if world > 1:
            order = order[: self.n - self.n % world][rank::world]
        return iter(order.tolist())

    def __len__(self) -> int:
        _, world = _rank_world()
        return self.n // world


def _loader(
    ds: Dataset[Any], cfg: RunConfig, seed_offset: int, *, shuffle: bool
) -> DataLoader[Any]:
    n = len(ds)  # type: ignore[arg-type]
    sampler = EpochSeededSampler(n, cfg.trainer.seed + seed_offset) if shuffle else None
    return DataLoader(
        ds,
        batch_size=cfg.trainer.batch_size,
        sampler=sampler,
        num_workers=cfg.trainer.num_workers,
        # A last batch of a handful of samples makes BatchNorm's batch statistics (and the
        # Hessian of that minibatch) meaningless; search loaders drop it.
        drop_last=shuffle and n >= cfg.trainer.batch_size,
        pin_memory=torch.cuda.is_available(),
    )


def _training_module(cfg: RunConfig, num_classes: int) -> Any:
    """NNI's classification module with DARTS' weight recipe (SGD + cosine)."""
    from nni.nas.evaluator.pytorch.lightning import ClassificationModule

    opt = cfg.optimizer
    epochs = cfg.trainer.epochs

    class SearchModule(ClassificationModule):
        def configure_optimizers(self) -> Any:
            sgd = torch.optim.SGD(
                self.parameters(), lr=opt.lr, momentum=opt.momentum, weight_decay=opt.weight_decay
            )
            cosine = torch.optim.lr_scheduler.CosineAnnealingLR(
                sgd, T_max=epochs, eta_min=opt.lr_min
            )
            return {"optimizer": sgd, "lr_scheduler": {"scheduler": cosine, "interval": "epoch"}}

        def _final_report(self) -> None:
            """Report nothing to NNI: the nnictl integration reports once, itself."""

        def on_validation_epoch_end(self) -> None:
            """No NNI intermediate reports from inside the module (see above)."""

    return SearchModule(
        num_classes=num_classes, learning_rate=opt.lr, weight_decay=opt.weight_decay
    )


def resolve_warmup_epochs(cfg: RunConfig) -> int:
    """``strategy.warmup_epochs`` as a number (``auto``: a sixth of the epochs)."""
    if cfg.strategy.warmup_epochs == "auto":
        from .derive import warmup_for_budget

        return warmup_for_budget(cfg.trainer.epochs)
    return int(cfg.strategy.warmup_epochs)


def planned_arch_steps(cfg: RunConfig, steps_per_epoch: int) -> int:
    """Architecture steps a search will take (for ``arc_learning_rate: auto``)."""
    per_epoch = steps_per_epoch
    if cfg.trainer.limit_batches is not None:
        per_epoch = min(per_epoch, cfg.trainer.limit_batches)
    inner = cfg.strategy.inner_steps if cfg.strategy.name not in ("darts", "gumbel") else 1
    epochs = max(cfg.trainer.epochs - resolve_warmup_epochs(cfg), 1)
    return max(1, epochs * -(-per_epoch // inner))


def resolve_arc_learning_rate(cfg: RunConfig, steps_per_epoch: int) -> float:
    """``strategy.arc_learning_rate`` as a number (``auto``: fitted to the run's budget)."""
    lr = cfg.strategy.arc_learning_rate
    if lr != "auto":
        return float(lr)
    from .derive import arc_learning_rate_for_budget

    steps = planned_arch_steps(cfg, steps_per_epoch)
    return arc_learning_rate_for_budget(steps, travel=cfg.strategy.arc_travel)


def build_strategy(
    cfg: StrategyConfig,
    *,
    arc_learning_rate: float | None = None,
    warmup_epochs: int | None = None,
) -> Any:
    """The NNI strategy object for a strategy config.

    Args:
        cfg: the strategy section.
        arc_learning_rate: the resolved architecture learning rate (required when the config
            says ``auto``; see :func:`resolve_arc_learning_rate`).
        warmup_epochs: the resolved warm-up (required when the config says ``auto``; see
            :func:`resolve_warmup_epochs`).
    """
    from nni.nas.strategy import DARTS, GumbelDARTS

    from .strategy import AmendedDARTS, HypergradientDARTS, ImplicitDARTS, UnrolledDARTS

    if arc_learning_rate is None:
        if cfg.arc_learning_rate == "auto":
            raise ValueError("arc_learning_rate 'auto' must be resolved to a number first")
        arc_learning_rate = float(cfg.arc_learning_rate)
    if warmup_epochs is None:
        if cfg.warmup_epochs == "auto":
            raise ValueError("warmup_epochs 'auto' must be resolved to a number first")
        warmup_epochs = int(cfg.warmup_epochs)
    common: dict[str, Any] = {
        "arc_learning_rate": arc_learning_rate,
        "warmup_epochs": warmup_epochs,
        "gradient_clip_val": cfg.gradient_clip_val,
        "log_prob_every_n_step": cfg.log_prob_every_n_step,
    }
    if cfg.name == "darts":
        return DARTS(**common)
    if cfg.name == "gumbel":
        return GumbelDARTS(temperature=tuple(cfg.temperature), **common)
    common.update(
        inner_steps=cfg.inner_steps,
        arc_betas=cfg.arc_betas,
        arc_weight_decay=cfg.arc_weight_decay,
        hvp=cfg.hvp,
        hessian_batch=cfg.hessian_batch,
        max_nonfinite_steps=cfg.max_nonfinite_steps,
    )
    if cfg.name == "implicit":
        return ImplicitDARTS(
            neumann_steps=cfg.neumann_steps,
            neumann_lr=cast(Any, cfg.neumann_lr),
            warm_start=cfg.warm_start,
            **common,
        )
    if cfg.name == "unrolled":
        return UnrolledDARTS(unrolled_lr=cfg.unrolled_lr, **common)
    if cfg.name == "amended":
        return AmendedDARTS(amended_lr=cfg.amended_lr, **common)
    return HypergradientDARTS(
        method=cfg.method,
        method_options=dict(cfg.method_options),
        method_lr=cast(Any, cfg.method_lr),
        warm_start=cfg.warm_start,
        **common,
    )


def derived_export(pl_module: Any, rule: str) -> dict[str, Any]:
    """NNI's export with each op label chosen by the derivation rule ``rule``.

    ``argmax`` is NNI's own export; ``exclude_none`` replaces the op labels (string choices)
    with the most probable op other than ``none``; input choices stay as NNI exports them.
    """
    export = dict(pl_module.export())
    if rule == "argmax":
        return export
    from .derive import derive

    chosen = derive(pl_module.export_probs(), rule)
    for label, value in export.items():
        if isinstance(value, str) and label in chosen:
            export[label] = chosen[label]
    return export


def decision_record(
    space: SpaceSpec, probs: dict[str, dict[str, float]], export: dict[str, Any]
) -> dict[str, Any]:
    """Per-edge confidence, the verdict and (NAS-Bench-201) the effective cell, for summaries."""
    from .derive import edge_decisions, effective_nb201, verdict

    edges = edge_decisions(probs)
    record: dict[str, Any] = {
        "verdict": verdict(probs).as_dict(),
        "edges": {
            label: {"top": e.top, "top_prob": e.top_prob, "margin": e.margin, "entropy": e.entropy}
            for label, e in edges.items()
        },
    }
    if space.kind == "nas-bench-201":
        from .nb201 import format_arch, parse_arch

        arch = describe_architecture(space, export)
        if arch is not None:
            eff, dead = effective_nb201(parse_arch(arch))
            record["effective_arch"] = format_arch(eff)
            record["dead_nodes"] = dead
    return record


def describe_architecture(space: SpaceSpec, export: dict[str, Any]) -> str | None:
    """The architecture as users of that space write it (NB201 string, DARTS genotype)."""
    if space.kind == "nas-bench-201":
        from .nb201 import arch_from_nni

        return arch_from_nni(export)
    if space.kind == "darts":
        return _darts_genotype(export)
    return None


def _darts_genotype(export: dict[str, Any]) -> str:
    """DARTS' genotype notation from NNI's export of its hub DARTS space.

    NNI names node ``n``'s k-th op ``{cell}/op_{n}_{k}`` and its input ``{cell}/input_{n}_{k}``
    (a one-element list).
    """
    parts = []
    for cell in ("normal", "reduce"):
        edges = []
        node = 2
        while f"{cell}/op_{node}_0" in export:
            k = 0
            while f"{cell}/op_{node}_{k}" in export:
                src = export.get(f"{cell}/input_{node}_{k}")
                src = src[0] if isinstance(src, list) and len(src) == 1 else src
                edges.append(f"({export[f'{cell}/op_{node}_{k}']!r}, {src})")
                k += 1
            node += 1
        parts.append(f"{cell}=[{', '.join(edges)}], {cell}_concat=range(2, {node})")
    return f"Genotype({', '.join(parts)})"


# --------------------------------------------------------------------------------------------
# The recorder: metrics, α history, architecture and checkpoints after every epoch.
# --------------------------------------------------------------------------------------------


def _make_recorder(
    run_dir: Path,
    space: SpaceSpec,
    arch_loader: DataLoader[Any],
    start_rows: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    on_epoch: Sequence[Callable[[int, dict[str, Any]], None]],
    derive_rule: str = "argmax",
    guard: _SignalGuard | None = None,
) -> Any:
    import pytorch_lightning as pl

    from .derive import DECIDED_MARGIN, edge_decisions

    class RunRecorder(pl.Callback):
        def __init__(self) -> None:
            self.metrics_rows, self.alpha_rows = start_rows
            self.diags: list[dict[str, float]] = []
            self.seen_steps = 0
            self.epoch_start = time.perf_counter()
            self.skipped_before = (0, 0)

        def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
            self.diags = []
            self.epoch_start = time.perf_counter()

        def on_train_batch_end(
            self, trainer: pl.Trainer, pl_module: Any, outputs_: Any, batch: Any, batch_idx: int
        ) -> None:
            loss = outputs_.get("loss") if isinstance(outputs_, dict) else outputs_
            skips = hasattr(pl_module, "nonfinite_in_a_row")  # it skips such steps itself
            if (
                not skips
                and isinstance(loss, torch.Tensor)
                and not bool(torch.isfinite(loss).all())
            ):
                raise SearchError(
                    f"the training loss became non-finite at epoch {trainer.current_epoch}, "
                    f"batch {batch_idx}; lower optimizer.lr or set strategy.gradient_clip_val "
                    f"(the last complete epoch is kept in {CHECKPOINT})"
                )
            steps = getattr(pl_module, "arch_steps", 0)
            diag = getattr(pl_module, "last_diagnostics", None)
            if diag is not None and steps != self.seen_steps:
                self.seen_steps = steps
                self.diags.append(diag.scalars())
            if guard is not None and guard.signum is not None:
                trainer.should_stop = True  # a step boundary: stop here

        def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
            if guard is not None and guard.signum is not None:
                return  # an interrupted epoch is not complete: nothing recorded or saved
            epoch = trainer.current_epoch
            probs = pl_module.export_probs()
            export = derived_export(pl_module, derive_rule)
            row: dict[str, Any] = {
                "epoch": epoch,
                "seconds": time.perf_counter() - self.epoch_start,
            }
            cm = trainer.callback_metrics
            for key in ("train_loss", "train_acc"):
                if key in cm:
                    row[key] = float(cm[key])
            if self.diags:
                row["val_loss"] = sum(d["val_loss"] for d in self.diags) / len(self.diags)
            row["supernet_val_acc"] = _accuracy(pl_module, arch_loader)
            entropies = outputs.alpha_entropy(probs)
            if entropies:
                row["alpha_entropy_mean"] = sum(entropies.values()) / len(entropies)
                row["alpha_entropy_min"] = min(entropies.values())
            decisions = edge_decisions(probs)
            if decisions:
                margins = [d.margin for d in decisions.values()]
                row["alpha_margin_min"] = min(margins)
                row["decided_edges"] = sum(1 for m in margins if m >= DECIDED_MARGIN)
            share = outputs.parameter_free_share(export)
            if share is not None:
                row["param_free_share"] = share
            for key in (
                "direct_norm",
                "implicit_norm",
                "hypergrad_norm",
                "n_hvp",
                "step_size",
                "step_curvature",
            ):
                vals = [d[key] for d in self.diags if key in d]
                if vals:
                    row[f"hg_{key}"] = sum(vals) / len(vals)
            curv = [d["step_curvature"] for d in self.diags if "step_curvature" in d]
            if curv:
                row["hg_step_curvature_max"] = max(curv)
            if self.diags:
                growing = int(sum(d.get("growing", 0.0) for d in self.diags))
                row["hg_growing_steps"] = growing
                if growing:
                    _logger.warning(
                        "epoch %d: the Neumann series grew in %d of %d architecture steps "
                        "(γ·λ̂ ≥ 2 or negative curvature on the step's minibatch: it amplified "
                        "those directions); set strategy.neumann_lr=safe or lower it",
                        epoch,
                        growing,
                        len(self.diags),
                    )
                row["hg_diverged_steps"] = sum(d.get("diverged", 0.0) for d in self.diags)
                row["hg_nonfinite_steps"] = sum(1 - d.get("finite", 1.0) for d in self.diags)
            if hasattr(pl_module, "skipped_weight_steps"):
                w_total = int(pl_module.skipped_weight_steps)
                a_total = int(pl_module.skipped_arch_steps)
                row["skipped_weight_steps"] = w_total - self.skipped_before[0]
                row["skipped_arch_steps"] = a_total - self.skipped_before[1]
                self.skipped_before = (w_total, a_total)
            if trainer.world_size > 1:
                row["alpha_rank_max_diff"] = _alpha_rank_spread(pl_module)
                if row["alpha_rank_max_diff"] > 0:
                    _logger.error(
                        "α differs between ranks by %.3g after epoch %d",
                        row["alpha_rank_max_diff"],
                        epoch,
                    )
            row["arch"] = describe_architecture(space, export) or ""
            for label, value in entropies.items():
                row[f"entropy:{label}"] = value
            for label, d in decisions.items():
                row[f"margin:{label}"] = d.margin
            self.metrics_rows.append(row)
            alpha_row: dict[str, Any] = {"epoch": epoch}
            for label, dist in probs.items():
                for choice, p in dist.items():
                    alpha_row[f"{label}:{choice}"] = float(p)
            self.alpha_rows.append(alpha_row)

            if trainer.is_global_zero:
                outputs.write_csv_rows(run_dir / "metrics.csv", self.metrics_rows)
                outputs.write_csv_rows(run_dir / "alpha_history.csv", self.alpha_rows)
                try:
                    outputs.plot_alpha_history(self.alpha_rows, run_dir / "alpha.png")
                except Exception as exc:  # a plot must never stop a search
                    _logger.warning("could not plot α history: %s", exc)
                outputs.write_json(
                    run_dir / "architecture.json",
                    {
                        "epoch": epoch,
                        "nni": export,
                        "arch_string": row["arch"] or None,
                        "derivation": derive_rule,
                        "probs": probs,
                    },
                )
                if trainer.logger is not None:
                    scalars = {
                        f"epoch/{k}": v for k, v in row.items() if isinstance(v, (int, float))
                    }
                    trainer.logger.log_metrics(scalars, step=trainer.global_step)
            _save_checkpoint(trainer, run_dir / CHECKPOINT)  # every rank: it has a barrier
            if trainer.is_global_zero:
                for hook in on_epoch:
                    hook(epoch, row)

    return RunRecorder()


PREVIOUS_CHECKPOINT = "checkpoints/previous.ckpt"


def _save_checkpoint(trainer: Any, path: Path) -> None:
    """Write the checkpoint atomically, keeping the one before it as ``previous.ckpt``.

    Rank 0 writes; every rank must call this.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    if trainer.is_global_zero:
        path.parent.mkdir(parents=True, exist_ok=True)
    trainer.save_checkpoint(str(tmp))  # Lightning: rank 0 writes, then all ranks meet
    if trainer.is_global_zero:
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if path.exists():
            os.replace(path, path.with_name(Path(PREVIOUS_CHECKPOINT).name))
        os.replace(tmp, path)


def _load_resume_state(run_path: Path) -> tuple[Path, dict[str, Any]]:
    """The checkpoint to resume from and its contents.

    ``last.ckpt``, or ``previous.ckpt`` (with a warning) when the last one cannot be read.

    Raises:
        SearchError: no readable checkpoint (naming the file and why).
    """
    last = run_path / CHECKPOINT
    try:
        return last, torch.load(last, map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated or corrupt file: any reader error
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    prev = run_path / PREVIOUS_CHECKPOINT
    if prev.is_file():
        try:
            state = torch.load(prev, map_location="cpu", weights_only=False)
        except Exception:
            pass
        else:
            _logger.warning(
                "%s is damaged (%s); resuming from %s (epoch %s) instead",
                last,
                reason,
                prev,
                state.get("epoch"),
            )
            return prev, state
    raise SearchError(
        f"cannot resume: checkpoint {str(last)!r} is damaged ({reason}) and there is no "
        f"readable {Path(PREVIOUS_CHECKPOINT).name} beside it; start the search again"
    )


@torch.no_grad()
def _alpha_rank_spread(pl_module: Any) -> float:
    """Largest difference of any α entry between data-parallel ranks (a collective)."""
    import torch.distributed as dist

    alphas = [p.detach().reshape(-1) for p in pl_module.arch_parameters()]
    flat = torch.cat(alphas).float() if alphas else torch.zeros(1)
    high, low = flat.clone(), flat.clone()
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    return float((high - low).max())


@torch.no_grad()
def _accuracy(pl_module: Any, loader: DataLoader[Any]) -> float:
    """Supernet accuracy (softmax-mixed ops, BN in eval mode) on the architecture half."""
    model = pl_module.training_module.model
    was_training = model.training
    model.eval()
    correct = total = 0
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    try:
        for x, y in loader:
            out = model(x.to(device=device, dtype=dtype))
            correct += int((out.argmax(dim=1).cpu() == y).sum())
            total += len(y)
    finally:
        model.train(was_training)
    return correct / max(total, 1)


def _make_progress_bar() -> Any:
    from pytorch_lightning.callbacks import TQDMProgressBar

    class ArchProgressBar(TQDMProgressBar):
        """Lightning's bar plus the current argmax architecture."""

        def __init__(self, describe: Callable[[Any], str | None]) -> None:
            super().__init__(refresh_rate=1)
            self._describe = describe

        def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
            items = dict(super().get_metrics(trainer, pl_module))
            items.pop("v_num", None)
            try:
                arch = self._describe(pl_module)
            except Exception:  # never let the bar break training
                arch = None
            if arch:
                items["arch"] = arch
            return items

    return ArchProgressBar


# --------------------------------------------------------------------------------------------
# The run.
# --------------------------------------------------------------------------------------------


_RUN_DIR_ENV = "IDARTS_RUN_DIR"


def _default_run_name(cfg: RunConfig) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    space = Path(cfg.space.name).stem
    data = cfg.data.name.replace("folder:", "folder-").replace("/", "_")
    return f"{space}-{data}-{cfg.strategy.name}-{stamp}"


def run_search(
    config: RunConfig,
    *,
    run_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    on_epoch: Sequence[Callable[[int, dict[str, Any]], None]] = (),
    callbacks: Sequence[Any] = (),
) -> SearchResult:
    """Run (or resume) one search and fill its run directory.

    Args:
        config: the run config.
        run_dir: where to write (default: ``output.dir/output.name`` or a generated name).
        resume: continue from ``run_dir/checkpoints/last.ckpt``.
        on_epoch: functions called after every epoch with ``(epoch, metrics_row)`` (Optuna
            pruning, nnictl intermediate results); they may raise to stop the search.
        callbacks: extra Lightning callbacks.

    Raises:
        SearchError: CUDA requested but absent, nothing to resume, ...
        ConfigError: an invalid space or data option.
        outputs.RunDirError: the run directory is not writable or the disk is full.
    """
    import pytorch_lightning as pl

    from .strategy.module import NonFiniteStepsError

    cfg = config
    if cfg.trainer.threads is not None:
        torch.set_num_threads(cfg.trainer.threads)
    accelerator, devices = resolve_device(cfg.trainer.device)
    if accelerator == "cpu" and str(cfg.trainer.precision) == "16-mixed":
        raise SearchError(
            "trainer.precision 16-mixed (float16 autocast) needs a CUDA device; on CPU use "
            "bf16-mixed or 32"
        )
    spec = load_space(cfg.space)

    from pytorch_lightning.utilities import rank_zero_only

    is_rank_zero = getattr(rank_zero_only, "rank", 0) == 0
    if run_dir is None:
        inherited = os.environ.get(_RUN_DIR_ENV)
        if not is_rank_zero and inherited:
            run_dir = inherited  # a DDP rank started by rank 0's launcher: rank 0's name
        else:
            run_dir = Path(cfg.output.dir) / (cfg.output.name or _default_run_name(cfg))
    run_path = Path(run_dir)
    if is_rank_zero:
        os.environ[_RUN_DIR_ENV] = str(run_path)  # inherited by processes Lightning launches
    ckpt = run_path / CHECKPOINT
    if resume and not ckpt.is_file():
        raise SearchError(
            f"nothing to resume in {str(run_path)!r}: {CHECKPOINT} does not exist "
            "(the search did not complete an epoch); start it again without --resume"
        )
    if is_rank_zero:
        outputs.check_writable(run_path)

    metrics_rows: list[dict[str, Any]] = []
    alpha_rows: list[dict[str, Any]] = []
    if resume:
        ckpt, state = _load_resume_state(run_path)
        done = int(state.get("epoch", -1))
        metrics_rows = outputs.truncate_epochs(
            outputs.read_csv_rows(run_path / "metrics.csv"), done
        )
        alpha_rows = outputs.truncate_epochs(
            outputs.read_csv_rows(run_path / "alpha_history.csv"), done
        )
        del state
    if is_rank_zero:
        outputs.atomic_write_text(run_path / "config.yaml", cfg.to_yaml())

    pl.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    data = prepare_data(cfg, spec)
    space = build_space(spec, num_classes=data.num_classes, in_channels=data.in_channels)
    train_loader = _loader(data.weight_train, cfg, 0, shuffle=True)
    val_loader = _loader(data.arch_val, cfg, 1, shuffle=True)
    eval_loader = _loader(data.arch_val, cfg, 0, shuffle=False)
    arc_lr = resolve_arc_learning_rate(cfg, min(len(train_loader), len(val_loader)))
    if cfg.strategy.arc_learning_rate == "auto":
        _logger.info(
            "arc_learning_rate auto: %.3g (travel %g over %d architecture steps, "
            "after %d warm-up epochs)",
            arc_lr,
            cfg.strategy.arc_travel,
            planned_arch_steps(cfg, min(len(train_loader), len(val_loader))),
            resolve_warmup_epochs(cfg),
        )
    warmup = resolve_warmup_epochs(cfg)
    strategy = build_strategy(cfg.strategy, arc_learning_rate=arc_lr, warmup_epochs=warmup)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="nni")
        supernet = strategy.mutate_model(space)
    training_module = _training_module(cfg, data.num_classes)
    oneshot = strategy.configure_oneshot_module(training_module)
    oneshot.set_model(supernet)
    loaders = strategy.train_dataloader(lambda: train_loader, lambda: val_loader)

    rule = cfg.strategy.derive
    guard = _SignalGuard()
    recorder = _make_recorder(
        run_path,
        spec,
        eval_loader,
        (metrics_rows, alpha_rows),
        on_epoch,
        derive_rule=rule,
        guard=guard,
    )
    cbs: list[Any] = [recorder, *callbacks]
    if cfg.trainer.progress_bar:
        cbs.append(
            _make_progress_bar()(
                lambda pl_module: describe_architecture(spec, derived_export(pl_module, rule))
            )
        )
    logger: Any = False
    try:
        from pytorch_lightning.loggers import TensorBoardLogger

        logger = TensorBoardLogger(
            save_dir=str(run_path), name="tb", version="", default_hp_metric=False
        )
    except ModuleNotFoundError:
        _logger.info("tensorboard is not installed: no TensorBoard logs")

    trainer = pl.Trainer(
        max_epochs=cfg.trainer.epochs,
        accelerator=accelerator,
        devices=devices if cfg.trainer.devices == 1 else cfg.trainer.devices,
        strategy=_lightning_strategy(cfg.trainer),
        use_distributed_sampler=False,  # EpochSeededSampler shards itself (see its docstring)
        precision=_precision(cfg.trainer.precision),  # type: ignore[arg-type]
        logger=logger,
        callbacks=cbs,
        enable_checkpointing=False,
        enable_progress_bar=cfg.trainer.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_train_batches=cfg.trainer.limit_batches,
        log_every_n_steps=1,
        deterministic=False,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings(
            "ignore", message=".*LightningModule.*has parameters that were not used.*"
        )
        try:
            with guard:
                trainer.fit(
                    oneshot, train_dataloaders=loaders, ckpt_path=str(ckpt) if resume else None
                )
        except NonFiniteStepsError as exc:
            kept = f"the last complete epoch is kept in {run_path / CHECKPOINT}"
            raise SearchError(f"{exc} ({kept}; resume with --resume)") from None
        except SystemExit:  # Lightning's own SIGTERM exit
            if guard.signum is None:
                raise
    seconds = time.perf_counter() - start
    if guard.signum is not None:
        completed = len(recorder.metrics_rows)
        if trainer.is_global_zero:
            outputs.write_json(
                run_path / "summary.json",
                {
                    "interrupted": True,
                    "signal": signal.Signals(guard.signum).name,
                    "epochs": completed,
                    "resume": f"idarts search --resume {run_path}",
                    "strategy": cfg.strategy.name,
                    "finished": datetime.now().isoformat(timespec="seconds"),
                },
            )
        raise SearchInterruptedError(guard.signum, completed, run_path)

    export = derived_export(oneshot, rule)
    probs = {k: {str(c): float(p) for c, p in v.items()} for k, v in oneshot.export_probs().items()}
    arch_string = describe_architecture(spec, export)
    last = recorder.metrics_rows[-1] if recorder.metrics_rows else {}
    decision = decision_record(spec, probs, export)
    decision["derivation"] = rule
    decision["arc_learning_rate"] = arc_lr
    decision["warmup_epochs"] = warmup
    result = SearchResult(
        run_dir=run_path,
        architecture=dict(export),
        arch_string=arch_string,
        probs=probs,
        metrics=dict(last),
        epochs=len(recorder.metrics_rows),
        seconds=seconds,
        decision=decision,
    )
    if trainer.is_global_zero:
        _warn_about_decision(decision, cfg)
        if cfg.output.ground_truth and spec.kind == "nas-bench-201":
            from .ground_truth import rank_found_cell

            try:
                rank = rank_found_cell(cfg, arch_string)
            except Exception as exc:  # a ranking must never lose a finished search
                _logger.warning("could not rank the cell in the ground truth: %s", exc)
                rank = None
            if rank is not None:
                decision["ground_truth"] = rank
                _logger.info(rank["text"])
    nb201 = (
        _record_nb201(cfg, spec, data.name, arch_string, run_path)
        if trainer.is_global_zero
        else None
    )
    if trainer.is_global_zero and spec.kind in ("nas-bench-201", "cell"):
        try:
            outputs.plot_cell(export, run_path / "cell.png", title=arch_string)
        except Exception as exc:  # a plot must never lose a finished search
            _logger.warning("could not plot the cell: %s", exc)
    if trainer.is_global_zero:
        outputs.write_json(
            run_path / "summary.json",
            {
                "architecture": result.architecture,
                "arch_string": arch_string,
                "probs": probs,
                "metrics": result.metrics,
                "epochs": result.epochs,
                "seconds_this_process": seconds,
                "space": {"kind": spec.kind, "options": spec.options},
                "strategy": cfg.strategy.name,
                "decision": decision,
                "nb201": nb201,
                "finished": datetime.now().isoformat(timespec="seconds"),
            },
        )
    return result


def _record_nb201(
    cfg: RunConfig, spec: SpaceSpec, data_name: str, arch: str | None, run_dir: Path
) -> dict[str, Any] | None:
    """Look up the found cell's benchmark accuracy when a source is configured."""
    from .data import DATASETS

    info = DATASETS.get(data_name)
    if spec.kind != "nas-bench-201" or arch is None or info is None or info.nb201 is None:
        return None
    source_path = cfg.output.nb201_source or os.environ.get("IDARTS_NB201")
    if not source_path:
        _logger.info("no NAS-Bench-201 source configured (output.nb201_source / IDARTS_NB201)")
        return None
    from .nb201 import NB201Error, open_source

    try:
        found = open_source(source_path).lookup(arch)
    except (NB201Error, OSError, KeyError, ImportError) as exc:
        _logger.warning("NAS-Bench-201 look-up failed: %s", exc)
        return {"error": str(exc)}
    record = {
        "arch": found.arch,
        "index": found.index,
        "source": str(source_path),
        "results": {ds: dataclasses.asdict(r) for ds, r in found.results.items()},
        "searched_on": info.nb201,
    }
    outputs.write_json(run_dir / "nb201_lookup.json", record)
    return record


def resume_config(run_dir: str | os.PathLike[str], overrides: Sequence[str] = ()) -> RunConfig:
    """The config a run directory was started with (``config.yaml``), plus overrides."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise SearchError(f"{str(run_dir)!r} is not a run directory: {path.name} is missing")
    return load_config(path, overrides)
