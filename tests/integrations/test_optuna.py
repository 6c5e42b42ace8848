"""Optuna studies over tiny digits searches."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import requires_nni

optuna = pytest.importorskip(
    "optuna", reason="optuna not installed: pip install 'idarts-plugin[optuna]'"
)
pytestmark = [requires_nni, pytest.mark.slow]


def write_tune(tmp_path: Path, params: dict, **extra) -> Path:
    base = {
        "space": {"name": "nas-bench-201", "options": {"stem_channels": 4, "cells_per_stage": 1}},
        "data": {"name": "digits", "limit": 256},
        "strategy": {"name": "implicit"},
        "optimizer": {"lr_min": 0.0},
        "trainer": {
            "epochs": 2,
            "batch_size": 32,
            "limit_batches": 3,
            "progress_bar": False,
        },
    }
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    tune = {"base": "base.yaml", "params": params, "output_dir": str(tmp_path / "out"), **extra}
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(tune))
    return path


def test_four_trials_with_pruning_and_attributes(tmp_path):
    from idarts_plugin.integrations.optuna import load_tune_config, run_study
    from idarts_plugin.nb201 import parse_arch

    # Aggressive: from the second epoch on, prune anything below 99 % supernet accuracy (a
    # tiny search never gets there). One-epoch trials report only epoch 0 and complete;
    # two-epoch trials report epoch 1 and are pruned there.
    path = write_tune(
        tmp_path,
        {"trainer.epochs": {"type": "categorical", "choices": [1, 2]}},
        pruner={"name": "threshold", "lower": 0.99, "n_warmup_steps": 1},
        sampler={"name": "random", "seed": 0},
    )
    cfg = load_tune_config(path)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    for epochs in (1, 2, 1, 2):
        study.enqueue_trial({"trainer.epochs": epochs})
    study = run_study(cfg, study_name="s", storage=storage, n_trials=4)
    states = [t.state for t in study.trials]
    assert states == [
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
    ]
    pruned = study.trials[1]
    assert set(pruned.intermediate_values) == {0, 1}  # one value per epoch until pruned
    first = study.trials[0]
    assert set(first.intermediate_values) == {0}
    assert first.value == pytest.approx(first.intermediate_values[0])
    parse_arch(first.user_attrs["arch_string"])
    assert len(first.user_attrs["architecture"]) == 6
    assert Path(first.user_attrs["run_dir"], "summary.json").is_file()
    assert "hg_n_hvp" in first.user_attrs["diagnostics"]


def test_failing_trial_is_fail_with_reason_and_study_completes(tmp_path):
    from idarts_plugin.integrations.optuna import load_tune_config, run_study

    # lr = 1e8 makes the weights (and the loss) blow up: every later step is skipped, and
    # after 2 such steps in a row the search stops with a reason.
    path = write_tune(
        tmp_path,
        {"optimizer.lr": {"type": "categorical", "choices": [1.0e8, 0.05]}},
        pruner={"name": "none"},
        # (the early stop off: it may end a tiny search before the second such step)
        overrides=["strategy.max_nonfinite_steps=2", "strategy.early_stop=off"],
    )
    cfg = load_tune_config(path)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="f", storage=storage, direction="maximize")
    study.enqueue_trial({"optimizer.lr": 1.0e8})
    study.enqueue_trial({"optimizer.lr": 0.05})
    study = run_study(cfg, study_name="f", storage=storage, n_trials=2)
    failed, done = study.trials
    assert failed.state == optuna.trial.TrialState.FAIL
    assert "non-finite" in failed.user_attrs["fail_reason"]
    assert done.state == optuna.trial.TrialState.COMPLETE


params = {"optimizer.lr": {"type": "float", "low": 0.01, "high": 0.1}}


def test_tune_config_errors_name_the_key(tmp_path):
    from idarts_plugin.config import ConfigError
    from idarts_plugin.integrations.optuna import load_tune_config

    with pytest.raises(ConfigError, match=r"params\.strategy\.neumann_steps"):
        load_tune_config(
            write_tune(tmp_path, {"strategy.neumann_steps": {"type": "int", "low": 5, "high": 1}})
        )
    with pytest.raises(ConfigError, match="unknown type"):
        load_tune_config(write_tune(tmp_path, {"strategy.neumann_steps": {"type": "gauss"}}))
    with pytest.raises(ConfigError, match="cannot be tuned"):
        load_tune_config(
            write_tune(tmp_path, {"strategy.no_such_key": {"type": "int", "low": 0, "high": 2}})
        )
    with pytest.raises(ConfigError, match="valid: tpe"):
        load_tune_config(
            write_tune(
                tmp_path,
                {"optimizer.lr": {"type": "float", "low": 0.01, "high": 0.1}},
                sampler={"name": "bayes"},
            )
        )

    with pytest.raises(
        ConfigError, match=r"tune\.yaml.*cost_objective.*must be true or false, got 'yes'"
    ):
        load_tune_config(write_tune(tmp_path, params, cost_objective="yes"))
    with pytest.raises(
        ConfigError, match=r"tune\.yaml.*pruner.*must be a mapping such as \{name: median\}"
    ):
        load_tune_config(write_tune(tmp_path, params, pruner="median"))
    # A mistyped objective option fails when the file is read, not after a trial's search.
    with pytest.raises(
        ConfigError, match=r"tune\.yaml.*objective_options.*unknown option 'epoch'.*epochs, seeds"
    ):
        load_tune_config(
            write_tune(tmp_path, params, objective="retrain_acc", objective_options={"epoch": 3})
        )


def test_a_tune_config_that_sets_nothing_optional_gets_tuneconfigs_defaults(tmp_path):
    import dataclasses

    from idarts_plugin.integrations.optuna import TuneConfig, load_tune_config

    path = write_tune(tmp_path, params)
    raw = yaml.safe_load(path.read_text())
    del raw["output_dir"]
    path.write_text(yaml.safe_dump(raw))
    cfg = load_tune_config(path)
    assert cfg == TuneConfig(base=cfg.base, base_dict=cfg.base_dict, params=cfg.params)
    from idarts_plugin.integrations.optuna import _TUNE_KEYS

    optional = {f.name for f in dataclasses.fields(cfg) if f.name not in ("base", "base_dict")}
    # every key of the file but base/overrides/params is a field with its default (only there)
    assert optional - {"params"} == set(_TUNE_KEYS) - {"base", "overrides", "params"}
    cfg = load_tune_config(write_tune(tmp_path, params, sampler={"seed": 3}, cost_objective=True))
    assert cfg.sampler == {"seed": 3} and cfg.cost_objective is True


def test_the_default_sampler_follows_the_objectives_with_or_without_a_sampler_section():
    """No ``name`` (no section, or ``{seed: 0}``): TPE for one objective, NSGA-II for two."""
    from idarts_plugin.integrations.optuna import (
        DEFAULT_MULTI_OBJECTIVE_SAMPLER,
        DEFAULT_SAMPLER,
        TuneConfig,
        make_sampler,
    )

    classes = {"tpe": "TPESampler", "nsga2": "NSGAIISampler"}
    no_section = TuneConfig.__dataclass_fields__["sampler"].default_factory()  # type: ignore[misc]
    for spec in (no_section, {"seed": 0}):
        for multi, name in ((False, DEFAULT_SAMPLER), (True, DEFAULT_MULTI_OBJECTIVE_SAMPLER)):
            sampler = make_sampler(spec, multi_objective=multi)
            inner = getattr(sampler, "_template", sampler)
            assert type(inner).__name__ == classes[name], (spec, multi)


def test_cli_tune_multi_objective(tmp_path, capsys):
    from idarts_plugin.cli import main

    path = write_tune(
        tmp_path,
        {"strategy.neumann_steps": {"type": "int", "low": 0, "high": 3}},
        cost_objective=True,
        sampler={"name": "nsga2", "seed": 0},
    )
    assert main(["tune", str(path), "--study", "pareto", "--n-trials", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 complete" in out and "Pareto front" in out
    assert (tmp_path / "out" / "optuna.db").is_file()


def test_open_storage_retries_the_schema_creation_race(tmp_path, monkeypatch):
    """Two workers on a fresh PostgreSQL race to create Optuna's tables; the loser retries."""
    import sqlalchemy.exc

    from idarts_plugin.integrations import optuna as integration

    real = optuna.storages.RDBStorage
    calls = []

    def flaky(url, **kwargs):
        calls.append(url)
        if len(calls) == 1:
            raise sqlalchemy.exc.IntegrityError("CREATE TABLE", {}, Exception("duplicate key"))
        return real(url, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", flaky)
    storage = integration.open_storage(f"sqlite:///{tmp_path / 'x.db'}")
    assert len(calls) == 2 and isinstance(storage, real)


def test_every_sampler_and_pruner_name_builds_its_class_and_a_typo_is_refused():
    from idarts_plugin.integrations.optuna import PRUNERS, SAMPLERS, make_pruner, make_sampler

    classes = {"tpe": "TPESampler", "random": "RandomSampler", "nsga2": "NSGAIISampler"}
    for name, cls in classes.items():
        sampler = make_sampler({"name": name, "seed": 1}, multi_objective=False)
        inner = getattr(sampler, "_template", sampler)  # TrialSeededSampler's own sampler
        assert type(inner).__name__ == cls, (name, sampler)
    assert set(classes) < set(SAMPLERS)
    pruners = {"median": "MedianPruner", "hyperband": "HyperbandPruner", "none": "NopPruner"}
    for name, cls in pruners.items():
        assert type(make_pruner({"name": name})).__name__ == cls
    threshold = make_pruner({"name": "threshold", "lower": 0.1})
    assert type(threshold).__name__ == "ThresholdPruner" and set(pruners) < set(PRUNERS)
    with pytest.raises(ValueError, match="unknown pruner 'meidan'; valid: median, hyperband"):
        make_pruner({"name": "meidan"})
    with pytest.raises(ValueError, match="unknown sampler 'tpee'; valid: tpe, cmaes"):
        make_sampler({"name": "tpee"}, multi_objective=False)
