"""The ``idarts`` command starts light: help and config errors load no torch, NNI or Optuna."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HEAVY = ("torch", "nni", "pytorch_lightning", "lightning", "optuna")


def _loaded_after(code: str) -> set[str]:
    probe = "import contextlib, io, sys\n" + textwrap.dedent(code)
    probe += f"\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    last = out.strip().splitlines()[-1] if out.strip() else ""
    return set(filter(None, last.split(",")))


def test_importing_the_cli_and_the_package_loads_nothing_heavy():
    assert _loaded_after("import idarts_plugin, idarts_plugin.cli, idarts_plugin.config") == set()


def test_help_loads_nothing_heavy():
    code = """
    from idarts_plugin.cli import main
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main(["--help"])
    """
    assert _loaded_after(code) == set()


@pytest.mark.parametrize("command", ["search", "tune"])
def test_a_config_error_is_reported_without_loading_anything_heavy(tmp_path: Path, command):
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategy: {name: drats}\n" if command == "search" else "params: 3\n")
    extra = ', "--study", "s", "--n-trials", "1"' if command == "tune" else ""
    code = f"""
    from idarts_plugin.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main(["{command}", {str(bad)!r}{extra}])
    assert status == 2, (status, err.getvalue())
    assert len(err.getvalue().strip().splitlines()) == 1, err.getvalue()
    """
    assert _loaded_after(code) == set()


def test_the_package_still_exposes_the_engine_lazily():
    import idarts_plugin

    assert callable(idarts_plugin.hypergradient)
    assert "neumann" in idarts_plugin.METHODS


def test_reading_and_listing_the_search_spaces_loads_nothing_heavy():
    """Space files are YAML checked against op names: no torch until a model is built."""
    code = """
    from idarts_plugin.cli import main
    from idarts_plugin.config import SpaceConfig
    from idarts_plugin.spaces import available_spaces, load_space
    for name in available_spaces():
        load_space(SpaceConfig(name=name))
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["spaces"]) == 0
    """
    assert _loaded_after(code) == set()


def test_every_public_name_of_the_package_resolves():
    import idarts_plugin

    for name in idarts_plugin.__all__:
        assert getattr(idarts_plugin, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        idarts_plugin.nope  # noqa: B018
