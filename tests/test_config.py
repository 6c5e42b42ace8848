"""Run-config schema: defaults, overrides, round trip and errors that name the key."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from idarts_plugin.config import (
    ConfigError,
    RunConfig,
    StrategyConfig,
    apply_overrides,
    load_config,
    load_run_config,
)

EXAMPLE = "examples/configs/digits-nb201.yaml"


def test_example_config_loads_and_round_trips():
    cfg = load_config(EXAMPLE)
    assert cfg.strategy.name == "implicit" and cfg.strategy.neumann_steps == 2
    assert cfg.data.name == "digits"
    again = RunConfig.from_dict(yaml.safe_load(cfg.to_yaml()))
    assert again == cfg


def test_the_example_shows_every_key_with_its_default():
    """examples/configs/digits-nb201.yaml lists every key (the strategy's: those of its name)
    at its default, except the keys its comments mark `demo`."""
    demo = {("space", "options"), ("trainer", "epochs"), ("trainer", "threads")}
    raw = yaml.safe_load(Path(EXAMPLE).read_text())
    defaults = RunConfig().to_dict()
    text = Path(EXAMPLE).read_text()
    for section, values in defaults.items():
        keys = StrategyConfig.valid_keys(values["name"]) if section == "strategy" else values
        assert sorted(raw[section]) == sorted(keys), section
        for key in keys:
            if (section, key) in demo:
                assert re.search(rf"^ *{key}:.*# demo", text, flags=re.MULTILINE), key
                continue
            expected = (
                list(defaults[section][key])
                if isinstance(defaults[section][key], tuple)
                else defaults[section][key]
            )
            assert raw[section][key] == expected, f"{section}.{key}"


def test_overrides_parse_yaml_values():
    cfg = load_config(
        EXAMPLE,
        [
            "strategy.neumann_lr=auto",
            "trainer.epochs=3",
            "strategy.arc_betas=[0.9, 0.99]",
            "trainer.threads=null",
        ],
    )
    assert cfg.strategy.neumann_lr == "auto"
    assert cfg.trainer.epochs == 3
    assert cfg.strategy.arc_betas == (0.9, 0.99)
    assert cfg.trainer.threads is None


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("strategy.neumann_steps=-1", "strategy.neumann_steps"),
        ("strategy.inner_steps=0", "strategy.inner_steps"),
        ("strategy.hvp=fd", "strategy.hvp"),
        ("strategy.name=idarts", "strategy.name"),
        ("strategy.unroled_lr=0.1", "strategy.unroled_lr"),  # no strategy's key
        ("strategy.neumann_lr=fast", "strategy.neumann_lr"),
        ("strategy.arc_learning_rate=fast", "strategy.arc_learning_rate"),
        ("strategy.arc_travel=0", "strategy.arc_travel"),
        ("strategy.arc_horizon=0", "strategy.arc_horizon"),
        ("strategy.arc_horizon=auto", "strategy.arc_horizon"),
        ("strategy.warmup_steps=-1", "strategy.warmup_steps"),
        ("strategy.warmup_steps=1.5", "strategy.warmup_steps"),
        ("strategy.derive=top2", "strategy.derive"),
        ("strategy.warm_start=3", "strategy.warm_start"),
        ("output.ground_truth=maybe", "output.ground_truth"),
        ("data.seed=-1", "data.seed"),
        ("trainer.device=tpu", "trainer.device"),
        ("trainer.batch_size=0", "trainer.batch_size"),
        ("optimizer.lr_min=1.0", "optimizer.lr_min"),
        ("optimizer.nesterov=1", "optimizer.nesterov"),
        ("strategy.beta_decay=-2", "strategy.beta_decay"),
        ("strategy.beta_decay_schedule=cosine", "strategy.beta_decay_schedule"),
        ("strategy.aux_skip=yes", "strategy.aux_skip"),
        ("strategy.early_stop=patience", "strategy.early_stop"),
        ("strategy.early_stop_patience=0", "strategy.early_stop_patience"),
        ("strategy.early_stop_patience=1.5", "strategy.early_stop_patience"),
        ("strategy.perturbation_tune_steps=-1", "strategy.perturbation_tune_steps"),
        ("bogus.key=1", "bogus"),
    ],
)
def test_invalid_values_name_file_and_key(override, key):
    with pytest.raises(ConfigError) as info:
        load_config(EXAMPLE, [override])
    msg = str(info.value)
    assert key in msg and EXAMPLE in msg


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("strategy.arc_travel=0", "key 'strategy.arc_travel': must be a finite number > 0, got 0"),
        ("strategy.arc_horizon=0", "key 'strategy.arc_horizon': must be an integer >= 1, got 0"),
        (
            "strategy.warmup_steps=1.5",
            "key 'strategy.warmup_steps': must be an integer >= 0, got 1.5",
        ),
        (
            "strategy.warmup_epochs=-1",
            "key 'strategy.warmup_epochs': must be an integer >= 0, got -1",
        ),
        (
            "strategy.arc_learning_rate=0",
            "key 'strategy.arc_learning_rate': must be a finite number > 0, got 0",
        ),
        (
            "strategy.arc_learning_rate=fast",
            "key 'strategy.arc_learning_rate': unknown value 'fast'; valid values: a number > 0 or auto",
        ),
    ],
)
def test_schedule_keys_are_checked_by_the_alpha_schedule_and_named(override, message):
    """The schedule keys' ranges are AlphaSchedule's (one home); the config names the key."""
    with pytest.raises(ConfigError) as info:
        load_config(EXAMPLE, [override])
    assert str(info.value).endswith(message)
    assert info.value.key == message.split("'")[1]


def test_an_unquoted_off_is_the_early_stop_off_not_an_error():
    # YAML 1.1 reads `early_stop: off` (and `--set strategy.early_stop=off`) as false.
    cfg = RunConfig.from_dict({"strategy": {"early_stop": False}})
    assert cfg.strategy.early_stop == "off"
    assert cfg.strategy.remedies().early_stop == "off"
    assert load_config(None, ["strategy.early_stop=off"]).strategy.early_stop == "off"
    with pytest.raises(ConfigError, match=r"strategy\.early_stop"):
        RunConfig.from_dict({"strategy": {"early_stop": True}})


def test_strategy_keys_depend_on_strategy():
    assert "neumann_steps" in StrategyConfig.valid_keys("implicit")
    assert "neumann_steps" not in StrategyConfig.valid_keys("unrolled")
    assert "inner_steps" not in StrategyConfig.valid_keys("darts")
    cfg = RunConfig.from_dict(
        {"strategy": {"name": "hypergradient", "method": "cg", "method_options": {"steps": 4}}}
    )
    assert cfg.strategy.method == "cg"
    with pytest.raises(ConfigError, match="valid methods"):
        RunConfig.from_dict({"strategy": {"name": "hypergradient", "method": "newton"}})


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        apply_overrides({}, ["trainer.epochs"])
    with pytest.raises(ConfigError, match="section and a key"):
        apply_overrides({}, ["epochs=3"])


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*malformed YAML at line"):
        load_config(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(lst)


@pytest.mark.parametrize("name", ["darts", "gumbel", "amended", "unrolled", "hypergradient"])
def test_switching_strategy_name_alone_works_on_the_shipped_config(name, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="idarts_plugin.config"):
        cfg = load_config(EXAMPLE, [f"strategy.name={name}"])
    assert cfg.strategy.name == name
    assert "neumann_steps" in caplog.text and "ignored" in caplog.text
    assert "neumann_steps" not in cfg.to_dict()["strategy"]


def test_search_defaults_fit_the_budget_and_new_options_load():
    cfg = load_config(EXAMPLE)
    assert cfg.strategy.arc_learning_rate == "auto"
    assert cfg.strategy.derive in ("argmax", "exclude_none")
    safe = load_config(EXAMPLE, ["strategy.neumann_lr=safe", "strategy.warm_start=true"])
    assert safe.strategy.neumann_lr == "safe" and safe.strategy.warm_start
    numeric = load_config(EXAMPLE, ["strategy.arc_learning_rate=0.01"])
    assert numeric.strategy.arc_learning_rate == 0.01
    g = load_config(EXAMPLE, ["strategy.name=gumbel", "strategy.temperature=[2.0, 0.5]"])
    assert g.strategy.temperature == (2.0, 0.5)
    assert RunConfig.from_dict(g.to_dict()) == g


def test_a_run_saved_before_data_seed_reads_back_on_its_data(tmp_path):
    """Such a run drew its data with trainer.seed: resume and evaluate must use the same draw."""
    old = load_config(EXAMPLE, ["trainer.seed=3"]).to_dict()
    del old["data"]["seed"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    assert load_run_config(tmp_path / "config.yaml").data.seed == 3
    assert load_run_config(tmp_path / "config.yaml", ["data.seed=1"]).data.seed == 1
    new = load_config(EXAMPLE, ["trainer.seed=3"])
    (tmp_path / "config.yaml").write_text(new.to_yaml())
    assert load_run_config(tmp_path / "config.yaml").data.seed == 0


def test_every_loop_key_is_an_engine_option_and_every_option_is_a_key():
    """The strategy section sets the engine's SearchOptions by name: no key is dropped on the
    way (a misnamed field would be an error) and no option is out of the config's reach."""
    from idarts_plugin.config import STRATEGIES
    from idarts_plugin.hypergrad.spec import SearchOptions

    options = set(SearchOptions.option_names())
    from idarts_plugin.collapse import REMEDY_KEYS

    # read by the run, not the engine: the remedies are the search's (collapse.Remedies)
    config_only = {"name", "arc_travel", "arc_horizon", "warmup_steps", "derive", "temperature"}
    config_only |= {"perturbation_tune_steps"}
    config_only |= set(REMEDY_KEYS)
    renamed = {"neumann_steps", "neumann_lr", "unrolled_lr", "amended_lr"}  # the method's
    fields = {f.name for f in dataclasses.fields(StrategyConfig)}
    assert fields - config_only - renamed <= options
    reachable = set().union(*(StrategyConfig.valid_keys(n) for n in STRATEGIES))
    assert options <= reachable and options <= fields
    for name in STRATEGIES:
        cfg = RunConfig.from_dict({"strategy": {"name": name}}).strategy
        built = cfg.search_options(arc_learning_rate=0.01, warmup_epochs=0)
        for key in set(cfg.valid_keys(name)) & options - {"arc_learning_rate", "warmup_epochs"}:
            if key in ("method", "method_options", "method_lr"):
                continue
            if key == "monitor_every" and built.method.name != "neumann":
                continue
            where = built.method if hasattr(built.method, key) else built
            assert getattr(where, key) == getattr(cfg, key), (name, key)


def test_validating_a_config_loads_no_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from idarts_plugin.config import load_config\n"
        f"load_config({EXAMPLE!r}, ['strategy.name=hypergradient', 'strategy.method=cg'])\n"
        "load_config(" + repr(EXAMPLE) + ")\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_solvers_and_configs_refuse_positional_arguments():
    # ConjugateGradient(10, 0.1) once set tol=0.1; StrategyConfig(3, 0.5) set neumann_steps and
    # neumann_lr by the order of a generated base class.
    from idarts_plugin.config import (
        OptimizerConfig,
        OutputConfig,
        RunConfig,
        SpaceConfig,
        StrategyConfig,
        TrainerConfig,
    )
    from idarts_plugin.data.registry import DataConfig
    from idarts_plugin.ground_truth import Recipe
    from idarts_plugin.hypergrad import Amended, ConjugateGradient, MethodSpec, SearchOptions
    from idarts_plugin.spaces import SpaceSpec

    calls = [
        lambda: ConjugateGradient(10, 0.1),
        lambda: Amended(0.1),
        lambda: MethodSpec("neumann"),
        lambda: SearchOptions(None),
        lambda: StrategyConfig(3, 0.5),
        lambda: OptimizerConfig(0.1),
        lambda: TrainerConfig(2),
        lambda: OutputConfig("runs"),
        lambda: SpaceConfig("darts"),
        lambda: RunConfig(None),
        lambda: DataConfig("digits"),
        lambda: SpaceSpec("darts"),
        lambda: Recipe("fashion-mnist"),
    ]
    for call in calls:
        with pytest.raises(TypeError, match="positional"):
            call()
    assert ConjugateGradient(steps=10, damping=0.1).tol == 1e-10
