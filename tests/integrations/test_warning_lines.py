"""A diverging Neumann series is one log line per epoch with a key the user can set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import requires_nni

ROOT = Path(__file__).resolve().parents[2]


@requires_nni
@pytest.mark.slow
def test_divergence_is_one_line_per_epoch_with_applicable_advice(tmp_path):
    epochs = 2
    cmd = [sys.executable, "-m", "idarts_plugin.cli", "search"]
    cmd += [str(ROOT / "examples" / "configs" / "digits-nb201.yaml"), "--no-progress"]
    for item in (
        f"trainer.epochs={epochs}",
        "trainer.limit_batches=4",
        "trainer.batch_size=16",
        "trainer.threads=1",
        "space.options.stem_channels=4",
        "data.limit=256",
        "strategy.warmup_epochs=0",
        "strategy.neumann_steps=10",
        "strategy.neumann_lr=50.0",  # far beyond 2/λ: every solve diverges
        f"output.dir={tmp_path}",
    ):
        cmd += ["--set", item]
    done = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr
    err = done.stderr
    assert "NeumannDivergenceWarning" not in err and "warnings.warn" not in err, err
    assert "Neumann series diverged at term" not in err, err  # no per-step lines
    lines = [line for line in err.splitlines() if "Neumann series grew" in line]
    assert 1 <= len(lines) <= epochs, err
    import re

    for line in lines:
        assert "strategy.neumann_lr=safe" in line
        found = re.search(r"diverged \(truncated\) in (\d+) of (\d+)", line)
        assert found and int(found.group(1)) > 0, line
