"""The per-epoch rows, built without a trainer (the recorder only gathers their inputs)."""

from __future__ import annotations

import pytest

from idarts_plugin.metrics import alpha_row, epoch_row

PROBS = {
    "cell/0_1": {"none": 0.1, "conv_3x3": 0.9},
    "cell/0_2": {"none": 0.5, "skip_connect": 0.5},
}
EXPORT = {"cell/0_1": "conv_3x3", "cell/0_2": "skip_connect"}


def test_row_columns_in_the_files_order():
    diags = [
        {"val_loss": 1.0, "direct_norm": 2.0, "step_curvature": 0.5, "growing": 1.0},
        {"val_loss": 3.0, "direct_norm": 4.0, "step_curvature": 1.5, "diverged": 1.0},
    ]
    row = epoch_row(
        3,
        seconds=2.0,
        probs=PROBS,
        export=EXPORT,
        supernet_val_acc=0.25,
        arch="ARCH",
        trainer_metrics={"train_loss": 0.5, "train_acc": 0.75, "other": 1.0},
        diags=diags,
        skipped=(1, 2),
        rank_spread=0.0,
    )
    assert list(row) == [
        "epoch",
        "seconds",
        "train_loss",
        "train_acc",
        "val_loss",
        "supernet_val_acc",
        "alpha_entropy_mean",
        "alpha_entropy_min",
        "alpha_margin_min",
        "decided_edges",
        "param_free_share",
        "hg_direct_norm",
        "hg_step_curvature",
        "hg_step_curvature_max",
        "hg_growing_steps",
        "hg_diverged_steps",
        "hg_nonfinite_steps",
        "skipped_weight_steps",
        "skipped_arch_steps",
        "alpha_rank_max_diff",
        "arch",
        "entropy:cell/0_1",
        "entropy:cell/0_2",
        "margin:cell/0_1",
        "margin:cell/0_2",
    ]
    assert row["val_loss"] == 2.0 and row["hg_direct_norm"] == 3.0
    assert row["hg_step_curvature_max"] == 1.5 and row["hg_growing_steps"] == 1
    assert row["hg_diverged_steps"] == 1.0 and row["hg_nonfinite_steps"] == 0.0
    assert row["decided_edges"] == 1 and row["param_free_share"] == 0.5
    assert row["margin:cell/0_1"] == pytest.approx(0.8)
    assert row["entropy:cell/0_2"] == pytest.approx(1.0)


def test_row_without_diagnostics_or_optional_inputs():
    row = epoch_row(0, seconds=1.0, probs={}, export={}, supernet_val_acc=0.5, arch="")
    assert row == {"epoch": 0, "seconds": 1.0, "supernet_val_acc": 0.5, "arch": ""}


def test_alpha_row():
    assert alpha_row(1, PROBS) == {
        "epoch": 1,
        "cell/0_1:none": 0.1,
        "cell/0_1:conv_3x3": 0.9,
        "cell/0_2:none": 0.5,
        "cell/0_2:skip_connect": 0.5,
    }
