"""A search's *specification*: which engine method, its options and the loop's, validated.

A strategy holds one :class:`SearchOptions` and builds the method for each architecture step
from its :class:`MethodSpec` (:class:`~idarts_plugin.hypergrad.methods.MethodBuilder`; the
step size may follow the weight optimiser's current learning rate). This module is plain
data and imports no torch, so a run config is validated against these rules (the same ones
the engine applies) without loading torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .checks import check_bool, check_choice, check_int, check_number, check_pair
from .types import LrOption, VirtualStep

__all__ = [
    "AUTO_LR_WORDS",
    "BN_MODES",
    "CURVATURE_KINDS",
    "DEFAULT_METHOD",
    "FD_SCALE",
    "HESSIAN_BATCHES",
    "HVP_MODES",
    "LR_WORDS",
    "METHOD_OPTIONS",
    "VIRTUAL_STEPS",
    "CurvatureSpec",
    "MethodSpec",
    "OptionError",
    "SearchOptions",
    "VirtualStep",
    "check_hvp_mode",
    "check_method_option",
    "has_growth_monitor",
]

VIRTUAL_STEPS = ("sgd", "optimizer")
HESSIAN_BATCHES = ("separate", "shared")
AUTO_LR_WORDS = ("auto", "safe")
"""The automatic step sizes (Neumann only; see :class:`MethodSpec`)."""
LR_WORDS = (*AUTO_LR_WORDS, "weight_lr")
"""The words a method's ``lr`` may be besides a number and ``None`` (see :class:`MethodSpec`)."""

HVP_MODES = ("exact", "finite_difference")
"""How Hessian-vector products are taken: double backward or a central difference."""

FD_SCALE = 0.01
"""The finite difference's default step numerator: ``ε = FD_SCALE / ‖v‖`` (DARTS' 0.01)."""

DEFAULT_METHOD = "neumann"
"""The hypergradient method when none is named (iDARTS' truncated Neumann series)."""

BN_MODES = ("batch", "frozen", "running")
"""BatchNorm statistics in the curvature products (see :mod:`idarts_plugin.hypergrad.functional`)."""
GGN_MIXED = ("exact", "gauss_newton")

CURVATURE_KINDS = ("hessian", "ggn")


class OptionError(ValueError):
    """An invalid search option; ``option`` is its :meth:`SearchOptions.from_kwargs` keyword.

    For an option of the method it is dotted: ``method_options.steps``.

    Attributes:
        option: the keyword the error is about.
    """

    def __init__(self, message: str, *, option: str) -> None:
        self.option = option
        super().__init__(message)

    def renamed(self, names: Mapping[str, str]) -> ValueError:
        """The same error under the caller's name of the option (``names``: option → name).

        The dotted option is looked up first, then its first part; an option not in
        ``names`` keeps its name.
        """
        name = names.get(self.option) or names.get(self.option.split(".", 1)[0])
        return OptionError(f"{name}: {self}", option=self.option) if name else self


def _checked(option: str, check: Callable[..., Any], value: Any, **limits: Any) -> Any:
    """``check(option, value, **limits)``, its ValueError as an :class:`OptionError`."""
    try:
        return check(option, value, **limits)
    except OptionError:
        raise
    except ValueError as exc:
        raise OptionError(str(exc), option=option) from None


def check_hvp_mode(hvp: Any) -> str:
    """Validate an ``hvp`` option value (one of :data:`HVP_MODES`)."""
    try:
        return check_choice("hvp mode", hvp, HVP_MODES, plural="modes")
    except ValueError as exc:
        raise OptionError(str(exc), option="hvp") from None


def _positive(name: str, value: Any) -> float:
    return check_number(name, value, minimum=0, strict=True)


def _nonnegative(name: str, value: Any) -> float:
    return check_number(name, value, minimum=0)


def _neumann_steps(name: str, value: Any) -> int:
    return check_int(name, value, minimum=0)


def _cg_steps(name: str, value: Any) -> int:
    return check_int(name, value, minimum=1)


_Rule = Callable[[str, Any], Any] | None

METHOD_OPTIONS: Mapping[str, Mapping[str, _Rule]] = MappingProxyType(
    {
        "first_order": {},
        "unrolled": {"lr": _positive, "velocity": None},
        "neumann": {
            "steps": _neumann_steps,
            "lr": None,  # a number, "auto" or an AutoStepSize: the solver checks it
            "max_growth": _positive,
            "max_lr": None,
            "warm_start": None,
            "monitor": None,
        },
        "amended": {"lr": _positive},
        "cg": {"steps": _cg_steps, "tol": _nonnegative, "damping": _nonnegative},
    }
)
"""Method name → its options (the keyword arguments of its factory in
:data:`idarts_plugin.hypergrad.METHODS`, in order) → the rule a value must meet (``None``: an
object the builder supplies, checked by the solver). The solvers apply the same rules
(:func:`check_method_option`), so a run config is checked by them before torch loads."""


def has_growth_monitor(method: Any) -> bool:
    """Whether ``method`` (a name) has the Neumann series' growth monitor (``monitor_every``).

    Example:
        >>> has_growth_monitor("neumann"), has_growth_monitor("amended")
        (True, False)
    """
    return isinstance(method, str) and "monitor" in METHOD_OPTIONS.get(method, {})


def check_method_option(method: str, option: str, value: Any, *, label: str | None = None) -> Any:
    """Apply the rule of ``method``'s ``option`` (:data:`METHOD_OPTIONS`) to ``value``.

    Args:
        method: a method name.
        option: one of its options.
        value: the value to check.
        label: the name in the error message (default: ``option``).

    Raises:
        OptionError: ``value`` breaks the rule (its option is ``method_options.<option>``).
    """
    rule = METHOD_OPTIONS[method][option]
    if rule is None:
        return value
    try:
        return rule(label or option, value)
    except ValueError as exc:
        raise OptionError(str(exc), option=f"method_options.{option}") from None


RUN_DEFAULT = "run_default"
"""Field metadata: the default a run config (``strategy.<option>``) gives an option whose
recommended value differs from the engine's default (the papers' choice)."""


@dataclass(frozen=True, kw_only=True)
class CurvatureSpec:
    """Which matrix the implicit term inverts, and on which examples.

    Args:
        kind: ``"hessian"`` or ``"ggn"``.
        bn: ``"batch"``, ``"frozen"`` or ``"running"`` (BatchNorm statistics in the products).
        batches: training minibatches averaged over (≥ 1).
        mixed: ``kind="ggn"`` only: the mixed block ``∇²_{αw}`` exact (``"exact"``) or
            Gauss–Newton (``"gauss_newton"``).

    Example:
        >>> CurvatureSpec(kind="ggn", bn="frozen").plain
        False
        >>> CurvatureSpec().plain
        True
    """

    kind: str = "hessian"
    bn: str = "batch"
    batches: int = 1
    mixed: str = "exact"

    def __post_init__(self) -> None:
        _checked("curvature", check_choice, self.kind, choices=CURVATURE_KINDS)
        _checked("curvature_bn", check_choice, self.bn, choices=BN_MODES)
        _checked("hessian_batches", check_int, self.batches, minimum=1)
        check_choice("ggn mixed block", self.mixed, GGN_MIXED)

    @property
    def plain(self) -> bool:
        """The minibatch Hessian with its own statistics (what the methods build by default)."""
        return self.kind == "hessian" and self.bn == "batch" and self.batches == 1


@dataclass(frozen=True, kw_only=True)
class MethodSpec:
    """A hypergradient method whose step size may follow the weight learning rate.

    Plain data, validated here against :data:`METHOD_OPTIONS`; the method of each
    architecture step is built by :class:`~idarts_plugin.hypergrad.methods.MethodBuilder`,
    which also carries the state shared across steps.

    Args:
        name: a method name from :data:`idarts_plugin.hypergrad.METHODS`.
        options: fixed options of that method (``steps``, ``tol``, ``damping``, ...).
        lr: the method's step size (γ, ξ or η): a number, ``"auto"`` (Neumann only:
            ``γ = safety/λ̂max`` by power iteration, estimate shared across steps), ``"safe"``
            (Neumann only: ``γ = min(weight lr, 0.9/λ̂)`` with λ̂ of the step's minibatch
            Hessian from one warm-started power iteration per step), or
            ``None``/``"weight_lr"`` to use the weight optimiser's *current* learning rate,
            as the iDARTS and DARTS papers do.
        hvp: ``"exact"`` or ``"finite_difference"``.
        warm_start: Neumann only: start each solve from the previous one's ``x``
            (:class:`~idarts_plugin.hypergrad.WarmStart`).
        inner_weight_decay: differentiate the inner problem the weight optimiser solves,
            ``L_tr + ½ λ‖w‖²`` with its weight decay λ (``H + λI``; ``∇L_tr + λw`` in the
            virtual step), instead of the training criterion alone.
        virtual_step: DARTS-V2 only: ``"sgd"`` (the paper's ``w − ξ∇w L_tr``) or
            ``"optimizer"`` (as DARTS' code: the SGD weight optimiser's momentum and weight
            decay, ``w − ξ(μ·buffer + ∇w L_tr + λw)``).
        monitor_every: Neumann only: one extra product every this many steps for a
            :class:`~idarts_plugin.hypergrad.GrowthMonitor` (``max|1 − γλ|`` carried across
            steps, which flags growth a short series cannot see in its own terms); 0: off.

    Raises:
        OptionError: an invalid field (its ``option`` is the :meth:`SearchOptions.from_kwargs`
            keyword: ``method``, ``method_options.steps``, ``method_lr``, ``hvp``, ...).

    Example:
        >>> spec = MethodSpec(name="neumann", options={"steps": 2}, lr=None)
        >>> spec.uses_lr, spec.decays_weights
        (True, False)
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    lr: LrOption = None
    hvp: str = "exact"
    warm_start: bool = False
    inner_weight_decay: bool = field(default=False, metadata={RUN_DEFAULT: True})
    virtual_step: VirtualStep = "sgd"
    monitor_every: int = field(default=0, metadata={RUN_DEFAULT: 4})

    def __post_init__(self) -> None:
        try:
            check_choice("hypergradient method", self.name, METHOD_OPTIONS, plural="methods")
        except ValueError as exc:
            raise OptionError(str(exc), option="method") from None
        check_hvp_mode(self.hvp)
        accepts = METHOD_OPTIONS[self.name]  # what the method can do follows its options
        if self.lr in AUTO_LR_WORDS:
            if "max_lr" not in accepts:
                raise OptionError(
                    f"lr={self.lr!r} is only available for neumann (an automatic step size), "
                    f"not {self.name!r}",
                    option="method_lr",
                )
        elif self.lr is not None and self.lr not in LR_WORDS:
            if isinstance(self.lr, str):
                words = ", ".join(repr(w) for w in LR_WORDS)
                raise OptionError(
                    f"lr must be a number or one of {words}, got {self.lr!r}",
                    option="method_lr",
                )
            try:
                check_number("lr", self.lr, minimum=0, strict=True)
            except ValueError as exc:
                raise OptionError(str(exc), option="method_lr") from None
        _checked("inner_weight_decay", check_bool, self.inner_weight_decay)
        _checked("virtual_step", check_choice, self.virtual_step, choices=VIRTUAL_STEPS)
        if self.virtual_step != "sgd" and "velocity" not in accepts:
            raise OptionError(
                f"virtual_step is only available for unrolled, not {self.name!r}",
                option="virtual_step",
            )
        if _checked("warm_start", check_bool, self.warm_start) and "warm_start" not in accepts:
            raise OptionError(
                f"warm_start is only available for neumann, not {self.name!r}",
                option="warm_start",
            )
        monitor = _checked("monitor_every", check_int, self.monitor_every, minimum=0)
        if monitor and "monitor" not in accepts:
            raise OptionError(
                f"monitor_every is only available for neumann, not {self.name!r}",
                option="monitor_every",
            )
        if not isinstance(self.options, Mapping):
            raise OptionError(
                f"method_options must be a mapping, got {self.options!r}", option="method_options"
            )
        # Fail now, not at the first architecture step, on bad options.
        unknown = sorted(set(self.options) - set(accepts))
        if unknown:
            raise OptionError(
                f"unknown option(s) {', '.join(map(repr, unknown))} for method {self.name!r}; "
                f"valid options: {', '.join(accepts) or '(none)'}, plus hvp and fd_scale",
                option="method_options",
            )
        for option, value in self.options.items():
            check_method_option(self.name, option, value)

    @property
    def uses_lr(self) -> bool:
        """Whether the method has a step size at all (an ``lr`` option)."""
        return "lr" in METHOD_OPTIONS[self.name]

    @property
    def decays_weights(self) -> bool:
        """Whether the training loss it differentiates includes the weight decay."""
        return self.inner_weight_decay or self.virtual_step == "optimizer"


_METHOD_ALIASES = {"method": "name", "method_options": "options", "method_lr": "lr"}
"""Keyword names of the method's fields in :meth:`SearchOptions.from_kwargs` (and strategies)."""

_KEYWORD_OF = {name: keyword for keyword, name in _METHOD_ALIASES.items()}
"""A :class:`MethodSpec` field → its :meth:`SearchOptions.from_kwargs` keyword."""


@dataclass(frozen=True, kw_only=True)
class SearchOptions:
    """Every option of a hypergradient search besides NNI's own, validated once.

    Built from the run config (or a strategy's keyword arguments) and handed whole to the
    strategy and its Lightning module; adding an option means a field here, its check in
    :meth:`__post_init__`, and the code that uses it.

    Args:
        method: the hypergradient method and how its step size follows training.
        inner_steps: weight steps per architecture step (T ≥ 1).
        arc_learning_rate: Adam learning rate of α.
        arc_betas: Adam betas of α.
        arc_weight_decay: Adam weight decay of α.
        warmup_epochs: epochs of weight training before α moves.
        gradient_clip_val: clip the weight gradients (``None``: off).
        log_prob_every_n_step: log α's softmax every this many steps.
        hessian_batch: ``"separate"`` or ``"shared"`` forward pass for the Hessian terms
            (``shared`` needs exact products).
        max_nonfinite_steps: non-finite steps in a row before the search stops.
        curvature: ``"hessian"`` or ``"ggn"``: the matrix the implicit term inverts
            (:class:`CurvatureSpec`).
        curvature_bn: BatchNorm statistics in the curvature products: ``"batch"``,
            ``"frozen"`` or ``"running"``.
        hessian_batches: training minibatches (this step's and the previous ones) the
            curvature products average over.

    Example:
        >>> opts = SearchOptions.from_kwargs(method="neumann", method_options={"steps": 3})
        >>> opts.method.options, opts.inner_steps
        ({'steps': 3}, 1)
    """

    method: MethodSpec = field(default_factory=lambda: MethodSpec(name=DEFAULT_METHOD))
    inner_steps: int = 1
    arc_learning_rate: float = 3e-4
    arc_betas: tuple[float, float] = (0.5, 0.999)
    arc_weight_decay: float = 1e-3
    warmup_epochs: int = 0
    gradient_clip_val: float | None = field(default=None, metadata={RUN_DEFAULT: 5.0})
    log_prob_every_n_step: int = 10
    hessian_batch: str = "separate"
    max_nonfinite_steps: int = 10
    curvature: str = "hessian"
    curvature_bn: str = "batch"
    hessian_batches: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.method, MethodSpec):
            raise TypeError(f"method must be a MethodSpec, got {self.method!r}")
        _checked("inner_steps", check_int, self.inner_steps, minimum=1)
        _checked("arc_learning_rate", check_number, self.arc_learning_rate, minimum=0, strict=True)
        betas = _checked("arc_betas", check_pair, self.arc_betas, low=0, high=1)
        object.__setattr__(self, "arc_betas", betas)
        _checked("arc_weight_decay", check_number, self.arc_weight_decay, minimum=0)
        _checked("warmup_epochs", check_int, self.warmup_epochs, minimum=0)
        if self.gradient_clip_val is not None:
            _checked(
                "gradient_clip_val", check_number, self.gradient_clip_val, minimum=0, strict=True
            )
        _checked("log_prob_every_n_step", check_int, self.log_prob_every_n_step, minimum=1)
        _checked("hessian_batch", check_choice, self.hessian_batch, choices=HESSIAN_BATCHES)
        if self.hessian_batch == "shared" and self.method.hvp != "exact":
            raise OptionError(
                "hessian_batch='shared' reuses a forward graph: it needs hvp='exact'",
                option="hessian_batch",
            )
        _checked("max_nonfinite_steps", check_int, self.max_nonfinite_steps, minimum=1)
        spec = self.curvature_spec
        if not spec.plain and self.hessian_batch == "shared":
            raise OptionError(
                "hessian_batch='shared' reuses the weight step's own minibatch Hessian; "
                "curvature, curvature_bn and hessian_batches other than their defaults need "
                "hessian_batch='separate'",
                option="hessian_batch",
            )
        if spec.kind == "ggn" and self.method.hvp != "exact":
            raise OptionError(
                "curvature='ggn' is computed exactly: it needs hvp='exact'", option="curvature"
            )

    @property
    def curvature_spec(self) -> CurvatureSpec:
        """The curvature the implicit term inverts (from the three curvature fields)."""
        return CurvatureSpec(
            kind=self.curvature, bn=self.curvature_bn, batches=self.hessian_batches
        )

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """Every keyword :meth:`from_kwargs` accepts."""
        return (*[_KEYWORD_OF.get(f, f) for f in _spec_fields()], *_loop_fields())

    @classmethod
    def run_defaults(cls) -> dict[str, Any]:
        """Option (a :meth:`from_kwargs` keyword) → the default a run config gives it.

        The field's :data:`RUN_DEFAULT` metadata where it has one, else its default; options
        without a default (``method``) are left out.

        Example:
            >>> d = SearchOptions.run_defaults()
            >>> d["inner_steps"], d["gradient_clip_val"], "method" in d
            (1, 5.0, False)
        """
        out: dict[str, Any] = {}
        for f in (*dataclasses.fields(MethodSpec), *dataclasses.fields(cls)):
            if not f.init or f.name == "method":
                continue
            if RUN_DEFAULT in f.metadata:
                out[_KEYWORD_OF.get(f.name, f.name)] = f.metadata[RUN_DEFAULT]
            elif f.default is not dataclasses.MISSING:
                out[_KEYWORD_OF.get(f.name, f.name)] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[_KEYWORD_OF.get(f.name, f.name)] = f.default_factory()
        return out

    @classmethod
    def for_search(cls, **kwargs: Any) -> SearchOptions:
        """:meth:`from_kwargs` with a run config's defaults for the options not given.

        So a strategy built in Python and one built from a run config resolve to the same
        options (the options whose run default differs from the engine's carry
        :data:`RUN_DEFAULT`: weight-gradient clipping, weight decay in the inner problem, the
        Neumann growth monitor, which only a Neumann method takes).

        Example:
            >>> opts = SearchOptions.for_search(method="amended")
            >>> opts.gradient_clip_val, opts.method.inner_weight_decay, opts.method.monitor_every
            (5.0, True, 0)
        """
        method = kwargs.get("method", DEFAULT_METHOD)
        defaults = {
            k: v
            for k, v in cls.run_defaults().items()
            if k in _RUN_DEFAULT_KEYS and k not in kwargs
        }
        if not has_growth_monitor(method):
            defaults.pop("monitor_every", None)
        return cls.from_kwargs(**defaults, **kwargs)

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> SearchOptions:
        """Build from flat keywords, the method's and the loop's.

        The method's are ``method``, ``method_options``, ``method_lr``, ``hvp``,
        ``warm_start``, ``inner_weight_decay``, ``virtual_step`` and ``monitor_every``; the
        others are fields.

        Raises:
            TypeError: an unknown keyword (the valid ones are listed).
            ValueError: an invalid value (named).
        """
        unknown = sorted(set(kwargs) - set(cls.option_names()))
        if unknown:
            raise TypeError(
                f"unknown option(s) {', '.join(map(repr, unknown))}; valid: {', '.join(cls.option_names())}"
            )
        spec = {
            _METHOD_ALIASES.get(k, k): v
            for k, v in kwargs.items()
            if _METHOD_ALIASES.get(k, k) in _spec_fields()
        }
        spec.setdefault("name", DEFAULT_METHOD)
        options = spec.get("options") or {}
        spec["options"] = dict(options) if isinstance(options, Mapping) else options
        loop = {k: v for k, v in kwargs.items() if k in _loop_fields()}
        return cls(method=MethodSpec(**spec), **loop)


_RUN_DEFAULT_KEYS = frozenset(
    _KEYWORD_OF.get(f.name, f.name)
    for klass in (MethodSpec, SearchOptions)
    for f in dataclasses.fields(klass)
    if RUN_DEFAULT in f.metadata
)
"""The options whose run-config default differs from the engine's."""


def _spec_fields() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(MethodSpec) if f.init)


def _loop_fields() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(SearchOptions) if f.name != "method")
