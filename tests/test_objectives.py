"""The objectives registry: names, help text, validation and the cheap objective's value."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from idarts_plugin.config import ConfigError
from idarts_plugin.objectives import (
    DEFAULT_OBJECTIVE,
    OBJECTIVES,
    REGISTRY,
    check_objective,
    check_objective_options,
    objective_help,
    objective_value,
)


def test_registry_drives_names_and_help():
    assert tuple(REGISTRY) == OBJECTIVES and DEFAULT_OBJECTIVE in REGISTRY
    short = objective_help()
    assert short.split(" | ")[0] == f"{DEFAULT_OBJECTIVE} (default)"
    assert all(name in short for name in OBJECTIVES)
    long = objective_help(long=True).splitlines()
    assert [line.split(":", 1)[0] for line in long] == list(OBJECTIVES)
    for name, objective in REGISTRY.items():
        assert objective.name == name and callable(objective.compute) and objective.help


def test_unknown_objective_names_the_key_and_the_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown objective 'loss'; valid: supernet_val_acc"):
        check_objective("loss", key="--objective")


def test_supernet_objective_and_non_finite_values(tmp_path, monkeypatch):
    monkeypatch.setenv("IDARTS_NB201", str(tmp_path))  # the options pass; the space does not
    result = SimpleNamespace(
        metrics={"supernet_val_acc": 0.75}, run_dir=Path("."), arch_string=None, notation=None
    )
    assert objective_value("supernet_val_acc", result) == 0.75  # type: ignore[arg-type]
    result.metrics["supernet_val_acc"] = math.nan
    with pytest.raises(ValueError, match="is nan"):
        objective_value("supernet_val_acc", result)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"needs .* \(the nas-bench-201 space\), not NNI export"):
        objective_value("nb201_test_acc", result)  # type: ignore[arg-type]
    # A DARTS search has an architecture string too, in another notation: refused by name.
    result.arch_string, result.notation = "Genotype(normal=[...])", "darts-genotype"
    with pytest.raises(ValueError, match=r"nas-bench-201 space\), not darts-genotype"):
        objective_value("nb201_test_acc", result)  # type: ignore[arg-type]


def test_options_are_checked_and_the_defaults_filled_in(tmp_path, monkeypatch):
    assert check_objective_options("retrain_acc", None) == {"epochs": 10, "seeds": 1}
    assert check_objective_options("retrain_acc", {"seeds": 3}) == {"epochs": 10, "seeds": 3}
    monkeypatch.setenv("IDARTS_NB201", str(tmp_path))
    assert check_objective_options("nb201_test_acc", {"dataset": "cifar100"}) == {
        "tables": None,
        "dataset": "cifar100",
    }
    assert check_objective_options("nb201_test_acc", {"tables": tmp_path})["tables"] == str(
        tmp_path
    )
    # An empty path is "use $IDARTS_NB201", as open_source reads it.
    assert check_objective_options("nb201_test_acc", {"tables": ""})["tables"] is None
    assert check_objective_options("supernet_val_acc", {}) == {}
    # The help text is built from the same defaults.
    long = objective_help(long=True)
    assert "(epochs=10, seeds=1)" in long and "(tables=$IDARTS_NB201, dataset=cifar10)" in long


def test_a_mistyped_or_bad_option_is_refused_with_the_key_and_the_valid_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("IDARTS_NB201", str(tmp_path))
    with pytest.raises(
        ConfigError, match=r"unknown option 'epoch' of objective retrain_acc; valid: epochs, seeds"
    ):
        check_objective_options("retrain_acc", {"epoch": 3})
    with pytest.raises(ConfigError, match=r"supernet_val_acc; valid: none"):
        check_objective_options("supernet_val_acc", {"epochs": 3})
    with pytest.raises(ConfigError, match=r"'objective_options\.seeds'.*integer >= 1, got 0"):
        check_objective_options("retrain_acc", {"seeds": 0})
    with pytest.raises(ConfigError, match=r"'x\.dataset'.*valid data sets: cifar10, cifar100"):
        check_objective_options("nb201_test_acc", {"dataset": "cifar-10"}, key="x")
    with pytest.raises(ConfigError, match=r"tables must be a path"):
        check_objective_options("nb201_test_acc", {"tables": 3})
    # The NAS-Bench-201 source must exist before the search, not only after it.
    missing = str(tmp_path / "nope")
    with pytest.raises(
        ConfigError,
        match=r"'objective_options\.tables': the NAS-Bench-201 source '.*nope' does not",
    ):
        check_objective_options("nb201_test_acc", {"tables": missing})
    monkeypatch.setenv("IDARTS_NB201", missing)
    with pytest.raises(ConfigError, match=r"IDARTS_NB201='.*nope' does not exist; point it at"):
        check_objective_options("nb201_test_acc", {})
    monkeypatch.delenv("IDARTS_NB201")
    with pytest.raises(
        ConfigError, match=r"no NAS-Bench-201 source: give tables: PATH .* or set IDARTS_NB201"
    ):
        check_objective_options("nb201_test_acc", None)
    # objective_value checks them too (a caller that skipped the early check).
    result = SimpleNamespace(metrics={"supernet_val_acc": 0.5})
    with pytest.raises(ConfigError, match="unknown option 'seeds'"):
        objective_value("supernet_val_acc", result, {"seeds": 1})  # type: ignore[arg-type]
