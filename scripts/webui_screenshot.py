"""Retake ``examples/nnictl/webui-trials.png`` from a real run of the documented experiment.

    .venv/bin/python scripts/webui_screenshot.py [--trials 2] [--out examples/nnictl/webui-trials.png]

Runs ``examples/nnictl/config.yml`` exactly as its README documents it (NNI's TPE, the digits
search at 10 epochs, one thread per trial), only with ``maxTrialNumber`` set to ``--trials``, in
a sandbox of its own (own ``HOME``, NNI config and experiment directories, a free loopback
port; everything it starts is stopped at the end, also on failure). Then it opens the web UI's
*Trials detail* in headless Chromium, does what the README tells a user to do (*Add/Remove
columns* → tick ``arch_code (metric)`` and the ``param:`` columns → *Save*) and saves a
screenshot. It prints each trial's final metric, so the caption can be checked against the
picture. Needs nnictl and Chromium (``scripts/install-test-system-deps.sh``); about 2 minutes
per trial on one core.
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integrations.nnictl_harness import kill_sandbox, nnictl_experiment  # noqa: E402
from tests.integrations.webui import find_chromium, headless_chromium  # noqa: E402

EXAMPLE = REPO / "examples" / "nnictl"
SHOWN = ("arch_code", "param:strategy.neumann_steps", "param:strategy.inner_steps")
"""The metric columns the README asks the user to tick."""


def documented_config(trials: int) -> dict[str, object]:
    """``config.yml`` with absolute paths (the sandbox runs elsewhere) and ``trials`` trials."""
    cfg = yaml.safe_load((EXAMPLE / "config.yml").read_text())
    cfg["searchSpaceFile"] = str(EXAMPLE / cfg["searchSpaceFile"])
    cfg["trialCodeDirectory"] = str(EXAMPLE / cfg["trialCodeDirectory"])
    cfg["maxTrialNumber"] = trials
    return dict(cfg)


def main(argv: list[str] | None = None) -> int:
    """Run the example experiment, photograph its trials page, stop everything; 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--out", type=Path, default=EXAMPLE / "webui-trials.png")
    args = parser.parse_args(argv)
    if find_chromium() is None:
        print("no chromium: run scripts/install-test-system-deps.sh (as root)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="idarts-webui-") as tmp:
        root = Path(tmp)
        with nnictl_experiment(root, documented_config(args.trials)) as exp:
            status = exp.wait_until_done(timeout=600 * args.trials)
            trials = exp.get("trial-jobs")
            print(f"experiment {exp.id}: {status}")
            for t in sorted(trials, key=lambda t: t["trialJobId"]):
                print(f"  {t['trialJobId']}: {t['status']} final={t.get('finalMetricData')}")
            if status != "DONE" or any(t["status"] != "SUCCEEDED" for t in trials):
                print(exp.logs(), file=sys.stderr)
                return 1
            with headless_chromium(root / "chromium-profile") as page:
                page.goto(f"{exp.url}/detail")
                page.wait_for_text("SUCCEEDED")
                page.click_text("Add/Remove columns")
                page.wait_for_text("arch_code \\(metric\\)")
                for key in SHOWN:
                    page.click_text(f"{key} (metric)")
                page.click_text("Save")
                page.wait_for_text("param:strategy.inner_steps")
                shot = page.command("Page.captureScreenshot", format="png")
        if kill_sandbox(exp.env):
            print("warning: processes survived nnictl stop (killed)", file=sys.stderr)
    args.out.write_bytes(base64.b64decode(shot["data"]))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
