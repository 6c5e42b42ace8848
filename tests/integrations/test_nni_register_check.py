"""An unregistered Optuna tuner fails loudly before nnictl starts, not 10 s after 'success'."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import requires_nni

from .nnictl_harness import NNICTL, sandbox_env

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "nnictl" / "config-optuna.yml"
pytestmark = [
    requires_nni,
    pytest.mark.skipif(not NNICTL.is_file(), reason=f"nnictl not found at {NNICTL}"),
]


def _idarts(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NNICTL.parent / "idarts"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_nni_check_fails_until_the_tuner_is_registered(tmp_path):
    pytest.importorskip("optuna", reason="install idarts-plugin[optuna]")
    env = sandbox_env(tmp_path)  # a fresh NNI config dir: nothing registered
    before = _idarts(env, "nni-check", "--config", str(CONFIG))
    assert before.returncode == 2, before
    (line,) = before.stderr.strip().splitlines()
    assert "'OptunaTPE' is not registered" in line and "idarts nni-register" in line
    assert _idarts(env, "nni-register").returncode == 0
    after = _idarts(env, "nni-check", "--config", str(CONFIG))
    assert after.returncode == 0 and "OptunaTPE is registered" in after.stdout, after
    plain = _idarts(env, "nni-check", "--config", str(CONFIG.with_name("config.yml")))
    assert plain.returncode == 0 and "none of our tuners" in plain.stdout
