"""`idarts nni-trial` killed by SIGTERM / SIGINT: no final result, a non-zero exit, resumable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import requires_nni
from tests.helpers import interrupt, killed_on_exit, wait_for_file

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "examples" / "configs" / "digits-nb201.yaml"


@requires_nni
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signalled_trial_is_not_complete(tmp_path: Path, sig: int, code: int):
    """nnictl records a trial by its exit status and its final result: after a signal there
    must be neither a 0 nor a FINAL (NNI's standalone channel logs what a trial reports)."""
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "NNI_OUTPUT_DIR": str(tmp_path / "trial"),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [
        sys.executable, "-m", "idarts_plugin.cli", "nni-trial", str(BASE),
        "--set", "trainer.epochs=3", "--set", "trainer.batch_size=16",
        "--set", "space.options.stem_channels=4", "--set", "data.limit=512",
        "--set", "trainer.threads=1",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    ckpt = tmp_path / "trial" / "run" / "checkpoints" / "last.ckpt"
    with killed_on_exit(proc):
        wait_for_file(proc, ckpt)
        out, _ = interrupt(proc, sig)
    assert proc.returncode == code, out[-3000:]
    assert "Intermediate result" in out  # the channel's log is visible ...
    assert "Final result" not in out  # ... and nothing final was reported
    assert "interrupted at epoch 1 — resume with: idarts search --resume" in out
    assert "Traceback" not in out
    summary = json.loads((tmp_path / "trial" / "run" / "summary.json").read_text())
    assert summary["interrupted"] is True
