"""The Optuna-backed NNI tuner: search-space translation, ask/tell, failures, registration."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.conftest import requires_nni

pytest.importorskip("optuna", reason="install idarts-plugin[optuna]")
pytestmark = requires_nni

SPACE = {
    "c": {"_type": "choice", "_value": [1, "auto", 0.5]},
    "r": {"_type": "randint", "_value": [2, 5]},
    "u": {"_type": "uniform", "_value": [-1.0, 1.0]},
    "qu": {"_type": "quniform", "_value": [0.1, 1.0, 0.2]},
    "qi": {"_type": "quniform", "_value": [0, 10, 5]},
    "lu": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
    "qlu": {"_type": "qloguniform", "_value": [1, 100, 10]},
    "n": {
        "_type": "choice",
        "_value": [
            {"_name": "neumann", "k": {"_type": "randint", "_value": [0, 3]}},
            {"_name": "first_order"},
        ],
    },
}


def make_tuner(**kwargs):
    from idarts_plugin.integrations.nni_tuner import OptunaTuner

    tuner = OptunaTuner(**{"sampler": "random", "seed": 0, **kwargs})
    tuner.update_search_space(SPACE)
    return tuner


def test_every_supported_type_samples_inside_its_range():
    tuner = make_tuner()
    seen: dict[str, set] = {k: set() for k in SPACE}
    for i in range(200):
        p = tuner.generate_parameters(i)
        assert set(p) == set(SPACE)
        assert p["c"] in (1, "auto", 0.5)
        assert 2 <= p["r"] <= 4 and isinstance(p["r"], int)  # NNI's randint excludes upper
        assert -1 <= p["u"] <= 1
        assert p["qu"] in (0.1, 0.2, 0.4, 0.6, 0.8, 1.0)  # round(x / q) * q, clipped
        assert p["qi"] in (0, 5, 10) and isinstance(p["qi"], int)
        assert 1e-4 <= p["lu"] <= 1e-1
        assert 1 <= p["qlu"] <= 100 and (p["qlu"] == 1 or p["qlu"] % 10 == 0)
        assert p["n"]["_name"] in ("neumann", "first_order")
        if p["n"]["_name"] == "neumann":
            assert set(p["n"]) == {"_name", "k"} and 0 <= p["n"]["k"] <= 2
        else:
            assert p["n"] == {"_name": "first_order"}
        for k, v in p.items():
            seen[k].add(v["_name"] if isinstance(v, dict) else v)
    assert seen["r"] == {2, 3, 4} and seen["qi"] == {0, 5, 10}
    assert seen["n"] == {"neumann", "first_order"} and len(seen["c"]) == 3
    # log-uniform: about as many samples below the geometric middle as above it
    low = sum(1 for v in seen["lu"] if v < math.sqrt(1e-4 * 1e-1))
    assert 0.3 < low / len(seen["lu"]) < 0.7


def test_results_failures_and_kills_reach_the_study(monkeypatch):
    from tests.integrations.manager_stand_in import nni_manager_stand_in

    arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"
    epochs = [
        {"default": 0.5, "epoch": 0, "supernet_val_acc": 0.5, "hg_n_hvp": 3},
        {"default": 0.7, "epoch": 1, "supernet_val_acc": 0.7, "hg_n_hvp": 3},
    ]
    where = "ssh://10.0.0.7:/home/u/nni-experiments/x/environments/e/trials/AbCdE"
    with nni_manager_stand_in("AbCdE", epochs, where) as channel:
        monkeypatch.setenv("NNI_TUNER_COMMAND_CHANNEL", channel)
        tuner = make_tuner()
        for i in range(5):
            tuner.generate_parameters(i)
        final = {"default": 0.7, "arch_code": 412513, "search_seconds": 1.5, "epochs": 2}
        tuner.receive_trial_result(0, {}, final, trial_job_id="AbCdE")
    tuner.receive_trial_result(1, {}, 0.9)
    tuner.trial_end(1, True)
    tuner.trial_end(2, False)  # failed or killed trial
    tuner.receive_trial_result(3, {}, {"default": float("nan")})
    tuner.receive_trial_result(4, {}, {"accuracy": 0.5})  # no 'default'
    states = [t.state.name for t in tuner.study.trials]
    assert states == ["COMPLETE", "COMPLETE", "FAIL", "FAIL", "FAIL"]
    first = tuner.study.trials[0]
    assert first.value == 0.7 and first.user_attrs["arch_code"] == 412513
    assert first.user_attrs["arch_string"] == arch  # decoded from arch_code
    assert first.user_attrs["architecture"]["cell/0_1"] == "conv_3x3"
    assert first.user_attrs["run_dir"] == f"{where}/run"
    assert first.user_attrs["diagnostics"] == {"epoch": 1, "supernet_val_acc": 0.7, "hg_n_hvp": 3}
    assert first.user_attrs["search_seconds"] == 1.5 and first.user_attrs["epochs"] == 2
    assert first.intermediate_values == {0: 0.5, 1: 0.7}
    assert tuner.study.metric_names == ["supernet_val_acc"]
    assert first.user_attrs["nni_trial_job_id"] == "AbCdE"
    assert "non-finite" in tuner.study.trials[3].user_attrs["fail_reason"]
    assert tuner.study.best_value == 0.9
    tuner.receive_trial_result(1, {}, 0.1)  # a second result for a told trial is ignored
    assert tuner.study.best_value == 0.9


def test_without_the_nni_manager_the_study_still_gets_the_architecture(monkeypatch, caplog):
    monkeypatch.setenv("NNI_TUNER_COMMAND_CHANNEL", "ws://127.0.0.1:9/tuner")  # nothing listens
    tuner = make_tuner()
    tuner.generate_parameters(0)
    final = {"default": 0.7, "arch_code": 412513, "search_seconds": 1.5, "epochs": 2}
    tuner.receive_trial_result(0, {}, final, trial_job_id="AbCdE")
    (trial,) = tuner.study.trials
    assert trial.state.name == "COMPLETE" and trial.user_attrs["arch_code"] == 412513
    assert trial.user_attrs["arch_string"].startswith("|nor_conv_3x3~0|")
    assert trial.intermediate_values == {}
    assert "did not give its intermediate results" in caplog.text


def test_minimize_mode_and_tpe_follow_the_results():
    from idarts_plugin.integrations.nni_tuner import OptunaTuner

    tuner = OptunaTuner(
        sampler={"name": "tpe", "n_startup_trials": 5}, seed=1, optimize_mode="minimize"
    )
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [0.0, 1.0]}})
    xs = []
    for i in range(30):
        x = tuner.generate_parameters(i)["x"]
        tuner.receive_trial_result(i, {}, {"default": (x - 0.2) ** 2})
        xs.append(x)
    assert abs(tuner.study.best_params["x"] - 0.2) < 0.05
    assert sum(abs(x - 0.2) for x in xs[-10:]) < sum(abs(x - 0.2) for x in xs[:10])


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"x": {"_type": "normal", "_value": [0, 1]}}, "'x'.*unbounded"),
        ({"x": {"_type": "gauss", "_value": [0, 1]}}, "'x'.*unknown type 'gauss'.*choice"),
        ({"x": {"_type": "uniform", "_value": [1, 0]}}, "'x'.*low < high"),
        ({"x": {"_type": "loguniform", "_value": [0, 1]}}, "'x'.*low > 0"),
        ({"x": {"_type": "quniform", "_value": [0, 1]}}, r"'x'.*\[low, high, q\]"),
        ({"x": {"_type": "choice", "_value": []}}, "'x'.*non-empty"),
        ({"x": {"_type": "choice", "_value": [{"k": 1}]}}, "'x'.*_name"),
        ({"x": 3}, "'x'.*_type"),
        (
            {
                "n": {
                    "_type": "choice",
                    "_value": [{"_name": "a", "y": {"_type": "normal", "_value": [0, 1]}}],
                }
            },
            "'n/a/y'.*unbounded",
        ),
    ],
)
def test_unsupported_search_spaces_are_named(space, message):
    from idarts_plugin.integrations.nni_tuner import OptunaTuner, SearchSpaceError

    with pytest.raises(SearchSpaceError, match=message):
        OptunaTuner(sampler="random").update_search_space(space)


def test_bad_arguments_list_the_valid_ones():
    from idarts_plugin.integrations.nni_tuner import OptunaTuner

    with pytest.raises(ValueError, match="tpe, cmaes, random"):
        OptunaTuner(sampler="grid")
    with pytest.raises(ValueError, match="maximize"):
        OptunaTuner(optimize_mode="max")


def test_the_study_can_live_in_a_storage(tmp_path: Path):
    import optuna

    url = f"sqlite:///{tmp_path / 'nni.db'}"
    tuner = make_tuner(storage=url, study_name="exp")
    tuner.generate_parameters(0)
    tuner.receive_trial_result(0, {}, 0.5)
    assert optuna.load_study(study_name="exp", storage=url).best_value == 0.5


def test_register_makes_nni_build_the_tuner_by_name(tmp_path: Path, monkeypatch):
    import yaml

    monkeypatch.setenv("NNI_CONFIG_DIR", str(tmp_path))
    from nni.tools.package_utils.tuner_factory import create_builtin_class_instance

    from idarts_plugin.integrations.nni_register import META_PATH, register
    from idarts_plugin.integrations.nni_tuner import OptunaTuner

    names = [name for name, _ in register()]
    assert names == ["OptunaTPE", "OptunaCMAES", "OptunaRandom", "Optuna"]
    registry = yaml.safe_load((tmp_path / "registered_algorithms.yml").read_text())
    assert {t["builtinName"] for t in registry["tuners"]} == set(names)
    assert META_PATH.is_file()
    tuner = create_builtin_class_instance("OptunaCMAES", {"optimize_mode": "minimize"}, "tuners")
    assert isinstance(tuner, OptunaTuner)
    assert type(tuner.study.sampler).__name__ == "CmaEsSampler"
    assert tuner.optimize_mode == "minimize"
    register()  # again: updates, does not duplicate
    registry = yaml.safe_load((tmp_path / "registered_algorithms.yml").read_text())
    assert len(registry["tuners"]) == 4
