"""The committed ground truth and its table format."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from idarts_plugin.config import load_config
from idarts_plugin.ground_truth import (
    LANDMARKS,
    RECIPE,
    GroundTruth,
    append_row,
    match_recipe,
    random_archs,
    rank_found_cell,
    read_rows,
    table_path,
)
from idarts_plugin.nb201 import parse_arch


def test_committed_ground_truth_holds_random_cells_landmarks_and_seed_noise():
    gt = GroundTruth.load(RECIPE)
    assert len(gt.random_cells()) >= 60
    for label, arch in LANDMARKS.items():
        assert gt.mean(arch) is not None, label
    noise = gt.seed_noise()
    assert sum(1 for _, _, n in noise["cells"].values() if n >= 3) >= 5
    assert 0 < noise["pooled_std"] < 0.05
    # Sanity of the numbers themselves: a cell without any path scores chance level, and
    # the all-conv3x3 cell beats the all-pool one by more than the seed noise.
    assert gt.mean(LANDMARKS["all-none"]) < 0.2
    conv, pool = gt.mean(LANDMARKS["all-conv3x3"]), gt.mean(LANDMARKS["all-pool"])
    assert conv - pool > 3 * noise["pooled_std"]


def test_random_archs_are_distinct_valid_and_extendable():
    a = random_archs(20)
    assert len(set(a)) == 20
    for arch in a:
        parse_arch(arch)
    assert random_archs(30)[:20] == a  # extending the table keeps the first cells


def test_table_rows_append_as_gzip_members_and_read_back(tmp_path):
    path = tmp_path / "t.csv.gz"
    row = {
        "arch": LANDMARKS["all-skip"],
        "acc": "0.5",
        "seed": 0,
        "recipe": RECIPE.key,
        "kind": "random",
        "label": "x",
        "seconds": "1.0",
    }
    append_row(row, path)
    append_row({**row, "acc": "0.7", "seed": 1}, path)
    append_row({**row, "acc": "0.9", "seed": 0, "recipe": "other"}, path)
    with gzip.open(path, "rt") as fh:  # one valid gzip stream of three members
        assert len(fh.read().splitlines()) == 3
    rows = read_rows(path)
    assert [r["acc"] for r in rows] == [0.5, 0.7, 0.9]
    gt = GroundTruth(rows, RECIPE)
    assert gt.mean(LANDMARKS["all-skip"]) == pytest.approx(0.6)  # other recipe ignored
    assert gt.percentile(0.65) == 100.0 and gt.percentile(0.55) == 0.0
    assert gt.seed_noise()["pooled_std"] == pytest.approx(0.1414, abs=1e-3)


def test_only_a_run_on_the_recipes_data_matches_it():
    cfg = load_config(None, RECIPE.overrides())
    assert match_recipe(cfg) == RECIPE
    assert match_recipe(load_config(None, [*RECIPE.overrides(), "data.limit=500"])) is None
    assert match_recipe(load_config("examples/configs/digits-nb201.yaml")) is None
    assert table_path(RECIPE).is_file()


def test_every_search_seed_is_on_the_recipes_data_but_another_data_seed_is_not():
    assert RECIPE.data_seed == 0 == load_config(None).data.seed  # the default draw is the GT's
    assert match_recipe(load_config(None, [*RECIPE.overrides(), "trainer.seed=1"])) == RECIPE
    assert match_recipe(load_config(None, [*RECIPE.overrides(), "data.seed=1"])) is None
    assert match_recipe(load_config("examples/configs/fashion-nb201.yaml")) == RECIPE


@pytest.mark.parametrize("decided", [True, False, None])
def test_an_undecided_search_gets_its_rank_marked(decided):
    cfg = load_config(None, [*RECIPE.overrides(), "trainer.seed=1"])
    arch = LANDMARKS["all-conv3x3"]  # in the table: nothing is trained
    rank = rank_found_cell(cfg, arch, decided=decided)
    assert rank is not None and not rank["trained_now"]
    assert rank["accuracy"] == pytest.approx(GroundTruth.load(RECIPE).mean(arch))
    assert rank["undecided"] is (decided is False)
    assert ("UNDECIDED" in rank["text"]) is (decided is False)
    assert "percentile" in rank["text"]


@pytest.mark.slow
@pytest.mark.skipif(
    not __import__("idarts_plugin.data", fromlist=["x"]).DEBIAN_FASHION_MNIST.is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed (scripts/install-test-system-deps.sh)",
)
def test_a_search_on_the_recipes_data_reports_its_rank(tmp_path):
    pytest.importorskip("nni")
    from idarts_plugin.search import run_search

    cfg = load_config(
        None,
        [
            *RECIPE.overrides(),
            "trainer.seed=1",  # another search seed: still the recipe's data, still ranked
            "trainer.threads=1",
            "strategy.name=darts",
            "trainer.epochs=1",
            "trainer.limit_batches=2",
            "trainer.progress_bar=false",
        ],
    )
    result = run_search(cfg, run_dir=tmp_path / "run")
    rank = result.decision["ground_truth"]
    gt = GroundTruth.load(RECIPE)
    assert rank["random_cells"] == len(gt.random_cells())
    assert 0.0 <= rank["percentile"] <= 100.0
    if not rank["trained_now"]:
        assert rank["accuracy"] == pytest.approx(gt.mean(result.arch_string))
    assert "percentile" in rank["text"]
    assert rank["undecided"] is (not result.decision["verdict"]["decided"])
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["decision"]["ground_truth"]["undecided"] is rank["undecided"]


def test_a_users_nas_bench_201_file_on_the_recipes_skeleton_matches_it(tmp_path):
    """The recipe is matched by the space's kind and resolved options, not the file's name."""
    f = tmp_path / "my-nb201.yaml"
    f.write_text(
        "kind: nas-bench-201\n"
        f"options: {{stem_channels: {RECIPE.stem_channels}, cells_per_stage: 1}}\n"
    )
    data = [o for o in RECIPE.overrides() if not o.startswith("space.")]
    assert match_recipe(load_config(None, [*data, f"space.name={f}"])) == RECIPE
    f.write_text("kind: nas-bench-201\noptions: {cells_per_stage: 2}\n")
    assert match_recipe(load_config(None, [*data, f"space.name={f}"])) is None
    cell = load_config(None, [*data, "space.name=cell"])
    assert match_recipe(cell) is None


def _merge_driver():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "merge_ground_truth.py"
    spec = importlib.util.spec_from_file_location("merge_ground_truth", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_merge_driver_appends_the_rows_the_other_branch_added(tmp_path):
    """Two sweeps that trained cells merge as the union of their rows (a multiset)."""
    driver = _merge_driver()
    table = tmp_path / "t.csv.gz"
    row = {"arch": LANDMARKS["all-skip"], "acc": 0.5, "seed": 0, "recipe": RECIPE.key}
    row.update(kind="landmark", label="all-skip", seconds=1.0)
    append_row(row, table)
    append_row(row, table)  # a legitimate repeat stays twice
    base = table.read_bytes()
    append_row({**row, "seed": 1, "acc": 0.6}, table)
    ours = table.read_bytes()
    table.write_bytes(base)
    append_row({**row, "seed": 2, "acc": 0.7}, table)
    append_row({**row, "seed": 1, "acc": 0.6}, table)  # both sides trained it: kept once
    theirs = table.read_bytes()
    merged = driver.merge_tables(base, ours, theirs)
    assert merged.startswith(ours)  # ours keeps its bytes
    table.write_bytes(merged)
    assert [(r["seed"], r["acc"]) for r in read_rows(table)] == [
        (0, 0.5),
        (0, 0.5),
        (1, 0.6),
        (2, 0.7),
    ]
    # git's contract: %O %A %B, the merge written into %A.
    paths = [tmp_path / n for n in ("O", "A", "B")]
    for p, data in zip(paths, (base, ours, theirs), strict=True):
        p.write_bytes(data)
    assert driver.main([str(p) for p in paths]) == 0
    assert paths[1].read_bytes() == merged
    paths[2].write_bytes(b"not gzip")
    assert driver.main([str(p) for p in paths]) == 1


def test_the_tables_name_their_merge_driver():
    attributes = (Path(__file__).resolve().parents[1] / ".gitattributes").read_text()
    assert "idarts_plugin/ground_truth/*.csv.gz merge=ground-truth" in attributes
