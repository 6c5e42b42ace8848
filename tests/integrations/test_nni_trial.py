"""`idarts nni-trial` in-process: parameters in, one intermediate per epoch, one final out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from idarts_plugin.config import ConfigError
from idarts_plugin.integrations.nni_trial import parameters_to_overrides
from idarts_plugin.integrations.trials import arch_code
from tests.conftest import requires_nni

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "examples" / "configs" / "digits-nb201.yaml"
TINY = (
    "trainer.epochs=2",
    "trainer.limit_batches=2",
    "trainer.batch_size=16",
    "space.options.stem_channels=4",
    "data.limit=256",
    "trainer.threads=1",
    "strategy.early_stop=off",  # every epoch runs (a tiny search's cells are noise)
)


def test_flat_parameters_pass_through():
    got = parameters_to_overrides({"strategy.neumann_steps": 3, "optimizer.lr": 0.01})
    assert got == {"strategy.neumann_steps": 3, "optimizer.lr": 0.01}
    assert parameters_to_overrides(None) == {}


def test_nested_choice_sets_the_key_and_flattens_its_options():
    got = parameters_to_overrides(
        {"strategy.name": {"_name": "amended", "strategy.neumann_lr": 0.1}, "trainer.seed": 1}
    )
    assert got == {"strategy.name": "amended", "strategy.neumann_lr": 0.1, "trainer.seed": 1}


@pytest.mark.parametrize(
    ("params", "key"),
    [({"lr": 0.1}, "lr"), ({"strategy.name": {"x.y": 1}}, "strategy.name")],
)
def test_bad_parameter_keys_are_named(params: dict[str, Any], key: str):
    with pytest.raises(ConfigError, match=key):
        parameters_to_overrides(params)


class Reports:
    def __init__(self) -> None:
        self.intermediate: list[Any] = []
        self.final: list[Any] = []


def _run(tmp_path: Path, params: dict[str, Any], *extra: str, **kwargs: Any) -> Any:
    from idarts_plugin.integrations.nni_trial import run_trial

    reports = Reports()
    outcome = run_trial(
        BASE,
        overrides=TINY + extra,
        parameters=params,
        report_intermediate=reports.intermediate.append,
        report_final=reports.final.append,
        **kwargs,
    )
    return outcome, reports


@requires_nni
@pytest.mark.slow
def test_trial_reports_every_epoch_and_one_final(tmp_path: Path, monkeypatch):
    from idarts_plugin.nb201 import parse_arch

    monkeypatch.setenv("NNI_OUTPUT_DIR", str(tmp_path / "trial"))
    params = {"strategy.neumann_steps": 3, "strategy.inner_steps": 2, "optimizer.lr": 0.03}
    outcome, reports = _run(tmp_path, params)
    assert [m["epoch"] for m in reports.intermediate] == [0, 1]
    assert all(0 <= m["default"] <= 1 and "train_loss" in m for m in reports.intermediate)
    assert len(reports.final) == 1
    final = reports.final[0]
    assert final == outcome.final
    # Numbers only (every key is a web-UI column and chart axis); the parameters the trial
    # ran with are in it; the architecture is a short code, the full string in summary.json.
    assert all(isinstance(v, (int, float)) for v in final.values()), final
    assert {k: final[f"param:{k}"] for k in params} == params
    summary = yaml.safe_load((outcome.run_dir / "summary.json").read_text())
    parse_arch(summary["arch_string"])
    assert final["arch_code"] == arch_code(summary["arch_string"])
    assert len(str(final["arch_code"])) == 6
    assert final["default"] == reports.intermediate[-1]["default"]
    assert outcome.run_dir == tmp_path / "trial" / "run"
    saved = yaml.safe_load((outcome.run_dir / "config.yaml").read_text())
    assert saved["strategy"]["neumann_steps"] == 3 and saved["strategy"]["inner_steps"] == 2
    assert saved["optimizer"]["lr"] == 0.03
    assert (outcome.run_dir / "architecture.json").is_file()


@requires_nni
def test_an_invalid_parameter_value_names_the_key_and_reports_nothing(tmp_path: Path):
    with pytest.raises(ConfigError, match="neumann_steps") as err:
        _run(tmp_path, {"strategy.neumann_steps": -1}, run_dir=tmp_path / "run")
    assert "parameters" in str(err.value)
    assert not (tmp_path / "run").exists()


@requires_nni
@pytest.mark.slow
def test_a_diverging_search_fails_without_a_final_result(tmp_path: Path):
    from idarts_plugin.runtime import SearchError

    reports = Reports()
    from idarts_plugin.integrations.nni_trial import run_trial

    with pytest.raises(SearchError, match="2 steps in a row had a non-finite"):
        run_trial(
            BASE,
            overrides=TINY,
            parameters={
                "optimizer.lr": 1.0e8,
                "optimizer.momentum": 0.0,
                "strategy.max_nonfinite_steps": 2,
            },
            run_dir=tmp_path / "run",
            report_intermediate=reports.intermediate.append,
            report_final=reports.final.append,
        )
    assert reports.final == []


def test_cli_nni_trial_rejects_an_unknown_objective(capsys):
    from idarts_plugin.cli import main

    assert main(["nni-trial", str(BASE), "--objective", "speed"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "speed" in err[0] and "supernet_val_acc" in err[0]


def _no_search(monkeypatch):
    import idarts_plugin.search

    def refuse(*args, **kwargs):
        raise AssertionError("the options are checked before a search starts")

    monkeypatch.setattr(idarts_plugin.search, "run_search", refuse)


def test_cli_nni_trial_rejects_a_mistyped_objective_option_before_searching(
    capsys, tmp_path, monkeypatch
):
    from idarts_plugin.cli import main

    _no_search(monkeypatch)

    argv = ["nni-trial", str(BASE), "--objective", "retrain_acc", "--objective-option", "epoch=3"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'--objective-option'" in err[0] and "'epoch'" in err[0], err


def test_cli_nni_trial_reads_an_option_that_is_not_yaml_as_text(capsys, tmp_path, monkeypatch):
    # "[a" is no YAML: read as the text, like a run-config override (it was a traceback), and
    # the missing NAS-Bench-201 source is refused before any search.
    from idarts_plugin.cli import main

    _no_search(monkeypatch)

    argv = ["nni-trial", str(BASE), "--objective", "nb201_test_acc"]
    assert main([*argv, "--objective-option", "tables=[a"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "source '[a' does not exist" in err[0], err
