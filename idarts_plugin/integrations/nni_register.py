"""Register the Optuna-backed tuners with ``nnictl`` (what ``idarts nni-register`` does).

It does what ``nnictl algo register --meta <META_PATH>`` does: the entries of
``nni_algorithms.yml`` (``OptunaTPE``, ``OptunaCMAES``, ``OptunaRandom``, ``Optuna``) are
written to NNI's registry, ``registered_algorithms.yml`` in NNI's config directory (in a
virtual environment ``<venv>/nni``; ``NNI_CONFIG_DIR`` overrides it). Registering again
updates the entries.

Example:
    >>> from idarts_plugin.integrations.nni_register import META_PATH
    >>> META_PATH.name
    'nni_algorithms.yml'
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["META_PATH", "register"]

#: The registry file shipped with the package (``nnictl algo register --meta`` reads it).
META_PATH = Path(__file__).with_name("nni_algorithms.yml")


def register() -> list[tuple[str, Path]]:
    """Register every algorithm in :data:`META_PATH`; return ``(name, registry file)`` pairs.

    Raises:
        ImportError: a class named in the file cannot be imported (e.g. Optuna missing:
            ``pip install 'idarts-plugin[optuna]'``).
    """
    from nni.runtime.config import get_config_file
    from nni.tools import package_utils
    from nni.tools.nnictl.algo_management import read_reg_meta_list, verify_algo_import

    registry = get_config_file("registered_algorithms.yml")
    done = []
    for meta in read_reg_meta_list(str(META_PATH)):
        old = package_utils.get_algo_meta(meta.name)
        if old is not None and old.is_builtin:
            raise ValueError(f"{meta.name} is one of NNI's built-in algorithms; not replaced")
        verify_algo_import(meta)
        package_utils.register_algo_meta(meta)
        done.append((meta.name, registry))
    return done
