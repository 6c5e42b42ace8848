"""End-to-end searches on tiny NAS-Bench-201 spaces: Python API, NasExperiment and CLI."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from idarts_plugin.collapse import parameter_free_share
from idarts_plugin.config import RunConfig
from tests.conftest import requires_nni
from tests.helpers import interrupt, killed_on_exit, wait_for_file

pytestmark = [requires_nni, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
STRATEGY_NAMES = ["implicit", "unrolled", "amended", "darts", "gumbel"]


def tiny_config(strategy: str = "implicit", **trainer) -> dict:
    return {
        "space": {"name": "nas-bench-201", "options": {"stem_channels": 4, "cells_per_stage": 1}},
        "data": {"name": "digits", "limit": 256},
        "strategy": {"name": strategy},
        "trainer": {
            "epochs": 1,
            "batch_size": 32,
            "limit_batches": 2,
            "progress_bar": False,
            **trainer,
        },
    }


def assert_valid_nb201_run(run_dir: Path) -> str:
    from idarts_plugin.nb201 import parse_arch

    summary = json.loads((run_dir / "summary.json").read_text())
    parse_arch(summary["arch_string"])  # raises if not a valid cell
    for name in (
        "config.yaml",
        "architecture.json",
        "alpha_history.csv",
        "metrics.csv",
        "alpha.png",
    ):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert len(summary["architecture"]) == 6
    decision = summary["decision"]
    assert decision["verdict"]["text"].startswith(("decided", "undecided"))
    assert len(decision["edges"]) == 6
    assert {"top", "margin", "entropy"} <= set(next(iter(decision["edges"].values())))
    assert decision["arc_learning_rate"] > 0 and "effective_arch" in decision
    assert 0.0 <= decision["param_free_share"] <= 1.0
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert sum(h.startswith("margin:") for h in header) == 6
    assert "decided_edges" in header
    return summary["arch_string"]


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_run_search_api(tmp_path, strategy):
    from idarts_plugin.search import run_search

    cfg = RunConfig.from_dict(tiny_config(strategy))
    result = run_search(cfg, run_dir=tmp_path / "run")
    assert_valid_nb201_run(tmp_path / "run")
    assert result.epochs == 1
    assert 0.0 <= result.metrics["supernet_val_acc"] <= 1.0
    if strategy not in ("darts", "gumbel"):
        assert float(result.metrics["hg_n_hvp"]) >= 1
        assert float(result.metrics["hg_implicit_norm"]) > 0


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_cli_search(tmp_path, strategy, capsys):
    import yaml

    from idarts_plugin.cli import main

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config(strategy)))
    code = main(["search", str(cfg), "--run-dir", str(tmp_path / "run"), "--set", "trainer.seed=3"])
    assert code == 0
    out = capsys.readouterr().out
    arch = assert_valid_nb201_run(tmp_path / "run")
    assert "edges with margin ≥ 0.1" in out  # the verdict line
    assert arch in out
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["trainer"]["seed"] == 3
    assert saved["strategy"]["name"] == strategy


@pytest.mark.parametrize("strategy", [s for s in STRATEGY_NAMES if s != "gumbel"])
def test_nas_experiment(strategy, tmp_path):
    from nni.nas.strategy import DARTS

    from idarts_plugin import AmendedDARTS, ImplicitDARTS, UnrolledDARTS

    make = {
        "implicit": lambda: ImplicitDARTS(neumann_steps=2),
        "unrolled": lambda: UnrolledDARTS(),
        "amended": lambda: AmendedDARTS(),
        "darts": lambda: DARTS(),
    }[strategy]
    _nas_experiment(make(), tmp_path)


def test_nas_experiment_with_every_remedy(tmp_path):
    """The remedies are keywords of the Python strategies too, the early stop included."""
    from idarts_plugin import ImplicitDARTS

    strategy = ImplicitDARTS(
        neumann_steps=1, beta_decay=1.0, aux_skip=1.0, early_stop="collapse", warmup_epochs=0
    )
    _nas_experiment(strategy, tmp_path, epochs=2)


def _nas_experiment(strategy, tmp_path, *, epochs=1):
    from nni.nas.evaluator.pytorch import Classification, DataLoader
    from nni.nas.experiment import NasExperiment
    from nni.nas.hub.pytorch import NasBench201

    from idarts_plugin.data import DataConfig, load_search_data
    from idarts_plugin.nb201 import arch_from_nni

    data = load_search_data(DataConfig(name="digits", limit=128, channels=3), seed=0)
    evaluator = Classification(
        train_dataloaders=DataLoader(data.weight_train, batch_size=32),
        val_dataloaders=DataLoader(data.arch_val, batch_size=32),
        max_epochs=epochs,
        num_classes=data.num_classes,
        export_onnx=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        limit_train_batches=2,
        enable_checkpointing=False,
        default_root_dir=str(tmp_path),
    )
    torch.manual_seed(0)
    space = NasBench201(stem_out_channels=4, num_modules_per_stack=1, num_labels=data.num_classes)
    exp = NasExperiment(space, evaluator, strategy)
    exp.config.execution_engine.name = "sequential"
    try:
        exp.run()
        (top,) = exp.export_top_models(formatter="dict")
    finally:
        exp.stop()
    arch_from_nni(top)  # raises on an invalid cell


def _three_epoch_search(tmp_path, run_dir, **popen):
    """Start a real 3-epoch search process; return it, its command and env, once its first
    checkpoint exists."""
    import yaml

    cfg = tiny_config("implicit", epochs=3, limit_batches=None)
    cfg["data"]["limit"] = 512
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "idarts_plugin.cli", "search", str(cfg_path), "--no-progress"]
    proc = subprocess.Popen([*cmd, "--run-dir", str(run_dir)], env=env, cwd=ROOT, **popen)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    try:
        wait_for_file(
            proc, ckpt, interval=0.02, ended="the search ended before writing its first checkpoint"
        )
    except BaseException:
        proc.kill()
        raise
    return proc, cmd, env


def test_resume_after_sigkill_matches_uninterrupted(tmp_path):
    """Kill a real search process in the middle of its second epoch, resume, compare with a
    clean run: the completed epoch is kept, the interrupted one is redone."""
    killed = tmp_path / "killed"
    proc, cmd, env = _three_epoch_search(tmp_path, killed)
    ckpt = killed / "checkpoints" / "last.ckpt"
    try:
        first = (killed / "metrics.csv").read_text().splitlines()
        header = first[0].split(",")
        epoch_seconds = float(first[1].split(",")[header.index("seconds")])
        # into epoch 1: a quarter of epoch 0's time (epoch 0 also pays λ̂'s first estimate and
        # the start-up, so epoch 1 can be much shorter than epoch 0)
        time.sleep(epoch_seconds / 4)
        assert proc.poll() is None, "the search ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "summary.json").exists(), "killed too late: the search had finished"
    done_before = len((killed / "metrics.csv").read_text().strip().splitlines()) - 1
    assert done_before == 1, "not killed in the middle of epoch 1"
    assert torch.load(ckpt, map_location="cpu", weights_only=False)["epoch"] == 0

    resumed = subprocess.run(
        [*cmd[:4], "--resume", str(killed), "--no-progress"], env=env, cwd=ROOT
    )
    assert resumed.returncode == 0
    clean = subprocess.run([*cmd, "--run-dir", str(tmp_path / "clean")], env=env, cwd=ROOT)
    assert clean.returncode == 0

    a = json.loads((killed / "summary.json").read_text())
    b = json.loads((tmp_path / "clean" / "summary.json").read_text())
    assert a["arch_string"] == b["arch_string"]
    for label, dist in b["probs"].items():
        for op, p in dist.items():
            assert a["probs"][label][op] == pytest.approx(p, rel=1e-5, abs=1e-7)
    rows = (killed / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 3  # header + one row per epoch, none duplicated


BAD_INPUTS = {
    "unknown space": ["--set", "space.name=nas-bench-999"],
    "unknown op": ["--set", "space.name=cell", "--set", "space.options.ops=[conv_3x3,conv_9x9]"],
    "unknown data set": ["--set", "data.name=imagenet-22k"],
    "negative K": ["--set", "strategy.neumann_steps=-1"],
    "unknown key": ["--set", "strategy.neuman_steps=2"],
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2(tmp_path, case, capsys):
    import yaml

    from idarts_plugin.cli import main

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config()))
    code = main(["search", str(cfg), "--run-dir", str(tmp_path / "r"), *BAD_INPUTS[case]])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert "error" in err


def test_malformed_yaml_names_file_and_line(tmp_path, capsys):
    from idarts_plugin.cli import main

    cfg = tmp_path / "broken.yaml"
    cfg.write_text("trainer:\n  epochs: [1, 2\n")
    assert main(["search", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert "broken.yaml" in err and "line" in err and len(err.splitlines()) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only directories")
def test_unwritable_output_dir_fails_before_search(tmp_path, capsys):
    import yaml

    from idarts_plugin.cli import main

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config()))
    assert main(["search", str(cfg), "--run-dir", str(ro / "run")]) == 2
    assert "not writable" in capsys.readouterr().err


def test_unwritable_output_dir_as_root_uses_a_file_in_the_way(tmp_path, capsys):
    """Root ignores permissions, so block the path with a file: still one line, exit 2."""
    import yaml

    from idarts_plugin.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("x")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config()))
    assert main(["search", str(cfg), "--run-dir", str(blocker / "run")]) == 2
    err = capsys.readouterr().err
    assert "not writable" in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error(tmp_path, capsys):
    import yaml

    from idarts_plugin.cli import main

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config(device="cuda")))
    assert main(["search", str(cfg), "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "CUDA" in err and len(err.strip().splitlines()) == 1


def test_console_script_exit_code_in_a_real_process(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("strategy: {name: implicit, neumann_steps: -1}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "idarts_plugin.cli", "search", str(cfg)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "strategy.neumann_steps" in proc.stderr


TABLES = Path(os.environ.get("IDARTS_NB201_TABLES", ROOT.parent / "shared" / "data" / "nb201"))


@pytest.mark.skipif(
    not (TABLES / "vtao_nats_bench.csv.gz").is_file(),
    reason=f"NAS-Bench-201 tables not found at {TABLES}",
)
def test_cifar10_search_records_the_nb201_lookup(tmp_path):
    from idarts_plugin.search import run_search
    from tests.test_data import make_cifar

    make_cifar(tmp_path / "cifar", "cifar10", n=16)
    cfg = RunConfig.from_dict(
        {
            "space": {
                "name": "nas-bench-201",
                "options": {"stem_channels": 4, "cells_per_stage": 1},
            },
            "data": {"name": "cifar10", "root": str(tmp_path / "cifar"), "download": False},
            "trainer": {"epochs": 1, "batch_size": 16, "limit_batches": 2, "progress_bar": False},
            "output": {"nb201_source": str(TABLES)},
        }
    )
    result = run_search(cfg, run_dir=tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    record = summary["nb201"]
    assert record["arch"] == result.arch_string
    cifar10 = record["results"]["cifar10"]
    assert 10.0 <= cifar10["test_acc"] <= 94.38 and 1 <= cifar10["rank"] <= 15625
    assert (tmp_path / "run" / "nb201_lookup.json").is_file()
    assert (tmp_path / "run" / "cell.png").is_file()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_at_a_step_boundary_and_resumes(tmp_path, sig, code):
    """kill -TERM / Ctrl-C: exit 143 / 130 with the resume command, summary marked interrupted,
    the last complete epoch kept; --resume finishes the search."""
    run = tmp_path / "run"
    proc, cmd, env = _three_epoch_search(tmp_path, run, stderr=subprocess.PIPE, text=True)
    ckpt = run / "checkpoints" / "last.ckpt"
    with killed_on_exit(proc):
        time.sleep(0.5)
        _, err = interrupt(proc, sig)
    assert proc.returncode == code, err[-2000:]
    assert "interrupted at epoch 1 — resume with: idarts search --resume" in err
    assert "Traceback" not in err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["epochs"] == 1
    assert torch.load(ckpt, map_location="cpu", weights_only=False)["epoch"] == 0
    assert len((run / "metrics.csv").read_text().strip().splitlines()) == 2
    if sig == signal.SIGTERM:
        resumed = subprocess.run(
            [*cmd[:4], "--resume", str(run), "--no-progress"], env=env, cwd=ROOT
        )
        assert resumed.returncode == 0
        summary = json.loads((run / "summary.json").read_text())
        assert "interrupted" not in summary and summary["epochs"] == 3


def test_damaged_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
    from idarts_plugin.cli import main
    from idarts_plugin.search import run_search

    run = tmp_path / "run"
    run_search(RunConfig.from_dict(tiny_config("implicit", epochs=2)), run_dir=run)
    ckpts = run / "checkpoints"
    assert (ckpts / "previous.ckpt").is_file()
    last = ckpts / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])  # truncated, as by a full disk
    assert main(["search", "--resume", str(run), "--no-progress"]) == 0
    assert json.loads((run / "summary.json").read_text())["epochs"] == 2
    for name in ("last.ckpt", "previous.ckpt"):
        (ckpts / name).write_bytes(b"not a checkpoint")
    capsys.readouterr()
    assert main(["search", "--resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "last.ckpt" in err and "damaged" in err


@pytest.mark.parametrize(
    ("ops", "warned"),
    [
        (["skip_connect"] * 5 + ["nor_conv_3x3"], True),
        (["skip_connect"] * 2 + ["nor_conv_3x3"] * 4, False),
    ],
)
def test_a_mostly_parameter_free_cell_is_warned_about(caplog, ops, warned):
    from idarts_plugin.report import warn_about_decision

    share = parameter_free_share({f"cell/{i}": op for i, op in enumerate(ops)})
    decision = {"verdict": {"text": "decided", "decided": True}, "param_free_share": share}
    with caplog.at_level(logging.WARNING, logger="idarts_plugin.report"):
        warn_about_decision(decision, RunConfig())
    assert ("83 % parameter-free" in caplog.text) is warned, caplog.text
