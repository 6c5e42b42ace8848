"""The strategy table: each entry is consistent with the config, the search and its classes.

Every test is parametrised over :data:`STRATEGY_TABLE`, so a new entry is tested by them; add
one test of what is new about it (a search test for a new NNI class, say).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import pytest

from idarts_plugin.config import FIRST_ORDER, STRATEGIES, RunConfig, StrategyConfig
from idarts_plugin.strategy_table import ENGINE_CLASS, STRATEGY_TABLE, StrategyEntry

NAMES = list(STRATEGY_TABLE)


def _load(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_the_config_reads_the_table():
    assert STRATEGIES == ("implicit", "unrolled", "amended", "darts", "gumbel", "hypergradient")
    assert tuple(STRATEGY_TABLE) == STRATEGIES
    assert FIRST_ORDER == ("darts", "gumbel")


@pytest.mark.parametrize("name", NAMES)
def test_every_key_of_an_entry_is_a_config_field(name):
    entry = STRATEGY_TABLE[name]
    fields = {f.name for f in dataclasses.fields(StrategyConfig)}
    assert set(entry.keys) <= fields
    assert set(entry.keys) <= set(StrategyConfig.valid_keys(name))


@pytest.mark.parametrize("name", NAMES)
def test_the_search_builds_the_entrys_class(name):
    from nni.nas.strategy import DARTS

    from idarts_plugin.nni_adapter import build_strategy

    entry = STRATEGY_TABLE[name]
    cfg = RunConfig.from_dict({"strategy": {"name": name}}).strategy
    strategy = build_strategy(cfg, arc_learning_rate=0.01, warmup_epochs=0)
    assert type(strategy) is _load(entry.nni_class)
    assert isinstance(strategy, DARTS)
    if entry.first_order:
        assert not hasattr(strategy, "options")
    else:
        assert entry.nni_class == ENGINE_CLASS
        assert strategy.options == cfg.search_options(arc_learning_rate=0.01, warmup_epochs=0)
        # the search adds the remedies to its trainer; the module's own callbacks would
        # override them (Lightning lets a module's configure_callbacks win)
        assert not strategy.remedies.active
        if entry.method is not None:
            assert strategy.options.method.name == entry.method


@pytest.mark.parametrize("name", [n for n in NAMES if STRATEGY_TABLE[n].named_class])
def test_the_named_class_takes_the_config_keys_and_names_them_in_errors(name):
    from idarts_plugin.hypergrad.spec import OptionError

    entry = STRATEGY_TABLE[name]
    named = _load(entry.named_class)
    cfg = RunConfig.from_dict({"strategy": {"name": name}}).strategy
    keys = [entry.lr_key, *entry.option_keys.values()]
    strategy = named(**{k: getattr(cfg, k) for k in keys})
    assert isinstance(strategy, _load(ENGINE_CLASS))
    built = cfg.search_options(arc_learning_rate=0.01, warmup_epochs=0).method
    assert (strategy.method.name, strategy.method.lr) == (built.name, built.lr)
    assert strategy.method.options == built.options
    for key in keys:  # an invalid value is reported under the config's key, as by the config
        with pytest.raises(OptionError, match=key):
            named(**{key: -1.0})


def test_an_inconsistent_entry_is_refused():
    with pytest.raises(ValueError, match="not among keys"):
        StrategyEntry(summary="x", nni_class=ENGINE_CLASS, method="cg", lr_key="cg_lr")
    with pytest.raises(ValueError, match="not among keys"):
        StrategyEntry(summary="x", nni_class=ENGINE_CLASS, method="cg", option_keys={"steps": "k"})
    with pytest.raises(ValueError, match="first-order"):
        StrategyEntry(summary="x", nni_class="a.B", method="cg", first_order=True)
    with pytest.raises(ValueError, match="twice"):
        StrategyEntry(summary="x", nni_class="a.B", keys=("t", "t"), first_order=True)
    with pytest.raises(ValueError, match="method and method_options"):
        StrategyEntry(summary="x", nni_class=ENGINE_CLASS, keys=("lr",), lr_key="lr")


def test_the_search_help_lists_every_strategy(capsys):
    from idarts_plugin.cli import main

    with pytest.raises(SystemExit):
        main(["search", "--help"])
    out = capsys.readouterr().out
    for name, entry in STRATEGY_TABLE.items():
        assert f"{name}: {entry.summary}" in out


@pytest.mark.parametrize("name", [n for n in NAMES if STRATEGY_TABLE[n].named_class])
def test_every_entry_point_resolves_to_the_same_options(name):
    """The Python class, a run config, an Optuna/NNI parameter set: one default per strategy."""
    from idarts_plugin.config import load_config, set_value
    from idarts_plugin.integrations.nni_trial import parameters_to_overrides

    entry = STRATEGY_TABLE[name]
    resolved = {"arc_learning_rate": 0.01, "warmup_epochs": 2}
    python = _load(entry.named_class)(**resolved).options
    config = load_config(None, [f"strategy.name={name}"]).strategy
    from_config = config.search_options(**resolved)
    # nnictl's trial and `idarts tune` both set run-config keys on a base config
    params = parameters_to_overrides({"strategy.name": name})
    raw: dict = {}
    for key, value in params.items():
        raw = set_value(raw, key, value)
    from_trial = RunConfig.from_dict(raw).strategy.search_options(**resolved)
    assert python == from_config == from_trial
    assert {k: getattr(config, k) for k in entry.defaults} == dict(entry.defaults)


def test_a_default_for_a_key_the_entry_lacks_is_refused():
    with pytest.raises(ValueError, match="not among keys"):
        StrategyEntry(
            summary="x", nni_class="a.B", keys=("t",), defaults={"u": 1}, first_order=True
        )


def test_a_method_without_a_step_size_is_one_entry():
    """Conjugate gradients as a strategy: no lr key, its options from its own keys."""
    from idarts_plugin.hypergrad.spec import SearchOptions

    entry = StrategyEntry(
        summary="CG: cg_steps, cg_damping",
        nni_class=ENGINE_CLASS,
        method="cg",
        keys=("cg_steps", "cg_damping"),
        option_keys={"steps": "cg_steps", "damping": "cg_damping"},
        defaults={"cg_steps": 10, "cg_damping": 0.1},
    )
    kwargs = entry.method_kwargs(entry.defaults)
    assert kwargs == {"method": "cg", "method_options": {"steps": 10, "damping": 0.1}}
    assert entry.renames == {
        "method_options.steps": "cg_steps",
        "method_options.damping": "cg_damping",
    }
    assert SearchOptions.for_search(**kwargs).method.options == {"steps": 10, "damping": 0.1}
