"""Optional dependencies: one place that imports them and one error when one is missing.

What is required and what is an extra is decided here and in ``setup.cfg`` (the two agree;
``tests/test_optional.py`` checks it):

* **required** (``install_requires``): torch, torchvision, nni, pytorch-lightning, PyYAML,
  NumPy, scikit-learn (the embedded digits data), matplotlib (every run writes ``alpha.png``),
  tensorboard (every run writes ``tb/``), tqdm, ``setuptools<81`` (nnictl's ``pkg_resources``).
* **extras**: ``optuna`` (optuna, cmaes: ``idarts tune`` and the Optuna-backed NNI tuner),
  ``dashboard`` (optuna-dashboard), ``postgres`` (psycopg2, for a PostgreSQL study storage),
  ``bench`` (torchopt, the benchmarks' peer check).

Every optional import goes through :func:`try_import`, which raises
:class:`MissingDependencyError` naming the extra to install; the CLI prints it as one line and
exits with status 2. The one exception is NAS-Bench-201's official API packages, which no extra
installs and whose pip names differ from their modules (``nas-bench-201`` → ``nas_201_api``):
:class:`~idarts_plugin.nb201.official.OfficialAPISource` raises its own ``MissingAPIError``
(also an ``ImportError``) with the right ``pip install``.

Example:
    >>> from idarts_plugin._optional import EXTRAS, try_import
    >>> EXTRAS["optuna"]
    'optuna'
    >>> try_import("yaml", purpose="reading configs").__name__
    'yaml'
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

__all__ = ["EXTRAS", "MissingDependencyError", "driver_for_url", "is_available", "try_import"]

#: Importable module name -> the ``idarts-plugin[extra]`` that installs it.
EXTRAS: dict[str, str] = {
    "optuna": "optuna",
    "cmaes": "optuna",
    "optuna_dashboard": "dashboard",
    "psycopg2": "postgres",
    "torchopt": "bench",
}

#: SQLAlchemy URL scheme -> the driver module it loads.
_URL_DRIVERS: dict[str, str] = {
    "postgresql": "psycopg2",
    "postgresql+psycopg2": "psycopg2",
    "postgresql+psycopg": "psycopg",
    "mysql": "MySQLdb",
    "mysql+pymysql": "pymysql",
    "mysql+mysqldb": "MySQLdb",
}


class MissingDependencyError(ImportError):
    """An optional package is not installed; the message says what to install.

    Attributes:
        module: the module that could not be imported.
        extra: the ``idarts-plugin`` extra that installs it (``None``: not one of ours).
    """

    def __init__(self, module: str, *, purpose: str, extra: str | None = None) -> None:
        self.module = module
        self.extra = extra if extra is not None else EXTRAS.get(module.split(".")[0])
        fix = (
            f"pip install 'idarts-plugin[{self.extra}]'"
            if self.extra
            else f"pip install {module.split('.')[0]}"
        )
        super().__init__(f"{purpose} needs the package {module!r}, which is not installed: {fix}")


def is_available(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def try_import(module: str, *, purpose: str, extra: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError`.

    Args:
        module: the module to import, e.g. ``"optuna"``.
        purpose: what needs it, for the message (``"idarts tune"``).
        extra: the extra that installs it (default: looked up in :data:`EXTRAS`).

    Raises:
        MissingDependencyError: the module (or its top-level package) is not installed.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or module
        if missing.split(".")[0] != module.split(".")[0]:
            raise  # the package is there but one of *its* dependencies is not
        raise MissingDependencyError(module, purpose=purpose, extra=extra) from None


def driver_for_url(url: str) -> str | None:
    """The database driver module an SQLAlchemy URL needs (``None``: SQLite or unknown).

    Example:
        >>> driver_for_url("postgresql+psycopg2://u@h/db")
        'psycopg2'
        >>> driver_for_url("sqlite:///x.db") is None
        True
    """
    scheme = url.split(":", 1)[0].lower()
    return _URL_DRIVERS.get(scheme)
