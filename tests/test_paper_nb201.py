"""The paper-setting script end to end on CPU: tiny budget, a generated CIFAR-format file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from tests.conftest import requires_nni

ROOT = Path(__file__).resolve().parents[1]
TABLES = Path(os.environ.get("IDARTS_NB201_TABLES", ROOT.parent / "shared" / "data" / "nb201"))


@requires_nni
@pytest.mark.slow
@pytest.mark.skipif(
    not (TABLES / "vtao_nats_bench.csv.gz").is_file(),
    reason=f"NAS-Bench-201 tables not found at {TABLES} (set IDARTS_NB201_TABLES)",
)
def test_paper_protocol_runs_looks_up_compares_and_resumes(tmp_path, capsys):
    from benchmarks import paper_nb201
    from tests.test_data import make_cifar

    make_cifar(tmp_path / "cifar", "cifar10", n=16)
    out = tmp_path / "out"
    common = [
        "--out",
        str(out),
        "--tables",
        str(TABLES),
        *("--set", f"data.root={tmp_path / 'cifar'}", "--set", "data.download=false"),
        *("--set", "data.image_size=8", "--set", "data.augment=false"),
        *("--set", "space.options.stem_channels=4", "--set", "space.options.cells_per_stage=1"),
        *(
            "--set",
            "trainer.device=cpu",
            "--set",
            "trainer.num_workers=0",
            "--set",
            "trainer.threads=1",
        ),
        *("--set", "trainer.epochs=1", "--set", "trainer.batch_size=8"),
        *("--set", "trainer.limit_batches=1", "--set", "trainer.progress_bar=false"),
    ]
    assert paper_nb201.main(["--seeds", "1", *common]) == 0
    text = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    for arm in ("darts", "implicit"):
        (row,) = results[arm]
        summary = json.loads((out / f"{arm}-s0" / "summary.json").read_text())
        assert summary["arch_string"] == row["arch"] and summary["strategy"] == arm
        assert 10.0 <= row["test"] <= paper_nb201.OPTIMUM and 1 <= row["rank"] <= 15625
    assert "54.30" in text and "93.58 ± 0.32" in text and "94.37" in text

    # Resumable: a second call with one seed more skips what is done, resumes a search with a
    # checkpoint and no summary (as after a crash), and starts only the new seed.
    (out / "darts-s0" / "summary.json").unlink()
    assert paper_nb201.main(["--seeds", "2", "--arms", "darts", *common]) == 0
    again = capsys.readouterr().out
    assert again.count("resuming") == 1 and again.count("searching") == 1  # s0, then s1
    after = json.loads((out / "results.json").read_text())
    assert after["darts"][0]["arch"] == results["darts"][0]["arch"]
    assert after["darts"][1]["seed"] == 1 and "implicit" not in after
    assert paper_nb201.main(["--seeds", "1", "--arms", "implicit", *common]) == 0
    assert capsys.readouterr().out.count("done before") == 1
    # The searches differ only in their seed; the data split is the same for both.
    configs = [yaml.safe_load((out / f"darts-s{s}" / "config.yaml").read_text()) for s in (0, 1)]
    assert [c["trainer"]["seed"] for c in configs] == [0, 1]
    assert [c["data"]["seed"] for c in configs] == [0, 0]


def test_paper_script_refuses_a_missing_table_and_an_unknown_arm(tmp_path, capsys):
    from benchmarks import paper_nb201

    with pytest.raises(SystemExit):
        paper_nb201.main(["--tables", str(tmp_path / "nowhere")])
    assert "--tables" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        paper_nb201.main(["--arms", "gdas", "--tables", str(tmp_path)])
    assert "gdas" in capsys.readouterr().err
