"""The serial list in ``tests/conftest.py`` names tests that exist (a rename would silently put
a timing-sensitive test back into the parallel part)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import SERIAL

ROOT = Path(__file__).resolve().parents[1]


def test_every_serial_entry_names_a_real_file_or_test():
    for entry in SERIAL:
        file, _, name = entry.partition("::")
        path = ROOT / file
        assert path.is_file(), f"tests/conftest.py SERIAL names {file}, which does not exist"
        if name:
            tree = ast.parse(path.read_text())
            tests = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            assert name in tests, f"tests/conftest.py SERIAL names {entry}, not a test in {file}"
