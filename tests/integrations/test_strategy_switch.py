"""Changing ``strategy.name`` alone works on every shipped config, and a tune space can do it."""

from __future__ import annotations

from pathlib import Path

import pytest

from idarts_plugin.config import STRATEGIES, ConfigError, load_config
from tests.conftest import requires_nni

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "examples" / "configs").glob("*.yaml"))
SPACES = sorted(p.stem for p in (ROOT / "idarts_plugin" / "search_spaces").glob("*.yaml"))


def test_every_strategy_is_covered():
    assert set(STRATEGIES) >= {"implicit", "unrolled", "amended", "darts", "gumbel"}
    assert SHIPPED and SPACES


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("config", SHIPPED, ids=lambda p: p.name)
def test_switching_strategy_name_alone_loads_every_shipped_config(config, name):
    cfg = load_config(config, [f"strategy.name={name}"])
    assert cfg.strategy.name == name
    again = type(cfg).from_dict(cfg.to_dict())  # what config.yaml / --resume reads back
    assert again == cfg


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("space", SPACES)
def test_switching_strategy_name_alone_loads_every_space(space, name):
    base = ROOT / "examples" / "configs" / "digits-nb201.yaml"
    cfg = load_config(base, [f"space.name={space}", f"strategy.name={name}"])
    assert (cfg.space.name, cfg.strategy.name) == (space, name)


def test_a_tune_space_over_strategy_name_is_checked_choice_by_choice(tmp_path):
    pytest.importorskip("optuna", reason="pip install 'idarts-plugin[optuna]'")
    from idarts_plugin.integrations.optuna import load_tune_config
    from tests.integrations.test_optuna import write_tune

    ok = write_tune(tmp_path, {"strategy.name": {"type": "categorical", "choices": STRATEGIES}})
    assert load_tune_config(ok).params["strategy.name"]["choices"] == list(STRATEGIES)
    bad = write_tune(
        tmp_path, {"strategy.name": {"type": "categorical", "choices": ["implicit", "drats"]}}
    )
    with pytest.raises(ConfigError, match=r"params\.strategy\.name.*'drats'"):
        load_tune_config(bad)


@requires_nni
@pytest.mark.slow
def test_a_study_over_strategy_name_runs_each_strategy(tmp_path):
    optuna = pytest.importorskip("optuna", reason="pip install 'idarts-plugin[optuna]'")
    import yaml

    from idarts_plugin.integrations.optuna import load_tune_config, run_study
    from tests.integrations.test_optuna import write_tune

    names = ["implicit", "amended", "darts", "gumbel"]
    path = write_tune(
        tmp_path,
        {
            "strategy.name": {"type": "categorical", "choices": names},
            "strategy.neumann_steps": {"type": "int", "low": 1, "high": 3},
        },
        pruner={"name": "none"},
        overrides=["trainer.epochs=1", "trainer.limit_batches=2", "trainer.threads=1"],
    )
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    for name in names:
        study.enqueue_trial({"strategy.name": name})
    study = run_study(load_tune_config(path), study_name="s", storage=storage, n_trials=4)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4, [
        t.user_attrs.get("fail_reason") for t in study.trials
    ]
    for trial, name in zip(study.trials, names, strict=True):
        saved = yaml.safe_load(Path(trial.user_attrs["run_dir"], "config.yaml").read_text())
        assert saved["strategy"]["name"] == name
        # neumann_steps is the implicit strategy's key; the others ignore it
        assert ("neumann_steps" in saved["strategy"]) == (name == "implicit")
