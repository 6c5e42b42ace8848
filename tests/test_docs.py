"""``docs/architecture.md``'s recipes are checked against the code.

Every backticked name a recipe mentions (``module.NAME``, ``package/module.NAME``, a path, a
run-config key such as ``strategy.method``) must exist, and each recipe's closing ``Files:``
line names at most three files, all of which exist.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
PACKAGE = "idarts_plugin"
MAX_FILES = 3

_NAME = re.compile(r"^[A-Za-z_][\w/]*(\.[A-Za-z_]\w*)*/?$")
_SECTIONS = ("space", "data", "strategy", "optimizer", "trainer", "output")


def _recipes() -> dict[str, str]:
    """Recipe title → its text (the paragraphs under ``## Recipes``)."""
    text = DOC.read_text(encoding="utf-8").split("## Recipes", 1)[1]
    recipes = {}
    for paragraph in re.split(r"\n\s*\n", text):
        match = re.match(r"\*\*(.+?)\*\*", paragraph.strip())
        if match:
            recipes[match.group(1)] = paragraph
    return recipes


RECIPES = _recipes()


def _names(text: str) -> list[str]:
    """The backticked tokens of ``text`` that look like names or paths."""
    tokens = re.findall(r"`([^`]+)`", text)
    return [t for t in tokens if _NAME.match(t) and ("." in t or "/" in t)]


def _path(token: str) -> Path | None:
    """The file or folder ``token`` names, from the repository root or the package."""
    for base in (ROOT, ROOT / PACKAGE):
        if (base / token).exists():
            return base / token
    return None


def _is_config_key(token: str) -> bool:
    from idarts_plugin.config import RunConfig

    section, _, key = token.partition(".")
    if section not in _SECTIONS or not key.isidentifier():
        return False
    klass = type(getattr(RunConfig(), section))
    return key in {f.name for f in dataclasses.fields(klass)}


def _resolves(token: str) -> bool:
    """``token`` is a path, a run-config key, or ``module.NAME`` of the package."""
    if token.endswith((".py", ".yaml", "/")) or _path(token) is not None:
        return _path(token) is not None
    if _is_config_key(token):
        return True
    dotted = token.replace("/", ".")
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join([PACKAGE, *parts[:cut]])
        try:
            obj: object = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    # ``Class.attribute`` of a class a recipe names elsewhere (``StrategyConfig.search_options``)
    return False


def _bare(text: str) -> list[str]:
    """The backticked identifiers (``StrategyEntry``, ``StrategyConfig.search_options``)."""
    tokens = re.findall(r"`([^`]+)`", text)
    return [t for t in tokens if all(p.isidentifier() for p in t.split("."))]


def _defined_in(title: str) -> str:
    """The text of the files a recipe edits and the modules it names."""
    text = RECIPES[title]
    paths = {_path(f) for f in _files(text)}
    for token in _names(text):
        module = token.replace("/", ".").removesuffix(".py").split(".")
        for cut in range(len(module), 0, -1):
            candidate = _path("/".join(module[:cut]) + ".py")
            if candidate is not None:
                paths.add(candidate)
                break
    return "\n".join(p.read_text(encoding="utf-8") for p in paths if p and p.is_file())


def _files(text: str) -> list[str]:
    match = re.search(r"^Files:(.*)", text, flags=re.MULTILINE | re.DOTALL)
    return re.findall(r"`([^`]+)`", match.group(1)) if match else []


def test_the_recipes_are_found():
    assert {"A data set", "An objective", "A strategy", "A strategy option"} <= set(RECIPES)


@pytest.mark.parametrize("title", list(RECIPES))
def test_every_name_a_recipe_mentions_exists(title):
    text = RECIPES[title]
    missing = [t for t in _names(text) if t[0].islower() and not _resolves(t)]
    assert not missing, f"{title}: no such name or file: {missing}"


@pytest.mark.parametrize("title", list(RECIPES))
def test_every_bare_name_a_recipe_mentions_is_in_its_files(title):
    """``StrategyEntry``, ``_HYPERGRAD_KEYS``: defined (or named) in a file the recipe names."""
    code = _defined_in(title)
    missing = [
        t
        for t in _bare(RECIPES[title])
        if t not in _names(RECIPES[title])
        and not all(re.search(rf"\b{re.escape(part)}\b", code) for part in t.split("."))
    ]
    assert not missing, f"{title}: not found in its files: {missing}"


@pytest.mark.parametrize("title", list(RECIPES))
def test_every_recipe_names_its_files_and_they_exist(title):
    files = _files(RECIPES[title])
    assert files, f"{title}: no 'Files:' line"
    assert [f for f in files if _path(f) is None] == [], title
    assert len(files) <= MAX_FILES, f"{title}: {len(files)} files"


def test_a_wrong_name_is_caught():
    assert _resolves("objectives.REGISTRY") and _resolves("hypergrad/spec.METHOD_OPTIONS")
    assert _resolves("strategy.method") and _resolves("tests/test_objectives.py")
    assert not _resolves("objectives.NO_SUCH_NAME")
    assert not _resolves("tests/integrations/test_no_such_file.py")
