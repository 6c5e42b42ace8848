"""A stand-in for the two NNI manager REST routes the Optuna-backed tuner reads, on loopback."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def nni_manager_stand_in(job: str, intermediates: list, log_path: str) -> Iterator[str]:
    """An HTTP server with the two NNI manager routes the tuner reads; yields its tuner URL.

    ``intermediates`` is read at each request (the trial appends to it while it runs).
    """

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            rows = [
                {
                    "trialJobId": job,
                    "type": "PERIODICAL",
                    "sequence": i,
                    "data": json.dumps(json.dumps(v)),
                }
                for i, v in enumerate(intermediates)
            ]
            routes: dict[str, Any] = {
                f"/api/v1/nni/metric-data/{job}": rows,
                f"/api/v1/nni/trial-jobs/{job}": {"trialJobId": job, "logPath": log_path},
            }
            body = json.dumps(routes[self.path]).encode() if self.path in routes else b"{}"
            self.send_response(200 if self.path in routes else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{server.server_address[1]}/tuner"
    finally:
        server.shutdown()
        server.server_close()
