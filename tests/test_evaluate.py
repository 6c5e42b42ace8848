"""Retraining the derived architecture; parameter and FLOP counts against hand counts."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from idarts_plugin.config import RunConfig
from idarts_plugin.evaluate import count_flops, count_parameters
from idarts_plugin.outputs import plot_cell
from tests.conftest import requires_nni


def test_flops_and_params_match_a_hand_count():
    net = nn.Sequential(
        nn.Conv2d(
            3, 4, 3, padding=1, bias=False
        ),  # 8*8 outputs * 4 ch * (3*3*3) = 6912 MACs, 108 params
        nn.ReLU(),
        nn.Conv2d(
            4, 4, 3, padding=1, groups=4, bias=True
        ),  # 8*8*4 * (3*3*1) = 2304 MACs, 36+4 params
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 10),  # 40 MACs, 50 params
    )
    assert count_parameters(net) == 108 + 40 + 50
    assert count_flops(net, (3, 8, 8)) == 6912 + 2304 + 40


@pytest.mark.parametrize(
    ("c_in", "c_out", "k", "groups", "size", "stride"),
    [(5, 7, 3, 1, 6, 1), (6, 9, 5, 3, 11, 2), (4, 4, 1, 4, 7, 1)],
)
def test_conv_flops_match_the_closed_form(c_in, c_out, k, groups, size, stride):
    """MACs of a convolution: C_in/g · C_out · k² · H_out · W_out (a multiply-add counts once)."""
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, groups=groups, bias=True)
    out = (size + 2 * (k // 2) - k) // stride + 1
    assert count_flops(conv, (c_in, size, size)) == (c_in // groups) * c_out * k * k * out * out


def test_flops_count_matmuls_beyond_conv_and_linear_modules():
    """torch's flop counter sees a bare matmul, which module hooks never did."""

    class Bilinear(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(12, 5))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.flatten(1) @ self.w

    assert count_flops(Bilinear(), (3, 2, 2)) == 12 * 5


def test_plot_cell(tmp_path):
    from idarts_plugin.nb201 import arch_to_nni

    arch = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
    assert plot_cell(arch_to_nni(arch), tmp_path / "cell.png", title=arch)
    assert (tmp_path / "cell.png").read_bytes()[:4] == b"\x89PNG"
    assert not plot_cell({"other": 1}, tmp_path / "none.png")


@requires_nni
@pytest.mark.slow
def test_evaluate_a_finished_digits_run(tmp_path, capsys):
    from idarts_plugin.cli import main
    from idarts_plugin.search import run_search

    cfg = RunConfig.from_dict(
        {
            "space": {
                "name": "nas-bench-201",
                "options": {"stem_channels": 8, "cells_per_stage": 1},
            },
            "data": {"name": "digits"},
            "trainer": {"epochs": 1, "batch_size": 64, "limit_batches": 3, "progress_bar": False},
        }
    )
    run_search(cfg, run_dir=tmp_path / "run")
    assert main(["evaluate", str(tmp_path / "run"), "--epochs", "4", "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert len(report["test_accs"]) == 2
    # 10 classes: chance is 0.1; a few epochs of SGD on digits get far above it.
    assert report["test_acc_mean"] > 0.5, report
    assert report["params"] > 0 and report["flops"] > 0
    assert "test accuracy" in out
    assert (tmp_path / "run" / "cell.png").is_file()
    torch.testing.assert_close(
        torch.tensor(report["test_acc_mean"]), torch.tensor(sum(report["test_accs"]) / 2)
    )


def test_evaluate_rejects_a_non_run(tmp_path, capsys):
    from idarts_plugin.cli import main

    assert main(["evaluate", str(tmp_path)]) == 2
    assert "not a finished" in capsys.readouterr().err
