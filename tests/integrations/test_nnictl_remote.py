"""nnictl's remote (SSH) training service: trials on "another host", the tuner told only by NNI.

A private sshd on a loopback port (``tests/integrations/sshd.py``) is the other host: what runs
over SSH has its own ``HOME``, so NNI's remote side (``~/nni-experiments``) lies apart from
the local experiment directory, and nothing is shared by accident. The experiment is
``examples/nnictl/config-remote.yml`` with the Optuna-backed tuner, 2 tiny trials. Checked:
the web UI (headless Chromium) shows each trial's true ``param:`` columns and ``arch_code``,
and the Optuna study holds the vocabulary a local run gets. Skips with the reason where sshd
cannot run.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import requires_nni

from .nnictl_harness import BIN, NNICTL, Experiment, kill_sandbox, nnictl_experiment, sandbox_env
from .sshd import SshdUnavailableError, ssh_server
from .test_nnictl import EPOCHS, EXAMPLE, TINY, _check_web_ui

pytest.importorskip("psutil", reason="the nnictl tests need psutil (an NNI dependency)")
optuna = pytest.importorskip("optuna", reason="install idarts-plugin[optuna]")

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    requires_nni,
    pytest.mark.slow,
    pytest.mark.skipif(not NNICTL.is_file(), reason=f"nnictl not found at {NNICTL}"),
]

#: What every SSH session gets: NNI's remote worker runs ``pip install nni --upgrade`` on the
#: machine; with no index and no pip config it finds nni installed and changes nothing.
SESSION_ENV = {"PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": "/dev/null", "OMP_NUM_THREADS": "1"}


def remote_config(server: Any, storage: str) -> dict[str, Any]:
    """The example remote config pointed at the test sshd, with 2 tiny trials."""
    cfg = yaml.safe_load((EXAMPLE / "config-remote.yml").read_text())
    cfg["searchSpaceFile"] = str(EXAMPLE / cfg["searchSpaceFile"])
    cfg["trialCodeDirectory"] = str((EXAMPLE / cfg["trialCodeDirectory"]).resolve())
    cfg["trialCommand"] += TINY
    cfg["maxTrialNumber"] = 2
    cfg["trialConcurrency"] = 2
    cfg.pop("maxExperimentDuration", None)
    cfg["nniManagerIp"] = "127.0.0.1"
    cfg["tuner"]["classArgs"].update({"storage": storage, "study_name": "nni-remote"})
    cfg["trainingService"]["machineList"] = [
        {
            "host": server.host,
            "port": server.port,
            "user": server.user,
            "sshKeyFile": str(server.key_file),
            "pythonPath": str(BIN),
        }
    ]
    return cfg


def remote_run_dir(remote_home: Path, exp_id: str, trial_id: str) -> Path:
    """Where the trial's run lies on the "remote host" (the test's oracle; the tuner never looks)."""
    found = sorted((remote_home / "nni-experiments" / exp_id).glob(f"**/trials/{trial_id}/run"))
    assert len(found) == 1, f"run directory of {trial_id} under {remote_home}: {found}"
    return found[0]


def check_remote_trials(exp: Experiment, remote_home: Path) -> dict[str, dict[str, Any]]:
    """Both trials succeeded on the remote side; their finals match their own run dirs."""
    from idarts_plugin.integrations.trials import arch_code

    status = exp.wait_until_done(timeout=300)
    assert status == "DONE", f"experiment ended {status}\n{exp.logs()}"
    trials = exp.get("trial-jobs")
    assert len(trials) == 2 and all(t["status"] == "SUCCEEDED" for t in trials), (
        f"{trials}\n{exp.logs()}"
    )
    metrics = exp.metrics()
    finals = {}
    for t in trials:
        job = t["trialJobId"]
        rows = metrics.get(job, [])
        (final,) = [r["value"] for r in rows if r["type"] == "FINAL"]
        periodical = [r["value"] for r in rows if r["type"] == "PERIODICAL"]
        assert [p["epoch"] for p in periodical] == list(range(EPOCHS)), periodical
        # Numbers only (text only for the search space's own choices, param:<key>).
        for key, v in final.items():
            assert isinstance(v, (int, float)) or key.startswith("param:"), (key, v)
        run_dir = remote_run_dir(remote_home, exp.id, job)
        assert not str(run_dir).startswith(str(exp.root / "exp")), "not on the remote side"
        summary = json.loads((run_dir / "summary.json").read_text())
        saved = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert final["arch_code"] == arch_code(summary["arch_string"])
        assert final["param:strategy.neumann_steps"] == saved["strategy"]["neumann_steps"]
        assert final["param:strategy.inner_steps"] == saved["strategy"]["inner_steps"]
        finals[job] = {
            **final,
            "_config": saved,
            "_summary": summary,
            "_periodical": periodical,
            "_run_dir": run_dir,
        }
    return finals


def test_nnictl_remote_training_service_with_the_optuna_tuner(tmp_path: Path) -> None:
    from idarts_plugin.integrations.trials import USER_ATTRS, numeric_metrics

    env = sandbox_env(tmp_path)
    done = subprocess.run(
        [str(BIN / "idarts"), "nni-register"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    try:
        server_cm = ssh_server(tmp_path / "ssh", env=SESSION_ENV)
        server = server_cm.__enter__()
    except SshdUnavailableError as exc:
        pytest.skip(f"cannot start a test sshd: {exc}")
    try:
        with nnictl_experiment(tmp_path, remote_config(server, storage)) as exp:
            finals = check_remote_trials(exp, server.remote_home)
            _check_web_ui(exp, finals, tmp_path / "chromium-profile")
    finally:
        server_cm.__exit__(None, None, None)
    assert not kill_sandbox(env), "processes survived nnictl stop"
    assert not kill_sandbox({"HOME": str(server.remote_home)}), "remote processes survived"

    # The study behind the tuner: the vocabulary of a local run, learnt through NNI alone.
    study = optuna.load_study(study_name="nni-remote", storage=storage)
    assert study.metric_names == ["supernet_val_acc"]
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"], study.trials
    own = {"nni_parameter_id", "nni_trial_job_id"}
    for trial in study.trials:
        job = trial.user_attrs["nni_trial_job_id"]
        value, summary = finals[job], finals[job]["_summary"]
        assert set(trial.user_attrs) - own == set(USER_ATTRS)
        assert trial.value == pytest.approx(value["default"])
        assert trial.user_attrs["arch_string"] == summary["arch_string"]
        assert trial.user_attrs["architecture"] == summary["architecture"]
        assert trial.user_attrs["arch_code"] == value["arch_code"]
        assert trial.user_attrs["epochs"] == EPOCHS == summary["epochs"]
        assert set(trial.user_attrs["diagnostics"]) == set(numeric_metrics(summary["metrics"]))
        assert trial.intermediate_values == pytest.approx(
            {p["epoch"]: p["default"] for p in value["_periodical"]}
        )
        # Where the run lies on the trial's host, as NNI reports it: information only.
        # NNI 3.0 says "<host>:~/nni-experiments/<exp>/environments/<env>/trials/<id>".
        host, _, path = str(trial.user_attrs["run_dir"]).partition(":")
        assert host == server.host and path.startswith("~/"), trial.user_attrs["run_dir"]
        assert server.remote_home / path[2:] == value["_run_dir"]
        # The parameters the study sampled are the ones the trial ran with.
        saved = value["_config"]
        assert trial.params["strategy.neumann_steps"] == saved["strategy"]["neumann_steps"]
        assert trial.params["strategy.inner_steps"] == saved["strategy"]["inner_steps"]
