"""One optional-dependency module; setup.cfg's extras agree with it; the CLI prints one line."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from idarts_plugin._optional import EXTRAS, MissingDependencyError, driver_for_url, try_import

ROOT = Path(__file__).resolve().parents[1]


def _setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg


def _names(block: str) -> set[str]:
    import re

    return {re.split(r"[<>=\[ ]", line.strip())[0].lower() for line in block.split("\n") if line}


def test_every_optional_module_is_in_its_extra_and_not_required():
    cfg = _setup_cfg()
    required = _names(cfg["options"]["install_requires"])
    extras = {k: _names(v) for k, v in cfg["options.extras_require"].items()}
    pip_name = {"optuna_dashboard": "optuna-dashboard", "psycopg2": "psycopg2-binary"}
    for module, extra in EXTRAS.items():
        package = pip_name.get(module, module)
        assert package in extras[extra], (module, extra)
        assert package not in required, f"{package} is both required and in [{extra}]"


def test_a_missing_module_names_the_extra_to_install():
    with pytest.raises(MissingDependencyError, match=r"pip install 'idarts-plugin\[optuna\]'"):
        _raise("optuna")
    err = MissingDependencyError("no_such_module_xyz", purpose="a test")
    assert "pip install no_such_module_xyz" in str(err)
    with pytest.raises(MissingDependencyError, match="a test needs the package"):
        try_import("no_such_module_xyz", purpose="a test")
    assert isinstance(err, ImportError)


def _raise(module: str) -> None:
    raise MissingDependencyError(module, purpose="tuning")


def test_storage_urls_name_their_driver():
    assert driver_for_url("postgresql+psycopg2://u:p@h/db") == "psycopg2"
    assert driver_for_url("sqlite:////tmp/x.db") is None


def test_the_cli_prints_a_missing_dependency_as_one_line(monkeypatch, capsys):
    from idarts_plugin import cli

    def missing(_args):
        raise MissingDependencyError("optuna", purpose="idarts tune")

    monkeypatch.setitem(cli._COMMANDS, "methods", missing)
    assert cli.main(["methods"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "idarts methods: error: idarts tune needs the package 'optuna', which is not "
        "installed: pip install 'idarts-plugin[optuna]'"
    ]
