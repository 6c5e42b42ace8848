"""Solvers return their report as a value; the diagnostics' names come from the dataclasses."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from idarts_plugin.hypergrad import (
    Amended,
    AutoStepSize,
    ConjugateGradient,
    Diagnostics,
    ExactCurvature,
    GrowthMonitor,
    Neumann,
    SolveInfo,
    WarmStart,
    Zero,
    compute_hypergradient,
)
from idarts_plugin.hypergrad.diagnostics import EPOCH_MEAN, epoch_means
from idarts_plugin.metrics import DIAGNOSTIC_MEANS, epoch_row

SOLVERS = {
    "zero": lambda: Zero(),
    "amended": lambda: Amended(lr=0.01),
    "cg": lambda: ConjugateGradient(steps=5, damping=0.1),
    "neumann": lambda: Neumann(steps=3, lr=0.01),
    "neumann auto": lambda: Neumann(steps=3, lr="auto"),
    "neumann safe, warm, monitored": lambda: Neumann(
        steps=2,
        lr=AutoStepSize(iterations=3, mix=0.3, decay=0.9),
        max_lr=0.025,
        warm_start=WarmStart(),
        monitor=GrowthMonitor(every=1),
    ),
    "neumann diverging": lambda: Neumann(steps=50, lr=10.0),
}

FLAT_NAMES = (
    "method",
    "hvp",
    "direct_norm",
    "implicit_norm",
    "solution_norm",
    "hypergrad_norm",
    "n_hvp",
    "n_grad",
    "val_loss",
    "converged",
    "diverged",
    "terms_used",
    "residual",
    "step_size",
    "lambda_max",
    "step_curvature",
    "term_growth",
    "growth_rate",
    "growing",
    "note",
    "finite",
)
"""``Diagnostics.as_dict()``'s keys (the numeric ones logged as ``hypergrad/<name>``): the same
as before ``Diagnostics`` held a ``SolveInfo`` (only ``note`` moved before ``finite``)."""


def _curvature(quad, point):
    w, a = point
    return ExactCurvature(quad.train_loss, [w], [a])


@pytest.mark.parametrize("name", list(SOLVERS))
def test_every_solver_returns_its_solution_and_a_frozen_report(name, quad, point):
    solver = SOLVERS[name]()
    curvature = _curvature(quad, point)
    b = [torch.linspace(-1.0, 1.0, 6, dtype=torch.float64)]
    before = [t.clone() for t in b]
    for _ in range(2):  # the second solve starts warm where the solver carries a start
        x, info = solver.solve(curvature, b)
        assert isinstance(info, SolveInfo)
        assert [t.shape for t in x] == [t.shape for t in b]
        assert all(torch.isfinite(t).all() for t in x)
        assert all(torch.equal(t, u) for t, u in zip(b, before, strict=True))  # b untouched
        with pytest.raises(dataclasses.FrozenInstanceError):
            info.converged = not info.converged  # type: ignore[misc]
    if name == "neumann diverging":
        assert info.diverged and not info.converged and "diverged" in info.note


def test_solve_info_derives_its_step_curvature_and_growth():
    info = SolveInfo(step_size=0.5, lambda_max=-3.0, term_growth=1.0)
    assert info.step_curvature == 1.5 and not info.growing
    grown = dataclasses.replace(info, growth_rate=1.2)
    assert grown.growing and grown.step_curvature == 1.5 and not info.growing
    assert SolveInfo(step_size=0.5).step_curvature is None


def test_diagnostics_hold_the_solve_and_log_the_same_names(quad, point):
    w, a = point
    res = compute_hypergradient(quad.train_loss, quad.val_loss, [w], [a], steps=3, lr=0.01)
    d = res.diagnostics
    assert isinstance(d.solve, SolveInfo) and d.solve.step_size == 0.01
    assert tuple(d.as_dict()) == FLAT_NAMES
    assert set(d.scalars()) == {
        k for k, v in d.as_dict().items() if k not in ("method", "hvp", "note") and v is not None
    }
    for f in dataclasses.fields(SolveInfo):  # the solve's fields read flat, as logged
        assert getattr(d, f.name) == getattr(d.solve, f.name)
    with pytest.raises(AttributeError):
        _ = d.no_such_diagnostic
    assert copy.deepcopy(d) == d


def test_a_new_field_is_logged_without_another_edit():
    extended = dataclasses.make_dataclass(
        "Extended",
        [("new_thing", float, dataclasses.field(default=2.5, metadata=EPOCH_MEAN))],
        bases=(SolveInfo,),
        frozen=True,
        kw_only=True,
    )
    d = Diagnostics(
        method="m",
        hvp="exact",
        direct_norm=1.0,
        implicit_norm=0.0,
        solution_norm=0.0,
        hypergrad_norm=1.0,
        n_hvp=0,
        n_grad=1,
        val_loss=1.0,
        solve=extended(),
    )
    assert d.scalars()["new_thing"] == 2.5


def test_metrics_means_are_the_fields_marked_for_them_in_the_old_column_order():
    marked = [
        f.name
        for klass in (Diagnostics, SolveInfo)
        for f in dataclasses.fields(klass)
        if f.metadata.get("epoch") == "mean"
    ]
    assert sorted(DIAGNOSTIC_MEANS) == sorted(marked) and epoch_means() == DIAGNOSTIC_MEANS
    assert DIAGNOSTIC_MEANS == (  # metrics.csv's hg_* columns, in the order they always had
        "direct_norm",
        "implicit_norm",
        "hypergrad_norm",
        "n_hvp",
        "step_size",
        "step_curvature",
        "growth_rate",
    )


def test_epoch_row_averages_every_marked_diagnostic(quad, point):
    w, a = point
    solver = Neumann(steps=2, lr=0.01, monitor=GrowthMonitor(every=1))
    diags = [
        compute_hypergradient(
            quad.train_loss, quad.val_loss, [w], [a], method=solver
        ).diagnostics.scalars()
        for _ in range(2)
    ]
    row = epoch_row(0, seconds=1.0, probs={}, export={}, supernet_val_acc=0.0, arch="", diags=diags)
    for key in DIAGNOSTIC_MEANS:
        if key != "step_curvature":  # a fixed γ has no λ̂
            assert row[f"hg_{key}"] == pytest.approx((diags[0][key] + diags[1][key]) / 2), key
