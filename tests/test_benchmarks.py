"""Toy-size runs of the benchmark scripts, so that they do not rot (no timing asserted)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import requires_nni


@pytest.mark.slow
def test_fidelity_toy_runs_and_scores_every_method(tmp_path):
    from benchmarks import fidelity

    tables, extra = fidelity.run(toy=True)
    _setup, det, sto, targets = tables
    assert {r[0] for r in det.rows} == {"0", "1", "2", "5", "10", "20"}
    cosines = [float(r[2]) for r in det.rows]
    assert all(-1.0 <= c <= 1.0 for c in cosines)
    labels = [r[0] for r in sto.rows]
    assert labels[0] == "first_order" and "neumann γ=auto, K=20" in labels
    assert all(r[-2] == "0" for r in sto.rows)  # no non-finite estimate
    assert all(float(r[-3]) > 0 for r in sto.rows)  # minibatches really differ
    assert all(r[-1] in {"yes", "**missed**"} for r in targets.rows)
    assert "first_order" in extra["curves"]
    fidelity.plot(extra, str(tmp_path / "fidelity.png"))
    assert (tmp_path / "fidelity.png").stat().st_size > 0


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
    for title in ("Cost of one pass", "Where an exact HVP's time goes", "predicted × NNI DARTS"):
        assert title in text, title
    targets = text[text.index("**Targets") :]
    assert "ImplicitDARTS K=2, T=1: ≤ 3.5×" in targets and "slope one HVP" in targets


def test_speed_cost_model_counts_passes():
    """The pass-counting model on round numbers (no timing)."""
    from types import SimpleNamespace

    from benchmarks import speed

    costs = {
        "weights gradient": 1.0,
        "full gradient (w and α)": 1.0,
        "gradient with create_graph": 1.0,
        "HVP (exact)": 2.0,
        "mixed product (exact)": 2.0,
        "forward (no graph)": 0.25,
    }

    def arm(first_order=False, name="neumann", steps=2, t=1, shared=False, reuse=True):
        method = SimpleNamespace(name=name, options={"steps": steps})
        return SimpleNamespace(
            first_order=first_order,
            inner_steps=t,
            shared=shared,
            reuse_weight_grads=reuse,
            oneshot=SimpleNamespace(method=method),
        )

    assert speed.predicted_seconds(arm(first_order=True), costs) == 2.0
    # weight step + val gradient + graph + 2 HVPs + mixed
    assert speed.predicted_seconds(arm(), costs) == 1 + 1 + 1 + 4 + 2
    # the weight step is the graph
    assert speed.predicted_seconds(arm(shared=True), costs) == 1 + 1 + 4 + 2
    # ... plus a backward pass when the weight step does not reuse the graph's gradient
    assert speed.predicted_seconds(arm(shared=True, reuse=False), costs) == 8 + 0.75
    assert speed.predicted_seconds(arm(t=4), costs) == (9 + 3) / 4
    assert speed.predicted_seconds(arm(name="unrolled"), costs) == 1 + 1 + 1 + 2
    assert speed.predicted_seconds(arm(name="amended"), costs) == 1 + 1 + 1 + 2 + 2
    # HVP budget: the HVP time h at which K=2, T=1 costs 3.5 × DARTS: 3 + 3h = 7
    assert speed.hvp_budget(3.5, costs, k=2, t=1, shared=False) == pytest.approx(4 / 3)
    assert speed.linear_fit([0, 1, 2], [1.0, 3.0, 5.0]) == pytest.approx((1.0, 2.0, 0.0))


@pytest.mark.slow
def test_peer_check_toy_equals_torchopt():
    pytest.importorskip("torchopt", reason="TorchOpt is not installed (pip install torchopt)")
    from benchmarks import peer

    (table,) = peer.run(toy=True)
    assert [r[0] for r in table.rows] == ["0", "2"]
    for row in table.rows:
        assert float(row[2]) <= 1e-6 and row[3] == "yes"


def test_peer_check_without_torchopt_says_why(monkeypatch):
    import builtins

    from benchmarks import peer

    real_import = builtins.__import__

    def no_torchopt(name, *args, **kwargs):
        if name.startswith("torchopt"):
            raise ImportError("No module named 'torchopt'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torchopt)
    (table,) = peer.run(toy=True)
    assert len(table.rows) == 1 and table.rows[0][2].startswith("skipped: TorchOpt")


def test_bench_runner_runs_every_benchmark_with_the_flags(monkeypatch):
    from benchmarks import fidelity, peer, run, speed

    calls = []
    for module in (fidelity, speed, peer):
        monkeypatch.setattr(module, "main", lambda argv, m=module: calls.append((m, argv)))
    run.main(["--toy", "--no-write"])
    assert calls == [(m, ["--toy", "--no-write"]) for m in (fidelity, speed, peer)]


def test_speed_plot_only_redraws_from_the_written_tables(tmp_path, monkeypatch):
    from benchmarks import common, speed

    monkeypatch.setattr(common, "RESULTS", tmp_path / "RESULTS.md")
    times = common.Table("Time per 100 steps (toy)", ["method", "s / 100 steps", "× NNI DARTS"])
    times.add("NNI DARTS (first order)", "1.0", "1.00")
    times.add("ImplicitDARTS K=2, T=1", "3.0", "3.00")
    by_k = common.Table("Architecture step time against K (toy)", ["K", "s / arch step", "HVPs"])
    by_k.add(0, "0.1", 1)
    by_k.add(1, "0.2", 2)
    common.write_section("speed", "python -m benchmarks.speed", [times.render(), by_k.render()])
    assert common.read_tables("speed")[by_k.title].rows == by_k.rows
    for _ in range(2):  # idempotent
        assert speed.replot_from_results(tmp_path) == ["speed"]
    text = common.RESULTS.read_text()
    assert text.count("![speed](speed.png)") == 1 and (tmp_path / "speed.png").exists()


def _fashion_mnist_missing() -> bool:
    from idarts_plugin.data import DEBIAN_FASHION_MNIST

    return not DEBIAN_FASHION_MNIST.is_dir()


@requires_nni
@pytest.mark.slow
@pytest.mark.skipif(
    _fashion_mnist_missing(),
    reason="Debian's dataset-fashion-mnist is not installed (scripts/install-test-system-deps.sh)",
)
def test_search_quality_smoke_runs_searches_and_random_search(capsys):
    from benchmarks.search_quality import bench

    assert (
        bench.main(["--smoke", "--arms", "darts,implicit-safe-warm,random", "--workers", "1"]) == 0
    )
    out = capsys.readouterr().out
    assert "Found cells against the ground truth" in out
    for arm in ("NNI's DARTS", "warm start", "random search"):
        assert arm in out


def test_search_quality_summary_and_plot_from_records(tmp_path):
    from benchmarks.search_quality import bench
    from idarts_plugin.ground_truth import LANDMARKS, RECIPE, GroundTruth

    gt = GroundTruth.load(RECIPE)
    conv, skip = LANDMARKS["all-conv3x3"], LANDMARKS["all-skip"]
    common = {
        "seconds": 10.0,
        "entropy_mean": 0.5,
        "margin_min": 0.2,
        "decided_edges": 5,
        "param_free_share": 0.0,
    }
    records = [
        {"arm": "darts", "seed": s, "archs": {"argmax": skip, "exclude_none": skip}, **common}
        for s in range(2)
    ] + [{"arm": "implicit", "seed": 0, "archs": {"argmax": conv, "exclude_none": skip}, **common}]
    tables, points = bench.summarise(records, gt)
    main = tables[0]
    darts_row = next(r for r in main.rows if r[0].startswith("NNI's DARTS"))
    assert darts_row[1] == "2" and darts_row[2].startswith(f"{gt.mean(skip):.4f} ± 0.0000")
    assert points["implicit"]["argmax"] == [gt.mean(conv)]
    bench.plot(points, gt, tmp_path / "sq.png")
    assert (tmp_path / "sq.png").stat().st_size > 0


def test_fidelity_trajectory_toy_scores_every_estimator(tmp_path):
    from benchmarks import fidelity_trajectory as ft

    result = ft.evaluate(ft.toy_point(), ref_batches=(2, 3), draws=2, batch=16)
    labels = [r["label"] for r in result["rows"]]
    assert labels[: len(ft.ESTIMATORS)] == [e.label for e in ft.ESTIMATORS]
    assert any("EMA" in label for label in labels)
    rows = {r["label"]: r for r in result["rows"]}
    assert rows["first_order"]["products"] == 0
    # K + the mixed product on every draw, the growth monitor's product on the first of 4
    assert rows["neumann γ=weight lr, K=2 (paper)"]["products"] == pytest.approx((4 + 3) / 2)
    # draw 1: no earlier batch (20 power iterations + K + mixed + monitor, one batch each);
    # draw 2: 3 warm power iterations + K + mixed, each over 2 batches
    hb = rows["neumann γ=auto, K=2, hessian_batches=2"]["products"]
    assert hb == pytest.approx((24 + 6 * 2) / 2)
    for r in result["rows"]:
        assert -1.0 <= r["mean_cos"] <= 1.0 and r["variance"] >= 0
        assert -1.0 <= r["mean_cos_ggn"] <= 1.0
    for key in ("hessian", "ggn"):
        ref = result["reference"][key]
        assert ref["cg_converged"] and ref["cg_iterations"] >= 1
        assert ref["lambda_min"] <= ref["lambda_max"]
    assert result["reference"]["ggn"]["lambda_min"] > -1e-6  # Gauss-Newton is PSD
    tables = ft.report([result, {**result, "point": "again"}])
    assert "first_order" in tables[1].render()
    lines = ft.verdict([result])
    assert any(line.startswith("- Most faithful") for line in lines)
    assert "{" not in ft.reading([result])
    ft.plot([result], tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 0


def test_lanczos_finds_the_extreme_eigenvalues_of_a_known_operator():
    import torch

    from benchmarks import fidelity_trajectory as ft

    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(40, 40, generator=gen, dtype=torch.float64))
    a = q @ torch.diag(torch.linspace(-2.5, 11.7, 40, dtype=torch.float64)) @ q.T
    like = [torch.zeros(8, 5, dtype=torch.float64)]

    def hvp(v):
        return [(a @ v[0].flatten()).view(8, 5)]

    lo, hi = ft.lanczos(hvp, like, iterations=40, gen=gen)
    assert lo == pytest.approx(-2.5, abs=1e-8) and hi == pytest.approx(11.7, abs=1e-8)
    lo, hi = ft.lanczos(hvp, like, iterations=6, gen=gen)  # Ritz values lie inside
    assert -2.5 - 1e-9 <= lo < 0 < hi <= 11.7 + 1e-9


def test_fidelity_trajectory_adds_a_new_estimator_to_a_cached_snapshot():
    from benchmarks import fidelity_trajectory as ft

    point = ft.toy_point()
    first, paper, default = ft.ESTIMATORS[0], ft.ESTIMATORS[1], ft.ESTIMATORS[-1]
    kw = {"ref_batches": (2, 3), "draws": 2, "batch": 16}
    cached = ft.evaluate(point, estimators=[first, paper], **kw)
    assert [e.label for e in ft.missing_estimators(cached)] == [e.label for e in ft.ESTIMATORS[2:]]
    fresh = ft.evaluate(point, estimators=[first, default], **kw)  # the same draws (seeded)
    merged = ft.merge(cached, fresh)
    labels = [r["label"] for r in merged["rows"]]
    assert labels[:3] == [first.label, paper.label, default.label]
    assert labels[3:] == [
        f"{paper.label}, EMA 0.9 of the implicit term",
        f"{default.label}, EMA 0.9 of the implicit term",
    ]
    other = {**fresh, "rows": [{**r, "mean_cos": r["mean_cos"] / 2} for r in fresh["rows"]]}
    with pytest.raises(RuntimeError, match="not the cached ones"):
        ft.merge(cached, other)


def test_random_search_spends_its_budget_in_cpu_seconds_not_through_a_pause(monkeypatch):
    """A sweep paused with SIGSTOP (wall-clock jumps, CPU time does not) keeps sampling until
    the process has spent its budget."""
    import types

    from benchmarks.search_quality import bench
    from idarts_plugin import evaluate, ground_truth

    data = types.SimpleNamespace(num_classes=10, in_channels=1, weight_train=None, arch_val=None)
    monkeypatch.setattr(ground_truth, "recipe_data", lambda recipe: (None, data))
    monkeypatch.setattr(evaluate, "freeze_architecture", lambda *a, **k: None)
    cpu = {"t": 0.0}
    trained: list[int] = []

    def one_epoch(*args, **kwargs):  # each proxy costs 10 CPU seconds ...
        cpu["t"] += 10.0
        trained.append(1)
        return 0.1 * (len(trained) % 7)

    wall = iter(range(0, 10**9, 10**6))  # ... and the wall-clock jumps 10^6 s between reads
    monkeypatch.setattr(evaluate, "train_from_scratch", one_epoch)
    monkeypatch.setattr(bench.time, "process_time", lambda: cpu["t"])
    monkeypatch.setattr(bench.time, "perf_counter", lambda: float(next(wall)))
    out = bench._random_search({"arm": "random", "seed": 0, "key": "k", "budget": 45.0})
    assert out["sampled"] == 5  # sampled at CPU 0, 10, 20, 30, 40; stops at 50 > 45
    assert out["cpu_seconds"] == pytest.approx(50.0)
    assert out["seconds"] > 45.0 * 1000  # the wall-clock that would have stopped it at 1
    assert out["proxy_acc"] == pytest.approx(0.5)


def _fake_proxy(monkeypatch, cpu, trained, fail_at=None):
    """Random search's data and proxy training replaced: each cell costs 10 CPU seconds and
    scores by its arch string; the ``fail_at``-th training raises (a killed search)."""
    import types

    from benchmarks.search_quality import bench
    from idarts_plugin import evaluate, ground_truth

    data = types.SimpleNamespace(num_classes=10, in_channels=1, weight_train=None, arch_val=None)
    monkeypatch.setattr(ground_truth, "recipe_data", lambda recipe: (None, data))
    monkeypatch.setattr(evaluate, "freeze_architecture", lambda cfg, arch, **k: arch)

    def one_epoch(model, *args, **kwargs):
        if fail_at is not None and len(trained) + 1 == fail_at:
            raise KeyboardInterrupt
        cpu["t"] += 10.0
        trained.append(model)
        return sum(map(ord, str(model))) % 97 / 97

    monkeypatch.setattr(evaluate, "train_from_scratch", one_epoch)
    monkeypatch.setattr(bench.time, "process_time", lambda: cpu["t"])


def test_a_killed_random_search_resumes_and_scores_the_same_cells(tmp_path, monkeypatch):
    from benchmarks.search_quality import bench

    job = {"arm": "random", "seed": 3, "key": "k", "budget": 75.0, "cache": str(tmp_path)}
    whole: list = []
    _fake_proxy(monkeypatch, {"t": 0.0}, whole)
    uninterrupted = bench._random_search({**job, "cache": str(tmp_path / "other")})

    first: list = []
    _fake_proxy(monkeypatch, {"t": 0.0}, first, fail_at=4)
    with pytest.raises(KeyboardInterrupt):
        bench._random_search(job)
    saved = json.loads((tmp_path / "progress" / "k.json").read_text())
    assert len(saved["scored"]) == 3 and saved["cpu"] == pytest.approx(30.0)

    second: list = []
    _fake_proxy(monkeypatch, {"t": 1e6}, second)  # a new process: its own CPU clock
    resumed = bench._random_search(job)
    assert first[:3] + second == whole  # the 4th cell is trained again, nothing else
    assert len(second) == len(whole) - 3
    assert resumed["sampled"] == uninterrupted["sampled"] == 8  # stops at 80 > 75 CPU s
    assert resumed["cpu_seconds"] == pytest.approx(80.0)
    assert resumed["archs"] == uninterrupted["archs"]
    assert resumed["proxy_acc"] == uninterrupted["proxy_acc"]


def test_random_search_progress_for_another_budget_or_order_is_not_resumed(tmp_path, monkeypatch):
    from benchmarks.search_quality import bench

    job = {"arm": "random", "seed": 0, "key": "k", "budget": 15.0, "cache": str(tmp_path)}
    path = bench.progress_path(job)
    assert path == tmp_path / "progress" / "k.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"budget": 99.0, "scored": [[0.9, "x"]], "cpu": 5.0, "wall": 5}))
    trained: list = []
    _fake_proxy(monkeypatch, {"t": 0.0}, trained)
    assert bench._random_search(job)["sampled"] == 2  # another budget: started afresh
    path.write_text(json.dumps({"budget": 15.0, "scored": [[0.9, "x"]], "cpu": 5.0, "wall": 5}))
    with pytest.raises(RuntimeError, match="not seed 0's sampling order; delete it"):
        bench._random_search(job)
    path.write_text("{")
    with pytest.raises(RuntimeError, match="unreadable random-search progress"):
        bench._random_search(job)


def test_a_finished_random_search_leaves_its_record_and_no_progress(tmp_path, monkeypatch):
    """The progress sits in the cache beside the records (so committing the cache carries a
    half-done random search to another machine) and the record replaces it."""
    from benchmarks.search_quality import bench

    job = {"arm": "random", "seed": 1, "key": "k", "budget": 25.0, "cache": str(tmp_path)}
    _fake_proxy(monkeypatch, {"t": 0.0}, [], fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        bench._run_job(job)
    assert bench.progress_path(job).is_file() and not (tmp_path / "k.json").exists()
    assert sorted(p.name for p in tmp_path.glob("*.json")) == []  # records only at the top
    trained: list = []
    _fake_proxy(monkeypatch, {"t": 0.0}, trained)
    record = bench._run_job(job)
    assert json.loads((tmp_path / "k.json").read_text()) == record
    assert record["sampled"] == 3 and len(trained) == 2  # one cell resumed, two trained now
    assert not bench.progress_path(job).exists()
