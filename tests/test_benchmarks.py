"""Toy-size runs of the benchmark scripts, so that they do not rot (no timing asserted)."""

from __future__ import annotations

import pytest

from tests.conftest import requires_nni


@pytest.mark.slow
def test_fidelity_toy_runs_and_scores_every_method():
    from benchmarks import fidelity

    tables, extra = fidelity.run(toy=True)
    _setup, det, sto = tables
    assert {r[0] for r in det.rows} == {"0", "1", "2", "5", "10", "20"}
    cosines = [float(r[2]) for r in det.rows]
    assert all(-1.0 <= c <= 1.0 for c in cosines)
    assert all(r[-1] == "0" for r in sto.rows)  # no non-finite estimate
    assert "first_order" in extra["curves"]


@requires_nni
@pytest.mark.slow
def test_speed_toy_runs(monkeypatch):
    from benchmarks import speed

    printed = []
    monkeypatch.setattr("builtins.print", lambda *a, **k: printed.append(" ".join(map(str, a))))
    speed.main(["--toy", "--no-write"])
    text = "\n".join(printed)
    assert "NNI DARTS (first order)" in text and "× NNI DARTS" in text
    assert "HVP / gradient" in text
