"""``idarts`` subcommands' own output (what they print, not the searches behind them)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml


def test_tune_never_prints_the_storage_password(tmp_path, monkeypatch, capsys):
    pytest.importorskip(
        "optuna", reason="optuna not installed: pip install 'idarts-plugin[optuna]'"
    )
    import idarts_plugin.integrations.optuna as tune_module
    from idarts_plugin.cli import main

    (tmp_path / "base.yaml").write_text(
        yaml.safe_dump({"data": {"name": "digits"}, "strategy": {"name": "implicit"}})
    )
    tune = tmp_path / "tune.yaml"
    tune.write_text(
        yaml.safe_dump(
            {
                "base": "base.yaml",
                "params": {"optimizer.lr": {"type": "float", "low": 0.01, "high": 0.1}},
            }
        )
    )
    seen: dict[str, str] = {}

    class NoTrials(SimpleNamespace):
        @property
        def best_trial(self):
            raise ValueError("no completed trial")  # as Optuna says for an empty study

    def fake_run_study(cfg, *, study_name, storage, n_trials, timeout):
        seen["storage"] = storage  # the real URL still reaches Optuna
        return NoTrials(study_name=study_name, trials=[], directions=[1], best_trials=[])

    monkeypatch.setattr(tune_module, "run_study", fake_run_study)
    url = "postgresql://me:s3cret@localhost:5432/optuna"
    argv = ["tune", str(tune), "--study", "s", "--storage", url, "--n-trials", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert seen["storage"] == url
    assert "s3cret" not in out
    assert out.count("postgresql://me:***@localhost:5432/optuna") == 3, out
    assert "password hidden" in out


def test_the_dashboard_command_keeps_a_url_without_a_password(tmp_path: Path):
    from idarts_plugin.cli import dashboard_command

    url = f"sqlite:///{tmp_path}/a b.db"
    command = dashboard_command(url).split("   ")[0]
    assert command == f"optuna-dashboard '{url}'"
    assert "password hidden" not in dashboard_command(url)
