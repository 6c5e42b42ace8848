"""A data-parallel search (Lightning DDP, gloo, 2 CPU processes) against one process.

The two ranks are started the way ``torchrun`` starts them (MASTER_ADDR/PORT, WORLD_SIZE, RANK,
LOCAL_RANK in the environment), each with its own ``--run-dir`` so that anything rank 1 wrote
would show. The single process runs on the union of both ranks' batches (twice the batch).
The cell space uses GroupNorm: with per-batch BatchNorm the ranks normalise over their own
shards, which is DDP's usual semantics but not the union batch's.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import requires_nni

pytestmark = [requires_nni, pytest.mark.slow]

CONFIG = {
    "space": {
        "name": "cell",
        "options": {
            "nodes": 2,
            "ops": ["none", "skip_connect", "conv_3x3", "avg_pool_3x3"],
            "channels": 4,
            "stages": 1,
            "norm": "group",
        },
    },
    "data": {"name": "digits", "limit": 256},
    # The default β-decay stays on (DDP must apply it identically); the early stop is off so
    # that both epochs run whatever a 2-epoch toy search's α look like.
    "strategy": {"name": "implicit", "neumann_steps": 2, "early_stop": "off"},
    "trainer": {
        "epochs": 2,
        "batch_size": 16,
        "limit_batches": 3,
        "threads": 1,
        "device": "cpu",
        "precision": 64,
        "progress_bar": False,
    },
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _search(cfg: Path, run_dir: Path, *extra: str, env: dict[str, str] | None = None):
    cmd = [sys.executable, "-m", "idarts_plugin.cli", "search", str(cfg)]
    cmd += ["--run-dir", str(run_dir), *(a for x in extra for a in ("--set", x))]
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _arch_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("architecture:")]
    assert len(lines) == 1, output[-3000:]
    return lines[0]


def _state(run_dir: Path) -> dict[str, torch.Tensor]:
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    return {k: v for k, v in ckpt["state_dict"].items() if v.is_floating_point()}


def test_two_gloo_ranks_match_one_process_on_the_union_batch(tmp_path: Path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    port = _free_port()
    procs = []
    for rank in (0, 1):
        env = dict(os.environ)
        env.update(
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            WORLD_SIZE="2",
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            NODE_RANK="0",
        )
        procs.append(_search(cfg, tmp_path / f"rank{rank}", "trainer.devices=2", env=env))
    single = _search(cfg, tmp_path / "single", "trainer.batch_size=32")
    outs = []
    try:
        for p in [*procs, single]:
            out, _ = p.communicate(timeout=300)
            assert p.returncode == 0, out[-3000:]
            outs.append(out)
    finally:
        for p in [*procs, single]:
            if p.poll() is None:
                p.kill()

    # Both ranks export the same architecture, the one the union-batch run finds.
    assert _arch_line(outs[0]) == _arch_line(outs[1]) == _arch_line(outs[2])
    # Only rank 0 wrote: rank 1's run directory was never even created.
    assert not (tmp_path / "rank1").exists()
    assert (tmp_path / "rank0" / "summary.json").is_file()
    # α (and the weights) after 2 epochs × 3 steps equal the union-batch run's.
    ddp, ref = _state(tmp_path / "rank0"), _state(tmp_path / "single")
    assert ddp.keys() == ref.keys()
    alphas = [k for k in ddp if k.endswith("_arch_alpha")]
    assert len(alphas) == 3
    for key in ddp:
        torch.testing.assert_close(ddp[key], ref[key], rtol=1e-9, atol=1e-12, msg=key)
    import csv

    with open(tmp_path / "rank0" / "metrics.csv") as fh:
        metrics = list(csv.DictReader(fh))
    assert [float(r["alpha_rank_max_diff"]) for r in metrics] == [0.0, 0.0]


def test_lightning_launches_the_second_rank_with_the_same_run_directory(tmp_path: Path):
    """``idarts search --set trainer.devices=2``: Lightning starts rank 1 itself."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}
    env["MASTER_PORT"] = str(_free_port())
    sets = ["--set", "trainer.devices=2", "--set", f"output.dir={tmp_path / 'runs'}"]
    out = subprocess.run(
        [sys.executable, "-m", "idarts_plugin.cli", "search", str(cfg), "--no-progress", *sets],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    dirs = [line for line in out.stdout.splitlines() if line.startswith("run directory:")]
    assert len(dirs) == 2 and dirs[0] == dirs[1], out.stdout
    (run,) = (tmp_path / "runs").iterdir()
    assert (run / "summary.json").is_file()
