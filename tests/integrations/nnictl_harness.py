"""Run a real ``nnictl`` experiment in a sandbox and always clean up after it.

Everything the experiment starts runs with its own ``HOME``, NNI config directory and
experiment directory under a temporary directory, on a free port reached on loopback. On exit
(also when the test failed) the experiment is stopped with ``nnictl stop`` and any process
still carrying the sandbox's ``HOME`` is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BIN = Path(sys.executable).parent
NNICTL = BIN / "nnictl"


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sandbox_env(root: Path) -> dict[str, str]:
    """Environment for nnictl and its trials: own HOME and NNI config dir, venv's bin first."""
    env = dict(os.environ)
    env["HOME"] = str(root / "home")
    env["NNI_CONFIG_DIR"] = str(root / "nni-config")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # as `. .venv/bin/activate` does
    env.pop("NNI_PLATFORM", None)
    env.pop("NNI_EXP_ID", None)
    for key in ("home", "nni-config"):
        (root / key).mkdir(parents=True, exist_ok=True)
    return env


@dataclass
class Experiment:
    """A running sandboxed experiment."""

    id: str
    url: str
    root: Path
    env: dict[str, str]

    def get(self, path: str) -> Any:
        """GET ``/api/v1/nni/<path>`` as JSON."""
        with urllib.request.urlopen(f"{self.url}/api/v1/nni/{path}", timeout=30) as r:
            return json.load(r)

    def logs(self) -> str:
        """The manager's and dispatcher's logs and every trial's stderr (for failure messages)."""
        parts = []
        exp_dir = self.root / "exp" / self.id
        for path in sorted(exp_dir.rglob("*")):
            if path.is_file() and (path.suffix == ".log" or path.name == "stderr"):
                text = path.read_text(errors="replace")[-3000:]
                parts.append(f"--- {path.relative_to(exp_dir)}\n{text}")
        return "\n".join(parts)

    def wait_until_done(self, timeout: float) -> str:
        """Poll ``check-status`` until DONE/ERROR/STOPPED; return the status."""
        deadline = time.monotonic() + timeout
        status = "?"
        while time.monotonic() < deadline:
            status = self.get("check-status")["status"]
            if status in ("DONE", "ERROR", "STOPPED"):
                return str(status)
            time.sleep(2)
        raise AssertionError(f"experiment still {status} after {timeout} s\n{self.logs()}")

    def metrics(self) -> dict[str, list[dict[str, Any]]]:
        """``/metric-data`` grouped by trial, each value decoded, in order."""
        out: dict[str, list[dict[str, Any]]] = {}
        for m in self.get("metric-data"):
            data = json.loads(m["data"])
            if isinstance(data, str):
                data = json.loads(data)
            out.setdefault(m["trialJobId"], []).append(
                {
                    "type": m["type"],
                    "sequence": m["sequence"],
                    "parameter_id": int(m["parameterId"]),
                    "value": data,
                }
            )
        for rows in out.values():
            rows.sort(key=lambda r: (r["type"], r["sequence"]))
        return out


def _sandbox_processes(home: str) -> list[Any]:
    import psutil

    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error):
            if proc.environ().get("HOME") == home:
                found.append(proc)
    return found


def kill_sandbox(env: dict[str, str]) -> list[str]:
    """Kill every process started with this sandbox's HOME; return what was still running."""
    import psutil

    procs = _sandbox_processes(env["HOME"])
    names = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            names.append(" ".join(proc.cmdline())[:120])
            proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(procs, timeout=30)
    return names


@contextlib.contextmanager
def nnictl_experiment(root: Path, config: dict[str, Any]) -> Iterator[Experiment]:
    """Create an experiment from ``config`` (a dict in nnictl's YAML schema) in ``root``."""
    env = sandbox_env(root)
    port = free_port()
    cfg = dict(config)
    cfg["experimentWorkingDirectory"] = str(root / "exp")
    path = root / "config.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    exp_id = None
    try:
        done = subprocess.run(
            [str(NNICTL), "create", "--config", str(path), "--port", str(port)],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=180,
        )
        m = re.search(r"nnictl stop (\w+)", done.stdout)
        assert done.returncode == 0 and m, (
            f"nnictl create failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
        exp_id = m.group(1)
        yield Experiment(id=exp_id, url=f"http://127.0.0.1:{port}", root=root, env=env)
    finally:
        if exp_id is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                subprocess.run(
                    [str(NNICTL), "stop", exp_id],
                    env=env,
                    cwd=root,
                    capture_output=True,
                    timeout=60,
                )
        kill_sandbox(env)
