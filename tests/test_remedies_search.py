"""Each collapse remedy end to end on the tiny search, and with every strategy."""

from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import pytest

from idarts_plugin.config import RunConfig
from tests.conftest import requires_nni
from tests.test_search import assert_valid_nb201_run, tiny_config

pytestmark = [requires_nni, pytest.mark.slow]


OFF = {"beta_decay": 0.0, "aux_skip": 0.0, "early_stop": "off"}
"""The remedies off: each test here turns on the ones it is about (the defaults are on)."""


def _search(tmp_path, name, strategy="implicit", *, defaults=False, space=None, **keys):
    from idarts_plugin.search import run_search

    cfg = tiny_config(strategy, epochs=3)
    cfg["strategy"].update({"warmup_epochs": 1, **({} if defaults else OFF), **keys})
    cfg["space"]["options"].update(space or {})
    result = run_search(RunConfig.from_dict(cfg), run_dir=tmp_path / name)
    assert_valid_nb201_run(tmp_path / name)
    summary = json.loads((tmp_path / name / "summary.json").read_text())
    return result, summary


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    return _search(tmp_path_factory.mktemp("base"), "run")


@pytest.mark.parametrize("keys", [{"beta_decay": 20.0}, {"aux_skip": 1.0}])
def test_a_training_remedy_changes_the_search_and_is_recorded(tmp_path, baseline, keys):
    result, summary = _search(tmp_path, "run", **keys)
    base_result, _ = baseline
    key, value = next(iter(keys.items()))
    assert summary["decision"]["remedies"][key] == value
    moved = [
        abs(result.probs[e][op] - base_result.probs[e][op])
        for e in result.probs
        for op in result.probs[e]
    ]
    assert max(moved) > 1e-4  # same seed, same data: only the remedy differs


def test_a_non_affine_cell_bn_changes_the_search_and_its_checkpoint(tmp_path, baseline):
    import torch

    result, _ = _search(tmp_path, "run", space={"cell_bn": "non-affine"})
    base_result, _ = baseline
    moved = [
        abs(result.probs[e][op] - base_result.probs[e][op])
        for e in result.probs
        for op in result.probs[e]
    ]
    assert max(moved) > 1e-4  # same seed, same data: only the cell's BatchNorm differs
    config = (tmp_path / "run" / "config.yaml").read_text()
    assert "cell_bn: non-affine" in config
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    state = ckpt["state_dict"]
    # Every op BatchNorm in the cells (3 cells x 6 edges x 2 convs) keeps running statistics
    # and has no weight/bias; the reduction blocks' BatchNorms keep theirs.
    ops = [k for k in state if ".layers." in k and k.endswith("running_mean")]
    blocks = [k for k in state if ".conv_a." in k and k.endswith("running_mean")]
    assert len(ops) == 36 and len(blocks) == 2
    assert not any(k.replace("running_mean", "weight") in state for k in ops)
    assert all(k.replace("running_mean", "weight") in state for k in blocks)


def test_perturbation_derivation_records_its_scores(tmp_path):
    result, summary = _search(tmp_path, "run", derive="perturbation", perturbation_tune_steps=1)
    pt = json.loads((tmp_path / "run" / "perturbation.json").read_text())
    assert summary["decision"]["perturbation"] == pt
    assert summary["decision"]["derivation"] == "perturbation"
    assert sorted(pt["order"]) == sorted(result.probs) and pt["tune_steps"] == 1
    for label, edge in pt["edges"].items():
        assert result.architecture[label] == edge["chosen"] != "none"
        chosen_score = edge["accuracy_without"][edge["chosen"]]
        assert chosen_score == min(edge["accuracy_without"].values())


def test_early_stop_keeps_the_epoch_its_rule_picks_from_the_rows(tmp_path):
    from idarts_plugin.collapse import select_epoch
    from idarts_plugin.derive import derive
    from idarts_plugin.metrics import probs_from_alpha_row

    result, summary = _search(tmp_path, "run", early_stop="collapse")
    with (tmp_path / "run" / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    expected = select_epoch(
        [(int(r["epoch"]), float(r["param_free_share"])) for r in rows], first=1
    )
    assert summary["decision"]["early_stop"] == expected.as_dict()
    if expected.fired is not None:
        assert int(rows[-1]["epoch"]) == expected.fired  # it stopped there
    with (tmp_path / "run" / "alpha_history.csv").open() as fh:
        (kept,) = [r for r in csv.DictReader(fh) if int(r["epoch"]) == expected.epoch]
    assert result.architecture == derive(probs_from_alpha_row(kept), "exclude_none")


def test_the_recorder_stops_the_search_once_its_patience_of_collapsed_epochs_is_up(tmp_path):
    from idarts_plugin.nni_adapter import RunRecorder

    rows = [
        {"epoch": "0", "param_free_share": "0.83"},  # read back from CSV: strings
        {"epoch": "1", "param_free_share": "0.33"},
        {"epoch": 2, "param_free_share": 0.67},
        {"epoch": 3, "param_free_share": 0.83},
    ]
    for patience, fires in ((1, 2), (2, 3)):
        recorder = RunRecorder(
            tmp_path, None, None, ([], []), early_stop=True, early_stop_patience=patience
        )
        for row in rows:
            recorder.metrics_rows.append(row)
            trainer = SimpleNamespace(should_stop=False)
            recorder._check_collapse(trainer, warmup=1)
            if trainer.should_stop:
                break
        assert int(recorder.metrics_rows[-1]["epoch"]) == fires
        assert (recorder.epoch_choice.epoch, recorder.epoch_choice.fired) == (1, fires)


def test_the_recorder_triggers_at_the_chance_of_its_rule_candidates(tmp_path):
    """With ``none`` among the candidates (argmax), a random cell is 2/3 parameter-free here:
    a cell at 0.67 is chance, not a collapse; without ``none`` (exclude_none) chance is 1/2."""
    from idarts_plugin.metrics import alpha_row
    from idarts_plugin.nni_adapter import RunRecorder

    probs = {f"e{i}": {"none": 0.2, "skip_connect": 0.5, "conv_3x3": 0.3} for i in range(3)}
    rows = [{"epoch": 0, "param_free_share": 1 / 3}, {"epoch": 1, "param_free_share": 2 / 3}]
    for rule, fires in (("argmax", None), ("exclude_none", 1)):
        recorder = RunRecorder(
            tmp_path,
            None,
            None,
            (list(rows), [alpha_row(1, probs)]),
            early_stop=True,
            early_stop_patience=1,
            derive_rule=rule,
        )
        trainer = SimpleNamespace(should_stop=False)
        recorder._check_collapse(trainer, warmup=0)
        assert recorder.epoch_choice.fired == fires and trainer.should_stop == (fires is not None)


@pytest.mark.parametrize("strategy", ["darts", "amended", "unrolled"])
def test_every_remedy_composes_with_each_strategy(tmp_path, strategy):
    _result, summary = _search(
        tmp_path,
        "run",
        strategy,
        beta_decay=5.0,
        aux_skip=1.0,
        early_stop="collapse",
        early_stop_patience=1,
        derive="perturbation",
    )
    decision = summary["decision"]
    assert decision["remedies"] == {
        "beta_decay": 5.0,
        "beta_decay_schedule": "linear",
        "aux_skip": 1.0,
        "early_stop": "collapse",
        "early_stop_patience": 1,
        "aux_skip_setting": 1.0,
    }
    assert "early_stop" in decision and "perturbation" in decision


def test_the_default_search_runs_beta_decay_and_the_early_stop(tmp_path):
    """With no remedy key set, a search applies β-decay and the early stop and records both;
    ``aux_skip: auto`` is resolved to 1 on NAS-Bench-201 and recorded with its setting."""
    _result, summary = _search(tmp_path, "run", defaults=True)
    decision = summary["decision"]
    assert decision["remedies"]["beta_decay"] == 2.0 and decision["remedies"]["aux_skip"] == 0
    assert decision["remedies"]["early_stop"] == "collapse" and "early_stop" in decision
    _, base = _search(tmp_path, "off")
    assert "early_stop" not in base["decision"] and base["decision"]["remedies"]["beta_decay"] == 0
    _, auto = _search(tmp_path, "auto", aux_skip="auto")
    assert auto["decision"]["remedies"]["aux_skip"] == 1.0
    assert auto["decision"]["remedies"]["aux_skip_setting"] == "auto"


def test_aux_skip_auto_is_off_on_the_darts_space():
    from idarts_plugin.search import space_remedies
    from idarts_plugin.spaces import load_space

    for space, expected in (("darts", 0.0), ("nas-bench-201", 1.0)):
        cfg = RunConfig.from_dict(
            {"space": {"name": space}, "strategy": {"aux_skip": "auto"}, "data": {"name": "digits"}}
        )
        assert space_remedies(cfg, load_space(cfg.space)).aux_skip == expected


def test_aux_skip_is_refused_on_the_darts_space():
    from idarts_plugin.config import ConfigError
    from idarts_plugin.search import build_supernet
    from idarts_plugin.spaces import load_space

    cfg = RunConfig.from_dict(
        {"space": {"name": "darts"}, "strategy": {"aux_skip": 1.0}, "data": {"name": "digits"}}
    )
    with pytest.raises(ConfigError, match=r"strategy\.aux_skip"):
        build_supernet(cfg, load_space(cfg.space))


def test_posthoc_views_score_a_finished_search_from_its_run_directory(tmp_path):
    """The sweep judges every search under DARTS-PT and the early stop without a new search."""
    from benchmarks.search_quality.posthoc import views
    from idarts_plugin.collapse import parameter_free_share, select_epoch
    from idarts_plugin.nb201 import arch_to_nni, parse_arch

    result, summary = _search(tmp_path, "run")
    found = views(tmp_path / "run")
    parse_arch(found["archs"]["perturbation"])
    assert set(found["perturbation"]["edges"]) == set(result.probs)
    assert len(found["epoch_cells"]) == 3 and found["epoch_cells"][-1] == summary["arch_string"]
    shares = [(e, parameter_free_share(arch_to_nni(c))) for e, c in enumerate(found["epoch_cells"])]
    choice = select_epoch(shares, first=1)
    assert found["early_stop"] == choice.as_dict()
    assert found["archs"]["early_stop"] == found["epoch_cells"][choice.epoch]
