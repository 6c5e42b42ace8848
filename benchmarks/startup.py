"""Start-up times of the ``idarts`` command (issue 15's targets: help and config errors < 1 s).

Prints a table and writes the "Start-up" section of benchmarks/RESULTS.md (command, machine,
date). Run: ``python -m benchmarks.startup``.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
HEADER = "## Start-up of the idarts command"
REPEATS = 5


def _time(cmd: list[str], repeats: int = REPEATS) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


TRIAL = (
    "trainer.epochs=1",
    "trainer.limit_batches=1",
    "trainer.batch_size=16",
    "trainer.threads=1",
    "space.options.stem_channels=4",
    "data.limit=64",
    "output.ground_truth=false",
)
"""A trial that trains one batch: its time is start-up, data, supernet and outputs."""


def _rows(bad: Path, out: Path) -> list[tuple[str, str, float]]:
    py = sys.executable
    cli = [py, "-m", "idarts_plugin.cli"]
    probe = "import torch, nni, pytorch_lightning"
    ours = "import idarts_plugin.integrations.nni_trial, idarts_plugin.search, idarts_plugin.nni_adapter"
    trial = [*cli, "nni-trial", "examples/configs/digits-nb201.yaml"]
    for item in (*TRIAL, f"output.dir={out}"):
        trial += ["--set", item]
    cases = [
        ("idarts --help", [*cli, "--help"], "< 1 s"),
        ("idarts search BAD.yaml (config error)", [*cli, "search", str(bad)], "< 1 s"),
        (
            "idarts nni-check --config config.yml",
            [*cli, "nni-check", "--config", "examples/nnictl/config.yml"],
            "-",
        ),
        ("python -c 'import torch, nni, lightning' (floor of a trial)", [py, "-c", probe], "-"),
        ("python -c 'import <what nni-trial imports of ours>'", [py, "-c", ours], "-"),
        ("idarts nni-trial, 1 epoch x 1 batch (a whole trial)", trial, "-"),
    ]
    return [
        (name, target, _time(cmd, 3 if "nni-trial," in name else REPEATS))
        for name, cmd, target in cases
    ]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bad = Path(tmp) / "bad.yaml"
        bad.write_text("strategy: {name: drats}\n")
        rows = _rows(bad, Path(tmp) / "runs")
    lines = [
        HEADER,
        "",
        f"`python -m benchmarks.startup` ({date.today().isoformat()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; median of {REPEATS} runs, "
        "wall-clock seconds including the interpreter's start).",
        "",
        "| command | seconds | target |",
        "|---|---|---|",
        *[f"| {name} | {sec:.2f} | {target} |" for name, target, sec in rows],
        "",
        "An nnictl trial (`idarts nni-trial`) pays the floor once before its search starts; "
        "the next row minus the floor is what importing our modules adds, and the whole trial "
        "(one batch of training) minus that is reading the config and data, building the "
        "supernet and writing the run directory (median of 3).",
        "",
    ]
    table = "\n".join(lines)
    print(table)
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.is_file() else ""
    if HEADER in text:
        head, _, rest = text.partition(HEADER)
        nxt = rest.find("\n## ")
        text = head + table + (rest[nxt + 1 :] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + table
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
