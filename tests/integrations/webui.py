"""A headless Chromium driven over the DevTools protocol (no Selenium/Playwright needed).

Only what the NNI web-UI test uses: open a page, read its visible text, click an element
found by its text. ``websockets`` comes with NNI.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    """The path of a Chromium-like browser, or ``None``."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One page of a headless Chromium, driven by DevTools-protocol commands."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    def command(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events in between are skipped)."""
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self._ws.recv(timeout=60))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.command("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def goto(self, url: str) -> None:
        """Navigate (the page's scripts then render asynchronously)."""
        self.command("Page.navigate", url=url)

    def text(self) -> str:
        """The page's visible text."""
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def wait_for_text(self, pattern: str, *, timeout: float = 60.0) -> str:
        """Wait until the visible text matches the regex ``pattern``; return the text."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.text()
            if re.search(pattern, text):
                return text
            time.sleep(0.5)
        raise AssertionError(f"page text never matched {pattern!r}; it was:\n{text[:3000]}")

    def click_text(self, text: str, *, selector: str = "button, label, span") -> None:
        """Click the innermost element matching ``selector`` whose text is exactly ``text``."""
        found = self.evaluate(
            f"""(() => {{
                const want = {json.dumps(text)};
                const els = Array.from(document.querySelectorAll({json.dumps(selector)}))
                    .filter(e => e.innerText && e.innerText.trim() === want);
                if (!els.length) return false;
                els[els.length - 1].click();
                return true;
            }})()"""
        )
        if not found:
            raise AssertionError(f"no element {selector!r} with text {text!r} on the page")


@contextlib.contextmanager
def headless_chromium(profile_dir: Path) -> Iterator[Browser]:
    """Start a headless Chromium with its own profile; stop it on exit (also on failure)."""
    from websockets.sync.client import connect

    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError("no chromium on PATH")
    proc = subprocess.Popen(
        [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile_dir}",
            "--window-size=1600,1200",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        port = None
        deadline = time.monotonic() + 60
        assert proc.stderr is not None
        while time.monotonic() < deadline and port is None:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {proc.returncode} before DevTools")
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
        if port is None:
            raise RuntimeError("chromium did not open its DevTools port within 60 s")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t.get("type") == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as ws:
            browser = Browser(ws)
            browser.command("Page.enable")
            browser.command("Runtime.enable")
            yield browser
    finally:
        with contextlib.suppress(ProcessLookupError):
            import os
            import signal

            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
