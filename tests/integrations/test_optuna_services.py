"""Optuna against real services: a PostgreSQL server for the tests of several workers
(:func:`postgres_server`, used by ``test_tune_workers.py``), and optuna-dashboard's API.

Each starts its server on loopback itself and stops it, also when the test fails; they
skip with the reason when the server software is not installed (``make test`` installs
Debian's ``postgresql`` and the ``dashboard`` / ``postgres`` extras).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import requires_nni
from tests.integrations.test_optuna import write_tune

optuna = pytest.importorskip(
    "optuna", reason="optuna not installed: pip install 'idarts-plugin[optuna]'"
)
pytestmark = [requires_nni, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@contextlib.contextmanager
def postgres_server():
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries not found (Debian package 'postgresql')")
    pytest.importorskip(
        "psycopg2", reason="psycopg2 not installed: pip install 'idarts-plugin[postgres]'"
    )
    # pytest's tmp dirs are private to root; the server (user 'postgres') needs its own.
    tmp_path = Path(tempfile.mkdtemp(prefix="idarts-pg-"))
    data = tmp_path / "pgdata"
    sock = tmp_path / "pgsock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: run the server as 'postgres'
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no 'postgres' user to run the server as")
        for p in (tmp_path, sock):
            os.chown(p, user.pw_uid, user.pw_gid)
        tmp_path.chmod(0o755)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *prefix,
            pg_ctl,
            "-D",
            str(data),
            "-o",
            opts,
            "-w",
            "-t",
            "60",
            "-l",
            str(tmp_path / "pg.log"),
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE optuna")
        conn.close()
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/optuna"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True
        )
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_optuna_dashboard_answers_with_the_trials(tmp_path):
    if shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("optuna-dashboard not installed: pip install 'idarts-plugin[dashboard]'")
    from idarts_plugin.integrations.optuna import load_tune_config, run_study

    path = write_tune(
        tmp_path,
        {"strategy.neumann_steps": {"type": "int", "low": 0, "high": 2}},
        sampler={"name": "random"},
    )
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    run_study(load_tune_config(path), study_name="dash", storage=storage, n_trials=2)
    port = free_port()
    exe = str(Path(sys.executable).parent / "optuna-dashboard")
    server = subprocess.Popen(
        [exe, storage, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                    studies = json.load(r)["study_summaries"]
                break
            except OSError:
                assert server.poll() is None, "optuna-dashboard exited"
                assert time.monotonic() < deadline, "optuna-dashboard did not answer within 60 s"
                time.sleep(0.3)
        (summary,) = [s for s in studies if s["study_name"] == "dash"]
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}?after=0", timeout=10
        ) as r:
            detail = json.load(r)
        trials = detail["trials"]
        assert len(trials) == 2
        attrs = {a["key"]: a["value"] for a in trials[0]["user_attrs"]}
        assert attrs["arch_string"].startswith("|")
    finally:
        server.terminate()
        server.wait(timeout=30)
