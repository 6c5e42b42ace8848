"""Run several ``idarts tune`` workers at once on one study, as separate processes.

Each worker runs in the directory of its tune file: give every worker a directory of its own
to simulate workers on different hosts (nothing shared but the storage URL), or one tune file
to several workers for workers on one host.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def run_workers(
    tune_files: Sequence[Path], storage: str, *, n_trials: int, study: str = "shared"
) -> list[Any]:
    """Start one worker per tune file together, wait for all; return the study's trials.

    Checks that every worker exits 0 and that the study holds ``len(tune_files) * n_trials``
    trials, numbered without gaps or duplicates, all COMPLETE (else the fail reasons).
    """
    import optuna

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = []
    try:
        for path in tune_files:
            cmd = [sys.executable, "-m", "idarts_plugin.cli", "tune", str(path), "--study", study]
            cmd += ["--storage", storage, "--n-trials", str(n_trials)]
            workers.append(
                subprocess.Popen(
                    cmd,
                    cwd=path.parent,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        outs = [w.communicate(timeout=600)[0] for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait(timeout=30)
    for w, out in zip(workers, outs, strict=True):
        assert w.returncode == 0, out
    trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    expected = len(tune_files) * n_trials
    assert sorted(t.number for t in trials) == list(range(expected)), trials  # none lost or twice
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials), [
        (t.state.name, t.user_attrs.get("fail_reason")) for t in trials
    ]
    return trials
