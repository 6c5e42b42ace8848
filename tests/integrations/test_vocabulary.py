"""Both Optuna paths store a trial with one vocabulary: ``idarts tune`` and the NNI tuner.

The NNI tuner learns a trial only through NNI: its final result, and its intermediate results
and location, which it asks the NNI manager's REST API for (served here by a stand-in on
loopback, in NNI's format). No file of the trial's is read: its run directory is deleted
before the tuner is told.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import requires_nni
from tests.integrations.manager_stand_in import nni_manager_stand_in
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
    # The trial's output lies under a directory the tuner never looks at (another "host").
    trial_dir = tmp_path / "other-host" / "trials" / "Job01"
    monkeypatch.setenv("NNI_OUTPUT_DIR", str(trial_dir))
    monkeypatch.delenv("NNI_LOG_DIRECTORY", raising=False)
    intermediates: list = []
    finals: list = []
    params = None
    with nni_manager_stand_in("Job01", intermediates, f"ssh://host-b:{trial_dir}") as channel:
        monkeypatch.setenv("NNI_TUNER_COMMAND_CHANNEL", channel)
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
        run_trial(
            tmp_path / "base.yaml",
            overrides=("trainer.threads=1",),
            parameters=params,
            report_intermediate=intermediates.append,
            report_final=finals.append,
        )
        shutil.rmtree(trial_dir)  # nothing of the trial's is readable by the tuner
        tuner.receive_trial_result(0, params, finals[0], trial_job_id="Job01")
    by_nni = optuna.load_study(study_name="nni", storage=storage).trials[0]

    assert by_tune.state == by_nni.state == optuna.trial.TrialState.COMPLETE
    assert by_tune.params == by_nni.params == PARAMS
    for study_name in ("tune", "nni"):
        loaded = optuna.load_study(study_name=study_name, storage=storage)
        assert loaded.metric_names == ["supernet_val_acc"]
    assert by_tune.intermediate_values == pytest.approx(by_nni.intermediate_values)
    assert set(by_tune.intermediate_values) == {0, 1}
    own = {"nni_parameter_id", "nni_trial_job_id"}
    assert set(by_tune.user_attrs) == set(by_nni.user_attrs) - own == set(USER_ATTRS)
    for key in ("arch_string", "arch_code", "architecture", "epochs"):
        assert by_tune.user_attrs[key] == by_nni.user_attrs[key], key  # same search, same seed
    tuned, told = by_tune.user_attrs["diagnostics"], by_nni.user_attrs["diagnostics"]
    assert set(tuned) == set(told)
    timing = {k for k in tuned if "seconds" in k}
    assert {k: told[k] for k in set(told) - timing} == pytest.approx(
        {k: tuned[k] for k in set(tuned) - timing}
    )
    assert Path(by_tune.user_attrs["run_dir"]).is_absolute()
    assert Path(by_tune.user_attrs["run_dir"], "summary.json").is_file()
    # The NNI trial's run directory, as NNI reports it: on its own host, information only.
    assert by_nni.user_attrs["run_dir"] == f"ssh://host-b:{trial_dir}/run"
    assert by_tune.value == pytest.approx(by_nni.value)


def test_the_final_result_carries_a_decodable_architecture():
    from idarts_plugin.integrations.trials import (
        arch_code,
        arch_from_code,
        decode_architecture,
        nni_final_result,
    )
    from idarts_plugin.nb201 import all_archs, arch_to_nni

    for arch in all_archs()[::97]:
        assert arch_from_code(arch_code(arch)) == arch
    arch = all_archs()[1234]
    final = nni_final_result(
        0.5, parameters={}, arch_string=arch, architecture=arch_to_nni(arch), seconds=1, epochs=1
    )
    assert all(isinstance(v, (int, float)) for v in final.values()), final  # numeric columns
    assert decode_architecture(final) == (arch_to_nni(arch), arch)
    # Another space (a DARTS genotype here): one text column, 'arch', decodes it.
    export = {"normal/op_2_0": "sep_conv_3x3", "normal/input_2_0": [0]}
    final = nni_final_result(
        0.5, parameters={}, arch_string="Genotype(...)", architecture=export, seconds=1, epochs=1
    )
    assert [k for k, v in final.items() if not isinstance(v, (int, float))] == ["arch"]
    assert decode_architecture(final) == (export, "Genotype(...)")
    assert decode_architecture({"default": 0.5}) is None
    with pytest.raises(ValueError, match="'arch'"):
        decode_architecture({"default": 0.5, "arch": "[1, 2]"})
