"""The run-config schema (frozen dataclasses) and YAML loading with precise errors.

One schema serves ``idarts search``, Optuna studies and nnictl trials. A run config is a YAML
mapping with the sections below; every key is optional and defaults to the value shown in
``examples/configs/digits-nb201.yaml``. Overrides use dotted keys: ``strategy.neumann_steps=5``.

Example:
    >>> cfg = RunConfig.from_dict({"strategy": {"name": "implicit", "neumann_steps": 3}})
    >>> cfg.strategy.neumann_steps
    3
    >>> apply_overrides(cfg.to_dict(), ["trainer.epochs=2"])["trainer"]["epochs"]
    2
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, cast

import yaml

from .budget import ARC_HORIZON, ARC_TRAVEL, SCHEDULE_KEYS, WARMUP_STEPS, AlphaSchedule
from .collapse import REMEDY_KEYS, Remedies
from .data import DataConfig, DataError
from .derive import DERIVATIONS
from .hypergrad.checks import check_bool, check_choice, check_int, check_number, check_pair
from .hypergrad.spec import OptionError, SearchOptions, has_growth_monitor
from .strategy_table import STRATEGY_TABLE, TABLE_DEFAULTS

_logger = logging.getLogger(__name__)

__all__ = [
    "ENGINE_KEYS",
    "FIRST_ORDER",
    "STRATEGIES",
    "ConfigError",
    "OptimizerConfig",
    "OutputConfig",
    "RunConfig",
    "SpaceConfig",
    "StrategyConfig",
    "TrainerConfig",
    "apply_overrides",
    "load_config",
    "load_run_config",
    "parse_value",
    "set_value",
]


class ConfigError(ValueError):
    """A run config is invalid; the message names the file, the key and the fix."""

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None):
        self.key = key
        self.source = source
        where = ": ".join(p for p in (source, f"key '{key}'" if key else None) if p)
        super().__init__(f"{where}: {message}" if where else message)


def _checked(key: str, check: Callable[..., Any], value: Any, **limits: Any) -> Any:
    """Run one of :mod:`idarts_plugin.hypergrad.checks` on a config value.

    Its ValueError becomes a :class:`ConfigError` naming ``key``.
    """
    try:
        return check("value", value, **limits)
    except ValueError as exc:
        raise ConfigError(str(exc).replace("value must", "must"), key=key) from None


def _num(key: str, value: Any, *, minimum: float | None = None, strict: bool = False) -> float:
    return cast(float, _checked(key, check_number, value, minimum=minimum, strict=strict))


def _int(key: str, value: Any, *, minimum: int) -> int:
    return cast(int, _checked(key, check_int, value, minimum=minimum))


def _not_auto(key: str, value: Any, otherwise: str) -> bool:
    """``False`` for ``"auto"``; ``True`` for a non-string (check it); an error for other text."""
    if value == "auto":
        return False
    if isinstance(value, str):
        raise ConfigError(f"unknown value {value!r}; valid values: {otherwise} or auto", key=key)
    return True


def _choice(key: str, value: Any, choices: Iterable[str]) -> str:
    return cast(str, _checked(key, check_choice, value, choices=choices))


@dataclass(frozen=True, kw_only=True)
class SpaceConfig:
    """Which search space, and overrides of its file's options.

    Attributes:
        name: a name from ``search_spaces/`` (``nas-bench-201``, ``darts``, ``cell``) or a
            path to a space YAML file.
        options: overrides of the space file's ``options`` (e.g. ``stem_channels: 8``).
    """

    name: str = "nas-bench-201"
    options: dict[str, Any] = field(default_factory=dict)


STRATEGIES = tuple(STRATEGY_TABLE)
"""Strategy names (:data:`idarts_plugin.strategy_table.STRATEGY_TABLE`): iDARTS, DARTS-V2,
Amended-DARTS, NNI's first-order DARTS, NNI's GumbelDARTS, any engine method."""

_COMMON_KEYS = (
    "arc_learning_rate",
    "arc_travel",
    "arc_horizon",
    "derive",
    "warmup_epochs",
    "warmup_steps",
    "gradient_clip_val",
    "log_prob_every_n_step",
    *REMEDY_KEYS,
    "perturbation_tune_steps",
)
FIRST_ORDER = tuple(name for name, entry in STRATEGY_TABLE.items() if entry.first_order)
"""NNI's own first-order strategies: no hypergradient keys, one weight step per α step."""

_OWN_FIELDS = ("method", "method_options", "method_lr", "arc_learning_rate", "warmup_epochs")
"""Engine options that :class:`StrategyConfig` declares itself (a strategy's choice, ``auto``)."""

ENGINE_KEYS: dict[str, Any] = {
    k: v for k, v in SearchOptions.run_defaults().items() if k not in _OWN_FIELDS
}
"""The strategy keys that are the engine's options, with a run config's defaults
(:meth:`SearchOptions.run_defaults`): :class:`StrategyConfig` has a field for each, so a new
:class:`~idarts_plugin.hypergrad.SearchOptions` field is a run-config key without an edit here."""

_HYPERGRAD_KEYS = tuple(
    k
    for k in ENGINE_KEYS
    if k not in _COMMON_KEYS and not any(k in e.keys for e in STRATEGY_TABLE.values())
)
"""Keys every strategy with a hypergradient accepts: the engine's options that are neither
common to all strategies nor some strategies' own (:data:`STRATEGY_TABLE`)."""


def _key_field(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return field(default_factory=lambda: copy.deepcopy(value))
    return field(default=value)


_EngineKeys: Any = dataclasses.make_dataclass(
    "_EngineKeys",
    [(k, Any, _key_field(v)) for k, v in {**TABLE_DEFAULTS, **ENGINE_KEYS, **REMEDY_KEYS}.items()],
    frozen=True,
    kw_only=True,
)


@dataclass(frozen=True, kw_only=True)
class StrategyConfig(_EngineKeys):  # a field per TABLE_DEFAULTS, ENGINE_KEYS, REMEDY_KEYS entry
    """The search strategy and its outer hyperparameters.

    Keys no strategy knows are rejected when the config is loaded, naming the valid ones; keys
    of another strategy (``neumann_steps`` with ``name: darts``) are dropped with a log note,
    so switching ``strategy.name`` alone works on any config.

    ``arc_learning_rate: auto`` sets the architecture step to ``arc_travel / architecture
    steps``, counting at most ``arc_horizon`` steps (at least the papers' 3e-4; see
    :func:`idarts_plugin.budget.arc_learning_rate_for_budget`); ``warmup_epochs: auto`` trains
    the weights alone for a sixth of the epochs, but no more whole epochs than hold
    ``warmup_steps`` weight steps (``null`` for either cap: the schedule stretches with the
    budget, see :mod:`idarts_plugin.budget`);
    ``derive`` is the rule that turns α into the exported cell (:data:`idarts_plugin.derive.DERIVATIONS`);
    ``inner_weight_decay: true`` differentiates the problem the weights solve,
    ``L_tr + ½·optimizer.weight_decay·‖w‖²`` (``false``: the criterion alone, as the papers);
    ``curvature`` (``hessian`` | ``ggn``), ``curvature_bn`` (``batch`` | ``frozen`` |
    ``running``) and ``hessian_batches`` choose the matrix the implicit term inverts
    (:class:`idarts_plugin.hypergrad.spec.CurvatureSpec`); ``monitor_every`` is the growth
    monitor of the Neumann series (one product every so many steps; 0: off).
    """

    name: str = "implicit"
    arc_learning_rate: float | str = "auto"
    arc_travel: float = ARC_TRAVEL
    arc_horizon: int | None = ARC_HORIZON
    derive: str = "exclude_none"
    warmup_epochs: int | str = "auto"
    warmup_steps: int | None = WARMUP_STEPS
    perturbation_tune_steps: int = 0

    def __post_init__(self) -> None:
        k = "strategy."
        _choice(k + "name", self.name, STRATEGIES)
        _not_auto(k + "arc_learning_rate", self.arc_learning_rate, "a number > 0")
        _not_auto(k + "warmup_epochs", self.warmup_epochs, "an integer >= 0")
        self.schedule()  # the schedule keys' checks are AlphaSchedule's
        _choice(k + "derive", self.derive, DERIVATIONS)
        _checked(k + "perturbation_tune_steps", check_int, self.perturbation_tune_steps, minimum=0)
        for key, value in self.remedies().as_dict().items():  # normalised (`off` read as false)
            object.__setattr__(self, key, value)
        temp = self.temperature
        if _checked(k + "temperature", check_pair, temp, low=0, high=math.inf) and min(temp) <= 0:
            raise ConfigError(f"must be two numbers > 0, got {temp!r}", key=k + "temperature")
        object.__setattr__(self, "temperature", (float(temp[0]), float(temp[1])))
        # Every other key is the engine's: its own checks, once (no torch needed).
        options = self.search_options(resolved=False)
        object.__setattr__(self, "arc_betas", options.arc_betas)

    def schedule(self) -> AlphaSchedule:
        """α's schedule of this section (:class:`idarts_plugin.budget.AlphaSchedule`).

        :func:`idarts_plugin.search.arch_budget` fits its ``auto`` values to the run.

        Raises:
            ConfigError: a schedule key out of range, named (the checks are
                :class:`~idarts_plugin.budget.AlphaSchedule`'s).

        Example:
            >>> StrategyConfig().schedule() == AlphaSchedule()  # the Python strategies' default
            True
        """
        try:
            return AlphaSchedule(**{key: getattr(self, key) for key in SCHEDULE_KEYS})
        except ValueError as exc:  # AlphaSchedule's message starts with the key it names
            msg = str(exc)
            key = next((k for k in SCHEDULE_KEYS if msg.startswith(k + " ")), None)
            if key is None:
                raise ConfigError(msg) from None
            raise ConfigError(msg.removeprefix(key + " "), key="strategy." + key) from None

    def remedies(self) -> Remedies:
        """The collapse remedies of this section (:class:`idarts_plugin.collapse.Remedies`).

        Raises:
            ConfigError: an invalid remedy key, named.
        """
        values = {key: getattr(self, key) for key in REMEDY_KEYS}
        try:
            return Remedies(**values)
        except ValueError as exc:
            key = max((k for k in values if k in str(exc)), key=len, default="early_stop")
            raise ConfigError(str(exc), key="strategy." + key) from None

    def _option_kwargs(self) -> dict[str, Any]:
        """The :meth:`SearchOptions.from_kwargs` keywords of this strategy's keys."""
        own = set(self.valid_keys(self.name))
        kwargs = {k: getattr(self, k) for k in SearchOptions.option_names() if k in own}
        entry = STRATEGY_TABLE[self.name]
        kwargs.update(entry.method_kwargs({k: getattr(self, k) for k in entry.keys}))
        method = kwargs.get("method")
        if not has_growth_monitor(method):
            # The growth monitor (default on) watches a Neumann series; no other method has one.
            kwargs.pop("monitor_every", None)
        return kwargs

    def search_options(
        self,
        *,
        arc_learning_rate: float | None = None,
        warmup_epochs: int | None = None,
        resolved: bool = True,
    ) -> SearchOptions:
        """The engine's :class:`~idarts_plugin.hypergrad.SearchOptions` of this section.

        Args:
            arc_learning_rate: the resolved architecture learning rate (required when the
                config says ``auto``, unless ``resolved`` is false).
            warmup_epochs: the resolved warm-up (required when the config says ``auto``,
                unless ``resolved`` is false).
            resolved: ``False``: an ``auto`` value not given keeps the engine's default (to
                validate the other keys).

        Raises:
            ConfigError: an invalid key, named.
            ValueError: an ``auto`` value not resolved.
        """
        kwargs = self._option_kwargs()
        for key, value in (
            ("arc_learning_rate", arc_learning_rate),
            ("warmup_epochs", warmup_epochs),
        ):
            if value is not None:
                kwargs[key] = value
            elif kwargs.get(key) == "auto":
                if resolved:
                    raise ValueError(f"{key} 'auto' must be resolved to a number first")
                del kwargs[key]
        try:
            return SearchOptions.from_kwargs(**kwargs)
        except OptionError as exc:
            keys = STRATEGY_TABLE[self.name].renames
            first = exc.option.split(".", 1)[0]
            name = keys.get(exc.option) or keys.get(first) or first
            raise ConfigError(str(exc), key="strategy." + name) from None

    @staticmethod
    def valid_keys(name: str) -> tuple[str, ...]:
        """Keys that strategy ``name`` accepts."""
        entry = STRATEGY_TABLE.get(name)
        extra = _HYPERGRAD_KEYS if name not in FIRST_ORDER else ()
        return ("name", *(entry.keys if entry else ()), *_COMMON_KEYS, *extra)

    @staticmethod
    def all_keys() -> tuple[str, ...]:
        """Keys that some strategy accepts."""
        keys = ["name", *_COMMON_KEYS, *_HYPERGRAD_KEYS]
        for entry in STRATEGY_TABLE.values():
            keys += [k for k in entry.keys if k not in keys]
        return tuple(keys)


@dataclass(frozen=True, kw_only=True)
class OptimizerConfig:
    """The weight optimiser: SGD with momentum (``nesterov``: Nesterov's) and a cosine schedule."""

    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    nesterov: bool = False

    def __post_init__(self) -> None:
        _num("optimizer.lr", self.lr, minimum=0, strict=True)
        _num("optimizer.lr_min", self.lr_min, minimum=0)
        _num("optimizer.momentum", self.momentum, minimum=0)
        _num("optimizer.weight_decay", self.weight_decay, minimum=0)
        _checked("optimizer.nesterov", check_bool, self.nesterov)
        if self.nesterov and self.momentum <= 0:
            raise ConfigError(
                "Nesterov momentum needs optimizer.momentum > 0", key="optimizer.nesterov"
            )
        if self.lr_min > self.lr:
            raise ConfigError(
                f"must be <= optimizer.lr ({self.lr}), got {self.lr_min}", key="optimizer.lr_min"
            )


@dataclass(frozen=True, kw_only=True)
class TrainerConfig:
    """How long, where and how the search trains.

    Attributes:
        epochs: search epochs.
        batch_size: minibatch size of both the weight and the architecture loader.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``.
        devices: processes (CPU) or GPUs of a data-parallel search (Lightning DDP); the batch
            size is per device.
        strategy: Lightning strategy: ``auto`` (``ddp`` when ``devices`` > 1) or ``ddp``.
        precision: Lightning precision (``32``, ``64``, ``bf16-mixed``, ``16-mixed``); mixed
            precision applies to the weight step, Hessian-vector products stay float32.
        seed: seeds shuffling, initialisation and the search itself (the data subset and
            the weight/architecture split have their own ``data.seed``).
        num_workers: data-loader worker processes.
        threads: ``torch.set_num_threads`` (``None``: leave torch's default).
        limit_batches: stop each epoch after this many batches (``None``: whole epoch).
        progress_bar: show a progress bar.
    """

    epochs: int = 50
    batch_size: int = 64
    device: str = "auto"
    devices: int = 1
    strategy: str = "auto"
    precision: str | int = 32
    seed: int = 0
    num_workers: int = 0
    threads: int | None = None
    limit_batches: int | None = None
    progress_bar: bool = True

    def __post_init__(self) -> None:
        _int("trainer.epochs", self.epochs, minimum=1)
        _int("trainer.batch_size", self.batch_size, minimum=1)
        _int("trainer.seed", self.seed, minimum=0)
        _int("trainer.num_workers", self.num_workers, minimum=0)
        if self.threads is not None:
            _int("trainer.threads", self.threads, minimum=1)
        if self.limit_batches is not None:
            _int("trainer.limit_batches", self.limit_batches, minimum=1)
        dev = self.device
        if not isinstance(dev, str) or not (
            dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit())
        ):
            raise ConfigError(
                f"unknown device {dev!r}; valid values: auto, cpu, cuda, cuda:N",
                key="trainer.device",
            )
        _int("trainer.devices", self.devices, minimum=1)
        _choice("trainer.strategy", self.strategy, ("auto", "ddp"))
        if self.devices > 1 and dev.startswith("cuda:"):
            raise ConfigError(
                f"device {dev!r} names one GPU but trainer.devices is {self.devices}; "
                "use trainer.device=cuda with trainer.devices=N",
                key="trainer.devices",
            )
        _choice(
            "trainer.precision",
            str(self.precision),
            ("32", "64", "32-true", "64-true", "bf16-mixed", "16-mixed"),
        )


@dataclass(frozen=True, kw_only=True)
class OutputConfig:
    """Where the run directory goes.

    Attributes:
        dir: parent directory of run directories.
        name: run directory name (``None``: ``<space>-<data>-<strategy>-<timestamp>``).
        nb201_source: NAS-Bench-201 benchmark file or compact tables (``None``: the
            ``IDARTS_NB201`` environment variable, if set). A NAS-Bench-201 search on CIFAR-10,
            CIFAR-100 or ImageNet16-120 records the found cell's true accuracy from it.
        ground_truth: when the run's data and skeleton match a ground-truth recipe
            (:mod:`idarts_plugin.ground_truth`; the shipped digits demo does), rank the found
            cell among the recipe's random cells, training it with the recipe if the table
            lacks it.
    """

    dir: str = "runs"
    name: str | None = None
    nb201_source: str | None = None
    ground_truth: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.ground_truth, bool):
            raise ConfigError(
                f"must be true or false, got {self.ground_truth!r}", key="output.ground_truth"
            )


_SECTIONS: dict[str, type] = {
    "space": SpaceConfig,
    "data": DataConfig,
    "strategy": StrategyConfig,
    "optimizer": OptimizerConfig,
    "trainer": TrainerConfig,
    "output": OutputConfig,
}


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """A whole search: space, data, strategy, weight optimiser, trainer, output."""

    space: SpaceConfig = field(default_factory=SpaceConfig)
    data: DataConfig = field(default_factory=DataConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str | None = None) -> RunConfig:
        """Validate a nested mapping (as loaded from YAML).

        Raises:
            ConfigError: naming ``source`` and the offending key.
        """
        if not isinstance(raw, Mapping):
            raise ConfigError(
                f"a run config must be a mapping of sections, got {type(raw).__name__}",
                source=source,
            )
        unknown = sorted(set(raw) - set(_SECTIONS))
        if unknown:
            raise ConfigError(
                f"unknown section(s) {', '.join(unknown)}; valid sections: {', '.join(_SECTIONS)}",
                key=unknown[0],
                source=source,
            )
        built: dict[str, Any] = {}
        for section, klass in _SECTIONS.items():
            values = raw.get(section) or {}
            if not isinstance(values, Mapping):
                raise ConfigError(f"must be a mapping, got {values!r}", key=section, source=source)
            valid = [f.name for f in fields(klass) if f.init]
            if klass is StrategyConfig:
                name = values.get("name", StrategyConfig.name)
                if name in STRATEGIES:
                    valid = list(StrategyConfig.valid_keys(name))
                    other = sorted(set(values) - set(valid) & set(StrategyConfig.all_keys()))
                    if other:
                        _logger.info("strategy %r does not use %s; ignored", name, ", ".join(other))
                        values = {k: v for k, v in values.items() if k not in other}
            bad = sorted(set(values) - set(valid))
            if bad:
                raise ConfigError(
                    f"unknown key; valid keys: {', '.join(valid)}",
                    key=f"{section}.{bad[0]}",
                    source=source,
                )
            kwargs = dict(values)
            if klass is SpaceConfig and kwargs.get("options") is None:
                kwargs.pop("options", None)
            try:
                built[section] = klass(**kwargs)
            except ConfigError as exc:
                raise ConfigError(str(exc).split(": ", 1)[-1], key=exc.key, source=source) from None
            except DataError as exc:
                raise ConfigError(str(exc), key=section, source=source) from None
            except (TypeError, ValueError) as exc:
                raise ConfigError(str(exc), key=section, source=source) from None
        return cls(**built)

    def to_dict(self) -> dict[str, Any]:
        """A plain nested dict (YAML-safe) that :meth:`from_dict` accepts back."""
        out: dict[str, Any] = {}
        for section in _SECTIONS:
            values = dataclasses.asdict(getattr(self, section))
            if section == "strategy":
                values = {k: values[k] for k in StrategyConfig.valid_keys(self.strategy.name)}
                for key in ("arc_betas", "temperature"):
                    if key in values:
                        values[key] = list(values[key])
            out[section] = values
        return out

    def to_yaml(self) -> str:
        """The config as YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def parse_value(text: str) -> Any:
    """The value of a ``key=value`` override: YAML, or the text itself where it is not YAML.

    Example:
        >>> parse_value("3"), parse_value("[1, 2]"), parse_value("[a")
        (3, [1, 2], '[a')
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as YAML) to a nested dict copy.

    Raises:
        ConfigError: for an override without ``=`` or with a path that is not ``section.key``.
    """
    out = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        path, _, text = item.partition("=")
        parts = [p for p in path.strip().split(".") if p]
        if len(parts) < 2:
            raise ConfigError(
                f"override {item!r} must name a section and a key, e.g. trainer.epochs=5"
            )
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"cannot set {path!r}: {part!r} is not a mapping", key=path)
            node = child
        node[parts[-1]] = parse_value(text)
    return out


def set_value(raw: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of the nested dict ``raw`` with ``section.key`` set to the Python value ``value``.

    Example:
        >>> set_value({"strategy": {"neumann_steps": 2}}, "strategy.neumann_steps", 5)
        {'strategy': {'neumann_steps': 5}}

    Raises:
        ConfigError: for a path that is not ``section.key``.
    """
    text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    return apply_overrides(raw, [f"{dotted}={text}"])


def load_config(path: str | Path | None, overrides: Iterable[str] = ()) -> RunConfig:
    """Read a YAML run config, apply overrides and validate.

    Args:
        path: the YAML file (``None``: all defaults).
        overrides: ``section.key=value`` strings.

    Raises:
        ConfigError: unreadable or malformed file, unknown key, invalid value.
    """
    raw: Any = {}
    source = None
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot read the file: {exc.strerror or exc}", source=source
            ) from None
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise ConfigError(f"malformed YAML{where}: {problem}", source=source) from None
        if not isinstance(raw, dict):
            raise ConfigError(
                f"a run config must be a mapping of sections, got {type(raw).__name__}",
                source=source,
            )
    raw = apply_overrides(raw, overrides)
    return RunConfig.from_dict(raw, source=source)


def load_run_config(path: str | Path, overrides: Iterable[str] = ()) -> RunConfig:
    """Read a run directory's saved ``config.yaml`` (for ``--resume`` and evaluation).

    A run saved before ``data.seed`` existed drew its data with ``trainer.seed``: such a file
    gets ``data.seed`` = its ``trainer.seed``, so it is read back on the data it ran on.

    Raises:
        ConfigError: as :func:`load_config`.
    """
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        raw = None  # load_config reports it
    compat: list[str] = []
    if isinstance(raw, dict):
        data, trainer = raw.get("data"), raw.get("trainer")
        if isinstance(data, dict) and "seed" not in data and isinstance(trainer, dict):
            seed = trainer.get("seed", TrainerConfig.seed)
            _logger.info("%s has no data.seed (saved before it existed): data.seed=%s", path, seed)
            compat.append(f"data.seed={seed}")
    return load_config(path, [*compat, *overrides])
