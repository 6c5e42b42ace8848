"""The budget-sweep driver: a tiny real point, and the collapse finding from made-up records."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import requires_nni


def _fashion_mnist_missing() -> bool:
    from idarts_plugin.data import DEBIAN_FASHION_MNIST

    return not DEBIAN_FASHION_MNIST.is_dir()


def test_budgets_are_the_architecture_steps_they_claim():
    from benchmarks.search_quality import bench, sweep

    for steps, (epochs, batches) in sweep.BUDGETS.items():
        assert sweep.arch_steps(epochs, batches) == steps
        assert batches <= 78  # the weight half of the recipe's subset: 5,000 images / 64
    assert sweep.BUDGETS[120] == (4, 30)  # the search-quality benchmark's budget
    # The arms' overrides are valid configs; the fidelity hook adds arms by config only.
    for arm, (_, overrides) in sweep.ARMS.items():
        assert bench.config_key([*overrides, "data.seed=0"], 0), arm
    assert set(sweep.CHEAP_ARMS) <= set(sweep.ARMS)


def _record(arm: str, budget: int, seed: int, arch: str) -> dict:
    return {
        "arm": arm,
        "seed": seed,
        "budget": budget,
        "depth": 1,
        "archs": {"argmax": arch, "exclude_none": arch},
        "seconds": 10.0,
        "entropy_mean": 0.5,
        "history": {"param_free_share": [0.0, 0.5], "alpha_entropy_mean": [1.0, 0.5]},
    }


def test_collapse_is_found_where_the_share_reaches_one_half_and_the_plot_draws(tmp_path):
    from benchmarks.search_quality import sweep
    from idarts_plugin.ground_truth import LANDMARKS, RECIPE, GroundTruth

    gt = GroundTruth.load(RECIPE)
    conv, skip, resnet = (LANDMARKS[k] for k in ("all-conv3x3", "all-skip", "resnet-like"))
    records = (
        [_record("darts", 120, s, conv) for s in range(2)]
        + [
            _record("darts", 480, 0, conv),
            _record("darts", 480, 1, resnet),  # share 4/6; mean with conv's 0: 1/3
            _record("darts", 1920, 0, skip),
            _record("darts", 1920, 1, resnet),  # mean share (1 + 4/6) / 2: collapse
        ]
        + [_record("implicit", b, 0, conv) for b in (120, 480, 1920)]
    )
    judged = sweep.judge(records, gt, source=None)
    assert [r["share"] for r in judged[:2]] == [0.0, 0.0]
    text = sweep.finding(judged, gt)
    assert "NNI's DARTS, α lr auto, 1 cell(s)/stage: collapses at 1920" in text
    assert "ImplicitDARTS, paper γ = weight lr, 1 cell(s)/stage: no collapse up to 1920" in text
    assert "not rising" in text
    table, cells = sweep.tables(judged, gt)
    assert [r[0] for r in table.rows] == ["120", "120", "480", "480", "1920", "1920"]
    assert len(cells.rows) == len(records) and cells.rows[0][-2] == "0.00 0.50"
    sweep.plot(judged, tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").stat().st_size > 0


def test_an_arms_only_point_with_a_mean_share_of_one_half_is_a_collapse():
    from benchmarks.search_quality import sweep
    from idarts_plugin.ground_truth import LANDMARKS, RECIPE, GroundTruth

    gt = GroundTruth.load(RECIPE)
    skip, conv = LANDMARKS["all-skip"], LANDMARKS["all-conv3x3"]
    records = [  # one all-skip and one all-conv cell: a mean share of exactly 0.5
        _record("amended", 1920, 0, skip),
        _record("amended", 1920, 1, conv),
        _record("implicit-auto", 1920, 0, conv),
    ]
    text = sweep.finding(sweep.judge(records, gt, source=None), gt)
    assert "AmendedDARTS, its defaults, 1 cell(s)/stage: collapses at 1920" in text
    assert "param-free share 0.50 ≥ 0.5" in text
    assert "no collapse up to 1920" in text  # the all-conv arm


def test_exactly_one_arm_is_the_shipped_default_and_it_is_the_run_configs_default():
    import dataclasses

    from benchmarks.search_quality import bench, sweep
    from idarts_plugin.config import load_config

    default = sweep.shipped_default_arm()
    assert default is not None
    titles = [sweep.arm_title(arm, default) for arm in sweep.ARMS]
    assert sum("shipped default" in t for t in titles) == 1
    assert sum("shipped default" in title for title, _ in sweep.ARMS.values()) == 0
    # What the arm searches is what `idarts search` runs with no strategy override on the
    # sweep's NAS-Bench-201 space: the sweep's pins (data, budget, one thread) leave the
    # strategy section alone but for the derivation rule, which the arm's view stands for,
    # and `aux_skip: auto`, which a NAS-Bench-201 search resolves to its number.
    overrides = [*bench.BASE_PINNED, *sweep.ARMS[default][1]]
    pinned = load_config(None, overrides).strategy
    shipped = load_config(None, []).strategy
    resolved = shipped.remedies().resolve(edges_keep_shape=True).aux_skip
    assert pinned.aux_skip == resolved
    on_nb201 = dataclasses.replace(shipped, aux_skip=resolved)
    assert dataclasses.replace(pinned, derive=shipped.derive) == on_nb201
    # the early stop's view is the exclude_none cell of the epoch the early stop keeps
    assert sweep.view_of(default) == ("early_stop" if shipped.early_stop == "collapse" else "x")
    # issue 29's choice (sweep and demo): the remedies with the α schedule of 480 steps
    assert default == "implicit-auto-beta-480sched+early_stop"


def test_each_random_arm_gets_its_budget_arms_mean_wall_clock(tmp_path, monkeypatch):
    """``random``: NNI DARTS' first two seeds' mean; ``random-default``: the shipped default's
    search arm's first three. Searches are stood in for (no training)."""
    import json

    from benchmarks.search_quality import bench, sweep

    seconds = {"darts": 100.0, "implicit-auto-beta-480sched": 300.0}
    ran: list[str] = []

    def stand_in(fn, jobs, workers):
        out = []
        for j in jobs:
            ran.append(j["arm"])
            random = bench.is_random(j["arm"])
            record = {
                **{k: j[k] for k in ("arm", "seed", "key")},
                "archs": {"argmax": "c", "exclude_none": "c"},
                "seconds": j["budget"] if random else seconds[j["arm"]] + 10 * j["seed"],
            }
            (Path(j["cache"]) / f"{j['key']}.json").write_text(json.dumps(record))
            out.append(record)
        return out

    monkeypatch.setattr(bench, "_pool_map", stand_in)
    monkeypatch.setattr(bench, "CACHE", tmp_path / "no-benchmark-cache")
    arms = (*seconds, "random", "random-default")  # the others' records are not looked for
    monkeypatch.setattr(sweep, "SEARCH_ARMS", {a: sweep.SEARCH_ARMS[a] for a in arms})
    assert sweep.random_budget_arms()["random-default"] == ("implicit-auto-beta-480sched", 3)

    def point(seeds):
        return sweep.run_point(
            480,
            1,
            arms=["random", "random-default"],
            seeds=seeds,
            workers=1,
            cache=tmp_path / "cache",
            run_root=tmp_path / "runs",
            train_found=False,
            views=False,
        )

    budgets = {(r["arm"], r["seed"]): r["seconds"] for r in point(3)}
    assert budgets == {
        **{("random", s): pytest.approx(105.0) for s in range(3)},  # darts seeds 0, 1
        **{("random-default", s): pytest.approx(310.0) for s in range(3)},
    }
    # Fewer seeds later: the budgets (part of the cache keys) are the same, nothing reruns.
    ran.clear()
    again = {(r["arm"], r["seed"]): r["seconds"] for r in point(2)}
    assert ran == [] and again == {k: v for k, v in budgets.items() if k[1] < 2}
    assert "default's wall-clock" in sweep.ARMS["random-default"][0]


def _point_overrides(epochs: int, batches: int) -> list[str]:
    from benchmarks.search_quality import bench

    base = bench.base_overrides(bench.RECIPE, epochs, batches)
    return [*base, "space.options.cells_per_stage=1", "data.seed=0", "strategy.name=implicit"]


def test_the_capped_schedule_is_keyed_by_the_numbers_it_runs():
    """The ``auto`` schedule with its caps is cached as the search that pinned its numbers;
    without ``resolve_schedule`` a search without the caps keeps its ``auto`` key."""
    from benchmarks.search_quality import bench

    caps = ["strategy.warmup_steps=96", "strategy.arc_horizon=480"]
    pins = ["strategy.warmup_epochs=2", "strategy.arc_learning_rate=0.0625"]

    def key(epochs, batches, extra, **kw):
        return bench.config_key([*_point_overrides(epochs, batches), *extra], 0, **kw)

    for epochs, batches in ((36, 64), (48, 78)):  # 1920 and 3120 steps: 2 epochs, lr 0.0625
        assert key(epochs, batches, caps) == key(epochs, batches, pins) != key(epochs, batches, [])
        assert key(epochs, batches, caps, resolve_schedule=True) != key(
            epochs, batches, [], resolve_schedule=True
        )
    # 480 steps: the stretching schedule is the capped one (2 epochs, 30 / 480), the same search
    assert key(12, 48, caps) != key(12, 48, [])
    assert key(12, 48, caps, resolve_schedule=True) == key(12, 48, [], resolve_schedule=True)
    assert key(12, 48, [], resolve_schedule=True) == key(12, 48, pins)
    # the BASE_PINNED nulls are the searches cached before the caps: left out of the key
    assert "strategy.arc_horizon=null" in bench.BASE_PINNED
    assert key(12, 48, ["strategy.arc_horizon=null"]) == key(12, 48, [])


def test_an_arm_reads_the_record_of_another_arm_that_runs_the_same_search(tmp_path, monkeypatch):
    import json

    from benchmarks.search_quality import bench

    table = {
        "stretched": ("auto, no caps", ["strategy.beta_decay=2.0"]),
        "capped": (
            "auto, capped",
            ["strategy.beta_decay=2.0", "strategy.warmup_steps=96", "strategy.arc_horizon=480"],
        ),
    }

    def stand_in(fn, jobs, workers):
        for j in jobs:
            record = {**{k: j[k] for k in ("arm", "seed", "key")}, "archs": {}, "seconds": 1.0}
            (Path(j["cache"]) / f"{j['key']}.json").write_text(json.dumps(record))
        return []

    monkeypatch.setattr(bench, "_pool_map", stand_in)

    def run(arm, epochs, batches, cached_only):
        return bench.run(
            arms=[arm],
            seeds=1,
            epochs=epochs,
            batches=batches,
            workers=1,
            cache=tmp_path,
            run_root=tmp_path / "runs",
            train_found=False,
            views=False,
            arms_table=table,
            data_seed=0,
            cached_only=cached_only,
        )

    for epochs, batches in ((12, 48), (36, 64)):
        run("stretched", epochs, batches, cached_only=False)
    (found,) = run("capped", 12, 48, cached_only=True)  # 480 steps: the same search
    assert found["arm"] == "capped" and found["same_as"] == found["key"]
    assert found["key"].startswith("stretched-s0-")
    assert run("capped", 36, 64, cached_only=True) == []  # 1920 steps: another search


def test_view_arms_read_their_search_arms_records():
    from benchmarks.search_quality import sweep

    record = {
        **_record("implicit-auto", 1920, 0, "a"),
        "archs": {"exclude_none": "a", "perturbation": "b"},
    }
    assert sweep.view_of("implicit-auto+perturbation") == "perturbation"
    assert sweep.VIEWS["implicit-auto+early_stop"] == ("implicit-auto", "early_stop")
    assert "DARTS-PT" in sweep.ARMS["implicit-auto+perturbation"][0]
    assert "strategy.derive=perturbation" in sweep.ARMS["implicit-auto+perturbation"][1]
    assert record["archs"][sweep.view_of("implicit-auto+perturbation")] == "b"


def test_a_rising_share_is_extrapolated():
    from benchmarks.search_quality import sweep

    slope, reach = sweep._trend([(120, 0.0), (480, 0.2)])
    assert slope == pytest.approx(0.1)  # +0.2 over two doublings
    assert reach == pytest.approx(120 * 2**5)
    assert sweep._trend([(120, 0.3), (480, 0.1)])[1] is None


@requires_nni
@pytest.mark.slow
@pytest.mark.skipif(
    _fashion_mnist_missing(),
    reason="Debian's dataset-fashion-mnist is not installed (scripts/install-test-system-deps.sh)",
)
def test_sweep_smoke_runs_a_point_with_random_search(capsys):
    from benchmarks.search_quality import sweep

    assert sweep.main(["--smoke", "--arms", "darts,random", "--depths", "1", "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "Sweep: found cells" in out and "Collapse criterion" in out
    for title in ("NNI's DARTS, α lr auto", "random search"):
        assert title in out


def test_a_search_whose_run_directory_has_a_checkpoint_resumes_from_it(tmp_path, monkeypatch):
    """A sweep's searches keep their run directories, so one killed after an epoch (the end of
    a session) continues from its checkpoint; its wall-clock keeps the finished epochs'."""
    import logging
    import warnings

    import idarts_plugin.search as search
    from benchmarks.search_quality import bench
    from idarts_plugin.ground_truth import RECIPE

    class StartedError(Exception):
        pass

    calls = []

    def run_search(cfg, *, run_dir, resume=False):
        calls.append((run_dir, resume))
        raise StartedError

    monkeypatch.setattr(search, "run_search", run_search)
    job = {
        "arm": "darts",
        "seed": 0,
        "key": "darts-s0-x",
        "overrides": [*bench.base_overrides(RECIPE, 2, 2), "data.seed=0"],
        "run_root": str(tmp_path),
    }
    run_dir = tmp_path / "darts-s0-x"
    try:
        with warnings.catch_warnings(), pytest.raises(StartedError):
            bench._search(job)  # nothing there yet: a fresh start
        (run_dir / "checkpoints").mkdir(parents=True)
        (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"")
        with warnings.catch_warnings(), pytest.raises(StartedError):
            bench._search(job)
    finally:
        logging.disable(logging.NOTSET)
    assert calls == [(run_dir, False), (run_dir, True)]
    (run_dir / "metrics.csv").write_text("epoch,seconds,train_loss\n0,1.5,0.3\n1,2.25,0.2\n")
    assert bench._epoch_seconds(run_dir / "metrics.csv") == 3.75
    assert bench._epoch_seconds(tmp_path / "none.csv") == 0.0


def test_the_capped_arms_differ_from_their_stretching_arms_by_the_caps_alone():
    """The composition check of the default's α schedule: NNI's DARTS and AmendedDARTS with
    the default's remedies and the caps, nothing else changed."""
    from benchmarks.search_quality import sweep
    from idarts_plugin.config import load_config

    caps = {"strategy.warmup_steps=96", "strategy.arc_horizon=480"}
    defaults = load_config(None, []).strategy
    assert caps == {
        f"strategy.warmup_steps={defaults.warmup_steps}",
        f"strategy.arc_horizon={defaults.arc_horizon}",
    }
    for capped, stretching in (
        ("implicit-auto-beta-480sched", "implicit-auto-beta"),
        ("darts-beta-480sched", "darts-beta"),
        ("amended-beta-480sched", "amended-beta"),
    ):
        assert set(sweep.ARMS[capped][1]) == set(sweep.ARMS[stretching][1]) | caps
        assert "480 steps at every budget" in sweep.ARMS[capped][0]
        assert f"{capped}+early_stop" in sweep.VIEWS


def test_the_batchnorm_screen_differs_from_the_default_by_cell_bn_alone():
    """Issue 29's BatchNorm screen: the shipped default's search with the search cell's
    BatchNorm as DARTS and NAS-Bench-201 search it (no affine), nothing else changed."""
    from benchmarks.search_quality import sweep
    from idarts_plugin.config import SpaceConfig
    from idarts_plugin.spaces import CELL_BN, load_space

    screen, default = "implicit-auto-beta-480sched-nonaffine", "implicit-auto-beta-480sched"
    assert sweep.shipped_default_arm() == f"{default}+early_stop"
    extra = set(sweep.ARMS[screen][1]) - set(sweep.ARMS[default][1])
    assert extra == {"space.options.cell_bn=non-affine"}
    assert set(sweep.ARMS[default][1]) <= set(sweep.ARMS[screen][1])
    assert "non-affine" in CELL_BN and load_space(SpaceConfig()).options["cell_bn"] == "affine"
    assert f"{screen}+early_stop" in sweep.VIEWS
