"""The strategies a run config can name: one table, read by the config, the search and the CLI.

Each :class:`StrategyEntry` says which NNI strategy class a search builds for
``strategy.name``, which engine method it fixes, which config keys are its own, which key sets
the method's step size, and whether it is one of NNI's own first-order strategies. The module
is light (no torch, NNI or Lightning): classes are named by dotted path and imported by the
search when it builds one.

Adding a strategy is one entry in :data:`STRATEGY_TABLE` (and a field of
:class:`idarts_plugin.config.StrategyConfig` for each new key) plus its test in
``tests/test_strategy_table.py``; ``docs/architecture.md`` has the recipe.

Example:
    >>> entry = STRATEGY_TABLE["implicit"]
    >>> entry.method, entry.lr_key, entry.first_order
    ('neumann', 'neumann_lr', False)
    >>> entry.renames["method_options.steps"]
    'neumann_steps'
    >>> [name for name, e in STRATEGY_TABLE.items() if e.first_order]
    ['darts', 'gumbel']
    >>> dict(entry.defaults)
    {'neumann_steps': 2, 'neumann_lr': 'auto'}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["ENGINE_CLASS", "STRATEGY_TABLE", "TABLE_DEFAULTS", "StrategyEntry", "strategy_help"]

ENGINE_CLASS = "idarts_plugin.strategy.HypergradientDARTS"
"""The NNI strategy a search builds for every strategy whose gradient comes from the engine
(it takes the whole :class:`~idarts_plugin.hypergrad.SearchOptions` as ``options=``)."""


@dataclass(frozen=True, kw_only=True)
class StrategyEntry:
    """One value of ``strategy.name``.

    Attributes:
        summary: one line of ASCII for help text (what the strategy is, and its own keys).
        nni_class: dotted path of the NNI strategy class a search builds. A first-order one
            gets the common keys and its own keys as keywords; any other gets ``options=``.
        method: the engine method it fixes (``None``: a first-order strategy, or the method is
            the config's ``strategy.method``).
        keys: its own config keys, beyond the common and (unless first order) hypergradient
            keys.
        lr_key: the config key of the method's step size (γ, ξ, η; ``None``: first order, or
            a method without one, such as ``cg``).
        option_keys: method option → the config key that sets it (``{"steps":
            "neumann_steps"}``); the other options come from ``strategy.method_options``.
        first_order: one of NNI's own first-order strategies: no hypergradient keys, one
            weight step per architecture step.
        named_class: dotted path of the class a Python user constructs for it, taking the
            config's key names as keywords (``None``: none besides ``nni_class``).
        defaults: the default of each of its keys that is not an engine option (an engine
            option's default is :meth:`SearchOptions.run_defaults`'): the run config's field,
            the named class's keyword and the docs all read it here.

    Raises:
        ValueError: an inconsistent entry (a key named twice, an ``lr_key`` or option key not
            among ``keys``, a first-order entry with a method).

    Example:
        >>> StrategyEntry(summary="x", nni_class=ENGINE_CLASS, method="cg", keys=("cg_lr",),
        ...               lr_key="cg_lr").renames
        {'method_lr': 'cg_lr'}
    """

    summary: str
    nni_class: str
    method: str | None = None
    keys: tuple[str, ...] = ()
    lr_key: str | None = None
    option_keys: Mapping[str, str] = field(default_factory=dict)
    first_order: bool = False
    named_class: str | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(self.keys))
        object.__setattr__(self, "option_keys", MappingProxyType(dict(self.option_keys)))
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))
        stray = [k for k in self.defaults if k not in self.keys]
        if stray:
            raise ValueError(f"defaults {stray} are not among keys {self.keys}")
        if not (self.summary and self.summary.isascii()) or "." not in self.nni_class:
            raise ValueError("an entry needs a one-line ASCII summary and a dotted nni_class")
        if len(set(self.keys)) != len(self.keys):
            raise ValueError(f"keys named twice: {self.keys}")
        if self.first_order:
            if self.method is not None or self.lr_key is not None or self.option_keys:
                raise ValueError("a first-order entry has no method, lr_key or option_keys")
            return
        named = [k for k in (self.lr_key, *self.option_keys.values()) if k is not None]
        missing = [k for k in named if k not in self.keys]
        if missing:
            raise ValueError(f"lr_key / option_keys {missing} are not among keys {self.keys}")
        if self.method is None and not {"method", "method_options"} <= set(self.keys):
            raise ValueError("an entry without a method needs the keys method and method_options")

    @property
    def renames(self) -> dict[str, str]:
        """Option → config key, where the names differ.

        The option is a :meth:`SearchOptions.from_kwargs` keyword (dotted for a method
        option); the named class raises its errors under the same names.
        """
        names = {f"method_options.{o}": k for o, k in self.option_keys.items()}
        if self.lr_key is not None and self.lr_key != "method_lr":
            names["method_lr"] = self.lr_key
        return names

    def method_kwargs(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The method keywords of :meth:`SearchOptions.from_kwargs` (none when first order).

        Args:
            values: the config's values of (at least) :attr:`keys`.

        Example:
            >>> STRATEGY_TABLE["amended"].method_kwargs({"amended_lr": 0.01})
            {'method': 'amended', 'method_lr': 0.01}
        """
        if self.first_order:
            return {}
        if self.method is None:
            kwargs = {"method": values["method"], "method_options": values["method_options"]}
        else:
            kwargs = {"method": self.method}
            if self.option_keys:
                kwargs["method_options"] = {o: values[k] for o, k in self.option_keys.items()}
        if self.lr_key is not None:  # a method without a step size (CG) has none
            kwargs["method_lr"] = values[self.lr_key]
        return kwargs

    def nni_kwargs(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A first-order strategy's own keywords for :attr:`nni_class` (its keys' values).

        Example:
            >>> STRATEGY_TABLE["gumbel"].nni_kwargs({"temperature": (1.0, 0.33)})
            {'temperature': (1.0, 0.33)}
        """
        return {k: values[k] for k in self.keys} if self.first_order else {}


STRATEGY_TABLE: Mapping[str, StrategyEntry] = MappingProxyType(
    {
        "implicit": StrategyEntry(
            summary="iDARTS, a Neumann series: neumann_steps K, neumann_lr gamma",
            nni_class=ENGINE_CLASS,
            method="neumann",
            keys=("neumann_steps", "neumann_lr", "warm_start", "monitor_every"),
            lr_key="neumann_lr",
            option_keys={"steps": "neumann_steps"},
            named_class="idarts_plugin.strategy.ImplicitDARTS",
            defaults={"neumann_steps": 2, "neumann_lr": "auto"},
        ),
        "unrolled": StrategyEntry(
            summary="DARTS-V2, one virtual step: unrolled_lr xi",
            nni_class=ENGINE_CLASS,
            method="unrolled",
            keys=("unrolled_lr", "virtual_step"),
            lr_key="unrolled_lr",
            named_class="idarts_plugin.strategy.UnrolledDARTS",
            defaults={"unrolled_lr": None},
        ),
        "amended": StrategyEntry(
            summary="Amended-DARTS, inverse Hessian ~ eta*H: amended_lr eta",
            nni_class=ENGINE_CLASS,
            method="amended",
            keys=("amended_lr",),
            lr_key="amended_lr",
            named_class="idarts_plugin.strategy.AmendedDARTS",
            defaults={"amended_lr": None},
        ),
        "darts": StrategyEntry(
            summary="NNI's first-order DARTS",
            nni_class="nni.nas.strategy.DARTS",
            first_order=True,
        ),
        "gumbel": StrategyEntry(
            summary="NNI's GumbelDARTS: temperature [initial, final]",
            nni_class="nni.nas.strategy.GumbelDARTS",
            keys=("temperature",),
            first_order=True,
            defaults={"temperature": (1.0, 0.33)},
        ),
        "hypergradient": StrategyEntry(
            summary="any engine method (idarts methods): method, method_options, method_lr",
            nni_class=ENGINE_CLASS,
            keys=(
                "method",
                "method_options",
                "method_lr",
                "warm_start",
                "virtual_step",
                "monitor_every",
            ),
            lr_key="method_lr",
            defaults={"method": "neumann", "method_options": {}, "method_lr": None},
        ),
    }
)
"""``strategy.name`` → its :class:`StrategyEntry`, in the order help text lists them."""


def _table_defaults() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, entry in STRATEGY_TABLE.items():
        for key, value in entry.defaults.items():
            if key in out and out[key] != value:
                raise ValueError(f"{name}: key {key!r} has two defaults ({out[key]!r}, {value!r})")
            out[key] = value
    return out


TABLE_DEFAULTS: Mapping[str, Any] = MappingProxyType(_table_defaults())
"""Every strategy's own (non-engine) key → its default: one field each of the run config."""


def strategy_help() -> str:
    """One line per strategy name, for help text.

    Example:
        >>> strategy_help().splitlines()[3]
        "darts: NNI's first-order DARTS"
    """
    return "\n".join(f"{name}: {entry.summary}" for name, entry in STRATEGY_TABLE.items())
