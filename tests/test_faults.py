"""Fault injection: NaN batches, a diverging Neumann series, a run of non-finite steps, a
read-only or full output directory. Each ends in the documented behaviour with no completed
epoch lost. (A SIGKILL in the middle of an epoch, then ``--resume``, is
``tests/test_search.py::test_resume_after_sigkill_matches_uninterrupted``.)"""

from __future__ import annotations

import csv
import logging
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch

from idarts_plugin.config import RunConfig
from tests.conftest import requires_nni
from tests.test_search import tiny_config

pytestmark = requires_nni


def _config(**strategy: Any) -> RunConfig:
    raw = tiny_config("implicit", epochs=2, limit_batches=4)
    raw["strategy"].update({"early_stop": "off", **strategy})  # every epoch runs
    return RunConfig.from_dict(raw)


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv") as fh:
        return list(csv.DictReader(fh))


def _poison(where: str, at: set[tuple[int, int]]) -> Any:
    """A Lightning callback that fills the inputs of chosen (epoch, batch) with NaN and
    records the model's state around those steps."""
    import pytorch_lightning as pl

    class Poison(pl.Callback):
        def __init__(self) -> None:
            self.before: dict[tuple[int, int], dict[str, torch.Tensor]] = {}
            self.after: dict[tuple[int, int], dict[str, torch.Tensor]] = {}

        @staticmethod
        def _state(pl_module: Any) -> dict[str, torch.Tensor]:
            return {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            key = (trainer.current_epoch, batch_idx)
            if key in at:
                batch[where][0].fill_(float("nan"))
                self.before[key] = self._state(pl_module)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            key = (trainer.current_epoch, batch_idx)
            if key in at:
                self.after[key] = self._state(pl_module)

    return Poison()


@pytest.mark.slow
def test_nan_in_one_training_batch_skips_that_step_and_goes_on(tmp_path: Path, caplog):
    from idarts_plugin.search import run_search

    poison = _poison("train", {(0, 1)})
    with caplog.at_level(logging.WARNING, logger="idarts_plugin"):
        result = run_search(_config(), run_dir=tmp_path / "run", callbacks=[poison])
    assert result.epochs == 2
    before, after = poison.before[(0, 1)], poison.after[(0, 1)]
    for key, value in before.items():  # weights, α, BatchNorm statistics: all untouched
        assert torch.equal(value, after[key]), key
    assert all(torch.isfinite(v).all() for v in after.values() if v.is_floating_point())
    rows = _rows(tmp_path / "run")
    assert [int(float(r["skipped_weight_steps"])) for r in rows] == [1, 0]
    assert [int(float(r["skipped_arch_steps"])) for r in rows] == [1, 0]  # Hessian terms too
    assert "weight step skipped" in caplog.text and "architecture step skipped" in caplog.text
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    assert all(
        torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point()
    )
    assert math.isfinite(float(rows[-1]["supernet_val_acc"]))


@pytest.mark.slow
def test_nan_in_one_validation_batch_skips_only_the_architecture_step(tmp_path: Path):
    from idarts_plugin.search import run_search

    poison = _poison("val", {(1, 2)})
    run_search(_config(), run_dir=tmp_path / "run", callbacks=[poison])
    before, after = poison.before[(1, 2)], poison.after[(1, 2)]
    alphas = [k for k in before if k.endswith("_arch_alpha")]
    assert alphas and all(torch.equal(before[k], after[k]) for k in alphas)  # α kept
    weights = [k for k in before if k.endswith("weight") and "_arch_" not in k]
    assert any(not torch.equal(before[k], after[k]) for k in weights)  # weights trained
    rows = _rows(tmp_path / "run")
    assert [int(float(r["skipped_arch_steps"])) for r in rows] == [0, 1]
    assert [int(float(r["skipped_weight_steps"])) for r in rows] == [0, 0]


@pytest.mark.slow
def test_nonfinite_steps_in_a_row_stop_cleanly_and_the_search_resumes(tmp_path: Path):
    from idarts_plugin.runtime import SearchError
    from idarts_plugin.search import run_search

    cfg = _config(max_nonfinite_steps=3)
    poison = _poison("train", {(1, b) for b in range(4)})
    with pytest.raises(SearchError, match=r"3 steps in a row.*last complete epoch"):
        run_search(cfg, run_dir=tmp_path / "run", callbacks=[poison])
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=False)
    assert state["epoch"] == 0  # epoch 0 completed and kept
    assert all(
        torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point()
    )
    assert len(_rows(tmp_path / "run")) == 1
    resumed = run_search(cfg, run_dir=tmp_path / "run", resume=True)
    assert resumed.epochs == 2 and len(_rows(tmp_path / "run")) == 2


@pytest.mark.slow
def test_a_diverging_neumann_series_is_truncated_not_fatal(tmp_path: Path):
    from idarts_plugin.search import run_search

    # Inside a search the solver's per-step warning is replaced by one line per epoch
    # (tests/integrations/test_warning_lines.py); the count is in metrics.csv.
    result = run_search(_config(neumann_lr=1.0e4, neumann_steps=5), run_dir=tmp_path / "run")
    rows = _rows(tmp_path / "run")
    assert result.epochs == 2
    assert sum(float(r["hg_diverged_steps"]) for r in rows) > 0
    assert all(float(r["hg_nonfinite_steps"]) == 0 for r in rows)
    assert all(p == p for dist in result.probs.values() for p in dist.values())  # no NaN


def _mount_tmpfs(path: Path, options: str) -> bool:
    """Mount a tmpfs with ``options`` on a new directory ``path`` (root only)."""
    path.mkdir()
    if os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
    )
    return done.returncode == 0


def _mount_read_only(path: Path) -> bool:
    if os.geteuid() != 0:
        path.mkdir()
        path.chmod(0o500)
        return True
    return _mount_tmpfs(path, "ro,size=1m")


@pytest.mark.slow
def test_a_read_only_output_directory_is_reported_before_the_search(tmp_path: Path, capsys):
    import yaml

    from idarts_plugin.cli import main

    ro = tmp_path / "ro"
    if not _mount_read_only(ro):
        pytest.skip("running as root without permission to mount a read-only tmpfs")
    try:
        cfg = tmp_path / "cfg.yaml"
        cfg.write_text(yaml.safe_dump(tiny_config()))
        assert main(["search", str(cfg), "--run-dir", str(ro / "run")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert "not writable" in err and str(ro / "run") in err and "output.dir" in err
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(ro)], check=False)
        else:
            ro.chmod(0o700)


def test_a_full_disk_is_reported_before_the_search(tmp_path: Path, monkeypatch, capsys):
    import yaml

    from idarts_plugin import outputs
    from idarts_plugin.cli import main

    monkeypatch.setattr(outputs, "_free_mb", lambda path: 3.0)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config()))
    assert main(["search", str(cfg), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "only 3 MB free" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run" / "config.yaml").exists()


def test_a_really_small_file_system_is_reported_before_the_search(tmp_path: Path, capsys):
    """A real 4 MB file system (tmpfs), not a patched free-space probe."""
    import yaml

    from idarts_plugin.cli import main

    small = tmp_path / "small"
    if not _mount_tmpfs(small, "size=4m"):
        pytest.skip("needs root and permission to mount a tmpfs")
    try:
        cfg = tmp_path / "cfg.yaml"
        cfg.write_text(yaml.safe_dump(tiny_config()))
        assert main(["search", str(cfg), "--run-dir", str(small / "run")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "MB free" in err and str(small / "run") in err
        assert not (small / "run" / "config.yaml").exists()
    finally:
        subprocess.run(["umount", str(small)], check=False)
