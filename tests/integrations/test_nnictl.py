"""Real nnictl experiments: NNI's TPE and the Optuna-backed tuner, REST API and web UI.

Each experiment runs the example's trial command (`idarts nni-trial`) with tiny sizes, in a
sandbox (own HOME, NNI config dir, experiment dir, free loopback port) that is stopped and
cleaned up even when an assertion fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import requires_nni

from .nnictl_harness import NNICTL, Experiment, kill_sandbox, nnictl_experiment, sandbox_env

pytest.importorskip("psutil", reason="the nnictl tests need psutil (an NNI dependency)")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "nnictl"
EPOCHS = 2
TINY = (
    f" --set trainer.epochs={EPOCHS} --set trainer.limit_batches=2 --set trainer.batch_size=16"
    " --set space.options.stem_channels=4 --set data.limit=256"
    " --set strategy.early_stop=off"  # every epoch reports (a tiny search's cells are noise)
)

pytestmark = [
    requires_nni,
    pytest.mark.slow,
    pytest.mark.skipif(not NNICTL.is_file(), reason=f"nnictl not found at {NNICTL}"),
]


def tiny_config(example: str, **changes: Any) -> dict[str, Any]:
    """The example nnictl config with absolute paths, 2 trials and a tiny search."""
    cfg = yaml.safe_load((EXAMPLE / example).read_text())
    cfg["searchSpaceFile"] = str(EXAMPLE / cfg["searchSpaceFile"])
    cfg["trialCodeDirectory"] = str(EXAMPLE)
    cfg["trialCommand"] += TINY
    cfg["maxTrialNumber"] = 2
    cfg["trialConcurrency"] = 2
    cfg.pop("maxExperimentDuration", None)
    cfg.update(changes)
    return cfg


def check_trials(exp: Experiment) -> dict[str, dict[str, Any]]:
    """Both trials succeeded with EPOCHS periodical metrics, one final with an NB201 arch."""
    from idarts_plugin.integrations.trials import arch_code
    from idarts_plugin.nb201 import parse_arch

    status = exp.wait_until_done(timeout=600)
    assert status == "DONE", f"experiment ended {status}\n{exp.logs()}"
    trials = exp.get("trial-jobs")
    assert len(trials) == 2, trials
    assert all(t["status"] == "SUCCEEDED" for t in trials), f"{trials}\n{exp.logs()}"
    metrics = exp.metrics()
    # NNI 3.0's trial-jobs record can pair a job with another job's parameters when trials
    # start concurrently; the parameter id the trial reports with its metrics is the truth.
    params_by_id = {}
    for t in trials:
        record = json.loads(t["hyperParameters"][0])
        params_by_id[record["parameter_id"]] = record["parameters"]
    finals = {}
    for t in trials:
        rows = metrics.get(t["trialJobId"], [])
        periodical = [r["value"] for r in rows if r["type"] == "PERIODICAL"]
        final_rows = [r for r in rows if r["type"] == "FINAL"]
        final = [r["value"] for r in final_rows]
        assert len(final) == 1, f"{t['trialJobId']}: {len(final)} FINAL results: {rows}"
        assert [p["epoch"] for p in periodical] == list(range(EPOCHS)), periodical
        assert all(0.0 <= p["default"] <= 1.0 for p in periodical)
        value = final[0]
        assert 0.0 <= value["default"] <= 1.0 and value["epochs"] == EPOCHS
        # Numbers only: every key is a web-UI column and an axis of the hyper-parameter chart.
        # Text only where it is one of the search space's own choices (param:<key>).
        for key, v in value.items():
            assert isinstance(v, (int, float)) or key.startswith("param:"), (key, v)
        assert len(str(value["arch_code"])) == 6  # a NAS-Bench-201 cell, one digit per edge
        assert value["search_seconds"] > 0
        # The run directory lies in the trial's own directory (shown in the web UI's log tab).
        run_dir = Path(t["logPath"].split(":", 1)[-1]) / "run"
        if not run_dir.is_dir():
            run_dir = Path(t["logPath"]) / "run"
        for name in ("architecture.json", "alpha.png", "metrics.csv", "summary.json"):
            assert (run_dir / name).is_file(), name
        summary = json.loads((run_dir / "summary.json").read_text())
        parse_arch(summary["arch_string"])
        assert value["arch_code"] == arch_code(summary["arch_string"])
        params = params_by_id[final_rows[0]["parameter_id"]]
        saved = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert saved["strategy"]["neumann_steps"] == params["strategy.neumann_steps"]
        assert saved["strategy"]["inner_steps"] == params["strategy.inner_steps"]
        assert saved["optimizer"]["lr"] == pytest.approx(params["optimizer.lr"])
        # ... and the final result carries them, so the web UI shows the truth.
        assert {k: value[f"param:{k}"] for k in params} == params
        assert value["param:strategy.neumann_steps"] == saved["strategy"]["neumann_steps"]
        assert value["param:strategy.inner_steps"] == saved["strategy"]["inner_steps"]
        value = {**value, "_config": saved}
        finals[t["trialJobId"]] = value
    return finals


def test_nnictl_tpe_experiment_reports_and_web_ui_shows_the_trials(tmp_path: Path) -> None:
    with nnictl_experiment(tmp_path, tiny_config("config.yml")) as exp:
        finals = check_trials(exp)
        _check_web_ui(exp, finals, tmp_path / "chromium-profile")
    assert not kill_sandbox(exp.env), "processes survived nnictl stop"


def _check_web_ui(exp: Experiment, finals: dict[str, dict[str, Any]], profile: Path) -> None:
    from .webui import find_chromium, headless_chromium

    if find_chromium() is None:
        pytest.skip(
            "no chromium: scripts/install-test-system-deps.sh installs Debian's chromium as root"
        )
    with headless_chromium(profile) as page:
        page.goto(f"{exp.url}/detail")
        page.wait_for_text(r"SUCCEEDED[\s\S]*SUCCEEDED")
        # What a user does to see the architecture and the parameters a trial ran with:
        # "Add/Remove columns" -> tick the metric columns -> "Save".
        page.click_text("Add/Remove columns")
        page.wait_for_text("arch_code \\(metric\\)")
        shown_keys = ("arch_code", "param:strategy.neumann_steps", "param:strategy.inner_steps")
        for key in shown_keys:
            page.click_text(f"{key} (metric)")
        page.click_text("Save")
        page.wait_for_text("|".join(str(v["arch_code"]) for v in finals.values()))
        rows = page.evaluate(
            "Array.from(document.querySelectorAll('.ms-DetailsRow')).map(r => r.innerText)"
        )
        for trial_id, value in finals.items():
            (row,) = [r for r in rows if trial_id in r]
            cells = [c.strip() for c in row.split("\n") if c.strip()]
            saved = value["_config"]
            # The values on screen are the ones in this trial's run/config.yaml.
            for key in ("neumann_steps", "inner_steps"):
                assert str(saved["strategy"][key]) in cells, (key, saved["strategy"], cells)
            assert str(value["arch_code"]) in cells, (value["arch_code"], cells)
            shown = f"{value['default']:.6f}".rstrip("0")[:6]  # the UI rounds the metric
            assert shown in row, f"final metric {value['default']} ({shown}) not shown:\n{row}"


def _re_escape(s: str) -> str:
    import re

    return re.escape(s)


def test_nnictl_with_the_optuna_tuner(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna", reason="install idarts-plugin[optuna]")
    import subprocess

    env = sandbox_env(tmp_path)
    done = subprocess.run(
        [str(NNICTL.parent / "idarts"), "nni-register"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "registered OptunaTPE" in done.stdout
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    cfg = tiny_config("config-optuna.yml")
    cfg["tuner"]["classArgs"].update({"storage": storage, "study_name": "nni-test"})
    with nnictl_experiment(tmp_path, cfg) as exp:
        finals = check_trials(exp)
    study = optuna.load_study(study_name="nni-test", storage=storage)
    trials = study.trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"], trials
    assert sorted(t.value for t in trials) == sorted(v["default"] for v in finals.values())
    assert {t.user_attrs["arch_code"] for t in trials} == {v["arch_code"] for v in finals.values()}
    assert all(t.intermediate_values for t in trials)  # from the NNI manager, not from disk
    from idarts_plugin.integrations.trials import USER_ATTRS, arch_from_code

    for t in trials:
        assert set(USER_ATTRS) <= set(t.user_attrs)
        assert t.user_attrs["arch_string"] == arch_from_code(t.user_attrs["arch_code"])
        assert t.user_attrs["run_dir"].endswith(f"{t.user_attrs['nni_trial_job_id']}/run")
    assert {t.user_attrs["nni_trial_job_id"] for t in trials} == set(finals)
    # The sampled parameters are the ones the trials ran with.
    for t in trials:
        assert 0 <= t.params["strategy.neumann_steps"] <= 5
