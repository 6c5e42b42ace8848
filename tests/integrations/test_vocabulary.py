"""Both Optuna paths store a trial with one vocabulary: ``idarts tune`` and the NNI tuner."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import requires_nni
from tests.integrations.test_optuna import write_tune

optuna = pytest.importorskip("optuna", reason="pip install 'idarts-plugin[optuna]'")
pytestmark = [requires_nni, pytest.mark.slow]

PARAMS = {"strategy.neumann_steps": 2, "optimizer.lr": 0.03}


def test_tune_and_the_nni_tuner_store_the_same_vocabulary(tmp_path, monkeypatch):
    from idarts_plugin.integrations.nni_trial import run_trial
    from idarts_plugin.integrations.nni_tuner import OptunaTuner
    from idarts_plugin.integrations.optuna import load_tune_config, run_study
    from idarts_plugin.integrations.trials import USER_ATTRS

    # Path 1: idarts tune.
    tune = write_tune(
        tmp_path,
        {
            "strategy.neumann_steps": {"type": "int", "low": 0, "high": 3},
            "optimizer.lr": {"type": "float", "low": 0.01, "high": 0.05},
        },
        pruner={"name": "none"},
        overrides=["trainer.threads=1"],
    )
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="tune", storage=storage, direction="maximize")
    study.enqueue_trial(PARAMS)
    tuned = run_study(load_tune_config(tune), study_name="tune", storage=storage, n_trials=1)
    by_tune = tuned.trials[0]

    # Path 2: the NNI tuner asks, a trial runs (as nnictl would start it), the tuner is told.
    exp = tmp_path / "nni-exp"
    (exp / "log").mkdir(parents=True)
    monkeypatch.setenv("NNI_LOG_DIRECTORY", str(exp / "log"))
    monkeypatch.setenv("NNI_OUTPUT_DIR", str(exp / "trials" / "Job01"))
    tuner = OptunaTuner(sampler="random", storage=storage, study_name="nni")
    tuner.study.enqueue_trial(PARAMS)
    tuner.update_search_space(
        {
            "strategy.neumann_steps": {"_type": "randint", "_value": [0, 4]},
            "optimizer.lr": {"_type": "uniform", "_value": [0.01, 0.05]},
        }
    )
    params = tuner.generate_parameters(0)
    assert params == PARAMS
    finals: list = []
    run_trial(
        tmp_path / "base.yaml",
        overrides=("trainer.threads=1",),
        parameters=params,
        report_intermediate=lambda _: None,
        report_final=finals.append,
    )
    tuner.receive_trial_result(0, params, finals[0], trial_job_id="Job01")
    by_nni = optuna.load_study(study_name="nni", storage=storage).trials[0]

    assert by_tune.state == by_nni.state == optuna.trial.TrialState.COMPLETE
    assert by_tune.params == by_nni.params == PARAMS
    for study_name in ("tune", "nni"):
        loaded = optuna.load_study(study_name=study_name, storage=storage)
        assert loaded.metric_names == ["supernet_val_acc"]
    assert set(by_tune.intermediate_values) == set(by_nni.intermediate_values) == {0, 1}
    own = {"nni_parameter_id", "nni_trial_job_id"}
    assert set(by_tune.user_attrs) == set(by_nni.user_attrs) - own == set(USER_ATTRS)
    for key in ("arch_string", "arch_code", "architecture", "epochs"):
        assert by_tune.user_attrs[key] == by_nni.user_attrs[key], key  # same search, same seed
    assert set(by_tune.user_attrs["diagnostics"]) == set(by_nni.user_attrs["diagnostics"])
    for trial in (by_tune, by_nni):
        assert Path(trial.user_attrs["run_dir"]).is_absolute()
        assert Path(trial.user_attrs["run_dir"], "summary.json").is_file()
    assert by_tune.value == pytest.approx(by_nni.value)
