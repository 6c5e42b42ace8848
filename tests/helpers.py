"""Helpers the tests share: waiting on, signalling and cleaning up a child process.

Example:
    >>> import signal, subprocess, sys  # doctest: +SKIP
    >>> proc = subprocess.Popen([sys.executable, "-m", "idarts_plugin.cli", "search", "cfg.yaml"],
    ...                         stdout=subprocess.PIPE, text=True)  # doctest: +SKIP
    >>> with killed_on_exit(proc):  # doctest: +SKIP
    ...     wait_for_file(proc, Path("run/checkpoints/last.ckpt"))
    ...     out, _ = interrupt(proc, signal.SIGTERM)

The two-worker spawn-and-count of the Optuna tests is
:func:`tests.integrations.workers.run_workers`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["interrupt", "killed_on_exit", "wait_for_file"]


def _output_tail(proc: subprocess.Popen[Any], chars: int = 3000) -> str:
    out = proc.communicate()[0]
    return "" if out is None else str(out)[-chars:]


def wait_for_file(
    proc: subprocess.Popen[Any],
    path: Path,
    *,
    seconds: float = 300.0,
    interval: float = 0.05,
    what: str = "checkpoint",
    ended: str | None = None,
) -> None:
    """Wait until ``path`` exists while ``proc`` is still running.

    Args:
        proc: the process that writes ``path``.
        path: the file to wait for.
        seconds: how long to wait.
        interval: seconds between looks.
        what: the file's name in the timeout message (``no checkpoint within 300 s``).
        ended: the message when the process ends first (``None``: the tail of its output).

    Raises:
        AssertionError: the process ended first, or ``seconds`` passed.
    """
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(ended if ended is not None else _output_tail(proc))
        assert time.monotonic() < deadline, f"no {what} within {seconds:.0f} s"
        time.sleep(interval)


def interrupt(proc: subprocess.Popen[Any], signum: int, *, timeout: float = 120.0) -> Any:
    """Send ``signum`` to ``proc`` and wait for it to exit.

    Returns:
        ``proc.communicate()``'s ``(stdout, stderr)``.
    """
    os.kill(proc.pid, signum)
    return proc.communicate(timeout=timeout)


@contextlib.contextmanager
def killed_on_exit(proc: subprocess.Popen[Any]) -> Iterator[subprocess.Popen[Any]]:
    """Kill ``proc`` on leaving the block if it is still running (a failed test leaves none)."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
