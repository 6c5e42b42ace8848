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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import DataLoader

from . import outputs
from .collapse import Remedies, parameter_free_share
from .config import FIRST_ORDER, ConfigError, RunConfig, load_run_config
from .data import SearchData
from .derive import DERIVATIONS, decision_record, describe_architecture
from .outputs import CHECKPOINT, PREVIOUS_CHECKPOINT
from .report import SearchResult, write_report
from .runtime import SearchError, prepare_data, resolve_device
from .spaces import SpaceSpec, keep_shape_kinds, load_space

if TYPE_CHECKING:  # NNI is untyped: the name documents the type (mypy sees Any)
    from nni.nas.oneshot.pytorch.base_lightning import BaseOneShotLightningModule

__all__ = [
    "SearchError",
    "SearchInterruptedError",
    "SearchResult",
    "Supernet",
    "arch_budget",
    "build_supernet",
    "describe_architecture",
    "run_search",
]

_logger = logging.getLogger(__name__)


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


# --------------------------------------------------------------------------------------------
# Pieces.
# --------------------------------------------------------------------------------------------


def arch_budget(cfg: RunConfig, steps_per_epoch: int) -> tuple[float, int, int]:
    """The run's architecture learning rate, warm-up epochs and planned architecture steps.

    The config's numbers go through the budget rules (:mod:`idarts_plugin.budget`); a
    first-order strategy takes one architecture step per weight step.

    Args:
        cfg: the run config.
        steps_per_epoch: batches per epoch of the shorter of the two search loaders (before
            ``trainer.limit_batches``).

    Example:
        >>> from idarts_plugin.config import load_config
        >>> arch_budget(load_config(None, ["trainer.epochs=36"]), 64)
        (0.0625, 2, 2176)
        >>> arch_budget(load_config(None, ["trainer.epochs=36", "strategy.warmup_steps=null",
        ...                                "strategy.arc_horizon=null"]), 64)
        (0.015625, 6, 1920)
    """
    strategy, trainer = cfg.strategy, cfg.trainer
    return strategy.schedule().resolve(
        epochs=trainer.epochs,
        steps_per_epoch=steps_per_epoch,
        inner_steps=strategy.inner_steps if strategy.name not in FIRST_ORDER else 1,
        limit_batches=trainer.limit_batches,
    )


# --------------------------------------------------------------------------------------------
# Resuming.
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# The run, step by step.
# --------------------------------------------------------------------------------------------


_RUN_DIR_ENV = "IDARTS_RUN_DIR"


def _default_run_name(cfg: RunConfig) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    space = Path(cfg.space.name).stem
    data = cfg.data.name.replace("folder:", "folder-").replace("/", "_")
    return f"{space}-{data}-{cfg.strategy.name}-{stamp}"


@dataclass
class _Run:
    """What the steps of one search share: the config, the space, where it writes, the device."""

    cfg: RunConfig
    spec: SpaceSpec
    path: Path
    accelerator: str
    devices: list[int] | int
    is_rank_zero: bool
    resume_from: Path | None = None
    metrics_rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    alpha_rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def checkpoint(self) -> Path:
        """``checkpoints/last.ckpt`` of the run directory."""
        return self.path / CHECKPOINT


@dataclass
class Supernet:
    """A search's one-shot module and what feeds it (:func:`build_supernet`).

    Attributes:
        data: the search's data splits.
        oneshot: NNI's one-shot Lightning module around the strategy and the model space.
        loaders: the ``{"train": ..., "val": ...}`` loaders it fits on.
        eval_loader: the architecture-validation split in a fixed order.
        arc_lr: the resolved architecture learning rate.
        warmup: the resolved warm-up epochs.
    """

    data: SearchData
    oneshot: BaseOneShotLightningModule
    loaders: dict[str, DataLoader[Any]]
    eval_loader: DataLoader[Any]
    arc_lr: float
    warmup: int


def _run_path(cfg: RunConfig, run_dir: str | os.PathLike[str] | None, is_rank_zero: bool) -> Path:
    """The run directory: given, inherited from rank 0 (DDP), or ``output.dir/<name>``."""
    if run_dir is None:
        inherited = os.environ.get(_RUN_DIR_ENV)
        if not is_rank_zero and inherited:
            run_dir = inherited  # a DDP rank started by rank 0's launcher: rank 0's name
        else:
            run_dir = Path(cfg.output.dir) / (cfg.output.name or _default_run_name(cfg))
    run_path = Path(run_dir)
    if is_rank_zero:
        os.environ[_RUN_DIR_ENV] = str(run_path)  # inherited by processes Lightning launches
    return run_path


def _open_run(cfg: RunConfig, run_dir: str | os.PathLike[str] | None, resume: bool) -> _Run:
    """Check the device and the run directory, read back a resumed run's rows, save the config.

    Raises:
        SearchError: 16-mixed on CPU, CUDA absent, nothing to resume.
        outputs.RunDirError: the run directory is not writable.
    """
    from pytorch_lightning.utilities import rank_zero_only

    if cfg.trainer.threads is not None:
        torch.set_num_threads(cfg.trainer.threads)
    accelerator, devices = resolve_device(cfg.trainer.device)
    if accelerator == "cpu" and str(cfg.trainer.precision) == "16-mixed":
        raise SearchError(
            "trainer.precision 16-mixed (float16 autocast) needs a CUDA device; on CPU use "
            "bf16-mixed or 32"
        )
    spec = load_space(cfg.space)
    is_rank_zero = getattr(rank_zero_only, "rank", 0) == 0
    run = _Run(cfg, spec, _run_path(cfg, run_dir, is_rank_zero), accelerator, devices, is_rank_zero)
    if resume and not run.checkpoint.is_file():
        raise SearchError(
            f"nothing to resume in {str(run.path)!r}: {CHECKPOINT} does not exist "
            "(the search did not complete an epoch); start it again without --resume"
        )
    if is_rank_zero:
        outputs.check_writable(run.path)
    if resume:
        run.resume_from, state = _load_resume_state(run.path)
        done = int(state.get("epoch", -1))
        del state
        for name, rows in (
            ("metrics.csv", run.metrics_rows),
            ("alpha_history.csv", run.alpha_rows),
        ):
            rows.extend(outputs.truncate_epochs(outputs.read_csv_rows(run.path / name), done))
    if is_rank_zero:
        outputs.atomic_write_text(run.path / "config.yaml", cfg.to_yaml())
    return run


def space_remedies(cfg: RunConfig, spec: SpaceSpec) -> Remedies:
    """The run's collapse remedies, ``aux_skip: auto`` resolved for its space.

    Example:
        >>> from idarts_plugin.config import load_config
        >>> from idarts_plugin.spaces import SpaceSpec
        >>> space_remedies(load_config(None, []), SpaceSpec(kind="darts")).aux_skip
        0.0
    """
    return cfg.strategy.remedies().resolve(edges_keep_shape=spec.edges_keep_shape)


def build_supernet(cfg: RunConfig, spec: SpaceSpec) -> Supernet:
    """Seed, load the data, build the space and the strategy, and wrap them one-shot.

    What :func:`run_search` fits, for tools that inspect a search's start (the fidelity
    benchmark) without running it.
    """
    import pytorch_lightning as pl

    from .nni_adapter import build_space, build_strategy, one_shot, search_loader, search_module

    if cfg.strategy.aux_skip != "auto" and cfg.strategy.aux_skip > 0 and not spec.edges_keep_shape:
        raise ConfigError(
            f"the auxiliary skip adds each edge's input to its output, but the {spec.kind} "
            f"space's edges change their input's shape (search_spaces/{spec.kind}.yaml: "
            f"edges_keep_shape: false); use it with {keep_shape_kinds()} spaces "
            "(or aux_skip: auto, which leaves it off here)",
            key="strategy.aux_skip",
        )
    pl.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    data = prepare_data(cfg, spec)
    space = build_space(spec, num_classes=data.num_classes, in_channels=data.in_channels)
    train_loader = search_loader(data.weight_train, cfg.trainer, seed_offset=0, shuffle=True)
    val_loader = search_loader(data.arch_val, cfg.trainer, seed_offset=1, shuffle=True)
    eval_loader = search_loader(data.arch_val, cfg.trainer, seed_offset=0, shuffle=False)
    steps_per_epoch = min(len(train_loader), len(val_loader))
    arc_lr, warmup, arch_steps = arch_budget(cfg, steps_per_epoch)
    if cfg.strategy.arc_learning_rate == "auto":
        _logger.info(
            "arc_learning_rate auto: %.3g (travel %g over %d of the search's %d architecture "
            "steps, after %d warm-up epochs)",
            arc_lr,
            cfg.strategy.arc_travel,
            min(arch_steps, cfg.strategy.arc_horizon or arch_steps),
            arch_steps,
            warmup,
        )
    strategy = build_strategy(cfg.strategy, arc_learning_rate=arc_lr, warmup_epochs=warmup)
    oneshot, loaders = one_shot(
        strategy,
        space,
        search_module(data.num_classes, cfg.optimizer, cfg.trainer.epochs),
        train_loader,
        val_loader,
    )
    return Supernet(data, oneshot, loaders, eval_loader, arc_lr, warmup)


def _callbacks(
    run: _Run,
    eval_loader: DataLoader[Any],
    on_epoch: Sequence[Callable[[int, dict[str, Any]], None]],
    extra: Sequence[Any],
    guard: _SignalGuard,
) -> tuple[Any, list[Any]]:
    """The run recorder, and all callbacks (recorder, ``extra``, the progress bar)."""
    from .nni_adapter import ArchProgressBar, RunRecorder, derived_export
    from .strategy.remedies import RemedyCallback

    rule = run.cfg.strategy.derive
    recorder = RunRecorder(
        run.path,
        run.spec,
        eval_loader,
        (run.metrics_rows, run.alpha_rows),
        on_epoch,
        derive_rule=rule,
        guard=guard,
        early_stop=run.cfg.strategy.early_stop == "collapse",
        early_stop_patience=run.cfg.strategy.early_stop_patience,
    )
    remedies = space_remedies(run.cfg, run.spec)
    if run.cfg.strategy.aux_skip == "auto":
        _logger.info(
            "aux_skip auto: %s",
            f"the auxiliary skip, {remedies.aux_skip:g} → 0 over the search"
            if remedies.uses_aux_skip
            else f"off (the {run.spec.kind} space's edges change their input's shape)",
        )
    # The remedies act before the recorder measures and checkpoints the epoch.
    cbs: list[Any] = [RemedyCallback(remedies)] if remedies.acts_in_training else []
    cbs += [recorder, *extra]
    if run.cfg.trainer.progress_bar:
        spec = run.spec
        cbs.append(
            ArchProgressBar(
                lambda pl_module: describe_architecture(spec, derived_export(pl_module, rule))
            )
        )
    return recorder, cbs


def _make_trainer(run: _Run, callbacks: list[Any]) -> Any:
    """Lightning's trainer for the search (:func:`idarts_plugin.nni_adapter.make_trainer`)."""
    from .nni_adapter import make_trainer

    return make_trainer(
        run.cfg.trainer,
        run_path=run.path,
        accelerator=run.accelerator,
        devices=run.devices,
        callbacks=callbacks,
    )


def _fit(trainer: Any, run: _Run, net: Supernet, guard: _SignalGuard) -> float:
    """``trainer.fit`` under the signal guard; the seconds it took.

    Raises:
        SearchError: too many non-finite steps in a row.
    """
    from .nni_adapter import per_epoch_solver_notes
    from .strategy.module import NonFiniteStepsError

    start = time.perf_counter()
    with per_epoch_solver_notes(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings(
            "ignore", message=".*LightningModule.*has parameters that were not used.*"
        )
        try:
            with guard:
                trainer.fit(
                    net.oneshot,
                    train_dataloaders=net.loaders,
                    ckpt_path=str(run.resume_from) if run.resume_from is not None else None,
                )
        except NonFiniteStepsError as exc:
            kept = f"the last complete epoch is kept in {run.checkpoint}"
            raise SearchError(f"{exc} ({kept}; resume with --resume)") from None
        except SystemExit:  # Lightning's own SIGTERM exit
            if guard.signum is None:
                raise
    return time.perf_counter() - start


def _interrupted(trainer: Any, run: _Run, signum: int, completed: int) -> SearchInterruptedError:
    """Write the interrupted run's summary (rank 0); the error to raise."""
    if trainer.is_global_zero:
        outputs.write_json(
            run.path / "summary.json",
            {
                "interrupted": True,
                "signal": signal.Signals(signum).name,
                "epochs": completed,
                "resume": f"idarts search --resume {run.path}",
                "strategy": run.cfg.strategy.name,
                "finished": datetime.now().isoformat(timespec="seconds"),
            },
        )
    return SearchInterruptedError(signum, completed, run.path)


def _result(run: _Run, net: Supernet, recorder: Any, seconds: float) -> SearchResult:
    """The finished search: the derived architecture, softmax(α) and the decision record.

    With the early stop, α is the kept epoch's (``decision.early_stop`` says which and why);
    a rule that needs the supernet (``perturbation``) scores it now
    (``decision.perturbation``, ``perturbation.json``).
    """
    from .metrics import probs_from_alpha_row
    from .nni_adapter import derived_export

    cfg = run.cfg
    rule = cfg.strategy.derive
    choice = recorder.epoch_choice
    probs = {
        k: {str(c): float(p) for c, p in v.items()} for k, v in net.oneshot.export_probs().items()
    }
    kept = [
        r for r in recorder.alpha_rows if choice is not None and int(r["epoch"]) == choice.epoch
    ]
    if kept and choice is not None and choice.epoch != int(recorder.alpha_rows[-1]["epoch"]):
        probs = probs_from_alpha_row(kept[0])
    export = derived_export(net.oneshot, rule, probs)
    perturbation = None
    if DERIVATIONS[rule].needs_supernet:
        perturbation = _supernet_derivation(cfg, net)
        export.update(
            {k: v for k, v in perturbation.chosen.items() if isinstance(export.get(k), str)}
        )
    decision = decision_record(run.spec, probs, export)
    decision["param_free_share"] = parameter_free_share(export)
    decision["derivation"] = rule
    decision["arc_learning_rate"] = net.arc_lr
    decision["warmup_epochs"] = net.warmup
    decision["remedies"] = {
        **space_remedies(cfg, run.spec).as_dict(),
        "aux_skip_setting": cfg.strategy.aux_skip,
    }
    if choice is not None:
        decision["early_stop"] = choice.as_dict()
    if perturbation is not None:
        decision["perturbation"] = perturbation.as_dict()
        if run.is_rank_zero:
            outputs.write_json(run.path / "perturbation.json", perturbation.as_dict())
    return SearchResult(
        run_dir=run.path,
        architecture=dict(export),
        arch_string=describe_architecture(run.spec, export),
        notation=run.spec.notation,
        probs=probs,
        metrics=dict(recorder.metrics_rows[-1]) if recorder.metrics_rows else {},
        epochs=len(recorder.metrics_rows),
        seconds=seconds,
        decision=decision,
    )


def _supernet_derivation(cfg: RunConfig, net: Supernet) -> Any:
    """Run the derivation rule that needs the trained supernet (DARTS-PT)."""
    from .nni_adapter import search_loader
    from .nni_adapter.perturbation import SUPERNET_RULES

    tune = cfg.strategy.perturbation_tune_steps
    tune_loader = (
        search_loader(net.data.weight_train, cfg.trainer, seed_offset=2, shuffle=True)
        if tune > 0
        else None
    )
    start = time.perf_counter()
    result = SUPERNET_RULES[cfg.strategy.derive](
        net.oneshot,
        net.eval_loader,
        seed=cfg.trainer.seed,
        tune_steps=tune,
        tune_loader=tune_loader,
        tune_lr=cfg.optimizer.lr_min,
    )
    _logger.info(
        "derivation %s: %s in %.0f s",
        cfg.strategy.derive,
        ", ".join(f"{k}={v}" for k, v in result.chosen.items()),
        time.perf_counter() - start,
    )
    return result


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
        SearchInterruptedError: SIGTERM/SIGINT stopped it (the run directory can be resumed).
        ConfigError: an invalid space or data option.
        outputs.RunDirError: the run directory is not writable or the disk is full.
    """
    run = _open_run(config, run_dir, resume)
    net = build_supernet(run.cfg, run.spec)
    guard = _SignalGuard()
    recorder, cbs = _callbacks(run, net.eval_loader, on_epoch, callbacks, guard)
    trainer = _make_trainer(run, cbs)
    seconds = _fit(trainer, run, net, guard)
    if guard.signum is not None:
        raise _interrupted(trainer, run, guard.signum, len(recorder.metrics_rows))
    result = _result(run, net, recorder, seconds)
    if trainer.is_global_zero:
        write_report(run.cfg, run.spec, result, net.data.name)
    return result


def resume_config(run_dir: str | os.PathLike[str], overrides: Sequence[str] = ()) -> RunConfig:
    """The config a run directory was started with (``config.yaml``), plus overrides."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise SearchError(f"{str(run_dir)!r} is not a run directory: {path.name} is missing")
    return load_run_config(path, overrides)
